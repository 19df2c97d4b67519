"""A course's gradebook-wide options (weighting, missing-work policy, letters released): read them,
change them with a history row per changed setting.

The engine reads them as calculations.GradingOptions; the set-up page, the letters page and the
API (`grades/options/`) change them through `gradebook_options_update`, so all refuse the same
input with the same words."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import transaction

from courseapp.models import Course, User

from . import calculations as calc
from .models import GradebookOptions, GradebookOptionsChange, Weighting

OPTION_FIELDS = ("weighting", "missing_percent", "letters_released")


def gradebook_options(*, course: Course) -> GradebookOptions:
    """The course's options; an unsaved row with the defaults when none was ever stored (one query)."""
    return GradebookOptions.objects.filter(course=course).first() or GradebookOptions(course=course)


def engine_options(options: GradebookOptions) -> calc.GradingOptions:
    return calc.GradingOptions(weighting=options.weighting, missing_percent=options.missing_percent)


def options_history(*, course: Course) -> list[GradebookOptionsChange]:
    return list(GradebookOptionsChange.objects.filter(course=course).select_related("changed_by"))


def _value_text(value: Any) -> str:
    if value is None:
        return "off"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        return calc.fmt_points(value) + "%"
    return str(value)


def _clean(values: dict) -> dict:
    from .services._validation import _Errors, _flag, _number

    errors = _Errors()
    clean: dict[str, Any] = {}
    if "weighting" in values:
        weighting = str(values["weighting"] or "").strip()
        if weighting not in Weighting.values:
            errors.add("weighting", f"Unknown weighting “{weighting}”; use normalised (weights count in proportion "
                                    "to their sum) or absolute (weights are percent of the course).")
        clean["weighting"] = weighting
    if "missing_percent" in values:
        clean["missing_percent"] = _number(values, "missing_percent", "grade for missing work (percent of the "
                                           "points)", errors, places=2, maximum=Decimal("100"), allow_none=True)
    if "letters_released" in values:
        value = values["letters_released"]
        if not isinstance(value, bool) and str(value).strip().lower() not in {
                "1", "0", "true", "false", "on", "off", "yes", "no", ""}:
            errors.add("letters_released", f"letters_released must be true or false, not “{value}”.")
        clean["letters_released"] = _flag(value)
    errors.raise_if_any()
    return clean


@transaction.atomic
def gradebook_options_update(*, course: Course, by: User, reason: str = "", **changes: Any) -> GradebookOptions:
    """Change some of the course's gradebook options (those in OPTION_FIELDS); the rest stay. Instructor only.

    weighting: "normalised" or "absolute" (see calculations.GradingOptions). missing_percent:
    percent of points possible given to missing work past its due date, 0–100 with at most two
    decimals; None or "" turns the policy off. letters_released: students see their letter.
    Each changed setting leaves a GradebookOptionsChange row (who, when, old → new, reason).
    Totals are computed, never stored, so a change applies to every student at once.
    Raises PermissionDenied for anyone but the instructor, ValidationError {field: [messages]}.
    """
    from .services._validation import _require_instructor

    _require_instructor(by, course)
    unknown = set(changes) - set(OPTION_FIELDS)
    if unknown:
        raise ValueError(f"not gradebook options: {sorted(unknown)}")
    clean = _clean(changes)
    options, _ = GradebookOptions.objects.select_for_update().get_or_create(course=course)
    changed = [f for f in OPTION_FIELDS if f in clean and clean[f] != getattr(options, f)]
    if not changed:
        return options
    GradebookOptionsChange.objects.bulk_create([
        GradebookOptionsChange(course=course, changed_by=by, setting=f, old_value=_value_text(getattr(options, f)),
                               new_value=_value_text(clean[f]), reason=reason.strip())
        for f in changed
    ])
    for f in changed:
        setattr(options, f, clean[f])
    options.save(update_fields=[*changed, "updated_at"])
    return options

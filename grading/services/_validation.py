"""The set-up services' field checks: each adds what to fix to an _Errors (field → messages), raised
once as a ValidationError so a form shows every problem under its field. Private to grading.services
and grading.options."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError

from courseapp.models import Course, Role, User
from courseapp.numbers import PointsError, format_points, parse_points
from courseapp.text import control_character_error

from .letters import role_in_course


def _require_instructor(by: User, course: Course) -> None:
    if role_in_course(by, course) != Role.INSTRUCTOR:
        raise PermissionDenied("Only the instructor sets up the gradebook's categories and items.")


class _Errors(dict):
    """field → list of messages; raised as one ValidationError so forms put each under its field."""

    def add(self, field_name: str, message: str) -> None:
        self.setdefault(field_name, []).append(message)

    def raise_if_any(self) -> None:
        if self:
            raise ValidationError(dict(self))


def _text(values: dict, key: str, label: str, errors: _Errors, *, required: bool, max_length: int,
          multiline: bool = False) -> str:
    value = values.get(key)
    if isinstance(value, (dict, list)):
        errors.add(key, f"The {label} must be text, not a JSON {'object' if isinstance(value, dict) else 'list'}.")
        return ""
    text = "" if value is None else str(value).strip()
    control = control_character_error(text, label=label, multiline=multiline)
    if control:
        errors.add(key, control)
        return ""  # never queried with (PostgreSQL refuses NUL in a query's text) nor stored
    if required and not text:
        errors.add(key, f"Give the {label}.")
    elif len(text) > max_length:
        errors.add(key, f"The {label} is {len(text)} characters long; shorten it to {max_length}.")
    return text


def _number(
    values: dict, key: str, label: str, errors: _Errors, *, places: int, maximum: Decimal,
    minimum: Decimal = Decimal("0"), allow_none: bool = False,
) -> Decimal | None:
    """A decimal within [minimum, maximum] with at most `places` decimals; None only if allowed."""
    value = values.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if not allow_none:
            errors.add(key, f"Give the {label}.")
        return None
    try:
        number = parse_points(value, places=places, allow_negative=minimum < 0, what=label[:1].upper() + label[1:])
    except PointsError as exc:
        errors.add(key, str(exc))
        return None
    if number < minimum or number > maximum:
        errors.add(key, f"The {label} must be between {format_points(minimum)} and {format_points(maximum)}; "
                        f"{format_points(number)} is not.")
        return None
    return number


def _count(values: dict, key: str, label: str, errors: _Errors) -> int:
    value = values.get(key)
    try:
        number = int(str(value).strip()) if value not in (None, "") else 0
    except ValueError:
        errors.add(key, f"“{value}” is not a whole number; enter how many items to {label}, like 1.")
        return 0
    if number < 0 or number > 100:
        errors.add(key, f"Enter how many items to {label} as a whole number from 0 to 100.")
        return 0
    return number


def _position(values: dict, errors: _Errors) -> int | None:
    value = values.get("position")
    if value in (None, ""):
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        errors.add("position", f"“{value}” is not a whole number; positions order the columns (1, 2, 3 …).")
        return None
    if not 0 <= number <= 32767:
        errors.add("position", "Enter a position from 0 to 32767.")
        return None
    return number


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "on", "yes"}
    return bool(value)

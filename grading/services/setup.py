"""Gradebook set-up: categories and items (instructor only). Totals are computed on read, so a change
here applies to every student at once; grades and their history are never rewritten, except that a
new due date or late policy re-applies the late penalty to scores posted by quizzes or the autograder."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from courseapp.models import Course, User
from courseapp.numbers import format_points

from ..calculations import drop_problems
from ..models import Aggregation, Category, Grade, GradeChange, GradeItem, GradeState, LateBase, LateUnit
from ..policies import effective_late_base
from ._validation import _count, _Errors, _flag, _number, _position, _require_instructor, _text
from .grades import _record, _snapshot, item_late_penalty

CATEGORY_FIELDS = ("name", "weight", "aggregation", "drop_lowest", "drop_highest", "position", "description",
                   "late_penalty_base")
ITEM_FIELDS = (
    "name", "short_name", "category", "points_possible", "weight", "due_at", "extra_credit", "never_drop",
    "released", "ta_editable", "late_penalty_percent", "late_penalty_unit", "late_penalty_floor_percent",
    "late_penalty_base", "position",
)
CATEGORY_DEFAULTS: dict[str, Any] = {
    "aggregation": Aggregation.TOTAL_POINTS, "drop_lowest": 0, "drop_highest": 0, "position": None, "description": "",
    "late_penalty_base": LateBase.SCORE,
}
ITEM_DEFAULTS: dict[str, Any] = {
    "short_name": "", "weight": None, "due_at": None, "extra_credit": False, "never_drop": False, "released": False,
    "ta_editable": False, "late_penalty_percent": Decimal("0"), "late_penalty_unit": LateUnit.DAY,
    "late_penalty_floor_percent": Decimal("0"), "late_penalty_base": "", "position": None,
}
POLICY_FIELDS = ("due_at", "late_penalty_percent", "late_penalty_unit", "late_penalty_floor_percent",
                 "late_penalty_base")
REPOSTED_SOURCES_EXCLUDED = ("manual", "import")  # manual entry already replaced any penalty


def _item_rule_rows(items) -> list[dict]:
    return [{"points_possible": i.points_possible, "weight": i.weight, "extra_credit": i.extra_credit,
             "never_drop": i.never_drop} for i in items]


def _check_drops(category: Category, items: list[GradeItem], errors: _Errors, field_name: str) -> None:
    for message in drop_problems(name=category.name, aggregation=category.aggregation,
                                 drop_lowest=category.drop_lowest, drop_highest=category.drop_highest,
                                 items=_item_rule_rows(items)):
        errors.add(field_name, message)


def _clean_category(*, course: Course, values: dict, category: Category | None) -> dict:
    errors = _Errors()
    clean = {
        "name": _text(values, "name", "category's name", errors, required=True, max_length=100),
        "weight": _number(values, "weight", "weight (percent of the course total)", errors, places=3,
                          maximum=Decimal("100")),
        "aggregation": values.get("aggregation") or Aggregation.TOTAL_POINTS,
        "drop_lowest": _count(values, "drop_lowest", "drop lowest", errors),
        "drop_highest": _count(values, "drop_highest", "drop highest", errors),
        "position": _position(values, errors),
        "description": _text(values, "description", "description", errors, required=False, max_length=200,
                             multiline=True),
        "late_penalty_base": values.get("late_penalty_base") or LateBase.SCORE,
    }
    if clean["late_penalty_base"] not in LateBase.values:
        errors.add("late_penalty_base", f"Unknown late penalty base “{clean['late_penalty_base']}”; use score (a "
                                        "percent of the student's score) or possible (of points possible).")
    if clean["aggregation"] not in Aggregation.values:
        errors.add("aggregation", f"Unknown aggregation “{clean['aggregation']}”; use one of "
                                  f"{', '.join(Aggregation.values)}.")
    same_name = Category.objects.filter(course=course, name__iexact=clean["name"])
    if category is not None:
        same_name = same_name.exclude(pk=category.pk)
    if clean["name"] and same_name.exists():
        errors.add("name", f"A category named “{clean['name']}” already exists in this course; choose another name.")
    errors.raise_if_any()
    items = list(category.items.all()) if category is not None else []
    probe = Category(course=course, **{k: v for k, v in clean.items() if k != "position"})
    _check_drops(probe, items, errors, "drop_lowest")
    errors.raise_if_any()
    return clean


def _next_position(queryset) -> int:
    return (queryset.aggregate(top=Max("position"))["top"] or 0) + 1


@transaction.atomic
def category_create(*, course: Course, by: User, **values: Any) -> Category:
    """Add a grade category to `course`. Instructor only.

    values: name, weight (percent of the course total, 0–100), aggregation (total_points,
    mean, weighted_mean), drop_lowest, drop_highest (counts of items), position (None = after
    the others), description. A new category has no items, so it cannot drop any yet.
    Raises ValidationError {field: [messages]} saying what to fix. Weights that do not add up
    to 100 are allowed (see calculations.weight_warning).
    """
    _require_instructor(by, course)
    clean = _clean_category(course=course, values={**CATEGORY_DEFAULTS, **values}, category=None)
    if clean["position"] is None:
        clean["position"] = _next_position(Category.objects.filter(course=course))
    return Category.objects.create(course=course, **clean)


@transaction.atomic
def category_update(*, category: Category, by: User, reason: str = "", **changes: Any) -> Category:
    """Change some of a category's fields (those in CATEGORY_FIELDS); the rest stay. Instructor only.

    A new late_penalty_base re-applies the late policy of the items that follow the category
    (item base empty) to scores posted by quizzes or the autograder, like item_update does.

    Drop counts are checked against the category's items. Totals are computed, never stored,
    so new weights or rules apply to every student at once; grades and history are untouched.
    """
    _require_instructor(by, category.course)
    unknown = set(changes) - set(CATEGORY_FIELDS)
    if unknown:
        raise ValueError(f"not category fields: {sorted(unknown)}")
    category = Category.objects.select_for_update().get(pk=category.pk)
    current = {f: getattr(category, f) for f in CATEGORY_FIELDS}
    clean = _clean_category(course=category.course, values={**current, **changes}, category=category)
    if clean["position"] is None:
        clean["position"] = category.position
    changed = [f for f in CATEGORY_FIELDS if clean[f] != current[f]]
    for f in changed:
        setattr(category, f, clean[f])
    if changed:
        category.save(update_fields=changed)
    if "late_penalty_base" in changed:  # its items that follow it re-apply their late policies
        for item in category.items.filter(late_penalty_base="").select_related("course"):
            item.category = category
            _reapply_late_policy(item=item, by=by, reason=reason or "late penalty base of the category changed")
    return category


@transaction.atomic
def category_delete(*, category: Category, by: User) -> None:
    """Delete an empty category. Instructor only. A category with items is refused (say where
    to move them): items carry grades and their history."""
    _require_instructor(by, category.course)
    count = category.items.count()
    if count:
        raise ValidationError(f"{category.name} still holds {count} item(s); move them to another category or "
                              "delete them first.")
    category.delete()


def _clean_item(*, course: Course, values: dict, item: GradeItem | None) -> dict:
    errors = _Errors()
    category = values.get("category")
    if category is not None and not isinstance(category, Category):
        category = Category.objects.filter(course=course, pk=int(category) if str(category).isdigit() else 0).first()
        if category is None:
            errors.add("category", f"No category {values.get('category')} in this course; choose one of its categories.")
    elif category is None:
        errors.add("category", "Choose the item's category (add categories first if there are none).")
    elif category.course_id != course.pk:
        errors.add("category", "That category belongs to another course; choose one of this course's categories.")
    clean = {
        "name": _text(values, "name", "item's name", errors, required=True, max_length=120),
        "short_name": _text(values, "short_name", "short name", errors, required=False, max_length=30),
        "category": category,
        "points_possible": _number(values, "points_possible", "points possible", errors, places=2,
                                   maximum=Decimal("999999.99")),
        "weight": _number(values, "weight", "weight within the category", errors, places=3,
                          maximum=Decimal("99999.999"), allow_none=True),
        "due_at": values.get("due_at"),
        "extra_credit": _flag(values.get("extra_credit")),
        "never_drop": _flag(values.get("never_drop")),
        "released": _flag(values.get("released")),
        "ta_editable": _flag(values.get("ta_editable")),
        "late_penalty_percent": _number(values, "late_penalty_percent", "late penalty", errors, places=2,
                                        maximum=Decimal("100")),
        "late_penalty_unit": values.get("late_penalty_unit") or LateUnit.DAY,
        "late_penalty_floor_percent": _number(values, "late_penalty_floor_percent", "late penalty floor", errors,
                                              places=2, maximum=Decimal("100")),
        "late_penalty_base": values.get("late_penalty_base") or "",
        "position": _position(values, errors),
    }
    if clean["late_penalty_base"] not in ("", *LateBase.values):
        errors.add("late_penalty_base", f"Unknown late penalty base “{clean['late_penalty_base']}”; use score (a "
                                        "percent of the student's score), possible (of points possible), or empty "
                                        "(as its category).")
    due = clean["due_at"]
    if due is not None and (not isinstance(due, dt.datetime) or timezone.is_naive(due)):
        errors.add("due_at", "Give the due date with its time zone (the pages use the course's, Europe/Istanbul).")
    if clean["late_penalty_unit"] not in LateUnit.values:
        errors.add("late_penalty_unit", f"Unknown late penalty unit “{clean['late_penalty_unit']}”; use day or hour.")
    if clean["points_possible"] is not None and clean["points_possible"] == 0 and not clean["extra_credit"]:
        errors.add("points_possible", "Points possible must be more than 0 (only an extra-credit item may have 0).")
    if clean["late_penalty_percent"] and due is None:
        errors.add("due_at", "A late penalty needs a due date; set the due date or make the penalty 0.")
    names = GradeItem.objects.filter(course=course)
    if item is not None:
        names = names.exclude(pk=item.pk)
    for key in ("name", "short_name"):
        text = clean[key]
        if not text:
            continue
        clash = names.filter(Q(name__iexact=text) | Q(short_name__iexact=text)).first()
        if clash is not None:
            errors.add(key, f"“{text}” is already the name or short name of {clash.name}; choose another "
                            "(imports find columns by name and short name).")
    errors.raise_if_any()
    return clean


def _grades_above(item: GradeItem, maximum: Decimal) -> list[str]:
    """“Name 7.5” for each student whose points (or raw points) on `item` exceed `maximum`."""
    rows = (Grade.objects.filter(item=item).filter(Q(points__gt=maximum) | Q(raw_points__gt=maximum))
            .select_related("student").order_by("student__last_name", "student__first_name"))
    return [f"{g.student.get_full_name() or g.student.username} {format_points(max(g.points or 0, g.raw_points or 0))}"
            for g in rows]


def _name_list(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


@transaction.atomic
def item_create(*, course: Course, by: User, **values: Any) -> GradeItem:
    """Add a grade item to `course`. Instructor only.

    values: name, short_name, category (a Category of the course, or its id),
    points_possible (points, > 0; 0 only for extra credit), weight (within the category,
    None = 1), due_at (aware datetime or None), extra_credit, never_drop, released,
    ta_editable, late_penalty_percent (percent of the score per started unit),
    late_penalty_unit ("day" or "hour"), late_penalty_floor_percent, position (None = last
    in its category). Raises ValidationError {field: [messages]} saying what to fix.
    """
    _require_instructor(by, course)
    clean = _clean_item(course=course, values={**ITEM_DEFAULTS, **values}, item=None)
    if clean["position"] is None:
        clean["position"] = _next_position(GradeItem.objects.filter(category=clean["category"]))
    item = GradeItem(course=course, **clean)
    errors = _Errors()
    _check_drops(item.category, [*item.category.items.all(), item], errors, "never_drop")
    errors.raise_if_any()
    item.save()
    return item


@transaction.atomic
def item_update(*, item: GradeItem, by: User, reason: str = "", **changes: Any) -> GradeItem:
    """Change some of an item's fields (those in ITEM_FIELDS); the rest stay. Instructor only.

    Refused, with the students named, when points possible would drop below a grade already
    given (unless the item is or becomes extra credit). The drop rules of the old and the new
    category must still hold. When the due date or the late policy changes, scores posted by
    quizzes or the autograder get the policy re-applied to their submission time, each change
    with a history row (source "late policy"); manual and imported grades are left as they are.
    """
    _require_instructor(by, item.course)
    unknown = set(changes) - set(ITEM_FIELDS)
    if unknown:
        raise ValueError(f"not item fields: {sorted(unknown)}")
    item = GradeItem.objects.select_for_update().select_related("category", "course").get(pk=item.pk)
    current = {f: getattr(item, f) for f in ITEM_FIELDS}
    clean = _clean_item(course=item.course, values={**current, **changes}, item=item)
    if clean["position"] is None:
        clean["position"] = item.position
    errors = _Errors()
    if not clean["extra_credit"] and clean["points_possible"] < item.points_possible:
        above = _grades_above(item, clean["points_possible"])
        if above:
            errors.add("points_possible", (
                f"{len(above)} student(s) have more than {format_points(clean['points_possible'])} on {item.name}: "
                f"{_name_list(above)}. Change those grades first, or mark the item extra credit."))
    elif not clean["extra_credit"] and item.extra_credit:
        above = _grades_above(item, clean["points_possible"])
        if above:
            errors.add("extra_credit", (
                f"{len(above)} student(s) have more than the maximum of {format_points(clean['points_possible'])} on "
                f"{item.name}: {_name_list(above)}. Keep it extra credit, or raise points possible."))
    errors.raise_if_any()
    old_category = item.category
    changed = [f for f in ITEM_FIELDS if clean[f] != current[f]]
    for f in changed:
        setattr(item, f, clean[f])
    new_category = item.category
    for category in {old_category.pk: old_category, new_category.pk: new_category}.values():
        members = [i for i in category.items.exclude(pk=item.pk)] + ([item] if category.pk == new_category.pk else [])
        _check_drops(category, members, errors, "category" if category.pk != new_category.pk else "never_drop")
    errors.raise_if_any()
    if changed:
        item.save(update_fields=changed)
    possible_base = effective_late_base(item.late_penalty_base, item.category.late_penalty_base) == LateBase.POSSIBLE
    if set(changed) & set(POLICY_FIELDS) or ("points_possible" in changed and possible_base):
        _reapply_late_policy(item=item, by=by, reason=reason or "due date or late policy changed")
    return item


def _reapply_late_policy(*, item: GradeItem, by: User, reason: str) -> int:
    """Recompute the late penalty of every posted score on `item` (see item_update). Returns changes."""
    changed = 0
    grades = (Grade.objects.select_for_update().filter(item=item, state=GradeState.GRADED, raw_points__isnull=False)
              .exclude(source__in=REPOSTED_SOURCES_EXCLUDED).select_related("student"))
    for grade in grades:
        raw = grade.raw_points
        if raw is None:  # never: the query keeps posted scores only
            continue
        penalty = item_late_penalty(item=item, raw_points=raw, submitted_at=grade.submitted_at)
        if penalty.points == grade.late_penalty_points:
            continue
        old = _snapshot(grade)
        grade.item = item  # the locked, updated item: no query per grade when recording
        grade.late_penalty_points = penalty.points
        grade.points = raw - penalty.points
        grade.updated_by = by
        changed += _record(grade=grade, old=old, by=by, source="late policy", reason=reason, created=False)
    return changed


def _linked_elsewhere(item: GradeItem) -> list[str]:
    """What outside the gradebook points at `item` (a quiz, a project part), by model name."""
    found = []
    for relation in item._meta.related_objects:
        model = relation.related_model
        if model._meta.app_label == GradeItem._meta.app_label:
            continue
        if model._default_manager.filter(**{relation.field.name: item}).exists():
            found.append(str(model._meta.verbose_name))
    return found


@transaction.atomic
def item_delete(*, item: GradeItem, by: User) -> None:
    """Delete an item that has never had a grade. Instructor only.

    Refused when any grade or history exists (grades keep their history: excuse the grades
    to take the item out of the totals, or un-release it to hide it from students), when
    another app links to it (a quiz, a project part), or when its category's drop rule
    would no longer hold.
    """
    _require_instructor(by, item.course)
    graded = Grade.objects.filter(item=item).count()
    if graded or GradeChange.objects.filter(item=item).exists():
        raise ValidationError(
            f"{item.name} has grades ({graded} student(s)) and their history, so it cannot be deleted. "
            "To take it out of the totals, excuse its grades; to hide it from students, un-release it."
        )
    links = _linked_elsewhere(item)
    if links:
        raise ValidationError(f"{item.name} is used by a {' and a '.join(links)}; unlink it there first, "
                              "or un-release it to hide it.")
    errors = _Errors()
    _check_drops(item.category, list(item.category.items.exclude(pk=item.pk)), errors, "__all__")
    if errors:
        raise ValidationError(f"Deleting {item.name} would break {item.category.name}'s drop rule: "
                              f"{errors['__all__'][0]}")
    item.delete()

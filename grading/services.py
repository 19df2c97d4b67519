"""Writes to the gradebook. Every change goes through here and leaves a GradeChange row.

Contracts shared with the quizzes and projects apps:

- ``grade_post`` records a score that a quiz or the autograder computed, applying
  the item's late policy;
- ``grade_set`` is manual entry by the instructor or a TA.

Both are idempotent (the same call twice leaves one grade and one history row) and
run inside the caller's transaction (they lock the grade row with select_for_update;
outside a transaction they open their own).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction

from courseapp.models import User
from courseapp.text import control_character_error

from .access import can_edit_item
from .calculations import LatePenalty, fmt_points, late_penalty
from .models import Grade, GradeChange, GradeItem, GradeState, LateBase
from .policies import effective_late_base

_UNSET = object()


def item_late_penalty(*, item: GradeItem, raw_points: Decimal, submitted_at: dt.datetime | None) -> LatePenalty:
    """The late penalty of `item`'s policy on a score handed in at `submitted_at`: its rate, unit and
    floor, with the base (score or points possible) of the item, else of its category."""
    return late_penalty(
        raw_points=raw_points, due_at=item.due_at, submitted_at=submitted_at,
        percent_per_unit=item.late_penalty_percent, unit=item.late_penalty_unit,
        floor_percent=item.late_penalty_floor_percent,
        base=effective_late_base(item.late_penalty_base, item.category.late_penalty_base),
        points_possible=item.points_possible,
    )


def _as_points(value: Decimal | int | str, *, item: GradeItem) -> Decimal:
    try:
        points = Decimal(str(value)) if not isinstance(value, Decimal) else value
    except (InvalidOperation, ValueError):
        raise ValidationError(f"“{value}” is not a number; enter points like 7.5.") from None
    if not points.is_finite():
        raise ValidationError(f"“{value}” is not a number; enter points like 7.5.")
    return points


def validate_points(points: Decimal, *, item: GradeItem) -> None:
    """Raise ValidationError (with what to fix) unless `points` fits `item`.

    Points are non-negative, have at most two decimals, and stay within
    points_possible unless the item is extra credit.
    """
    if points < 0:
        raise ValidationError(f"{fmt_points(points)} is negative; points on {item.name} must be 0 or more.")
    if points != points.quantize(Decimal("0.01")):
        raise ValidationError(f"{points} has more than two decimals; round it to hundredths.")
    if points.adjusted() >= 6:
        raise ValidationError(f"{points} is too large for a grade.")
    if not item.extra_credit and points > item.points_possible:
        raise ValidationError(
            f"{fmt_points(points)} is above the maximum of {fmt_points(item.points_possible)} for {item.name}; "
            "enter at most the maximum, or mark the item as extra credit."
        )


def _lock_grade(*, item: GradeItem, student: User) -> tuple[Grade, bool]:
    """The student's grade row on `item`, locked for update; created (missing) if absent."""
    grade = Grade.objects.select_for_update().filter(item=item, student=student).first()
    if grade is not None:
        return grade, False
    try:
        with transaction.atomic():
            grade = Grade.objects.create(item=item, student=student, points=None, raw_points=None)
        return grade, True
    except IntegrityError:  # a concurrent writer created it first
        return Grade.objects.select_for_update().get(item=item, student=student), False


def _record(
    *, grade: Grade, old: dict, by: User | None, source: str, reason: str, created: bool
) -> bool:
    """Save `grade` and append a history row if anything that counts changed. Returns changed."""
    new = _snapshot(grade)
    if new == old:
        if created:  # nothing to store after all: leave no empty row behind
            grade.delete()
        return False
    grade.save()
    GradeChange.objects.create(
        item=grade.item,
        student=grade.student,
        changed_by=by,
        old_state="" if created else old["state"],
        new_state=grade.state,
        old_points=old["points"],
        new_points=grade.points,
        old_raw_points=old["raw_points"],
        new_raw_points=grade.raw_points,
        late_penalty_points=grade.late_penalty_points,
        old_comment=old["comment"],
        new_comment=grade.comment,
        source=source,
        reason=reason,
    )
    return True


def _snapshot(grade: Grade) -> dict:
    return {
        "state": grade.state,
        "points": grade.points,
        "raw_points": grade.raw_points,
        "late_penalty_points": grade.late_penalty_points,
        "submitted_at": grade.submitted_at,
        "comment": grade.comment,
    }


@transaction.atomic
def grade_post(
    *,
    item: GradeItem,
    student: User,
    raw_points: Decimal,
    submitted_at: dt.datetime | None,
    source: str,
    by: User | None = None,
    reason: str = "",
) -> Grade:
    """Record a computed score (quiz, autograder) for `student` on `item`.

    raw_points: the score before any late penalty, in points (not percent); more than
    two decimals are rounded half up to hundredths. submitted_at: when the work was
    handed in (aware datetime), None for "on time". The item's late policy is applied
    (see calculations.late_penalty) and stored as late_penalty_points; `points` is
    raw minus penalty. The latest post wins, also over an excused or manual grade.
    Posting what is already stored changes nothing and writes no history.
    Raises ValidationError for a negative score or one above points_possible on an
    item without extra credit.
    """
    raw = _as_points(raw_points, item=item).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")
    validate_points(raw, item=item)
    penalty = item_late_penalty(item=item, raw_points=raw, submitted_at=submitted_at)
    grade, created = _lock_grade(item=item, student=student)
    old = _snapshot(grade)
    grade.state = GradeState.GRADED
    grade.raw_points = raw
    grade.late_penalty_points = penalty.points
    grade.points = raw - penalty.points
    grade.submitted_at = submitted_at
    grade.source = source
    grade.updated_by = by
    if penalty.units_late and not reason:
        unit = item.get_late_penalty_unit_display().replace("per started ", "")
        of = "of points possible" if penalty.base == LateBase.POSSIBLE else "of the score"
        floor = (f", never below {fmt_points(item.late_penalty_floor_percent)}%"
                 if item.late_penalty_floor_percent else "")
        reason = f"late by {penalty.units_late} {unit}(s): −{penalty.percent}% {of}{floor} ({penalty.points} points)"
    _record(grade=grade, old=old, by=by, source=source, reason=reason, created=created)
    return grade


@transaction.atomic
def grade_set(
    *,
    item: GradeItem,
    student: User,
    points: Decimal | None,
    by: User,
    state: str = GradeState.GRADED,
    reason: str = "",
    comment: str | None = None,
    source: str = "manual",
) -> Grade:
    """Manual entry: set the counted points of `student` on `item`.

    points: counted points (what the student gets), or None to clear the grade
    (back to missing). state=EXCUSED excuses the student (points are ignored and
    stored as None). comment: None leaves the comment as it is, "" clears it.
    Manual entry replaces any late penalty an earlier post applied.
    Raises PermissionDenied unless `by` may edit the item (instructor; TA on
    ta_editable items), ValidationError for points that do not fit the item.
    """
    if not can_edit_item(by, item):
        raise PermissionDenied(f"You may not edit grades of {item.name}.")
    if state not in GradeState.values:
        raise ValidationError(f"Unknown state “{state}”; use graded or excused.")
    if state == GradeState.EXCUSED:
        points = None
    elif points is not None:
        points = _as_points(points, item=item)
        validate_points(points, item=item)
        points = points.quantize(Decimal("0.01"))  # as the database stores it
    grade, created = _lock_grade(item=item, student=student)
    old = _snapshot(grade)
    grade.state = state
    grade.points = points
    grade.raw_points = points
    grade.late_penalty_points = Decimal("0")
    if comment is not None:
        grade.comment = comment
    grade.source = source
    grade.updated_by = by
    if old["late_penalty_points"] and points is not None and not reason:
        reason = f"manual entry replaces the late penalty of {old['late_penalty_points']} points"
    _record(grade=grade, old=old, by=by, source=source, reason=reason, created=created)
    return grade


# --- bulk import --------------------------------------------------------------------------------

import csv  # noqa: E402
import io  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402

from courseapp.models import Course, Membership, Role  # noqa: E402

from . import exports  # noqa: E402
from .models import LetterCutoff, LetterOverride  # noqa: E402

MAX_IMPORT_BYTES = 5 * 1024 * 1024
STUDENT_NUMBER_HEADERS = {"student number", "student_number", "student no", "id number", "idnumber", "number"}


@dataclass
class ImportChange:
    line: int
    student_id: int
    student_number: str
    student_name: str
    item_id: int
    item_name: str
    old: str  # "7.5", "EX" or "" (missing)
    new: str


@dataclass
class ImportPlan:
    """What an import would do: changes to apply, or errors (by line) that block all of it."""

    changes: list[ImportChange] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    items: list[str] = field(default_factory=list)
    unchanged: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors


def _decode(data: bytes | str) -> str:
    if isinstance(data, str):
        return data
    if not isinstance(data, bytes):
        raise ValidationError("Send the CSV as a file (multipart “file”) or as text (“csv”).")
    if len(data) > MAX_IMPORT_BYTES:
        raise ValidationError("The file is larger than 5 MB; split it or remove unused columns.")
    for encoding in ("utf-8-sig", "cp1254"):  # Excel on Turkish Windows saves CSV as cp1254
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ValidationError("The file is not text; save it as CSV (UTF-8) and upload again.")


def import_plan(*, course: Course, data: bytes | str, by: User) -> ImportPlan:
    """Read a CSV (student number + one column per item, or the export's own layout) and
    compare it with the gradebook. Nothing is written.

    Headers: a student-number column ("Student number" or "ID number") and columns named
    like grade items (name or short name, an optional " (Real)" suffix as in Moodle's
    layout); other columns (names, totals) are ignored. Cells: points, "EX" to excuse,
    empty or "-" to leave as is. A "Points possible" row is skipped. Errors are reported
    per line (the header is line 1): unknown student, not a number, above the maximum on
    an item without extra credit, a student twice, items the user may not edit.
    """
    text = _decode(data)
    # newline="": a file saved with bare CR line endings (old Mac Excel) reads as lines, not one field.
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        rows = list(reader)
    except csv.Error as exc:
        raise ValidationError(f"Line {reader.line_num}: the CSV cannot be read ({exc}); save it again as "
                              "CSV (UTF-8) from your spreadsheet program.") from None
    plan = ImportPlan()
    if not rows:
        plan.errors.append("The file is empty; export the gradebook to see the expected layout.")
        return plan
    header = [h.strip() for h in rows[0]]
    lower = [h.lower() for h in header]
    number_col = next((k for k, h in enumerate(lower) if h in STUDENT_NUMBER_HEADERS), None)
    if number_col is None:
        plan.errors.append("Line 1: no “Student number” column; add one with each student's METU number.")
        return plan
    items = {}
    for item in GradeItem.objects.filter(course=course):
        for key in {item.name, item.short_name} - {""}:
            items[key.lower()] = item
    columns: dict[int, GradeItem] = {}
    for k, h in enumerate(lower):
        name = h[:-7].strip() if h.endswith(" (real)") else h
        if k != number_col and name in items:
            columns[k] = items[name]
    if not columns:
        plan.errors.append("Line 1: no column is named like a grade item; use the item names as headers.")
        return plan
    plan.items = [item.name for item in columns.values()]
    students = {
        m.user.student_number: m.user
        for m in Membership.objects.filter(course=course, role=Role.STUDENT).select_related("user")
        if m.user.student_number
    }
    existing = {
        (g.student_id, g.item_id): g
        for g in Grade.objects.filter(item__in=list(columns.values()))
    }
    seen: dict[str, int] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        number = row[number_col].strip().lstrip("'") if number_col < len(row) else ""
        if number.lower() == exports.POINTS_POSSIBLE.lower():
            continue
        if not number:
            plan.errors.append(f"Line {line}: no student number.")
            continue
        student = students.get(number)
        if student is None:
            plan.errors.append(f"Line {line}: unknown student “{number}”: not a student of {course.number}.")
            continue
        if number in seen:
            plan.errors.append(f"Line {line}: student {number} appears twice (also on line {seen[number]}).")
            continue
        seen[number] = line
        for k, item in columns.items():
            cell = row[k].strip().lstrip("'") if k < len(row) else ""
            if cell in ("", "-"):
                continue
            grade = existing.get((student.pk, item.pk))
            old = _grade_text(grade)
            if cell.upper() in {"EX", "E", "EXCUSED"}:
                new = exports.EXCUSED
            else:
                try:
                    points = _as_points(cell.replace(",", ".") if cell.count(",") == 1 and "." not in cell
                                        else cell, item=item)
                    validate_points(points, item=item)
                except ValidationError as exc:
                    plan.errors.append(f"Line {line}, {item.name}: {exc.messages[0]}")
                    continue
                new = fmt_points(points)
            if new == old:
                plan.unchanged += 1
                continue
            if not can_edit_item(by, item):
                plan.errors.append(f"Line {line}, {item.name}: you may not edit this item's grades.")
                continue
            plan.changes.append(ImportChange(
                line=line, student_id=student.pk, student_number=number, student_name=str(student),
                item_id=item.pk, item_name=item.name, old=old, new=new,
            ))
    return plan


def _grade_text(grade: Grade | None) -> str:
    if grade is None:
        return ""
    if grade.state == GradeState.EXCUSED:
        return exports.EXCUSED
    return fmt_points(grade.points)


@transaction.atomic
def import_apply(*, course: Course, data: bytes | str, by: User, reason: str = "CSV import") -> ImportPlan:
    """Check the file again and apply every change in one transaction, or nothing.

    Raises ValidationError with every error when the file has any; each applied change
    goes through grade_set (history source "import").
    """
    plan = import_plan(course=course, data=data, by=by)
    if not plan.ok:
        raise ValidationError(plan.errors)
    items = {i.pk: i for i in GradeItem.objects.filter(course=course)}
    users = {u.pk: u for u in User.objects.filter(pk__in={c.student_id for c in plan.changes})}
    for change in plan.changes:
        excused = change.new == exports.EXCUSED
        grade_set(
            item=items[change.item_id], student=users[change.student_id],
            points=None if excused else Decimal(change.new), by=by,
            state=GradeState.EXCUSED if excused else GradeState.GRADED, reason=reason, source="import",
        )
    return plan


# --- items, letters -----------------------------------------------------------------------------------

@transaction.atomic
def item_release(*, item: GradeItem, released: bool, by: User) -> GradeItem:
    """Show (or hide) an item's grades to students. Instructor only."""
    if role_in_course(by, item.course) != Role.INSTRUCTOR:
        raise PermissionDenied("Only the instructor releases grades.")
    if item.released != released:
        item.released = released
        item.save(update_fields=["released"])
    return item


def role_in_course(user: User, course: Course) -> str | None:
    from courseapp.access import role_in

    return role_in(user, course)


@transaction.atomic
def letter_override_set(*, course: Course, student: User, letter: str, reason: str, by: User) -> LetterOverride:
    """Override (letter) or clear (letter "") a student's final letter. Kept as history; reason required."""
    if role_in_course(by, course) != Role.INSTRUCTOR:
        raise PermissionDenied("Only the instructor overrides letters.")
    from .selectors import letter_scale

    letter = letter.strip().upper()
    allowed = [row[0] for row in letter_scale(course)]
    if letter and letter not in allowed:
        raise ValidationError(f"“{letter}” is not a letter of this course's scale; use one of {', '.join(allowed)}.")
    if not reason.strip():
        raise ValidationError("Give a reason for the override; it is kept with the grade's history.")
    control = control_character_error(reason, label="reason", multiline=True)
    if control:
        raise ValidationError(control)
    if not Membership.objects.filter(course=course, user=student, role=Role.STUDENT).exists():
        raise ValidationError("That person is not a student of this course.")
    return LetterOverride.objects.create(
        course=course, student=student, letter=letter, reason=reason.strip(), created_by=by
    )


@transaction.atomic
def letter_scale_set(*, course: Course, rows: list[tuple[str, Decimal, Decimal]], by: User) -> None:
    """Replace the course's letter cut-offs (curving). rows: (letter, min_percent, grade_point)."""
    from .calculations import validate_scale

    if role_in_course(by, course) != Role.INSTRUCTOR:
        raise PermissionDenied("Only the instructor edits the letter scale.")
    problems = validate_scale(rows)
    if problems:
        raise ValidationError(problems)
    LetterCutoff.objects.filter(course=course).delete()
    LetterCutoff.objects.bulk_create([
        LetterCutoff(course=course, letter=letter.strip().upper(), min_percent=minimum, grade_point=point)
        for letter, minimum, point in rows
    ])


# --- gradebook set-up: categories and items ---------------------------------------------------

from typing import Any  # noqa: E402

from django.db.models import Max, Q  # noqa: E402
from django.utils import timezone  # noqa: E402

from .calculations import drop_problems  # noqa: E402
from .models import Aggregation, Category, LateUnit  # noqa: E402

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
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip().replace(",", "."))
    except (InvalidOperation, ValueError):
        errors.add(key, f"The {label} “{value}” is not a number; enter it like 12.5.")
        return None
    if not number.is_finite():
        errors.add(key, f"The {label} “{value}” is not a number; enter it like 12.5.")
        return None
    if number < minimum or number > maximum:
        errors.add(key, f"The {label} must be between {fmt_points(minimum)} and {fmt_points(maximum)}; "
                        f"{fmt_points(number)} is not.")
        return None
    if number != number.quantize(Decimal(1).scaleb(-places)):
        errors.add(key, f"The {label} may have at most {places} decimals; round {number}.")
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
    if due is not None and (not hasattr(due, "utcoffset") or timezone.is_naive(due)):
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
    return [f"{g.student.get_full_name() or g.student.username} {fmt_points(max(g.points or 0, g.raw_points or 0))}"
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
                f"{len(above)} student(s) have more than {fmt_points(clean['points_possible'])} on {item.name}: "
                f"{_name_list(above)}. Change those grades first, or mark the item extra credit."))
    elif not clean["extra_credit"] and item.extra_credit:
        above = _grades_above(item, clean["points_possible"])
        if above:
            errors.add("extra_credit", (
                f"{len(above)} student(s) have more than the maximum of {fmt_points(clean['points_possible'])} on "
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
        penalty = item_late_penalty(item=item, raw_points=grade.raw_points, submitted_at=grade.submitted_at)
        if penalty.points == grade.late_penalty_points:
            continue
        old = _snapshot(grade)
        grade.item = item  # the locked, updated item: no query per grade when recording
        grade.late_penalty_points = penalty.points
        grade.points = grade.raw_points - penalty.points
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

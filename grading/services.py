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

from .access import can_edit_item
from .calculations import fmt_points, late_penalty
from .models import Grade, GradeChange, GradeItem, GradeState

_UNSET = object()


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
    penalty = late_penalty(
        raw_points=raw,
        due_at=item.due_at,
        submitted_at=submitted_at,
        percent_per_unit=item.late_penalty_percent,
        unit=item.late_penalty_unit,
        floor_percent=item.late_penalty_floor_percent,
    )
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
        reason = f"late by {penalty.units_late} {unit}(s): −{penalty.percent}% ({penalty.points} points)"
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
    rows = list(csv.reader(io.StringIO(text)))
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

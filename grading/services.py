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

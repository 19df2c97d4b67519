"""Grade writes: every change goes through here and leaves a GradeChange row.

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
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction

from courseapp.models import User
from courseapp.numbers import PointsError, format_points, parse_points

from ..access import can_edit_item
from ..calculations import LatePenalty, late_penalty
from ..models import Grade, GradeChange, GradeItem, GradeState, LateBase
from ..policies import effective_late_base


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


MAX_GRADE = Decimal("999999.99")  # the grade columns hold 8 digits, 2 of them decimals


def parse_grade_points(value: Decimal | int | float | str, *, item: GradeItem) -> Decimal:
    """Points a person typed for `item` ("7.5", "7,5", 7) → Decimal; ValidationError saying what to fix.

    The site's one points parser (courseapp.numbers.parse_points: at most two decimals, no
    NaN, not negative), then the item's maximum (validate_points)."""
    try:
        points = parse_points(value, maximum=MAX_GRADE)
    except PointsError as exc:
        raise ValidationError(str(exc)) from None
    validate_points(points, item=item)
    return points


def validate_points(points: Decimal, *, item: GradeItem) -> None:
    """Raise ValidationError (with what to fix) unless `points` fits `item`.

    Points are non-negative, have at most two decimals, and stay within
    points_possible unless the item is extra credit.
    """
    try:
        parse_points(points, maximum=MAX_GRADE, what=f"Points on {item.name}")
    except PointsError as exc:
        raise ValidationError(str(exc)) from None
    if not item.extra_credit and points > item.points_possible:
        raise ValidationError(
            f"{format_points(points)} is above the maximum of {format_points(item.points_possible)} for {item.name}; "
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
    try:
        raw = parse_points(raw_points, maximum=MAX_GRADE, round_extra=True, what=f"The score on {item.name}")
    except PointsError as exc:
        raise ValidationError(str(exc)) from None
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
        floor = (f", never below {format_points(item.late_penalty_floor_percent)}%"
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
        points = parse_grade_points(points, item=item).quantize(Decimal("0.01"))  # as the database stores it
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

"""Rubric grading: the course staff mark a submission against its part's criteria."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from courseapp.models import User
from courseapp.numbers import PointsError, parse_points

from ..models import RubricCriterion, RubricGrade, RubricMark, Submission
from .base import STAFF_ROLES, ProjectError, lock_row, require_role
from .grades import part_grades_post


@transaction.atomic
def rubric_grade_save(*, submission: Submission, marks: dict[int, tuple[Decimal | str | None, str]], comment: str,
                      by: User, now: dt.datetime | None = None) -> RubricGrade:
    """Save a TA's rubric marks (criterion id -> (points, comment)) and post the team's grades.

    Every criterion of the part needs a mark between 0 and its points.
    Raises ProjectError naming the criterion to fix; PermissionDenied unless ``by`` is the
    instructor or a TA.
    """
    require_role(by, submission.part.course, STAFF_ROLES, "Only the course staff grade with the rubric.")
    now = now or timezone.now()
    submission = lock_row(Submission, submission.pk)
    part = submission.part
    if not part.rubric_graded:
        raise ProjectError(f"{part.name} is not graded with a rubric.")
    criteria = list(RubricCriterion.objects.filter(part=part))
    if not criteria:
        raise ProjectError(f"{part.name} has no rubric criteria yet; the instructor adds them in the admin.")
    total = Decimal("0")
    clean: list[tuple[RubricCriterion, Decimal, str]] = []
    for criterion in criteria:
        if criterion.pk not in marks or marks[criterion.pk][0] is None:
            raise ProjectError(f"Give points for “{criterion.title}” (0 to {criterion.points}).")
        raw, note = marks[criterion.pk]
        try:  # the site's points parser: 1.5 or 1,5; a third decimal is refused, not rounded away
            points = parse_points(raw, what=f"Points for “{criterion.title}”")
        except PointsError as exc:
            raise ProjectError(str(exc)) from None
        if not Decimal("0") <= points <= criterion.points:
            raise ProjectError(f"“{criterion.title}” allows 0 to {criterion.points} points; you gave {points}.")
        total += points
        clean.append((criterion, points, note or ""))
    grade, _ = RubricGrade.objects.update_or_create(
        submission=submission,
        defaults={"total": total, "comment": comment, "graded_by": by, "graded_at": now},
    )
    for criterion, points, note in clean:
        RubricMark.objects.update_or_create(
            grade=grade, criterion=criterion, defaults={"points": points, "comment": note}
        )
    try:
        part_grades_post(part=part, students=list(submission.members.all()), by=by,
                         reason=f"rubric: submission #{submission.number}")
    except ValidationError as exc:
        raise ProjectError(" ".join(exc.messages)) from None
    return grade


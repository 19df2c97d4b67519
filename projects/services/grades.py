"""Posting a part's grades to the gradebook: each student's counting submission, autograded or hand graded."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from courseapp.models import User
from grading.services import grade_post

from .. import selectors
from ..models import ProjectPart


def part_grades_post(*, part: ProjectPart, students: Sequence[User], by: User | None = None,
                     reason: str = "") -> dict[int, Decimal | None]:
    """Post each student's grade on ``part``: their counting submission's points (last or best).

    Idempotent: the gradebook keeps one grade and writes history only when
    something changed.  Students with no scored submission are left alone.
    Must run in the caller's transaction.  Returns student id -> raw points posted.
    """
    counting = selectors.counting_for_students(part=part, student_ids=[s.pk for s in students])
    posted: dict[int, Decimal | None] = {}
    for student in students:
        score = counting.get(student.pk)
        if score is None or score.raw is None:
            posted[student.pk] = None
            continue
        source = "autograder" if score.run is not None else "rubric"
        grade_post(item=part.grade_item, student=student, raw_points=score.raw,
                   submitted_at=score.submission.submitted_at, source=source, by=by,
                   reason=reason or f"{part.name}: submission #{score.submission.number}")
        posted[student.pk] = score.raw
    return posted


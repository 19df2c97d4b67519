"""Demo gradebook for CENG 501: ten quizzes, the final exam, and some graded quizzes.

Quiz n is due at the end of lecture n + 1, so its dates move with the lectures (see
courseapp.demo). With `now` (load_demo places the course around a day), the quizzes due before it
are graded; without it, the first three. Idempotent (load_demo calls it on every run).
Project parts are the projects app's.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import transaction

from courseapp.demo import FINAL_EXAM, shifted
from courseapp.models import Course, Membership, Role

from .models import Category, Grade, GradeItem
from .services import grade_post

GRADED_QUIZZES = 3


def _points(username: str, quiz: int) -> Decimal:
    """A deterministic, plausible quiz score out of 10 (mostly 5–10, in halves)."""
    digest = hashlib.sha256(f"{username}:{quiz}".encode()).digest()
    return Decimal(10 + digest[0] % 11) / 2


@transaction.atomic
def load(*, course: Course, now: dt.datetime | None = None) -> None:
    tz = ZoneInfo(course.time_zone)
    quizzes = Category.objects.get(course=course, name="Quizzes")
    final = Category.objects.get(course=course, name="Final exam")
    lectures = list(course.lectures.order_by("starts_at"))
    items = []
    for n in range(1, 11):
        # Quiz n is taken in class and due at the end of lecture n + 1 (weeks 2–11).
        lecture = lectures[min(n, len(lectures) - 1)] if lectures else None
        due = lecture.ends_at if lecture else dt.datetime(2024, 10, 9, 11, 30, tzinfo=tz) + dt.timedelta(weeks=n - 1)
        item, _ = GradeItem.objects.get_or_create(
            course=course, name=f"Quiz {n}",
            defaults={"category": quizzes, "short_name": f"Q{n}", "points_possible": Decimal("10"),
                      "due_at": due, "position": n, "released": True, "ta_editable": True},
        )
        items.append(item)
    GradeItem.objects.get_or_create(
        course=course, name="Final exam",
        defaults={"category": final, "short_name": "Final", "points_possible": Decimal("100"),
                  "due_at": shifted(course, *FINAL_EXAM), "position": 1, "released": True},
    )
    students = [m.user for m in Membership.objects.filter(course=course, role=Role.STUDENT).select_related("user")]
    graded_items = items[:GRADED_QUIZZES] if now is None else [i for i in items if i.due_at and i.due_at < now]
    for n, item in enumerate(graded_items, start=1):
        # leave grades that exist alone (the quizzes app's demo may have posted real attempts)
        graded = set(Grade.objects.filter(item=item).values_list("student_id", flat=True))
        for student in students:
            if student.pk in graded:
                continue
            assert item.due_at is not None  # the quizzes above are made with one; graded_items keeps dated ones
            grade_post(item=item, student=student, raw_points=_points(student.username, n),
                       submitted_at=item.due_at - dt.timedelta(minutes=30), source="demo")

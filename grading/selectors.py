"""Reads: load a course's gradebook into frames in a constant number of queries.

`gradebook_frame` serves one student's page (students=[one]) and a 10,000-student
export alike: six queries whatever the number of students or items.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

import pandas as pd
from django.db.models import BigIntegerField, F
from django.db.models.functions import Cast, Round
from django.utils import timezone

from courseapp.models import Course, Membership, Role, User

from . import calculations as calc
from .models import Category, Grade, GradeChange, GradeItem, GradeState, LetterCutoff, LetterOverride

ITEM_FIELDS = [
    "id", "category_id", "name", "short_name", "points_possible", "weight", "due_at", "extra_credit",
    "never_drop", "released", "ta_editable", "late_penalty_percent", "late_penalty_unit",
    "late_penalty_floor_percent", "position",
]


@dataclass
class GradebookFrame:
    """One course's gradebook as frames (see calculations for the column contracts).

    students: index = user id; columns username, first_name, last_name, student_number, name.
    details: long form, one row per stored grade (only with with_details=True): student, item,
    state, raw_points, late_penalty_points, points, comment, submitted_at, source.
    overrides: student id → (letter, reason) for letter overrides in force.
    """

    course: Course
    categories: pd.DataFrame
    items: pd.DataFrame
    students: pd.DataFrame
    grades: calc.GradeMatrix
    scale: list
    overrides: dict = field(default_factory=dict)
    details: pd.DataFrame | None = None
    now: dt.datetime | None = None

    def compute(self, grades: calc.GradeMatrix | None = None) -> calc.Result:
        return calc.compute(
            categories=self.categories, items=self.items, grades=grades or self.grades, now=self.now
        )


def letter_scale(course: Course) -> list[tuple[str, Decimal, Decimal]]:
    """The course's letter scale: its own cut-offs, or METU's default when it has none."""
    rows = [(c.letter, c.min_percent, c.grade_point) for c in LetterCutoff.objects.filter(course=course)]
    return rows or list(calc.METU_SCALE)


def gradebook_frame(
    *,
    course: Course,
    students: list[User] | list[int] | None = None,
    released_only: bool = False,
    with_details: bool = False,
    now: dt.datetime | None = None,
) -> GradebookFrame:
    """Load categories, items, students and grades of `course`.

    students: restrict to these (users or ids); None = every active student of the course.
    released_only: leave out unreleased items entirely (what a student may see; their
    grades then neither show nor count). now: the instant FINAL totals are computed at.
    """
    categories = pd.DataFrame.from_records(
        list(Category.objects.filter(course=course).values(
            "id", "name", "weight", "aggregation", "drop_lowest", "drop_highest", "position")),
        columns=["id", "name", "weight", "aggregation", "drop_lowest", "drop_highest", "position"],
    ).set_index("id")
    item_qs = GradeItem.objects.filter(course=course)
    if released_only:
        item_qs = item_qs.filter(released=True)
    items = pd.DataFrame.from_records(list(item_qs.values(*ITEM_FIELDS)), columns=ITEM_FIELDS)
    items = items.rename(columns={"category_id": "category"}).set_index("id")
    # order like the gradebook: category position, then item position
    if len(items):
        cat_pos = categories["position"].to_dict()
        items["_order"] = [(cat_pos.get(c, 0), p, i) for c, p, i in
                           zip(items["category"], items["position"], items.index, strict=True)]
        items = items.sort_values("_order").drop(columns="_order")
        items["due_at"] = items["due_at"].astype(object).where(items["due_at"].notna(), None)
    members = Membership.objects.filter(course=course, role=Role.STUDENT, is_active=True)
    if students is not None:
        ids = [s.pk if isinstance(s, User) else int(s) for s in students]
        members = members.filter(user_id__in=ids)
    student_rows = list(members.order_by("user__last_name", "user__first_name", "user__username").values_list(
        "user_id", "user__username", "user__first_name", "user__last_name", "user__student_number"))
    student_frame = pd.DataFrame.from_records(
        student_rows, columns=["id", "username", "first_name", "last_name", "student_number"]
    ).set_index("id")
    student_frame["name"] = (student_frame["first_name"] + " " + student_frame["last_name"]).str.strip()

    grade_qs = Grade.objects.filter(item_id__in=list(items.index))
    if students is not None:
        grade_qs = grade_qs.filter(student_id__in=list(student_frame.index))
    rows = list(grade_qs.annotate(
        cents=Cast(Round(F("points") * 100), BigIntegerField())
    ).values_list("student_id", "item_id", "state", "cents"))
    matrix = calc.GradeMatrix.from_rows(
        student_frame.index, items.index,
        [(s, i, state == GradeState.EXCUSED, c) for s, i, state, c in rows],
    )
    details = None
    if with_details:
        details = pd.DataFrame.from_records(
            list(grade_qs.values(
                "student_id", "item_id", "state", "raw_points", "late_penalty_points", "points", "comment",
                "submitted_at", "source")),
            columns=["student_id", "item_id", "state", "raw_points", "late_penalty_points", "points", "comment",
                     "submitted_at", "source"],
        )
    overrides = {}
    override_qs = LetterOverride.objects.filter(course=course).order_by("student_id", "-created_at", "-id")
    if students is not None:
        override_qs = override_qs.filter(student_id__in=list(student_frame.index))
    for student_id, letter, reason in override_qs.values_list("student_id", "letter", "reason"):
        if student_id not in overrides:
            overrides[student_id] = (letter, reason)
    overrides = {k: v for k, v in overrides.items() if v[0]}
    return GradebookFrame(
        course=course, categories=categories, items=items, students=student_frame, grades=matrix,
        scale=letter_scale(course), overrides=overrides, details=details, now=now or timezone.now(),
    )


def letters(frame: GradebookFrame, result: calc.Result, mode: str = calc.FINAL) -> pd.DataFrame:
    """Per student: computed letter (from the rounded total), the override in force and the letter that counts."""
    totals = result.total_percent(mode)
    computed = [calc.letter_for(t, frame.scale) for t in totals]
    override = [frame.overrides.get(s, ("", ""))[0] for s in totals.index]
    reason = [frame.overrides.get(s, ("", ""))[1] for s in totals.index]
    final = [o or c for o, c in zip(override, computed, strict=True)]
    return pd.DataFrame({"computed": computed, "override": override, "reason": reason, "letter": final},
                        index=totals.index)


def grade_history(*, item: GradeItem, student_id: int) -> list[GradeChange]:
    return list(
        GradeChange.objects.filter(item=item, student_id=student_id).select_related("changed_by")
    )


def letter_override_history(*, course: Course, student_id: int) -> list[LetterOverride]:
    return list(LetterOverride.objects.filter(course=course, student_id=student_id).select_related("created_by"))

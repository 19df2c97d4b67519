"""Reads: load a course's gradebook into frames in a constant number of queries.

`gradebook_frame` serves one student's page (students=[one]) and a 10,000-student
export alike: seven queries whatever the number of students or items.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
import pandas as pd
from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import BigIntegerField, Case, F, Value, When
from django.db.models.functions import Cast, Coalesce, Round
from django.utils import timezone

from courseapp.models import Course, Membership, Role, User

from . import calculations as calc
from . import policies
from .models import (
    Category,
    Grade,
    GradebookOptions,
    GradeChange,
    GradeItem,
    GradeState,
    LetterCutoff,
    LetterOverride,
)
from .options import engine_options, gradebook_options

MISSING_CODE = -1
EXCUSED_CODE = -2
ITEM_FIELDS = [
    "id", "category_id", "name", "short_name", "points_possible", "weight", "due_at", "extra_credit",
    "never_drop", "released", "ta_editable", "late_penalty_percent", "late_penalty_unit",
    "late_penalty_floor_percent", "late_penalty_base", "position",
]
CATEGORY_FIELDS = ["id", "name", "weight", "aggregation", "drop_lowest", "drop_highest", "position",
                   "late_penalty_base"]


@dataclass
class GradebookFrame:
    """One course's gradebook as frames (see calculations for the column contracts).

    students: index = user id; columns username, first_name, last_name, student_number, email, name.
    details: long form, one row per stored grade (only with with_details=True): student, item,
    state, raw_points, late_penalty_points, points, comment, submitted_at, source.
    overrides: student id → (letter, reason) for letter overrides in force.
    options: the course's GradebookOptions (weighting, missing-work policy, letters released).
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
    options: GradebookOptions | None = None

    @property
    def engine_options(self) -> calc.GradingOptions:
        return calc.DEFAULT_OPTIONS if self.options is None else engine_options(self.options)

    def compute(self, grades: calc.GradeMatrix | None = None) -> calc.Result:
        return calc.compute(
            categories=self.categories, items=self.items, grades=grades or self.grades,
            now=self.now or timezone.now(),
            options=self.engine_options,
        )


def _fetch_plain(queryset) -> list[tuple]:
    """The queryset's rows as the driver returns them, skipping Django's per-row iteration and
    per-value converters (they cost more than the query itself on 140,000 integer rows). Only
    for querysets whose columns need no conversion: integers and text."""
    sql, params = queryset.query.sql_with_params()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def grade_code():
    """One integer per grade, computed by the database: hundredths of a point, MISSING_CODE (-1)
    for a row without a number, EXCUSED_CODE (-2) for excused. Integers cross the driver and
    reach numpy far faster than Decimals."""
    return Case(
        When(state=GradeState.EXCUSED, then=Value(EXCUSED_CODE)),
        default=Coalesce(Cast(Round(F("points") * 100), BigIntegerField()), Value(MISSING_CODE)),
        output_field=BigIntegerField(),
    )


def _fetch_int_array(queryset, width: int) -> np.ndarray:
    """The queryset's rows as an (n × width) int64 array. Only for integer columns without NULLs.

    On PostgreSQL (psycopg2) the rows come through ``COPY (query) TO STDOUT`` and numpy parses
    the text: no Python object per value, which saves about a third of a 10,000-student
    export's load time (bench/gradebook.py). Elsewhere: fetchall."""
    connection = connections[queryset.db]
    try:
        sql, params = queryset.query.sql_with_params()
    except EmptyResultSet:  # e.g. filtered on an empty list: no query to run
        return np.empty((0, width), dtype=np.int64)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql" and hasattr(cursor, "copy_expert") and hasattr(cursor, "mogrify"):
            buffer = io.BytesIO()
            cursor.copy_expert(b"COPY (" + cursor.mogrify(sql, params) + b") TO STDOUT", buffer)
            text = buffer.getvalue()
            values = np.fromstring(text, dtype=np.int64, sep=" ") if text else np.empty(0, dtype=np.int64)
            if values.size != width * text.count(b"\n"):  # a NULL ("\N") or a non-integer stops the parser
                raise ValueError(f"COPY returned rows that are not {width} integers each")
        else:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
            values = np.fromiter(itertools.chain.from_iterable(rows), dtype=np.int64, count=width * len(rows))
    return values.reshape(-1, width)


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
        list(Category.objects.filter(course=course).values(*CATEGORY_FIELDS)), columns=CATEGORY_FIELDS,
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
    student_rows = _fetch_plain(members.order_by("user__last_name", "user__first_name", "user__username").values_list(
        "user_id", "user__username", "user__first_name", "user__last_name", "user__student_number", "user__email"))
    student_frame = pd.DataFrame.from_records(
        student_rows, columns=["id", "username", "first_name", "last_name", "student_number", "email"]
    ).set_index("id")
    student_frame["name"] = [f"{first} {last}".strip() for _, _, first, last, _, _ in student_rows]

    grade_qs = Grade.objects.filter(item_id__in=list(items.index))
    if students is not None:
        grade_qs = grade_qs.filter(student_id__in=list(student_frame.index))
    codes = _fetch_int_array(grade_qs.annotate(code=grade_code()).values_list("student_id", "item_id", "code"), 3)
    matrix = calc.GradeMatrix.from_codes(student_frame.index, items.index, codes)
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
        options=gradebook_options(course=course),
    )


def letters(frame: GradebookFrame, result: calc.Result, mode: str = calc.FINAL) -> pd.DataFrame:
    """Per student: computed letter (from the rounded total), the override in force and the letter that counts."""
    computed = calc.letters_for(result.total_hundredths(mode), frame.scale)
    override = np.full(len(computed), "", dtype=object)
    reason = np.full(len(computed), "", dtype=object)
    for student_id, (letter, why) in frame.overrides.items():
        k = result.students.get_indexer([student_id])[0]
        if k >= 0:
            override[k], reason[k] = letter, why
    final = np.where(override != "", override, computed)
    return pd.DataFrame({"computed": computed, "override": override, "reason": reason, "letter": final},
                        index=result.students)


def grade_history(*, item: GradeItem, student_id: int) -> list[GradeChange]:
    return list(
        GradeChange.objects.filter(item=item, student_id=student_id).select_related("changed_by")
    )


def letter_override_history(*, course: Course, student_id: int) -> list[LetterOverride]:
    return list(LetterOverride.objects.filter(course=course, student_id=student_id).select_related("created_by"))


def setup_overview(*, course: Course) -> dict:
    """What the set-up page shows: categories in order, each with its items (and how many grades
    each item has), the sum of the category weights and the warning about it (calc.weight_warning).
    Four queries whatever the size of the course."""
    from django.db.models import Count

    categories = list(Category.objects.filter(course=course))
    items = list(GradeItem.objects.filter(course=course).annotate(grade_count=Count("grades")))
    by_category: dict[int, list[GradeItem]] = {c.pk: [] for c in categories}
    for item in items:
        by_category.setdefault(item.category_id, []).append(item)
    weights = [c.weight for c in categories]
    options = gradebook_options(course=course)
    total = sum(weights, Decimal(0))
    return {
        "categories": [{"category": c, "items": by_category[c.pk],
                        "drop_rule": policies.drop_rule_text(name=c.name, drop_lowest=c.drop_lowest,
                                                             drop_highest=c.drop_highest)} for c in categories],
        "weight_total": total,
        "weight_warning": calc.weight_warning(weights, weighting=options.weighting),
        "options": options,
        "weighting_text": policies.weighting_text(weighting=options.weighting, weight_total=total,
                                                  points_mode=bool(weights) and not any(weights)),
        "missing_text": policies.missing_policy_text(options.missing_percent),
    }


def weight_warning(*, course: Course) -> str | None:
    """calc.weight_warning for the course's categories and weighting (two queries)."""
    return calc.weight_warning(list(Category.objects.filter(course=course).values_list("weight", flat=True)),
                               weighting=gradebook_options(course=course).weighting)


def unreleased_item_names(*, course: Course) -> list[str]:
    """Names of the course's items that students cannot see yet, in gradebook order (one query)."""
    return list(GradeItem.objects.filter(course=course, released=False)
                .order_by("category__position", "position", "id").values_list("name", flat=True))


def my_grades_report(*, course: Course, student: User) -> dict:
    """"My grades" as `student` sees it: released items only, the items not counted yet, and the
    letter once the instructor released letters: then the letter of the whole gradebook (as the
    grid and the exports show it, override included), not one computed from released items only."""
    from . import presenters

    frame = gradebook_frame(course=course, students=[student], released_only=True, with_details=True)
    result = frame.compute()
    hidden = unreleased_item_names(course=course)
    official = None
    if frame.options is not None and frame.options.letters_released:
        if hidden:
            whole = gradebook_frame(course=course, students=[student])
            table = letters(whole, whole.compute())
        else:
            table = letters(frame, result)
        row = table.loc[student.pk]
        official = {"letter": row["letter"], "overridden": bool(row["override"])}
    return presenters.student_report(frame, result, letters(frame, result), student.pk, for_student=True,
                                     not_released=hidden, official=official)


def upcoming_deadlines(*, course: Course, now: dt.datetime, limit: int = 5) -> list[GradeItem]:
    """The course's next due items after `now`, soonest first (one query); quiz and project part attached."""
    return list(GradeItem.objects.filter(course=course, due_at__gt=now)
                .select_related("quiz", "project_part").order_by("due_at", "id")[:limit])


def recent_grades(*, course: Course, student: User, limit: int = 5) -> list[Grade]:
    """The student's own latest grades on released items, newest first (one query)."""
    return list(Grade.objects.filter(item__course=course, item__released=True, student=student)
                .select_related("item").order_by("-updated_at", "-id")[:limit])

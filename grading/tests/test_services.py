"""grade_post / grade_set: late policy, history, idempotence, permissions."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from grading.models import Grade, GradeChange, GradeState, LateUnit
from grading.services import grade_post, grade_set

from .factories import IST, GradeItemFactory, category

DUE = dt.datetime(2024, 11, 6, 23, 59, tzinfo=IST)


@pytest.fixture
def quiz(course):
    return GradeItemFactory(
        category=category(course, "Quizzes"),
        name="Quiz X",
        points_possible=Decimal("10"),
        due_at=DUE,
        late_penalty_percent=Decimal("10"),
        late_penalty_unit=LateUnit.DAY,
        late_penalty_floor_percent=Decimal("50"),
    )


def post(item, student, raw, at, **kw):
    return grade_post(item=item, student=student, raw_points=Decimal(raw), submitted_at=at, source="quiz", **kw)


def test_on_time_post_stores_raw_points_without_penalty(quiz, student):
    grade = post(quiz, student, "8.5", DUE - dt.timedelta(minutes=1))
    assert (grade.raw_points, grade.late_penalty_points, grade.points) == (Decimal("8.5"), Decimal("0"), Decimal("8.5"))


def test_one_minute_late_counts_as_a_started_day(quiz, student):
    grade = post(quiz, student, "8", DUE + dt.timedelta(minutes=1))
    # 10% of 8 = 0.80
    assert grade.late_penalty_points == Decimal("0.80")
    assert grade.points == Decimal("7.20")


def test_two_days_and_a_second_late_is_three_days(quiz, student):
    grade = post(quiz, student, "9", DUE + dt.timedelta(days=2, seconds=1))
    # 3 started days × 10% = 30% of 9 = 2.70
    assert grade.points == Decimal("6.30")
    change = GradeChange.objects.get(item=quiz, student=student)
    assert "late by 3 day(s)" in change.reason and change.late_penalty_points == Decimal("2.70")


def test_penalty_stops_at_the_floor(quiz, student):
    grade = post(quiz, student, "9", DUE + dt.timedelta(days=20))
    # 20 days × 10% would be 200%; floor 50% of the score keeps 4.50
    assert grade.points == Decimal("4.50")
    assert grade.late_penalty_points == Decimal("4.50")


def test_hourly_penalty_rounds_half_up_to_hundredths(quiz, student):
    quiz.late_penalty_unit = LateUnit.HOUR
    quiz.late_penalty_percent = Decimal("2.5")
    quiz.save()
    grade = post(quiz, student, "7.3", DUE + dt.timedelta(hours=1, minutes=5))
    # 2 started hours × 2.5% = 5% of 7.30 = 0.365 → 0.37 (half up)
    assert grade.late_penalty_points == Decimal("0.37")
    assert grade.points == Decimal("6.93")


def test_posting_the_same_score_twice_leaves_one_grade_and_one_history_row(quiz, student):
    at = DUE + dt.timedelta(hours=3)
    post(quiz, student, "6", at)
    post(quiz, student, "6", at)
    assert Grade.objects.filter(item=quiz, student=student).count() == 1
    assert GradeChange.objects.filter(item=quiz, student=student).count() == 1


def test_a_new_score_adds_history_with_old_and_new(quiz, student):
    post(quiz, student, "6", DUE)
    post(quiz, student, "7.25", DUE)
    latest = GradeChange.objects.filter(item=quiz, student=student).first()
    assert (latest.old_points, latest.new_points, latest.source) == (Decimal("6"), Decimal("7.25"), "quiz")


def test_post_rounds_extra_decimals_half_up(quiz, student):
    assert post(quiz, student, "3.335", DUE).points == Decimal("3.34")


def test_post_above_the_maximum_is_refused_with_what_to_fix(quiz, student):
    with pytest.raises(ValidationError, match="10.5 is above the maximum of 10 for Quiz X"):
        post(quiz, student, "10.5", DUE)
    assert not Grade.objects.filter(item=quiz).exists()


def test_extra_credit_item_accepts_points_above_its_maximum(quiz, student):
    quiz.extra_credit = True
    quiz.save()
    assert post(quiz, student, "12", DUE).points == Decimal("12")


def test_instructor_sets_and_history_records_who_and_why(quiz, student, instructor):
    grade_set(item=quiz, student=student, points=Decimal("7"), by=instructor, reason="regrade request")
    grade_set(item=quiz, student=student, points=Decimal("8"), by=instructor, reason="regrade request")
    rows = list(GradeChange.objects.filter(item=quiz, student=student))
    assert [(r.old_points, r.new_points) for r in rows] == [(Decimal("7"), Decimal("8")), (None, Decimal("7"))]
    assert rows[0].changed_by == instructor and rows[0].reason == "regrade request"


def test_setting_the_same_value_again_writes_no_history(quiz, student, instructor):
    grade_set(item=quiz, student=student, points=Decimal("7"), by=instructor)
    grade_set(item=quiz, student=student, points=Decimal("7.00"), by=instructor)
    assert GradeChange.objects.filter(item=quiz, student=student).count() == 1


def test_excusing_drops_the_points_and_is_recorded(quiz, student, instructor):
    grade_set(item=quiz, student=student, points=Decimal("3"), by=instructor)
    grade = grade_set(item=quiz, student=student, points=Decimal("3"), by=instructor, state=GradeState.EXCUSED,
                      reason="medical report")
    assert grade.state == GradeState.EXCUSED and grade.points is None
    assert GradeChange.objects.filter(item=quiz, student=student, new_state="excused").exists()


def test_clearing_a_missing_grade_creates_nothing(quiz, student, instructor):
    grade_set(item=quiz, student=student, points=None, by=instructor)
    assert not Grade.objects.filter(item=quiz).exists()
    assert not GradeChange.objects.exists()


def test_comment_change_is_history_too(quiz, student, instructor):
    grade_set(item=quiz, student=student, points=Decimal("5"), by=instructor)
    grade_set(item=quiz, student=student, points=Decimal("5"), by=instructor, comment="see me")
    latest = GradeChange.objects.filter(item=quiz, student=student).first()
    assert (latest.old_comment, latest.new_comment) == ("", "see me")


def test_manual_entry_replaces_a_late_penalty_and_says_so(quiz, student, instructor):
    post(quiz, student, "8", DUE + dt.timedelta(hours=1))
    grade = grade_set(item=quiz, student=student, points=Decimal("8"), by=instructor)
    assert grade.late_penalty_points == 0 and grade.points == Decimal("8")
    assert "replaces the late penalty of 0.80" in GradeChange.objects.filter(item=quiz).first().reason


def test_ta_may_not_set_grades_on_items_not_opened_to_tas(quiz, student, ta):
    with pytest.raises(PermissionDenied):
        grade_set(item=quiz, student=student, points=Decimal("5"), by=ta)
    quiz.ta_editable = True
    quiz.save()
    assert grade_set(item=quiz, student=student, points=Decimal("5"), by=ta).points == Decimal("5")


def test_student_may_not_set_grades(quiz, student):
    with pytest.raises(PermissionDenied):
        grade_set(item=quiz, student=student, points=Decimal("10"), by=student)


@pytest.mark.parametrize(
    "value, message",
    [("-1", "negative"), ("abc", "is not a number"), ("1.234", "more than two decimals"),
     ("11", "above the maximum")],
)
def test_bad_manual_points_are_refused_with_a_message(quiz, student, instructor, value, message):
    with pytest.raises(ValidationError, match=message):
        grade_set(item=quiz, student=student, points=value, by=instructor)


def test_post_inside_a_rolled_back_transaction_leaves_nothing(quiz, student):
    from django.db import transaction

    with pytest.raises(RuntimeError), transaction.atomic():
        post(quiz, student, "5", DUE)
        raise RuntimeError("caller failed after posting")
    assert not Grade.objects.filter(item=quiz).exists()

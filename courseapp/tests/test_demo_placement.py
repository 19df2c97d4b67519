"""load_demo places the term so that the day it runs (or --as-of) is in week 8 of 14."""

from __future__ import annotations

import datetime as dt
import io
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from courseapp.models import Course, CourseChange, Membership, Role, SessionKind
from grading.models import Grade, GradeItem
from projects.models import ProjectPart
from quizzes.models import Attempt, Quiz

TZ = ZoneInfo("Europe/Istanbul")
pytestmark = pytest.mark.django_db


def load(*args: str) -> str:
    out = io.StringIO()
    call_command("load_demo", *args, stdout=out)
    return out.getvalue()


def local(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(TZ)


@pytest.mark.parametrize("as_of", [
    dt.date(2031, 2, 15),   # a Saturday, years from now
    dt.date(2027, 7, 14),   # a Wednesday in summer: the lecture day itself
    dt.date(2028, 2, 29),   # a leap day (a Tuesday)
    dt.date(2026, 12, 7),   # a Monday
])
def test_as_of_day_is_in_week_8_with_the_syllabus_weekday_time_room_and_order(as_of):
    out = load("--as-of", as_of.isoformat())
    course = Course.objects.get()
    lectures = list(course.lectures.filter(kind=SessionKind.LECTURE).order_by("starts_at"))
    assert [lecture.week for lecture in lectures] == list(range(1, 15))
    week8 = local(lectures[7].starts_at).date()
    monday = as_of - dt.timedelta(days=as_of.weekday())
    assert monday <= week8 < monday + dt.timedelta(days=7)
    for lecture in lectures:
        start, end = local(lecture.starts_at), local(lecture.ends_at)
        assert start.weekday() == 2 and (start.time(), end.time()) == (dt.time(9, 40), dt.time(11, 30))
        assert lecture.room == "BMB2"
    assert lectures[5].topic == lectures[6].topic == "Large-Language Models"
    assert lectures[-1].topic == "Reinforcement Learning"
    assert f"placed so that {as_of:%Y-%m-%d} is in week 8" in out
    assert str(as_of.year) in course.term or str(as_of.year - 1) in course.term


def test_as_of_state_graded_open_upcoming_and_next_project_deadline():
    as_of = dt.date(2031, 2, 15)
    load("--as-of", as_of.isoformat())
    course = Course.objects.get()
    now = dt.datetime.combine(as_of, dt.time(12, 0), tzinfo=TZ)
    quiz_items = GradeItem.objects.filter(course=course, name__startswith="Quiz ")
    grades = Grade.objects.filter(item__course=course).select_related("item")
    graded = {g.item.name for g in grades}
    by_demo = {g.item.name for g in grades if g.source != "quiz"}  # "quiz": attempts on the open quiz
    past = [i.name for i in quiz_items if i.due_at < dt.datetime.combine(as_of, dt.time(0), tzinfo=TZ)]
    assert len(past) >= 6 and set(past) <= graded
    later = [i.name for i in quiz_items if i.due_at > now]
    assert later and not set(later) & by_demo
    quizzes = Quiz.objects.filter(course=course, published=True)
    open_now = [q for q in quizzes if q.opens_at <= now < q.closes_at]
    upcoming = [q for q in quizzes if q.opens_at > now]
    assert len(open_now) == 1 and len(upcoming) == 1
    assert open_now[0].slots.filter(question__qtype="essay").exists()
    submitted = Attempt.objects.filter(quiz=open_now[0]).exclude(state="in_progress")
    assert submitted.exists() and not submitted.filter(student__username="e2380001").exists()
    due = sorted(p.grade_item.due_at for p in ProjectPart.objects.filter(course=course))
    following = [d for d in due if d > now]
    assert local(following[0]).date() == as_of + dt.timedelta(days=7)
    assert local(following[0]).time() == dt.time(23, 59)
    assert local(due[0]) < now  # the proposal was due weeks ago
    from projects.selectors import rubric_waiting  # every team sent it; a TA graded half of them
    assert [(r["part"].slug, r["teams"]) for r in rubric_waiting(course=course)] == [("proposal", 2)]


def test_every_student_login_is_predictable_and_listed():
    out = load("--as-of", "2026-12-01")
    usernames = sorted(Membership.objects.filter(role=Role.STUDENT).values_list("user__username", flat=True))
    assert usernames == [f"e{2380001 + i}" for i in range(40)]
    for username in usernames + ["skalkan", "ta.ayse", "ta.mehmet"]:
        assert username in out
    assert "ceng501-demo" in out
    from django.test import Client
    response = Client().post("/login/", {"username": "e2380040", "password": "ceng501-demo"})
    assert response.status_code == 302 and response["Location"] == "/"


def test_rerun_is_idempotent_and_another_placement_is_refused_clearly():
    load("--as-of", "2026-12-01")
    counts = (Quiz.objects.count(), Attempt.objects.count(), Grade.objects.count())
    assert "Already present:" in load()  # a plain rerun (any day) keeps the course as it is
    assert "Already present:" in load("--as-of", "2026-12-03")  # the same week: the same placement
    assert (Quiz.objects.count(), Attempt.objects.count(), Grade.objects.count()) == counts
    with pytest.raises(CommandError, match="already present, with week 1 on 2026-10-14.*empty database"):
        load("--as-of", "2031-02-15")
    with pytest.raises(CommandError, match="cannot also be placed with the syllabus' Fall 2024 dates"):
        load("--syllabus-dates")


def test_bad_as_of_says_how_to_write_it():
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        load("--as-of", "15/02/2031")


def test_syllabus_dates_keep_fall_2024():
    out = load("--syllabus-dates")
    course = Course.objects.get()
    first = course.lectures.order_by("starts_at").first()
    assert local(first.starts_at).date() == dt.date(2024, 10, 2) and course.term == "2024-2025 Fall"
    assert "the syllabus' Fall 2024 dates" in out


def test_syllabus_dates_cancel_new_years_day_and_add_the_final_exam(client):
    out = load("--syllabus-dates")
    course = Course.objects.get()
    holiday = course.lectures.get(kind=SessionKind.LECTURE, week=14)
    assert local(holiday.starts_at).date() == dt.date(2025, 1, 1)
    assert holiday.cancelled and "New Year's Day" in holiday.note
    assert course.lectures.filter(kind=SessionKind.LECTURE, cancelled=True).count() == 1
    exam = course.lectures.get(kind=SessionKind.EXAM)
    assert (local(exam.starts_at), local(exam.ends_at)) == (dt.datetime(2025, 1, 15, 9, 30, tzinfo=TZ),
                                                            dt.datetime(2025, 1, 15, 11, 30, tzinfo=TZ))
    assert GradeItem.objects.get(course=course, name="Final exam").due_at == exam.starts_at
    assert sorted(CourseChange.objects.filter(course=course).values_list("action", flat=True)) == [
        "added", "cancelled"]
    assert "Schedule: cancelled the lecture of 2025-01-01 (New Year's Day)." in out
    assert "Schedule: added the final exam on 2025-01-15 09:30." in out
    feed = client.get(f"/courses/{course.code}/calendar/{course.calendar_token}.ics").content.decode()
    assert "CENG 501: Final exam (35%\\, on paper)" in feed and "DTSTART;TZID=Europe/Istanbul:20250115T093000" in feed
    assert load("--syllabus-dates").count("Schedule:") == 0  # run again: nothing more
    assert course.lectures.count() == 15


def test_a_placed_term_has_no_lecture_on_new_years_day_to_cancel_but_has_the_exam():
    load("--as-of", "2026-12-07")
    course = Course.objects.get()
    assert not course.lectures.filter(cancelled=True).exists()  # week 14 falls on 2027-01-20
    exam = course.lectures.get(kind=SessionKind.EXAM)
    assert local(exam.starts_at).weekday() == 2 and local(exam.starts_at).time() == dt.time(9, 30)
    last = course.lectures.filter(kind=SessionKind.LECTURE).order_by("starts_at").last()
    assert exam.starts_at - last.starts_at == dt.timedelta(days=14, hours=-0, minutes=-10)

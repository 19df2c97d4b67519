"""Course pages through HTTP: who may see what, and what they see."""

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from freezegun import freeze_time

from courseapp.models import Membership, Role, User

ISTANBUL_13_NOV_NOON_UTC = dt.datetime(2024, 11, 13, 9, 0, tzinfo=dt.UTC)


def url(course, page=""):
    return f"/courses/{course.code}/{page}"


def current_rows(html: str) -> list[str]:
    return re.findall(r'<tr id="week-(\d+)" class="current"', html)


# --- who may see the pages ------------------------------------------------------------

@pytest.mark.parametrize("page", ["", "schedule/", "roster/", "roster/import/"])
def test_anonymous_is_sent_to_login(client, course, page):
    response = client.get(url(course, page))
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


@pytest.mark.parametrize("page", ["", "schedule/", "roster/", "roster/import/"])
def test_outsider_gets_404_so_course_codes_do_not_leak(client_for, outsider, course, page):
    assert client_for(outsider).get(url(course, page)).status_code == 404


@pytest.mark.parametrize("who", ["instructor", "ta", "student"])
def test_members_see_course_page_and_schedule(client_for, course, who, request):
    client = client_for(request.getfixturevalue(who))
    assert client.get(url(course)).status_code == 200
    assert client.get(url(course, "schedule/")).status_code == 200


def test_student_is_refused_the_roster(client_for, student, course):
    assert client_for(student).get(url(course, "roster/")).status_code == 403


@pytest.mark.parametrize("who", ["ta", "student"])
def test_only_the_instructor_may_import_a_roster(client_for, course, who, request):
    client = client_for(request.getfixturevalue(who))
    assert client.get(url(course, "roster/import/")).status_code == 403
    csv = "student number,first name,last name,email\n2499999,Ali,Veli,ali@example.org\n"
    assert client.post(url(course, "roster/import/"), {"text": csv}).status_code == 403
    assert client.post(url(course, "roster/import/apply/"), {"digest": "x"}).status_code == 403
    assert not User.objects.filter(student_number="2499999").exists()


def test_inactive_membership_is_no_membership(client_for, student, course):
    Membership.objects.filter(user=student, course=course).update(is_active=False)
    assert client_for(student).get(url(course)).status_code == 404


# --- the course page ------------------------------------------------------------------

def test_course_page_shows_the_syllabus(client_for, student, course):
    html = client_for(student).get(url(course)).content.decode()
    for text in [
        "CENG 501 Deep Learning", "2024-2025 Fall", "3+0", "8.0", "https://user.ceng.metu.edu.tr/~skalkan/DL/",
        "METU Class page of the course.", "Wednesdays", "09:40–11:30", "BMB2", "self-attention &amp; transformers",
        "Sinan Kalkan", "Office hours: By appointment", "Ayşe Demir", "Mehmet Yılmaz", "Teaching assistant",
        "MIT Press, 2016", "Murphy, Kevin P.",
    ]:
        assert text in html, text


def test_course_page_grading_policy_comes_from_the_gradebook_categories(client_for, student, course):
    from grading.models import Category

    html = client_for(student).get(url(course)).content.decode()
    policy = html[html.index('id="grading-policy"'):html.index('id="textbooks"')]
    assert re.findall(r"<td>([^<]+)</td><td class=\"num\">([\d.]+)%", policy) == [
        ("Quizzes (approx. 10)", "20"), ("Final Exam", "35"), ("Project", "45")]
    assert "100%" in policy
    Category.objects.filter(course=course, name="Project").update(weight=40)
    html = client_for(student).get(url(course)).content.decode()
    assert "40%" in html and "95%" in html


def test_course_page_query_count_is_small(client_for, student, course, django_assert_max_num_queries):
    client = client_for(student)
    with django_assert_max_num_queries(10):
        assert client.get(url(course)).status_code == 200


# --- the schedule ---------------------------------------------------------------------

def test_schedule_lists_all_14_lectures_with_week_date_time_room_and_topics(client_for, student, course):
    html = client_for(student).get(url(course, "schedule/")).content.decode()
    rows = re.findall(r'<tr id="week-(\d+)"', html)
    assert rows == [str(n) for n in range(1, 15)]
    first = dt.date(2024, 10, 2)
    for week in range(14):
        day = first + dt.timedelta(weeks=week)
        assert f"{day:%a} {day.day} {day:%b %Y}" in html
    assert html.count("09:40–11:30") >= 14
    assert html.count("<td>BMB2</td>") == 14
    for lecture in course.lectures.all():
        assert lecture.topic in html
        for subtopic in lecture.subtopics:
            assert f"<li>{subtopic}</li>" in html


def test_the_13_november_lecture(client_for, student, course):
    html = client_for(student).get(url(course, "schedule/")).content.decode()
    row = html[html.index('<tr id="week-7"'):html.index('<tr id="week-8"')]
    assert "Wed 13 Nov 2024" in row
    assert "<strong>Large-Language Models</strong>" in row
    assert re.findall(r"<li>([^<]+)</li>", row) == [
        "Using Pretrained LLMs", "Retrieval Augmented Generation", "Efficient Finetuning"]


@pytest.mark.parametrize(
    ("now", "current"),
    [
        (dt.datetime(2024, 9, 29, 20, 0, tzinfo=dt.UTC), []),  # Sunday 23:00 in Istanbul, before week 1
        (dt.datetime(2024, 9, 29, 21, 30, tzinfo=dt.UTC), ["1"]),  # Monday 00:30 in Istanbul (still Sunday UTC)
        (ISTANBUL_13_NOV_NOON_UTC, ["7"]),
        (dt.datetime(2024, 11, 17, 20, 59, tzinfo=dt.UTC), ["7"]),  # Sunday 23:59 Istanbul
        (dt.datetime(2024, 11, 17, 21, 0, tzinfo=dt.UTC), ["8"]),  # Monday 00:00 Istanbul
        (dt.datetime(2025, 1, 5, 12, 0, tzinfo=dt.UTC), ["14"]),
        (dt.datetime(2025, 1, 6, 12, 0, tzinfo=dt.UTC), []),  # after the last lecture's week
    ],
)
def test_current_week_is_highlighted_by_istanbul_date(client_for, student, course, now, current):
    client = client_for(student)
    with freeze_time(now):
        html = client.get(url(course, "schedule/")).content.decode()
    assert current_rows(html) == current
    assert ("this week</span>" in html) == bool(current)


def test_schedule_query_count_does_not_grow_with_lectures(client_for, student, course):
    client = client_for(student)
    with CaptureQueriesContext(connection) as before:
        client.get(url(course, "schedule/"))
    last = course.lectures.order_by("-starts_at").first()
    for extra in range(1, 6):
        last.pk, last.week = None, 14 + extra
        last.starts_at += dt.timedelta(weeks=1)
        last.ends_at += dt.timedelta(weeks=1)
        last.save()
    with CaptureQueriesContext(connection) as after:
        html = client.get(url(course, "schedule/")).content.decode()
    assert len(re.findall(r'<tr id="week-', html)) == 19
    assert len(after) == len(before) <= 6


# --- dashboard ------------------------------------------------------------------------

def test_student_dashboard_shows_the_next_lecture_and_no_staff_links(client_for, student, course):
    with freeze_time(ISTANBUL_13_NOV_NOON_UTC):  # 12:00 in Istanbul: the 13 Nov lecture is over
        html = client_for(student).get("/").content.decode()
    assert "Next lecture: <strong>Vision Models</strong> — 2024-11-20 09:40–11:30, BMB2" in html
    assert f"/courses/{course.code}/schedule/" in html
    assert "/roster/" not in html


def test_instructor_dashboard_links_roster_and_import(client_for, instructor, course):
    html = client_for(instructor).get("/").content.decode()
    assert "40 students" in html
    assert f"/courses/{course.code}/roster/" in html and f"/courses/{course.code}/roster/import/" in html


def test_ta_dashboard_links_roster_but_not_import(client_for, ta, course):
    html = client_for(ta).get("/").content.decode()
    assert f"/courses/{course.code}/roster/\"" in html
    assert "/roster/import/" not in html


def test_a_person_can_be_a_student_in_one_course_and_ta_in_another(client_for, student, course):
    other = type(course).objects.get(pk=course.pk)
    other.pk, other.code, other.calendar_token, other.term = None, "ceng502-2025s", "tok-502", "2024-2025 Spring"
    other.save()
    Membership.objects.create(course=other, user=student, role=Role.TA)
    client = client_for(student)
    html = client.get("/").content.decode()
    assert "a student" in html and "a teaching assistant" in html
    assert client.get(f"/courses/{other.code}/roster/").status_code == 200
    assert client.get(url(course, "roster/")).status_code == 403


def test_dashboard_after_the_term(client_for, student, course):
    with freeze_time(dt.datetime(2025, 2, 1, tzinfo=dt.UTC)):
        html = client_for(student).get("/").content.decode()
    assert "No more lectures this term." in html


def test_dashboard_query_count(client_for, student, course, django_assert_max_num_queries):
    client = client_for(student)
    with django_assert_max_num_queries(9):  # + open quizzes, deadlines, recent grades
        client.get("/")


# --- the roster page --------------------------------------------------------------------

@pytest.mark.parametrize("who", ["instructor", "ta"])
def test_staff_see_the_roster(client_for, course, who, request):
    html = client_for(request.getfixturevalue(who)).get(url(course, "roster/")).content.decode()
    assert "40 students" in html
    assert html.count("<td>Student</td>") == 40
    assert "2380001" in html and "Yıldız, Elif" in html


def test_roster_query_count_does_not_grow_with_students(client_for, instructor, course):
    client = client_for(instructor)
    with CaptureQueriesContext(connection) as before:
        client.get(url(course, "roster/"))
    for i in range(10):
        user = User.objects.create(username=f"extra{i}", student_number=f"29{i:05d}")
        Membership.objects.create(course=course, user=user, role=Role.STUDENT)
    with CaptureQueriesContext(connection) as after:
        html = client.get(url(course, "roster/")).content.decode()
    assert html.count("<td>Student</td>") == 50
    assert len(after) == len(before) <= 6

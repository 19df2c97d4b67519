"""load_demo builds the course from the syllabus and is idempotent; the admin works for staff."""

import datetime as dt
import io
from zoneinfo import ZoneInfo

import pytest
from django.apps import apps
from django.core.management import call_command

from courseapp.models import Course, Lecture, Membership, Role, User

TZ = ZoneInfo("Europe/Istanbul")


def table_counts() -> dict[str, int]:
    return {model._meta.label: model.objects.count() for model in apps.get_models()}


def test_load_demo_twice_changes_nothing(db):
    call_command("load_demo", stdout=io.StringIO())
    counts = table_counts()
    lectures = list(Lecture.objects.order_by("pk").values())
    out = io.StringIO()
    call_command("load_demo", stdout=out)
    assert "Already present:" in out.getvalue()
    assert table_counts() == counts
    assert list(Lecture.objects.order_by("pk").values()) == lectures
    assert counts["courseapp.Course"] == 1 and counts["courseapp.Lecture"] == 15  # 14 lectures and the final exam


def test_demo_lectures_weeks_times_and_room(course):
    lectures = list(course.lectures.order_by("starts_at"))
    assert [lecture.week for lecture in lectures] == list(range(1, 15))
    assert lectures[0].starts_at.astimezone(TZ).date() == dt.date(2024, 10, 2)
    assert lectures[-1].starts_at.astimezone(TZ).date() == dt.date(2025, 1, 1)
    for lecture in lectures:
        start, end = lecture.starts_at.astimezone(TZ), lecture.ends_at.astimezone(TZ)
        assert start.weekday() == 2
        assert (start.time(), end.time()) == (dt.time(9, 40), dt.time(11, 30))
        assert lecture.room == "BMB2"
    nov13 = course.lectures.get(starts_at__date=dt.date(2024, 11, 13))
    assert nov13.topic == "Large-Language Models"
    assert nov13.subtopics == ["Using Pretrained LLMs", "Retrieval Augmented Generation", "Efficient Finetuning"]


def test_demo_people(course):
    roles = Membership.objects.filter(course=course).values_list("role", flat=True)
    assert sorted(set(roles)) == ["instructor", "student", "ta"]
    assert list(roles).count(Role.STUDENT) == 40
    numbers = User.objects.filter(memberships__role=Role.STUDENT).values_list("student_number", flat=True)
    assert all(n and len(n) == 7 and n.isdigit() for n in numbers)


@pytest.mark.parametrize("path", [
    "/admin/courseapp/course/", "/admin/courseapp/user/", "/admin/courseapp/membership/",
    "/admin/courseapp/lecture/", "/admin/courseapp/textbook/",
])
def test_admin_lists_load_for_the_instructor(client_for, instructor, path):
    response = client_for(instructor).get(path)
    assert response.status_code == 200


def test_admin_course_and_lecture_change_pages(client_for, instructor, course):
    client = client_for(instructor)
    assert client.get(f"/admin/courseapp/course/{course.pk}/change/").status_code == 200
    assert "Large-Language Models" in client.get("/admin/courseapp/lecture/?q=Large").content.decode()


def test_admin_rotates_the_calendar_token(client_for, instructor, course):
    old = course.calendar_token
    response = client_for(instructor).post("/admin/courseapp/course/", {
        "action": "rotate_calendar_token", "_selected_action": [course.pk]}, follow=True)
    assert "New calendar URLs for 1 course(s)" in response.content.decode()
    course.refresh_from_db()
    assert course.calendar_token != old
    assert client_for(instructor).get(f"/courses/{course.code}/calendar/{old}.ics").status_code == 404


def test_admin_refuses_students_and_tas(client_for, student, ta):
    for user in (student, ta):
        response = client_for(user).get("/admin/courseapp/course/")
        assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_admin_membership_list_query_count(client_for, instructor, course, django_assert_max_num_queries):
    client = client_for(instructor)
    with django_assert_max_num_queries(12):
        assert client.get("/admin/courseapp/membership/").status_code == 200
    assert Course.objects.count() == 1

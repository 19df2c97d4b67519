"""The dashboard per role, on the demo course placed so that 2031-02-15 (a Saturday) is in week 8."""

from __future__ import annotations

import datetime as dt
import io
import re
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.utils import timezone
from freezegun import freeze_time

from courseapp.models import Course, Membership, Role, User
from grading.models import Category, Grade, GradeItem

TZ = ZoneInfo("Europe/Istanbul")
NOW = dt.datetime(2031, 2, 15, 12, 0, tzinfo=TZ)
pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(db):
    call_command("load_demo", "--as-of", "2031-02-15", stdout=io.StringIO())
    course = Course.objects.get()
    people = {role: Membership.objects.filter(course=course, role=role).order_by("user__username")[0].user
              for role in (Role.STUDENT, Role.TA, Role.INSTRUCTOR)}
    return course, people


def page(client_for, user: User) -> str:
    with freeze_time(NOW):
        response = client_for(user).get("/")
    assert response.status_code == 200
    return response.content.decode()


def panel(html: str, name: str, code: str) -> str:
    match = re.search(rf'<section class="dash-panel" id="{name}-{code}">(.*?)</section>', html, re.S)
    assert match, f"no {name} panel"
    return match.group(1)


def test_student_sees_open_quiz_time_left_deadlines_and_own_grades(client_for, demo):
    course, people = demo
    html = page(client_for, people[Role.STUDENT])
    quizzes = panel(html, "open-quizzes", course.code)
    assert "Quiz 8" in quizzes and "closes 2031-02-19 11:30" in quizzes and "3 days 23 h left" in quizzes
    assert "left" in quizzes and "not started" in quizzes
    deadlines = panel(html, "deadlines", course.code)
    assert "Project progress report" in deadlines and "due 2031-02-22 23:59" in deadlines
    assert deadlines.index("Quiz 8") < deadlines.index("Project progress report")
    grades = panel(html, "recent-grades", course.code)
    assert re.search(r"<strong>\d+(\.\d{1,2})? / 10</strong>", grades), grades
    assert not re.search(r"\d\.\d{3}|\.0+ /", grades)  # never 8.0000 / 10
    assert "Waiting for grading" not in html and "Course health" not in html
    assert "needs_grading" not in html


def test_student_never_sees_another_students_grades(client_for, demo):
    course, people = demo
    student = people[Role.STUDENT]
    other = Membership.objects.filter(course=course, role=Role.STUDENT).exclude(user=student)[0].user
    item = GradeItem.objects.create(course=course, category=Category.objects.get(course=course, name="Quizzes"),
                                    name="Bonus for one", points_possible=Decimal("5"), released=True)
    Grade.objects.create(item=item, student=other, raw_points=Decimal("4.25"), points=Decimal("4.25"))
    html = page(client_for, student)
    assert "Bonus for one" not in html and "4.25" not in html
    assert "Bonus for one" in panel(page(client_for, other), "recent-grades", course.code)


def test_ta_sees_what_waits_for_grading_with_counts_and_links(client_for, demo):
    from quizzes.selectors import essays_waiting

    course, people = demo
    html = page(client_for, people[Role.TA])
    waiting = panel(html, "waiting", course.code)
    essays = essays_waiting(course=course)
    assert essays and essays[0]["pending"] > 0
    assert f'/courses/{course.code}/quizzes/{essays[0]["quiz_id"]}/grading/' in waiting
    assert f'{essays[0]["pending"]} answers to grade by hand' in waiting
    assert "Course health" not in html and "open-quizzes" not in html


def _submission(course, part_slug: str, *, error: bool = False):
    from projects.models import GradingRun, HarnessBundle, ProjectPart, Submission, Team

    part = ProjectPart.objects.get(course=course, slug=part_slug)
    team = Team.objects.filter(project=part.project).order_by("id")[0]
    member = team.memberships.first().user
    sub = Submission.objects.create(part=part, team=team, submitter=member, number=1, submitted_at=timezone.now(),
                                    path="x/y.zip", original_name="y.zip", size_bytes=1, sha256="0" * 64)
    if error:
        harness = HarnessBundle.objects.get(part=part)  # the demo uploads the shipped MHSA harness
        GradingRun.objects.create(submission=sub, harness=harness, queue="cpu", time_limit_s=60,
                                  queued_at=timezone.now(), status="error")
    return sub


def test_ta_sees_ungraded_rubric_parts_and_runs_in_error(client_for, demo):
    course, people = demo  # the demo's four teams sent proposals; a TA graded two of them
    _submission(course, "final-code", error=True)
    waiting = panel(page(client_for, people[Role.TA]), "waiting", course.code)
    assert f"/courses/{course.code}/projects/parts/proposal/" in waiting
    assert "2 teams to grade with the rubric" in waiting
    assert f"/courses/{course.code}/projects/parts/final-code/runs/" in waiting
    assert "1 submission whose grading ended in an error" in waiting


def test_instructor_sees_the_same_plus_course_health(client_for, demo):
    course, people = demo
    html = page(client_for, people[Role.INSTRUCTOR])
    assert "Waiting for grading" in html
    health = panel(html, "health", course.code)
    assert "32 students without a team" in health  # 40 students, four demo teams of two
    assert "Project proposal" in health  # past due, not released
    assert "Quiz 1," not in health  # quizzes are released


def test_dashboard_queries_do_not_grow_with_students(client_for, demo):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    course, people = demo

    def count() -> int:
        with freeze_time(NOW):
            client = client_for(people[Role.INSTRUCTOR])
            with CaptureQueriesContext(connection) as queries:
                assert client.get("/").status_code == 200
        return len(queries)

    before = count()
    for n in range(10):
        user = User.objects.create_user(f"extra{n}", password="x")
        Membership.objects.create(course=course, user=user, role=Role.STUDENT)
    assert count() == before <= 20

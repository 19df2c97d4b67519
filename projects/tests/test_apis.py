"""The project API through HTTP: token uploads, who sees what, visibility rules, reruns, run records."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from courseapp.tests.openapi import field_messages
from courseapp.tokens import token_create
from projects import services
from projects.models import GradingRun, RunStatus, Submission, Team

from .conftest import upload

pytestmark = pytest.mark.django_db

CODE = "ceng501-2024f"


def api(part: str, rest: str = "") -> str:
    return f"/api/courses/{CODE}/projects/{part}/{rest}"


def token_client(user) -> Client:
    token = token_create(user=user)[1]
    return Client(HTTP_AUTHORIZATION=f"Token {token}")


@pytest.fixture
def graded(echo_part, student, django_capture_on_commit_callbacks) -> Submission:
    with django_capture_on_commit_callbacks(execute=True):
        return services.submission_create(part=echo_part, user=student, uploads=[upload("partial")])


def other_team_student(project):
    team = Team.objects.get(project=project, name="Batch Normies")
    return team.memberships.first().user


def test_course_code_matches_the_demo(course):
    assert course.code == CODE


def test_curl_with_a_token_submits_and_gets_the_status(echo_part, student, django_capture_on_commit_callbacks):
    client = token_client(student)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(api("echo", "submissions/"), {"file": upload("correct")})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["number"] == 1 and body["team"] == "Attention Seekers"
    assert body["run"]["status"] == "queued"  # as it was when the response was built (job sent on commit)
    assert Submission.objects.get(pk=body["id"]).via == "api"
    status = client.get(body["status_url"]).json()
    assert status["run"]["status"] == "succeeded"
    assert [t["name"] for t in status["tests"]] == ["key a", "key b"]  # c is after the due date, d hidden
    assert status["tests_withheld"] == 2 and status["points"] is None


def test_upload_without_a_file_says_how(echo_part, student):
    response = token_client(student).post(api("echo", "submissions/"), {})
    assert response.status_code == 400
    assert "multipart field named “file”" in field_messages(response, "file")[0]


def test_refusals_come_back_as_400_with_the_message(echo_part, student):
    echo_part.project.daily_submission_limit = 1
    echo_part.project.save()
    client = token_client(student)
    assert client.post(api("echo", "submissions/"), {"file": upload()}).status_code == 201
    response = client.post(api("echo", "submissions/"), {"file": upload()})
    assert response.status_code == 400
    assert "used all 1 submissions for Echo exercise today" in response.json()["detail"]


def test_anonymous_requests_are_refused(echo_part):
    assert Client().get(api("echo", "submissions/")).status_code in (401, 403)
    assert Client().post(api("echo", "submissions/"), {"file": upload()}).status_code in (401, 403)


@pytest.mark.parametrize("who", ["ta", "instructor"])
def test_staff_cannot_submit_as_a_team(echo_part, who, request):
    user = request.getfixturevalue(who)
    assert token_client(user).post(api("echo", "submissions/"), {"file": upload()}).status_code == 403


def test_outsider_gets_404(echo_part, outsider):
    assert token_client(outsider).get(api("echo", "submissions/")).status_code == 404
    assert token_client(outsider).post(api("echo", "submissions/"), {"file": upload()}).status_code == 404


def test_students_see_only_their_team_submissions(graded, echo_part, other_student, ta):
    stranger = other_team_student(echo_part.project)
    assert token_client(other_student).get(api("echo", "submissions/")).json()["count"] == 1  # teammate
    assert token_client(stranger).get(api("echo", "submissions/")).json()["count"] == 0
    assert token_client(stranger).get(api("echo", f"submissions/{graded.pk}/")).status_code == 404
    assert token_client(ta).get(api("echo", "submissions/")).json()["count"] == 1


def test_staff_see_every_test_and_the_total(graded, ta):
    body = token_client(ta).get(api("echo", f"submissions/{graded.pk}/")).json()
    assert len(body["tests"]) == 4 and body["tests_withheld"] == 0
    assert body["points"] == "4.00" and body["points_possible"] == "8.00"  # 2 of 4 tests, part worth 8
    assert body["run"]["worker_host"] and body["run"]["harness_version"] == graded.part.harness.sha256


def test_published_results_show_hidden_tests_and_the_total(graded, student):
    part = graded.part
    part.results_published = True
    part.save()
    body = token_client(student).get(api("echo", f"submissions/{graded.pk}/")).json()
    assert len(body["tests"]) == 4 and body["points"] == "4.00" and body["late_penalty"] == "0.00"


def test_harness_errors_show_students_a_generic_message(echo_part, student, ta, monkeypatch,
                                                       django_capture_on_commit_callbacks):
    from projects.runner import runner

    monkeypatch.setattr(runner, "grade", lambda *a, **k: runner.GradeRecord(
        status=runner.GradeStatus.HARNESS_ERROR, error="score step failed: expected=[3, 1, 4]"))
    with django_capture_on_commit_callbacks(execute=True):
        sub = services.submission_create(part=echo_part, user=student, uploads=[upload()])
    mine = token_client(student).get(api("echo", f"submissions/{sub.pk}/")).json()
    assert "course staff has been told" in mine["run"]["error"] and "expected" not in mine["run"]["error"]
    staff = token_client(ta).get(api("echo", f"submissions/{sub.pk}/")).json()
    assert "expected=[3, 1, 4]" in staff["run"]["error"]


def test_queue_position_counts_the_jobs_ahead(echo_part, student, django_capture_on_commit_callbacks):
    stranger = other_team_student(echo_part.project)
    with django_capture_on_commit_callbacks(execute=False):
        first = services.submission_create(part=echo_part, user=stranger, uploads=[upload()])
        second = services.submission_create(part=echo_part, user=student, uploads=[upload()])
    body = token_client(student).get(api("echo", f"submissions/{second.pk}/")).json()
    assert body["run"]["queue_position"] == 2
    assert token_client(stranger).get(api("echo", f"submissions/{first.pk}/")).json()["run"]["queue_position"] == 1


def test_instructor_reruns_one_submission_on_the_rerun_queue(graded, instructor,
                                                             django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = token_client(instructor).post(api("echo", f"submissions/{graded.pk}/rerun/"))
    assert response.status_code == 202 and response.json()["queue"] == "rerun"
    assert graded.runs.filter(is_rerun=True, status=RunStatus.SUCCEEDED).count() == 1


@pytest.mark.parametrize("who", ["ta", "student"])
def test_only_the_instructor_reruns(graded, who, request):
    user = request.getfixturevalue(who)
    assert token_client(user).post(api("echo", f"submissions/{graded.pk}/rerun/")).status_code == 403
    assert token_client(user).post(api("echo", "rerun/")).status_code == 403
    assert graded.runs.count() == 1


def test_instructor_reruns_a_whole_part(graded, instructor, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = token_client(instructor).post(api("echo", "rerun/"))
    assert response.json() == {"queued": 1, "queue": "rerun"}


def test_run_records_are_for_staff_only(graded, ta, student):
    run = graded.runs.get()
    assert token_client(student).get(api("echo", "runs/")).status_code == 403
    assert token_client(student).get(f"/api/courses/{CODE}/projects/runs/{run.pk}/").status_code == 403
    body = token_client(ta).get(f"/api/courses/{CODE}/projects/runs/{run.pk}/").json()
    assert body["status"] == "succeeded" and body["attempts"] == 1 and "results" in body
    assert body["results"]["tests"][0]["name"] == "key a"


def test_run_list_query_count_does_not_grow_with_runs(graded, echo_part, instructor,
                                                      django_capture_on_commit_callbacks):
    client = token_client(instructor)

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(api("echo", "runs/")).status_code == 200
        return len(ctx.captured_queries)

    with django_capture_on_commit_callbacks(execute=False):
        services.submission_rerun(submission=graded, by=instructor)  # one queued run: positions are computed
    queries()  # the token's first use notes its last use (a write at most once a minute): not what is counted
    few = queries()
    with django_capture_on_commit_callbacks(execute=False):
        for _ in range(5):
            services.submission_rerun(submission=graded, by=instructor)
    assert GradingRun.objects.count() == 7
    assert queries() == few


def test_submission_list_query_count_does_not_grow_with_submissions(echo_part, student,
                                                                    django_capture_on_commit_callbacks):
    client = token_client(student)
    with django_capture_on_commit_callbacks(execute=True):
        services.submission_create(part=echo_part, user=student, uploads=[upload()])

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(api("echo", "submissions/")).status_code == 200
        return len(ctx.captured_queries)

    queries()  # the token's first use notes its last use (a write at most once a minute): not what is counted
    few = queries()
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(4):
            services.submission_create(part=echo_part, user=student, uploads=[upload()])
    assert queries() == few

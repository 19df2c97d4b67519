"""Withheld means withheld: while a part's tests are hidden, no channel shows a student the total.

Channels: the submission page, the API's score fields and ``log_tail``, the part page's list, the
gradebook (My grades and the grades API).  The echo harness has a hidden test ("key d") and its
runner log ends with "completed: 4 / 4"; a variant prints its total in its output text too.
"""

from __future__ import annotations

import shutil

import pytest

from grading import services as grading_services
from projects import services, visibility

from .conftest import ECHO_HARNESS, upload

pytestmark = pytest.mark.django_db

PAGE = "/courses/ceng501-2024f/projects/parts/echo"
API = "/api/courses/ceng501-2024f/projects/echo"

RUNNER_LOG = """10:00:01 attempt 1 on worker-1 (pid 42)
10:00:01 harness echo (abcdef123456), 4 points
10:00:02 predict step: python predict.py
10:00:03 predict step ended: ok in 0.1 s
10:00:03 score step: python score.py
10:00:04 score step ended: ok in 0.1 s
10:00:04 completed: 4 / 4"""


def test_student_log_drops_the_score_line_while_withheld():
    shown = visibility.student_log(RUNNER_LOG, show_score=False)
    assert "completed" not in shown and "4 / 4" not in shown
    assert shown.splitlines()[-1] == "10:00:04 score step ended: ok in 0.1 s"
    assert visibility.student_log(RUNNER_LOG, show_score=True).endswith("completed: 4 / 4")


def test_student_log_hides_what_the_harness_said_and_unknown_lines():
    log = ("10:00:03 score step ended: failed (exit code 1): AssertionError: expected 42 for test_x\n"
           "10:00:03 harness_error: score step failed (exit code 1)\n"
           "Traceback: hidden/expected.json says 42\n"
           "10:00:03 some future line with tests 3/4")
    shown = visibility.student_log(log, show_score=True)
    assert "42" not in shown and "3/4" not in shown and "hidden/" not in shown
    assert visibility.SCORE_FAILED_LINE in shown and visibility.HARNESS_FAILED_LINE in shown
    assert visibility.log_for(log, staff=True, show_score=False) == log


@pytest.fixture
def graded(echo_part, student, django_capture_on_commit_callbacks):
    """The student's correct submission, graded 4 / 4 with "key d" hidden (results not published)."""
    with django_capture_on_commit_callbacks(execute=True):
        submission = services.submission_create(part=echo_part, user=student, uploads=[upload("correct")])
    assert submission.runs.get().score == 4
    return submission


def test_page_and_api_withhold_the_total_and_the_score_line(graded, student, client_for):
    client = client_for(student)
    page = client.get(f"{PAGE}/submissions/{graded.pk}/").content.decode()
    assert "Total withheld until the course staff publishes results" in page
    assert "completed:" not in page and "4 / 4" not in page
    body = client.get(f"{API}/submissions/{graded.pk}/").json()
    assert body["points"] is None and body["tests_withheld"] == 2
    assert "completed" not in body["run"]["log_tail"] and "score step ended: ok" in body["run"]["log_tail"]
    assert "score" not in body["run"] and "max_score" not in body["run"]
    listed = client.get(f"{API}/submissions/").json()["results"][0]
    assert listed["points"] is None and "completed" not in listed["run"]["log_tail"]
    assert "<td>8 / 8</td>" not in client.get(f"{PAGE}/").content.decode()  # the part page's list


def test_grading_sends_no_mail_that_could_carry_the_total(echo_part, student, mailoutbox,
                                                          django_capture_on_commit_callbacks):
    """No e-mail channel carries run results; one added later must use visibility.run_view (and this fails)."""
    with django_capture_on_commit_callbacks(execute=True):
        services.submission_create(part=echo_part, user=student, uploads=[upload("correct")])
    assert mailoutbox == []


def test_staff_see_everything(graded, ta, client_for):
    body = client_for(ta).get(f"{API}/submissions/{graded.pk}/").json()
    assert body["run"]["log_tail"].endswith("completed: 4 / 4") and body["run"]["score"] == "4.0000"
    assert body["points"] == "8.00" and len(body["tests"]) == 4
    assert "<td>8 / 8</td>" in client_for(ta).get(f"{PAGE}/").content.decode()


def test_gradebook_withholds_until_the_item_is_released_and_release_shows_all(graded, echo_part, student,
                                                                              instructor, client_for):
    client = client_for(student)
    item = echo_part.grade_item_id
    assert [r for r in client.get("/api/courses/ceng501-2024f/grades/").json() if r["item"] == item] == []
    mine = client.get("/courses/ceng501-2024f/grades/mine/").content.decode()
    assert "8.00" not in mine

    grading_services.item_release(item=echo_part.grade_item, released=True, by=instructor)
    echo_part.refresh_from_db()
    assert visibility.results_released(echo_part)
    body = client.get(f"{API}/submissions/{graded.pk}/").json()
    assert body["points"] == "8.00" and body["tests_withheld"] == 0
    assert body["run"]["log_tail"].endswith("completed: 4 / 4")
    rows = [r for r in client.get("/api/courses/ceng501-2024f/grades/").json() if r["item"] == item]
    assert [r["points"] for r in rows] == ["8.00"]


def test_a_harness_that_prints_its_total_does_not_leak_it(echo_part, student, instructor, tmp_path,
                                                          client_for, django_capture_on_commit_callbacks):
    harness = tmp_path / "loud"
    shutil.copytree(ECHO_HARNESS, harness)
    score = harness / "score.py"
    score.write_text(score.read_text().replace(
        'output = "" if status["ok"]', 'output = f"TOTAL {sum(t[\'score\'] for t in tests)} of 4" if status["ok"]'))
    services.harness_upload(part=echo_part, source=harness, by=instructor, filename="loud")
    with django_capture_on_commit_callbacks(execute=True):
        submission = services.submission_create(part=echo_part, user=student, uploads=[upload("correct")])
    client = client_for(student)
    body = client.get(f"{API}/submissions/{submission.pk}/").json()
    assert body["output"] == "" and body["points"] is None
    assert "TOTAL" not in client.get(f"{PAGE}/submissions/{submission.pk}/").content.decode()
    echo_part.results_published = True
    echo_part.save()
    assert client.get(f"{API}/submissions/{submission.pk}/").json()["output"] == "TOTAL 4 of 4"


def test_a_running_run_never_shows_its_score_line(graded, student, client_for):
    """The runner logs "completed" a moment before the service stores the record with the tests."""
    from projects.models import GradingRun, RunStatus

    GradingRun.objects.filter(submission=graded).update(status=RunStatus.RUNNING, results=None)
    body = client_for(student).get(f"{API}/submissions/{graded.pk}/").json()
    assert "completed" not in body["run"]["log_tail"] and "score step ended: ok" in body["run"]["log_tail"]

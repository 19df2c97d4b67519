"""End to end with a real Celery worker process on a real broker (see realworker.py).

HTTP request -> database -> broker -> worker -> jail -> gradebook, with the
worker in another process sharing the test's database.  The broker is Redis when
CELERY_BROKER_URL is Redis or local Redis answers (skipped when a configured Redis
is down), else kombu's filesystem transport in the test's own folder; under
REQUIRE_SERVICES=1 (CI) a missing Redis fails instead.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from courseapp.tokens import token_create
from grading.models import Grade, GradeChange
from projects import services
from projects.gpus import WorkerInfo
from projects.models import TERMINAL_STATUSES, GradingRun, RunStatus, Team

from . import realworker
from .conftest import upload

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def team_members(project, name):
    team = Team.objects.get(project=project, name=name)
    return [m.user for m in team.memberships.filter(left_at__isnull=True).order_by("joined_at")]


def submit_over_http(user, sample: str) -> dict:
    token = token_create(user=user)[1]
    response = Client(HTTP_AUTHORIZATION=f"Token {token}").post(
        "/api/courses/ceng501-2024f/projects/echo/submissions/", {"file": upload(sample)}
    )
    assert response.status_code == 201, response.content
    return response.json()


# Bounds for polling the database: generous, since CI is a loaded 2-core machine (an idle one
# needs a tenth of them); a bound that is hit fails with the runs' ids, never a bare sleep.
RUNS_TIMEOUT_S = 300
START_TIMEOUT_S = 120


def wait_terminal(run_ids, timeout=RUNS_TIMEOUT_S):
    def done():
        runs = list(GradingRun.objects.filter(pk__in=run_ids))
        return runs if all(r.status in TERMINAL_STATUSES for r in runs) else None

    return {r.pk: r for r in realworker.wait_for(done, timeout=timeout, interval=0.2, what=f"runs {run_ids}")}


def test_real_worker_grades_correct_partial_crash_and_sleep_forever(echo_part, start_worker):
    worker = start_worker()
    project = echo_part.project
    cases = {
        "correct": ("Attention Seekers", RunStatus.SUCCEEDED, Decimal("8.00")),
        "partial": ("Gradient Descenders", RunStatus.SUCCEEDED, Decimal("4.00")),
        "crash": ("Vanishing Gradients", RunStatus.FAILED, Decimal("0.00")),
        "sleep": ("Batch Normies", RunStatus.TIMED_OUT, Decimal("0.00")),
    }
    order = ["sleep", "crash", "partial", "correct"]  # the worker must survive the sleeper and take the next
    submitted = {s: submit_over_http(team_members(project, cases[s][0])[0], s) for s in order}
    runs = wait_terminal([submitted[s]["run"]["id"] for s in order])
    for sample, (team, status, points) in cases.items():
        run = runs[submitted[sample]["run"]["id"]]
        assert run.status == status, (sample, run.status, run.error, worker.log()[-3000:])
        assert run.worker_host.startswith(worker.name) and run.attempts == 1
        for user in team_members(project, team):
            grade = Grade.objects.get(item=echo_part.grade_item, student=user)
            assert grade.points == points, (sample, grade.points)
            assert GradeChange.objects.filter(item=echo_part.grade_item, student=user).count() == 1
    assert "RuntimeError: shape mismatch in my attention layer" in runs[submitted["crash"]["run"]["id"]].error
    assert "timed out after 5 s" in runs[submitted["sleep"]["run"]["id"]].error
    sleeper = runs[submitted["sleep"]["run"]["id"]]
    assert sleeper.limit_hit or "timeout" in str(sleeper.results["steps"]["predict"]["status"])
    # The student sees the crash and the timeout on the status API.
    crash_owner = team_members(project, "Vanishing Gradients")[0]
    token = token_create(user=crash_owner)[1]
    status = Client(HTTP_AUTHORIZATION=f"Token {token}").get(submitted["crash"]["status_url"]).json()
    assert "shape mismatch" in status["run"]["error"] and status["run"]["status"] == "failed"


def test_worker_killed_mid_run_still_completes_exactly_once(echo_part, start_worker):
    first = start_worker(name="doomed")
    student = team_members(echo_part.project, "Attention Seekers")[0]
    run_id = submit_over_http(student, "slow")["run"]["id"]  # sleeps 3 s in the predict step
    realworker.wait_for(lambda: GradingRun.objects.get(pk=run_id).status == RunStatus.RUNNING,
                        timeout=START_TIMEOUT_S, interval=0.05, what="the run to start")
    # Stopped at once, so it cannot finish the 3 s job first however slow this machine is;
    # then killed, and gone before the sweep looks at its pid.
    first.freeze()
    run = GradingRun.objects.get(pk=run_id)
    assert run.status == RunStatus.RUNNING and run.attempts == 1, (run.status, first.log()[-3000:])
    first.kill()
    assert GradingRun.objects.get(pk=run_id).status == RunStatus.RUNNING  # the dead worker left it running
    second = start_worker(name="rescuer")
    report = services.sweep_stuck_runs()  # beat runs this every 60 s; the dead pid makes it immediate here
    assert report.requeued == [run_id]
    run = wait_terminal([run_id])[run_id]
    assert run.status == RunStatus.SUCCEEDED, (run.error, second.log()[-3000:])
    assert run.attempts == 2 and run.worker_host.startswith(second.name)
    for user in team_members(echo_part.project, "Attention Seekers"):
        assert Grade.objects.get(item=echo_part.grade_item, student=user).points == Decimal("8.00")
        assert GradeChange.objects.filter(item=echo_part.grade_item, student=user).count() == 1
    # A late redelivery of the dead worker's job is a no-op (Redis restores it after the visibility
    # timeout; the filesystem transport dropped it when it was taken, so only the sweep brings it back).
    assert services.run_execute(run_id=run_id, worker=WorkerInfo(
        host="late@elsewhere", pid=1, gpu_index=None, gpu_name=""), threaded=False).status is None
    assert GradeChange.objects.filter(item=echo_part.grade_item).count() == 2


def test_rerun_queue_is_served_by_its_own_worker(echo_part, start_worker, instructor):
    start_worker(name="students", queues="cpu")
    student = team_members(echo_part.project, "Attention Seekers")[0]
    run_id = submit_over_http(student, "correct")["run"]["id"]
    wait_terminal([run_id])
    submission = GradingRun.objects.get(pk=run_id).submission
    rerun = services.submission_rerun(submission=submission, by=instructor)
    # A student's job sent after the rerun: once the students' worker has graded it, it has
    # passed over the rerun (no sleep that a slow machine could outlast).
    later = submit_over_http(team_members(echo_part.project, "Batch Normies")[0], "partial")["run"]["id"]
    assert wait_terminal([later])[later].status == RunStatus.SUCCEEDED
    assert GradingRun.objects.get(pk=rerun.pk).status == RunStatus.QUEUED  # no rerun worker yet
    start_worker(name="reruns", queues="rerun")
    done = wait_terminal([rerun.pk])[rerun.pk]
    assert done.status == RunStatus.SUCCEEDED and done.worker_host.startswith("reruns")

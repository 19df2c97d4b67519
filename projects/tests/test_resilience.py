"""Grading through broker and database outages (projects/lifecycle.py, docs/projects.md).

Faults are injected deterministically: the broker send or a database call is
patched to raise what a dead Redis or a restarted PostgreSQL raises, a few
times or for good.  bench/faults.py does the same to real servers under load.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import time
from pathlib import Path
from unittest import mock

import pytest
from celery.exceptions import Retry
from django.db import OperationalError
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerDown

from courseapp.celery import app as celery_app
from grading.models import Grade
from projects import lifecycle, selectors, services, tasks
from projects.gpus import WorkerInfo
from projects.models import GradingRun, RunStatus, Submission
from projects.services import runs
from projects.storage import submission_abspath

from .conftest import upload
from .test_apis import api, token_client

pytestmark = pytest.mark.django_db

WORKER = WorkerInfo(host=f"test@{socket.gethostname()}", pid=os.getpid(), gpu_index=None, gpu_name="")


@pytest.fixture(autouse=True)
def _private_spool_and_work(settings, tmp_path):
    settings.PROJECTS_SPOOL_ROOT = tmp_path / "spool"
    settings.PROJECTS_WORK_ROOT = str(tmp_path / "work")
    yield
    lifecycle._db_down_seen, lifecycle._db_back = False, None


def broker_down(*_args, **_kwargs):
    raise BrokerDown("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


def failing(times: int, real):
    """A stand-in for ``real`` that raises OperationalError ``times`` times, then calls it."""
    calls = {"n": 0}

    def call(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] <= times:
            raise OperationalError("server closed the connection unexpectedly")
        return real(*args, **kwargs)

    call.calls = calls
    return call


def queued_run(part, user, capture) -> GradingRun:
    with capture(execute=False):
        return services.submission_create(part=part, user=user, uploads=[upload()]).runs.get()


# --- The broker is down while students submit --------------------------------------------------


def test_broker_down_at_submit_answers_201_keeps_the_file_and_the_next_pending_send_grades_it(
    echo_part, student, django_capture_on_commit_callbacks
):
    client = token_client(student)
    with mock.patch.object(tasks.grade_run, "apply_async", side_effect=broker_down) as send:
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(api("echo", "submissions/"), {"file": upload("correct")})
    assert send.called
    assert response.status_code == 201, response.content
    submission = Submission.objects.get(pk=response.json()["id"])
    assert submission_abspath(submission.path).is_file()  # never deleted after the commit
    run = submission.runs.get()
    assert run.status == RunStatus.QUEUED and run.sent_at is None
    assert "Connection refused" in run.send_error
    # send_pending (beat, every 10 s) sends it once the broker answers: seconds, not the 300 s resend.
    report = lifecycle.send_pending(now=timezone.now() + dt.timedelta(seconds=lifecycle.UNSENT_AFTER_S + 1))
    assert report.sent == [run.pk]
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and run.send_error == "" and run.sent_at is not None
    assert Grade.objects.get(item=echo_part.grade_item, student=student).points == 8
    assert submission_abspath(submission.path).is_file()


def test_send_pending_stops_at_the_first_refusal_and_leaves_runs_unsent(
    echo_part, student, django_capture_on_commit_callbacks
):
    run = queued_run(echo_part, student, django_capture_on_commit_callbacks)
    later = timezone.now() + dt.timedelta(seconds=30)
    with mock.patch.object(tasks.grade_run, "apply_async", side_effect=broker_down):
        report = lifecycle.send_pending(now=later)
    assert report.failed == [run.pk] and report.sent == []
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED and run.sent_at is None and run.send_error


def test_send_pending_resends_a_job_the_broker_lost_and_leaves_a_waiting_one(
    echo_part, student, other_student, django_capture_on_commit_callbacks
):
    lost = queued_run(echo_part, student, django_capture_on_commit_callbacks)
    GradingRun.objects.filter(pk=lost.pk).update(sent_at=timezone.now(), task_id="run-lost")
    later = timezone.now() + dt.timedelta(seconds=lifecycle.LOST_AFTER_S + 1)
    with mock.patch.object(lifecycle, "broker_task_ids", return_value={"run-lost"}):
        assert lifecycle.send_pending(now=later).lost == []  # still in the queue: behind long runs, not lost
    with mock.patch.object(lifecycle, "broker_task_ids", return_value={"some-other-job"}):
        assert lifecycle.send_pending(now=later).lost == [lost.pk]
    lost.refresh_from_db()
    assert lost.status == RunStatus.SUCCEEDED


def test_send_pending_does_nothing_on_a_broker_it_cannot_inspect(
    echo_part, student, django_capture_on_commit_callbacks
):
    run = queued_run(echo_part, student, django_capture_on_commit_callbacks)
    GradingRun.objects.filter(pk=run.pk).update(sent_at=timezone.now(), task_id="run-x")
    with mock.patch.object(lifecycle, "broker_task_ids", return_value=None):
        assert lifecycle.send_pending(now=timezone.now() + dt.timedelta(minutes=2)).lost == []
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED  # the sweep's PROJECTS_RESEND_AFTER_S covers such brokers


def _lose_queue(broker, queue: str) -> None:
    """What a Redis restart without persistence does to the jobs waiting in ``queue``."""
    if broker.kind == "filesystem":
        for path in (broker.folder / "queue").glob(f"*.{queue}.msg"):
            path.unlink()
        return
    import redis

    client = redis.Redis.from_url(broker.url)
    prefix = broker.transport_options["global_keyprefix"]
    for key in client.scan_iter(match=f"{prefix}{queue}*"):
        client.delete(key)


def test_broker_task_ids_sees_waiting_and_held_jobs(worker_broker):
    celery_app.send_task("projects.grade_run", args=[1], task_id="run-1-aaaa", queue="cpu", priority=3)
    celery_app.send_task("projects.grade_run", args=[2], task_id="run-2-bbbb", queue="cpu", priority=0)
    celery_app.send_task("projects.grade_run", args=[3], task_id="run-3-cccc", queue="gpu")
    assert lifecycle.broker_task_ids(["cpu"]) == {"run-1-aaaa", "run-2-bbbb"}
    assert lifecycle.broker_task_ids(["cpu", "gpu"]) == {"run-1-aaaa", "run-2-bbbb", "run-3-cccc"}
    if worker_broker.kind == "redis":  # a job a worker took but has not acknowledged (acks_late)
        import redis

        held = json.dumps([{"headers": {"id": "run-4-dddd"}, "properties": {}}, "", "cpu"])
        redis.Redis.from_url(worker_broker.url).hset(
            worker_broker.transport_options["global_keyprefix"] + "unacked", "tag-4", held)
        assert "run-4-dddd" in lifecycle.broker_task_ids(["cpu"])
    _lose_queue(worker_broker, "cpu")
    assert lifecycle.broker_task_ids(["cpu"]) - {"run-4-dddd"} == set()


def test_a_job_the_broker_lost_is_sent_again_within_seconds(
    worker_broker, echo_part, student, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):  # sent for real: no worker serves this broker
        run = services.submission_create(part=echo_part, user=student, uploads=[upload()]).runs.get()
    run.refresh_from_db()
    assert run.sent_at is not None and lifecycle.broker_task_ids([run.queue]) == {run.task_id}
    later = timezone.now() + dt.timedelta(seconds=lifecycle.LOST_AFTER_S + 1)
    assert lifecycle.send_pending(now=later).lost == []  # waiting behind other jobs is not lost
    _lose_queue(worker_broker, run.queue)
    assert lifecycle.send_pending(now=later).lost == [run.pk]
    resent = GradingRun.objects.get(pk=run.pk)
    assert resent.task_id != run.task_id and lifecycle.broker_task_ids([run.queue]) == {resent.task_id}


def test_a_submission_whose_grading_failed_on_our_side_does_not_count_toward_the_daily_limit(
    echo_part, student, django_capture_on_commit_callbacks
):
    project = echo_part.project
    project.daily_submission_limit = 1
    project.save(update_fields=["daily_submission_limit"])
    run = queued_run(echo_part, student, django_capture_on_commit_callbacks)
    GradingRun.objects.filter(pk=run.pk).update(status=RunStatus.ERROR, finished_at=timezone.now())
    second = queued_run(echo_part, student, django_capture_on_commit_callbacks)  # allowed: the first errored
    with pytest.raises(services.ProjectError, match="used all 1 submissions"):
        queued_run(echo_part, student, django_capture_on_commit_callbacks)
    assert second.submission.number == 2
    since = timezone.now() - dt.timedelta(days=1)
    assert selectors.submissions_today(part=echo_part, team=second.submission.team, since=since) == 1


# --- The database blips while a worker grades -------------------------------------------------


def test_db_retry_reconnects_with_backoff_then_gives_up():
    sleeps: list[float] = []
    fn = failing(2, lambda: "ok")
    assert lifecycle.db_retry(fn, what="t", deadline_s=60, sleep=sleeps.append) == "ok"
    assert sleeps == [0.5, 1.0]
    with pytest.raises(OperationalError):
        lifecycle.db_retry(failing(99, lambda: "ok"), what="t", deadline_s=0.1, sleep=sleeps.append)


def test_claim_rides_out_a_database_blip(echo_part, student, django_capture_on_commit_callbacks, monkeypatch):
    run = queued_run(echo_part, student, django_capture_on_commit_callbacks)
    monkeypatch.setattr(time, "sleep", lambda s: None)
    flaky = failing(2, services.run_claim)
    monkeypatch.setattr(runs, "run_claim", flaky)
    result = services.run_execute(run_id=run.pk, worker=WORKER, threaded=False)
    assert flaky.calls["n"] == 3
    assert result.status == RunStatus.SUCCEEDED
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and run.attempts == 1


def test_a_claim_that_cannot_reach_the_database_retries_the_task_instead_of_acknowledging_it(
    echo_part, student, django_capture_on_commit_callbacks, monkeypatch, settings
):
    run = queued_run(echo_part, student, django_capture_on_commit_callbacks)
    settings.PROJECTS_DB_RETRY_S = 0
    monkeypatch.setattr(runs, "run_claim", failing(99, services.run_claim))
    with mock.patch.object(tasks.grade_run, "retry", side_effect=Retry()) as retry, pytest.raises(Retry):
        tasks.grade_run(run.pk)  # called directly: a worker's (non-eager) request
    assert retry.call_args.kwargs["countdown"] == 5
    assert isinstance(retry.call_args.kwargs["exc"], OperationalError)
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED and run.attempts == 0


def test_own_claim_whose_reply_was_lost_is_recognised(echo_part, student, django_capture_on_commit_callbacks):
    run = queued_run(echo_part, student, django_capture_on_commit_callbacks)
    first = services.run_claim(run_id=run.pk, worker=WORKER, task_id="run-9-abc")
    again = services.run_claim(run_id=run.pk, worker=WORKER, task_id="run-9-abc")  # db_retry ran it twice
    assert first.attempt == again.attempt == 1 and again.run is not None
    other = services.run_claim(run_id=run.pk, worker=WORKER, task_id="run-9-other")  # a duplicate job
    assert other.run is None and other.retry_in


@pytest.mark.django_db(transaction=True)
def test_heartbeat_thread_survives_database_errors_and_beats_again(
    echo_part, student, settings, monkeypatch
):
    settings.PROJECTS_HEARTBEAT_S = 0
    run = services.submission_create(part=echo_part, user=student, uploads=[upload()]).runs.get()
    # transaction=True: the commit ran the job eagerly; put the run back to running for this test.
    claim_time = timezone.now() - dt.timedelta(minutes=5)
    GradingRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, attempts=1, heartbeat_at=claim_time,
                                                finished_at=None)
    flaky = failing(2, runs.Progress._write)
    monkeypatch.setattr(runs.Progress, "_write", lambda self: flaky(self))
    with runs.Progress(run.pk, 1, threaded=True) as progress:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            beat = GradingRun.objects.values_list("heartbeat_at", flat=True).get(pk=run.pk)
            if beat > claim_time:
                break
            time.sleep(0.2)
        assert progress.thread.is_alive()
    assert flaky.calls["n"] >= 3  # two failures, then beats again
    assert GradingRun.objects.get(pk=run.pk).heartbeat_at > claim_time


def test_record_that_cannot_reach_the_database_is_spooled_then_posted_by_the_replay(
    echo_part, student, django_capture_on_commit_callbacks, monkeypatch, settings
):
    settings.PROJECTS_DB_RETRY_S = 0
    run = queued_run(echo_part, student, django_capture_on_commit_callbacks)
    real_record = services.run_record
    monkeypatch.setattr(runs, "run_record", failing(99, real_record))
    result = services.run_execute(run_id=run.pk, worker=WORKER, threaded=False)
    assert result.status is None
    spooled = list(Path(settings.PROJECTS_SPOOL_ROOT).glob("run-*.json"))
    assert [p.name for p in spooled] == [f"run-{run.pk}-attempt-1.json"]
    assert json.loads(spooled[0].read_text())["record"]["status"] == "completed"
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING
    monkeypatch.setattr(runs, "run_record", real_record)
    report = lifecycle.replay_spool()
    assert report.posted == [run.pk]
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and "after the database came back" in run.log
    assert Grade.objects.get(item=echo_part.grade_item, student=student).points == 8
    assert not list(Path(settings.PROJECTS_SPOOL_ROOT).glob("run-*.json"))


def test_sweep_posts_a_spooled_record_instead_of_taking_the_run_for_dead(
    echo_part, student, django_capture_on_commit_callbacks, monkeypatch, settings
):
    settings.PROJECTS_DB_RETRY_S = 0
    run = queued_run(echo_part, student, django_capture_on_commit_callbacks)
    monkeypatch.setattr(runs, "run_record", failing(1, services.run_record))
    services.run_execute(run_id=run.pk, worker=WORKER, threaded=False)
    GradingRun.objects.filter(pk=run.pk).update(worker_host="cpu@elsewhere")  # its heartbeat is all we know
    later = timezone.now() + dt.timedelta(seconds=services.stale_after_s() + 5)
    report = services.sweep_stuck_runs(now=later)
    assert report.requeued == []
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and run.attempts == 1


def test_record_is_kept_when_the_sweep_requeued_the_run_but_no_other_attempt_started(
    echo_part, student, django_capture_on_commit_callbacks
):
    run = queued_run(echo_part, student, django_capture_on_commit_callbacks)
    services.run_claim(run_id=run.pk, worker=WORKER)
    GradingRun.objects.filter(pk=run.pk).update(status=RunStatus.QUEUED)  # the sweep judged it dead
    record = {"status": "completed", "score": 3, "max_score": 4, "predict": {"status": "ok", "exit_code": 0}}
    assert services.run_record(run_id=run.pk, attempt=1, record=record) == RunStatus.SUCCEEDED
    GradingRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, attempts=2)
    assert services.run_record(run_id=run.pk, attempt=1, record=record) is None  # attempt 2 holds it now


def test_sweep_does_not_take_a_live_run_for_dead_right_after_a_database_outage(
    echo_part, student, django_capture_on_commit_callbacks
):
    run = queued_run(echo_part, student, django_capture_on_commit_callbacks)
    remote = WorkerInfo(host="cpu@another-node", pid=4242, gpu_index=None, gpu_name="")
    services.run_claim(run_id=run.pk, worker=remote)
    start = timezone.now()
    # The database was down for a minute: the worker could not beat, and the sweep saw it fail.
    lifecycle.note_db_down()
    back = start + dt.timedelta(minutes=1)
    lifecycle.note_db_up(now=back)
    assert services.sweep_stuck_runs(now=back + dt.timedelta(seconds=1)).requeued == []
    assert services.sweep_stuck_runs(now=back + dt.timedelta(seconds=services.stale_after_s() - 5)).requeued == []
    gone = back + dt.timedelta(seconds=services.stale_after_s() + 1)  # still silent after it came back: dead
    assert services.sweep_stuck_runs(now=gone).requeued == [run.pk]


def test_periodic_jobs_note_when_the_database_was_unreachable(monkeypatch):
    monkeypatch.setattr(services, "sweep_stuck_runs", failing(1, lambda: services.SweepReport()))
    with pytest.raises(OperationalError):
        tasks.sweep_stuck_runs()
    assert lifecycle._db_down_seen
    tasks.sweep_stuck_runs()
    assert not lifecycle._db_down_seen and lifecycle._db_back is not None


@pytest.mark.skipif(not os.environ.get("DATABASE_URL", "").startswith("postgres"), reason="PostgreSQL only")
@pytest.mark.django_db(transaction=True)
def test_heartbeat_reconnects_after_its_backend_is_terminated(echo_part, student, settings):
    from django.db import connection

    settings.PROJECTS_HEARTBEAT_S = 0
    run = services.submission_create(part=echo_part, user=student, uploads=[upload()]).runs.get()
    old = timezone.now() - dt.timedelta(minutes=5)
    GradingRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, attempts=1, heartbeat_at=old,
                                                finished_at=None)
    with runs.Progress(run.pk, 1, threaded=True) as progress:
        deadline = time.monotonic() + 20
        while GradingRun.objects.get(pk=run.pk).heartbeat_at <= old and time.monotonic() < deadline:
            time.sleep(0.1)
        with connection.cursor() as cursor:  # kill every other backend of this database: the heartbeat's
            cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        killed_at = timezone.now()
        while GradingRun.objects.get(pk=run.pk).heartbeat_at <= killed_at and time.monotonic() < deadline:
            time.sleep(0.1)
        assert progress.thread.is_alive()
    assert GradingRun.objects.get(pk=run.pk).heartbeat_at > killed_at


# --- Requeued runs: their place, what the student reads, no leftovers, no paths ----------------------


def test_requeued_run_goes_ahead_of_newer_runs_and_tells_the_student_why(
    echo_part, student, django_capture_on_commit_callbacks, project
):
    from .test_apis import other_team_student

    run = queued_run(echo_part, student, django_capture_on_commit_callbacks)
    newer = queued_run(echo_part, other_team_student(project), django_capture_on_commit_callbacks)
    assert run.priority == newer.priority == services.STUDENT_PRIORITY
    services.run_claim(run_id=run.pk, worker=WORKER)
    GradingRun.objects.filter(pk=run.pk).update(worker_pid=999_999_999)  # its worker died
    with django_capture_on_commit_callbacks(execute=False):
        assert services.sweep_stuck_runs().requeued == [run.pk]
    run.refresh_from_db()
    assert run.priority < newer.priority
    assert selectors.queue_positions([run, newer]) == {run.pk: 1, newer.pk: 2}
    body = token_client(student).get(api("echo", f"submissions/{run.submission_id}/")).json()
    assert body["run"]["notice"].startswith("The grading machine restarted or stopped answering; your run is "
                                            "queued again")
    assert "attempt 2 of 3" in body["run"]["notice"]
    assert body["run"]["queue_position"] == 1


def test_run_taken_over_after_a_redelivery_tells_the_student(echo_part, student, django_capture_on_commit_callbacks):
    run = queued_run(echo_part, student, django_capture_on_commit_callbacks)
    services.run_claim(run_id=run.pk, worker=WORKER)
    GradingRun.objects.filter(pk=run.pk).update(worker_pid=999_999_999)
    claim = services.run_claim(run_id=run.pk, worker=WORKER, task_id="run-redelivered")
    assert claim.attempt == 2 and "started again, attempt 2 of 3" in claim.run.notice


def test_texts_shown_to_students_contain_no_server_paths(
    echo_part, student, django_capture_on_commit_callbacks, settings
):
    run = queued_run(echo_part, student, django_capture_on_commit_callbacks)
    services.run_claim(run_id=run.pk, worker=WORKER)
    root = str(settings.SUBMISSIONS_ROOT)
    record = {"status": "submission_error",
              "error": f"could not unpack: [Errno 2] No such file or directory: '{root}/ceng/x/001-ab.zip'"}
    GradingRun.objects.filter(pk=run.pk).update(log=f"10:00:00 unpacking {root}/ceng/x/001-ab.zip\n")
    services.run_record(run_id=run.pk, attempt=1, record=record,
                        log=f"10:00:00 unpacking {root}/ceng/x/001-ab.zip\n")
    body = token_client(student).get(api("echo", f"submissions/{run.submission_id}/")).content.decode()
    assert root not in body and "/ceng/x/" not in body
    assert "001-ab.zip" in body  # the file name itself is kept


def test_scrub_paths_keeps_ordinary_text():
    assert lifecycle.scrub_paths("FileNotFoundError: /srv/media/work/grade-x/out.npy missing") == (
        "FileNotFoundError: …/out.npy missing")
    assert lifecycle.scrub_paths("score 3/4, ratio 1/2 and http://x.org/a/b") == (
        "score 3/4, ratio 1/2 and http://x.org/a/b")


def test_worker_start_deletes_job_folders_of_dead_processes_only(settings):
    base = lifecycle.work_base()
    dead = base / f"w-{lifecycle._host()}-999999999" / "grade-abc"
    dead.mkdir(parents=True)
    (dead / "outputs.bin").write_bytes(b"x" * 10)
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        alive = base / f"w-{lifecycle._host()}-{sleeper.pid}" / "grade-def"
        alive.mkdir(parents=True)
        other_host = base / "w-another-node-999999999" / "grade-ghi"
        other_host.mkdir(parents=True)
        assert lifecycle.clean_dead_work_roots() == [f"w-{lifecycle._host()}-999999999"]
        assert not dead.parent.exists() and alive.exists() and other_host.exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_process_empties_its_own_job_folder_before_each_job(settings):
    mine = lifecycle.process_work_root()
    (mine / "grade-killed-earlier").mkdir()
    (mine / "grade-killed-earlier" / "big.bin").write_bytes(b"x")
    assert lifecycle.process_work_root() == mine
    assert list(mine.iterdir()) == []


def test_worker_ready_cleans_and_replays_even_without_a_database(monkeypatch):
    monkeypatch.setattr(lifecycle, "replay_spool", failing(99, lambda: None))
    tasks._on_worker_ready()  # logs, does not raise: the worker must start


# --- Beat's jobs have a queue of their own ------------------------------------------------------


def test_every_beat_job_is_routed_to_the_beat_queue(settings):
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        route = celery_app.amqp.router.route(entry.get("options", {}), entry["task"])
        assert route["queue"].name == "beat", entry["task"]
        # A late tick is dropped, not piled up: it expires within its period (a daily job within the hour).
        period = entry["schedule"] if isinstance(entry["schedule"], float) else 24 * 3600
        assert entry["options"]["expires"] <= period, entry["task"]
    assert celery_app.amqp.router.route({}, "projects.grade_run")["queue"].name == "default"  # sent with cpu/gpu
    assert celery_app.amqp.router.route({}, "quizzes.regrade")["queue"].name == "default"


def test_compose_and_make_run_serve_the_beat_queue_with_a_worker_of_its_own():
    import yaml

    root = Path(__file__).resolve().parents[2]
    services_ = yaml.safe_load((root / "docker-compose.yml").read_text())["services"]
    queues = {}
    for name, spec in services_.items():
        command = spec.get("command") or []
        for arg in command:
            if isinstance(arg, str) and arg.startswith("--queues="):
                queues[name] = set(arg.split("=", 1)[1].split(","))
    beat_workers = [name for name, qs in queues.items() if "beat" in qs]
    assert beat_workers == ["beat-worker"]
    assert queues["beat-worker"] == {"beat"}
    devserver = (root / "scripts" / "devserver.py").read_text()
    assert '"--queues=beat"' in devserver and "--queues=default,cpu,gpu,rerun" in devserver


def test_two_pending_sends_of_one_run_grade_it_once(echo_part, student, django_capture_on_commit_callbacks):
    """send_pending is idempotent: a second tick finds nothing unsent; duplicates would be no-ops anyway."""
    run = queued_run(echo_part, student, django_capture_on_commit_callbacks)
    later = timezone.now() + dt.timedelta(seconds=30)
    lifecycle.send_pending(now=later)
    lifecycle.send_pending(now=later)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and run.attempts == 1
    assert Grade.objects.filter(item=echo_part.grade_item, student=student).count() == 1


def test_a_time_limit_striking_while_the_record_is_retried_keeps_the_record(monkeypatch, settings):
    from celery.exceptions import SoftTimeLimitExceeded

    def slow_database(**_kwargs):
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(runs, "run_record", slow_database)
    assert services.run_record_or_spool(run_id=41, attempt=2, record={"status": "completed"}, log="x") is None
    assert lifecycle.spooled_runs() == {(41, 2)}


def test_a_submission_while_the_database_is_down_is_answered_503_and_stores_nothing(
    echo_part, student, monkeypatch, settings
):
    def database_down(**_kwargs):
        raise OperationalError("connection to server at 127.0.0.1 failed: Connection refused")

    monkeypatch.setattr(services, "submission_create", database_down)
    response = token_client(student).post(api("echo", "submissions/"), {"file": upload()})
    assert response.status_code == 503 and response["Retry-After"] == "30"
    assert "nothing was stored" in response.json()["detail"]
    assert not Submission.objects.exists()


def test_the_201_survives_a_database_blip_after_the_commit(
    echo_part, student, django_capture_on_commit_callbacks, monkeypatch
):
    from projects import apis

    monkeypatch.setattr(time, "sleep", lambda s: None)
    monkeypatch.setattr(apis, "_submission_payload", failing(1, apis._submission_payload))
    with django_capture_on_commit_callbacks(execute=True):
        response = token_client(student).post(api("echo", "submissions/"), {"file": upload()})
    assert response.status_code == 201 and response.json()["number"] == 1


def test_any_request_that_cannot_reach_the_database_is_answered_503(echo_part, student, monkeypatch):
    from projects import access

    def database_down(*_args, **_kwargs):
        raise OperationalError("the database system is shutting down")

    monkeypatch.setattr(access, "access_part_for_submitting", database_down)
    response = token_client(student).post(api("echo", "submissions/"), {"file": upload()})
    assert response.status_code == 503 and response["Retry-After"] == "30"
    assert "Try again in a minute" in response.json()["detail"]
    assert not Submission.objects.exists()

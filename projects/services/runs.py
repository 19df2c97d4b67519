"""Grading runs: queued, claimed by a worker, graded with a live log and heartbeat, recorded once.

Run lifecycle (see docs/projects.md):

    queued --claim--> running --record--> succeeded | failed | timed_out | error
       ^                 |  infrastructure error (attempts < PROJECTS_MAX_ATTEMPTS)
       +-----------------+  or the sweep finds its worker dead

Every state change of a run is a conditional UPDATE keyed on (status,
attempts), so a duplicate delivery, a retried task or an orphaned worker that
wakes up late cannot record a result twice.  Riding out broker and database
outages (sending, retries, the spool) is projects/lifecycle.py's job; the sweep
that finds dead workers' runs is sweep.py.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import socket
import threading
import time
import traceback
from decimal import Decimal
from pathlib import Path
from types import TracebackType

from celery.exceptions import SoftTimeLimitExceeded
from django.db import transaction
from django.utils import timezone

from courseapp.models import Role, User

from .. import calculations, lifecycle, storage
from ..gpus import WorkerInfo
from ..lifecycle import DB_ERRORS, db_retry, run_send
from ..models import GradingRun, HarnessBundle, ProjectPart, RunStatus, Submission
from .base import ProjectError, require_role, setting
from .grades import part_grades_post

log = logging.getLogger(__name__)

STD_MAX_BYTES = 1024 * 1024  # stdout and stderr kept per run
LOG_MAX_BYTES = 64 * 1024  # the live progress log
# Celery priority, 0 served first (Redis keeps lists for 0, 3, 6 and 9).  A run queued again
# after its worker died or failed moves up one step (lifecycle.REQUEUED), so it keeps its place
# ahead of the first attempts that queued after it.
STUDENT_PRIORITY = 3
RERUN_PRIORITY = 6


def heartbeat_s() -> float:
    """How often a worker tells the database its run is alive (seconds)."""
    return float(setting("PROJECTS_HEARTBEAT_S", 10))


def stale_after_s() -> float:
    """A running run whose heartbeat is older than this is considered dead (seconds)."""
    return float(setting("PROJECTS_STALE_AFTER_S", 45))


def max_attempts() -> int:
    """How many times a worker may start one run before it ends as an error."""
    return int(setting("PROJECTS_MAX_ATTEMPTS", 3))


def db_retry_s() -> float:
    """How long a worker keeps retrying a claim or a record while the database is unreachable (seconds)."""
    return float(setting("PROJECTS_DB_RETRY_S", 60))


def run_create(*, submission: Submission, harness: HarnessBundle, rerun: bool = False,
               by: User | None = None, now: dt.datetime | None = None) -> GradingRun:
    """Make a queued run and send its job when the caller's transaction commits.

    Students' runs go to the ``gpu`` or ``cpu`` queue (by the harness's
    ``gpus``); reruns go to ``rerun`` with a lower priority, so separate
    workers serve them and they never delay students' feedback.
    """
    now = now or timezone.now()
    limits = calculations.run_time_limits(
        predict_timeout_s=harness.predict_timeout_s, score_timeout_s=harness.score_timeout_s
    )
    queue = "rerun" if rerun else ("gpu" if harness.gpus else "cpu")
    run = GradingRun.objects.create(
        submission=submission, harness=harness, queue=queue,
        priority=RERUN_PRIORITY if rerun else STUDENT_PRIORITY, is_rerun=rerun, requested_by=by,
        time_limit_s=limits.hard_s, queued_at=now,
    )
    run_pk = run.pk
    # run_send never raises for a broker that is down (lifecycle.py); robust=True also keeps any
    # other surprise from turning a committed submission into a 500.
    transaction.on_commit(lambda: run_send(run_id=run_pk), robust=True)
    return run


def _rerun_harness(part: ProjectPart) -> HarnessBundle:
    harness = part.harness if part.autograded else None
    if harness is None:
        raise ProjectError(f"{part.name} has no autograder harness to rerun with; upload one first.")
    return harness


@transaction.atomic
def submission_rerun(*, submission: Submission, by: User) -> GradingRun:
    """Grade a submission again with its part's current harness, on the rerun queue (the instructor)."""
    part = submission.part
    require_role(by, part.course, (Role.INSTRUCTOR,), "Only the instructor reruns submissions.")
    harness = _rerun_harness(part)
    return run_create(submission=submission, harness=harness, rerun=True, by=by)


@transaction.atomic
def part_rerun(*, part: ProjectPart, by: User) -> int:
    """Rerun every submission of ``part`` (after fixing its harness; the instructor). Returns how many runs were queued."""
    require_role(by, part.course, (Role.INSTRUCTOR,), "Only the instructor reruns submissions.")
    harness = _rerun_harness(part)
    count = 0
    for submission in Submission.objects.filter(part=part).order_by("submitted_at", "id"):
        run_create(submission=submission, harness=harness, rerun=True, by=by)
        count += 1
    return count


@dataclasses.dataclass(frozen=True)
class Claim:
    run: GradingRun | None  # the run to grade now, or None
    attempt: int = 0
    retry_in: float | None = None  # another worker seems to hold it: check back after this many seconds


def worker_alive(run: GradingRun, *, now: dt.datetime, me: WorkerInfo | None = None) -> bool:
    """Whether the worker that holds a running run still seems to be at it."""
    if run.worker_pid and run.worker_host:
        host = run.worker_host.rsplit("@", 1)[-1]
        local = me.machine if me else socket.gethostname()
        if host == local and not lifecycle.pid_alive(run.worker_pid):
            return False
    beat = run.heartbeat_at or run.started_at
    if beat is None:
        return False
    # A worker cannot beat while the database is down: count from when it came back, not from its last beat.
    back = lifecycle.db_back_at()
    if back is not None and back > beat:
        beat = min(back, now)
    return (now - beat).total_seconds() < stale_after_s()


def run_claim(*, run_id: int, worker: WorkerInfo, task_id: str = "", now: dt.datetime | None = None) -> Claim:
    """Mark a run running for this worker, unless it is finished or alive elsewhere.

    The UPDATE is conditional on the status and attempt count seen, so of two
    deliveries of one job only one gets the run.  A run held by a dead worker
    (its process gone, or its heartbeat stale) is taken over as a new attempt.
    A run that used up its attempts ends as an error.
    """
    now = now or timezone.now()
    run = GradingRun.objects.select_related("harness", "submission").filter(pk=run_id).first()
    if run is None or run.is_terminal:
        return Claim(run=None)
    if (run.status == RunStatus.RUNNING and task_id and run.task_id == task_id[:64]
            and run.worker_pid == worker.pid and run.worker_host == worker.host[:200]):
        return Claim(run=run, attempt=run.attempts)  # our own claim, whose reply a dropped connection lost
    if run.status == RunStatus.RUNNING and worker_alive(run, now=now, me=worker):
        return Claim(run=None, retry_in=stale_after_s())
    if run.attempts >= max_attempts():
        finish_gave_up(run, now=now)
        return Claim(run=None)
    attempt = run.attempts + 1
    taken_over = {}
    if run.status == RunStatus.RUNNING:  # its worker died and the broker redelivered the job
        taken_over = dict(priority=lifecycle.REQUEUED, notice=lifecycle.requeue_notice(
            attempt_done=run.attempts, max_attempts=max_attempts(), why=lifecycle.WORKER_LOST, running=True))
    claimed = GradingRun.objects.filter(pk=run.pk, status=run.status, attempts=run.attempts).update(
        **taken_over,
        status=RunStatus.RUNNING, attempts=attempt, started_at=now, heartbeat_at=now, finished_at=None,
        worker_host=worker.host[:200], worker_pid=worker.pid, gpu_index=worker.gpu_index,
        gpu_name=worker.gpu_name[:120], task_id=task_id[:64] or run.task_id,
    )
    if not claimed:
        return Claim(run=None, retry_in=stale_after_s())
    run = GradingRun.objects.select_related("harness", "submission").get(pk=run.pk)
    return Claim(run=run, attempt=attempt)


def finish_gave_up(run: GradingRun, *, now: dt.datetime) -> None:
    GradingRun.objects.filter(pk=run.pk, status=run.status, attempts=run.attempts).update(
        status=RunStatus.ERROR, finished_at=now,
        error=f"Grading failed on the workers {run.attempts} times; the course staff has to rerun it.",
    )


class Progress:
    """The run's live log (runner stage lines) and heartbeat, written only while this attempt holds the run."""

    def __init__(self, run_id: int, attempt: int, *, threaded: bool, earlier: str = "") -> None:
        self.run_id, self.attempt = run_id, attempt
        # A later attempt keeps the earlier attempts' lines above its own, so the student sees what happened.
        self.lines: list[str] = [earlier.rstrip("\n"), f"----- attempt {attempt} -----"] if earlier else []
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True) if threaded else None

    def text(self) -> str:
        with self.lock:
            return calculations.cap_text("\n".join(self.lines), max_bytes=LOG_MAX_BYTES)

    def add(self, line: str) -> None:
        stamp = timezone.localtime().strftime("%H:%M:%S")
        with self.lock:
            self.lines.append(f"{stamp} {line}")
        if self.thread is None:  # eager (tests): write in this thread
            self._write()

    def _write(self) -> None:
        GradingRun.objects.filter(pk=self.run_id, status=RunStatus.RUNNING, attempts=self.attempt).update(
            heartbeat_at=timezone.now(), log=self.text()
        )

    def _beat(self) -> None:
        """Every second: write new log lines at once, and the heartbeat every PROJECTS_HEARTBEAT_S.

        Survives anything: a database error drops the connection and retries on a
        fresh one after 1, 2, 4, then 5 s, so beats resume within seconds of the
        database coming back; any other error is logged and the next beat goes on.
        """
        written, last, wait, failures = -1, 0.0, 1.0, 0
        try:
            while not self.stop_event.wait(wait):
                with self.lock:
                    count = len(self.lines)
                if count == written and time.monotonic() - last < heartbeat_s():
                    continue
                try:
                    self._write()
                except Exception as exc:  # the heartbeat must never take the job down with it
                    failures += 1
                    if isinstance(exc, DB_ERRORS):
                        lifecycle.drop_connection()
                        log.warning("heartbeat of run %s: database unreachable (%s)", self.run_id, exc)
                    else:
                        log.exception("heartbeat of run %s failed", self.run_id)
                    wait = min(5.0, 2.0 ** (failures - 1))
                    continue
                written, last, wait, failures = count, time.monotonic(), 1.0, 0
        finally:
            lifecycle.drop_connection()

    def __enter__(self) -> Progress:
        if self.thread is not None:
            self.thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(timeout=10)


@dataclasses.dataclass(frozen=True)
class Executed:
    run_id: int
    status: str | None  # the run's status after this call; None if it was not ours to run
    retry_in: float | None = None  # set when another worker holds the run


def run_execute(*, run_id: int, worker: WorkerInfo, task_id: str = "", threaded: bool = True) -> Executed:
    """The whole job of a worker: claim the run, grade it with the runner, record the result.

    A duplicate delivery of a finished run does nothing.  The runner's own work
    folder is removed in its ``finally``; a Celery soft time limit ends the
    attempt as timed out.  ``threaded``: write the heartbeat from a background
    thread (real workers); False writes progress inline (eager tests).
    """
    from projects import datasets, environments  # imported here: they pull in the runner
    from projects.runner.runner import grade

    pending = GradingRun.objects.select_related("harness", "submission__part").filter(
        pk=run_id, status=RunStatus.QUEUED).first()
    if pending is not None:  # its harness's environment is being built on this node: stay queued
        wait = environments.run_wait_s(run=pending, gpu=worker.gpu_index is not None and bool(pending.harness.gpus),
                                       threaded=threaded)
        if wait is not None:
            return Executed(run_id=run_id, status=RunStatus.QUEUED, retry_in=wait)
    # Raises a DB error only when the database stayed unreachable for db_retry_s(): the task then
    # retries (the job is not acknowledged as done).
    claim = db_retry(lambda: run_claim(run_id=run_id, worker=worker, task_id=task_id),
                     what=f"claiming run {run_id}", deadline_s=min(db_retry_s(), 20.0))
    if claim.run is None:
        return Executed(run_id=run_id, status=None, retry_in=claim.retry_in)
    run = claim.run
    harness_path = storage.harness_abspath(run.harness.path)
    submission_path = storage.submission_abspath(run.submission.path)
    work_root = lifecycle.process_work_root() if threaded else setting("PROJECTS_WORK_ROOT", None)
    record: dict
    with Progress(run.pk, claim.attempt, threaded=threaded, earlier=run.log if claim.attempt > 1 else "") as progress:
        progress.add(f"attempt {claim.attempt} on {worker.host}"
                     + (f", GPU {worker.gpu_index} ({worker.gpu_name})" if worker.gpu_index is not None else ""))
        try:
            harness = environments.bundle_harness(run.harness)
            record = grade(
                harness_path, submission_path, gpu=worker.gpu_index,
                work_root=Path(work_root) if work_root else None, on_log=progress.add,
                stores=environments.node_stores(),
                datasets=datasets.datasets_for(course=run.submission.part.course, harness=harness) if harness else {},
            ).as_dict()
        except SoftTimeLimitExceeded:
            record = {"status": "soft_time_limit",
                      "error": f"Grading took longer than its time limit ({run.time_limit_s:g} s) and was stopped."}
        except Exception as exc:  # a bug or a broken node: an infrastructure error, retried
            log.exception("grading run %s crashed", run.pk)
            record = {"status": "infrastructure_error", "error": f"{type(exc).__name__}: {exc}",
                      "traceback": traceback.format_exc()[-4000:]}
        # Recorded while the heartbeat still beats, so retrying a record never makes the run look dead.
        status = run_record_or_spool(run_id=run.pk, attempt=claim.attempt, record=record, log=progress.text())
    return Executed(run_id=run.pk, status=status)


def run_record_or_spool(*, run_id: int, attempt: int, record: dict, log: str) -> str | None:
    """Record a finished attempt, retrying on a fresh connection for db_retry_s(); else keep it in the spool.

    Grading work is never thrown away because the database was gone: the
    spooled record is posted by lifecycle.replay_spool (worker start, beat, the
    sweep).  Returns the run's new status, or None if it was not recorded now.
    """
    try:
        return db_retry(lambda: run_record(run_id=run_id, attempt=attempt, record=record, log=log),
                        what=f"recording run {run_id}", deadline_s=db_retry_s())
    except (*DB_ERRORS, SoftTimeLimitExceeded):  # the time limit may strike while retrying: keep the work
        lifecycle.spool_write(run_id=run_id, attempt=attempt, record=record, log_text=log)
        return None


def _std(record: dict, key: str) -> str:
    chunks = []
    for step in ("predict", "score_step"):
        data = record.get(step) or {}
        if data.get(key):
            chunks.append(f"===== {step.replace('_step', '')} step =====\n{data[key]}")
    return calculations.cap_text("\n".join(chunks), max_bytes=STD_MAX_BYTES)


def run_record(*, run_id: int, attempt: int, record: dict, log: str = "",
               now: dt.datetime | None = None, spooled: bool = False) -> str | None:
    """Store a runner record on the run and post the team's grades, in one transaction.

    Only the attempt that holds the run may record (conditional UPDATE on the
    attempt count): a late orphan gets None back and changes nothing.  A run the
    sweep put back in the queue that no other attempt has claimed yet (same
    attempt count) still takes this attempt's record: finished work is kept.
    An infrastructure error with attempts left puts the run back in the queue
    (sent on commit).  Texts shown to students lose server paths.  ``spooled``:
    the record comes from the spool (lifecycle.replay_spool).  Returns the run's
    new status.
    """
    now = now or timezone.now()
    if record.get("status") == "soft_time_limit":
        outcome = calculations.Outcome("timed_out", False, record["error"])
    else:
        outcome = calculations.run_outcome(record, attempts=attempt, max_attempts=max_attempts())
    predict = record.get("predict") or {}
    score_step = record.get("score_step") or {}
    peaks = [float(peak) for s in (predict, score_step) if (peak := s.get("peak_memory_mb")) is not None]
    results = {k: v for k, v in record.items() if k not in ("predict", "score_step")}
    results["steps"] = {
        name: {k: v for k, v in data.items() if k not in ("stdout", "stderr")}
        for name, data in (("predict", predict), ("score", score_step)) if data
    }
    fields = dict(
        log=calculations.cap_text(log, max_bytes=LOG_MAX_BYTES), error=lifecycle.scrub_paths(outcome.error)[:20000],
        stdout=_std(record, "stdout"), stderr=_std(record, "stderr"), results=results,
        peak_memory_mb=max(peaks) if peaks else None, exit_code=predict.get("exit_code"),
        limit_hit=(predict.get("limit") or "")[:40], harness_version=record.get("harness_version", "")[:64],
        submission_sha256=record.get("submission_sha256", "")[:64],
        env_digest=((record.get("environment") or {}).get("digest") or "")[:64],
        dataset_versions=record.get("datasets") or {},
    )
    if spooled:
        fields["log"] = calculations.cap_text(f"{fields['log']}\n(recorded after the database came back)",
                                              max_bytes=LOG_MAX_BYTES)
    with transaction.atomic():
        held = GradingRun.objects.filter(pk=run_id, status__in=[RunStatus.RUNNING, RunStatus.QUEUED],
                                         attempts=attempt, attempts__gt=0)
        if outcome.retry:
            notice = lifecycle.requeue_notice(attempt_done=attempt, max_attempts=max_attempts(),
                                              why=lifecycle.INFRA_ERROR)
            if not held.update(status=RunStatus.QUEUED, started_at=None, heartbeat_at=None, notice=notice,
                               priority=lifecycle.REQUEUED, **fields):
                return None
            transaction.on_commit(lambda: run_send(run_id=run_id), robust=True)
            return RunStatus.QUEUED
        score = record.get("score") if record.get("status") == "completed" else None
        updated = held.update(
            status=outcome.status, finished_at=now, notice="",
            score=None if score is None else Decimal(str(score)),
            max_score=None if record.get("max_score") is None else Decimal(str(record["max_score"])),
            **fields,
        )
        if not updated:
            return None
        run = GradingRun.objects.select_related("submission__part__project", "submission__part__grade_item").get(
            pk=run_id)
        if score is not None:
            part_grades_post(part=run.submission.part, students=list(run.submission.members.all()),
                             reason=f"autograder: submission #{run.submission.number}, run {run.pk}")
    return outcome.status


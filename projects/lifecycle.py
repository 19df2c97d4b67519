"""Grading runs through broker and database outages (docs/projects.md, "When a service fails").

What this module guarantees, and how:

- **Sending never fails a submission.**  ``run_send`` publishes with a short
  retry policy and, when the broker is down, records the error on the run
  (``send_error``, ``sent_at`` left empty) instead of raising; the submission is
  committed and its file kept.  ``send_pending`` (beat, every 10 s, on the
  ``beat`` queue) sends such runs again as soon as the broker answers.
- **A job the broker lost is found in seconds.**  "Sent but lost" and "queued
  behind long runs" look the same in the database, so ``send_pending`` asks the
  broker: a queued run whose task id is neither waiting in its queue nor held
  unacknowledged by a worker (Redis: the queue's priority lists and the
  ``unacked`` hash; the filesystem transport: its message files) was lost, e.g.
  by a Redis restart without persistence, and is sent again.  Brokers that
  cannot be inspected fall back to the sweep's PROJECTS_RESEND_AFTER_S.
- **Database blips are ridden out.**  ``db_retry`` runs a database call again on
  a fresh connection with exponential backoff; the claim, the heartbeat and the
  record use it (services/runs.py).
- **Finished grading is never thrown away.**  A record that cannot reach the
  database within its retry budget is written to the spool
  (``PROJECTS_SPOOL_ROOT``, on the volume the web and workers share) and posted
  when the database returns: at worker start, by ``replay_spool`` (beat) and by
  the sweep before it judges any run dead.
- **No leftovers.**  Each worker process keeps its job folders under its own
  ``w-<host>-<pid>`` folder; at worker start the folders of this host's dead
  processes are deleted, and a process clears its own folder before each job.
- **No server paths in texts students read** (``scrub_paths``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
import re
import secrets
import socket
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection
from django.db.models import F, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from . import calculations
from .models import GradingRun, RunStatus

log = logging.getLogger(__name__)

T = TypeVar("T")
DB_ERRORS = (OperationalError, InterfaceError)
SEND_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
UNSENT_AFTER_S = 5  # a run committed this long ago with no successful send is sent by send_pending
LOST_AFTER_S = 15  # a sent job missing from the broker this long after its send is sent again
INSPECT_MAX_MESSAGES = 20_000  # a longer queue is not read; the sweep's resend rule covers it

# The stored priority of a run queued again: one Redis priority step up, floored at 0, so it goes
# ahead of first attempts (students' 3, reruns' 6) and the queue position shown is where it really is.
REQUEUED = Greatest(F("priority") - 3, Value(0))
WORK_DIR_PREFIX = "w-"


# --- Database retries -----------------------------------------------------------------


def drop_connection() -> None:
    """Close this thread's database connection so the next query opens a fresh one.

    Not inside a transaction: there the error must reach whoever opened it.
    """
    if connection.in_atomic_block:
        return
    try:
        connection.close()
    except Exception:  # a connection the server killed may fail to close; it is gone either way
        log.debug("closing a broken database connection failed", exc_info=True)


def db_retry(fn: Callable[[], T], *, what: str, deadline_s: float, first_delay_s: float = 0.5,
             max_delay_s: float = 5.0, sleep: Callable[[float], None] = time.sleep) -> T:
    """Call ``fn``; on a database connection error, drop the connection and retry with backoff.

    Delays double from ``first_delay_s`` up to ``max_delay_s``; after
    ``deadline_s`` seconds the last error is raised.  ``fn`` must be safe to run
    again (every write of the run lifecycle is a conditional UPDATE).
    """
    delay = first_delay_s
    end = time.monotonic() + deadline_s
    tries = 0
    while True:
        try:
            return fn()
        except DB_ERRORS as exc:
            tries += 1
            drop_connection()
            if time.monotonic() + delay > end:
                raise
            log.warning("%s: database unreachable (%s); try %d again in %.1f s", what, exc, tries + 1, delay)
            sleep(delay)
            delay = min(max_delay_s, delay * 2)


# --- Texts shown to students ----------------------------------------------------------------

_ABS_PATH = re.compile(r"(?<![\w.:/])/(?:[\w.@+-]+/)+([\w.@+-]*)")


def scrub_paths(text: str) -> str:
    """``text`` with absolute file paths replaced by their last part (server layout is nobody's business)."""
    return _ABS_PATH.sub(lambda m: f"…/{m.group(1)}" if m.group(1) else "…/", text or "")


def requeue_notice(*, attempt_done: int, max_attempts: int, why: str, running: bool = False) -> str:
    """What a student reads on a run that went back to the queue (or was taken over by another worker)."""
    if running:
        return f"{why}; your run was started again, attempt {attempt_done + 1} of {max_attempts}."
    return (f"{why}; your run is queued again ahead of newer submissions, attempt {attempt_done + 1} "
            f"of {max_attempts}. The earlier attempt's log is kept below.")


WORKER_LOST = "The grading machine restarted or stopped answering"
INFRA_ERROR = "The grading machine had a problem (not your code)"


# --- Sending -------------------------------------------------------------------------


def _broker_errors() -> tuple[type[BaseException], ...]:
    from kombu.exceptions import OperationalError as KombuOperationalError

    errors: list[type[BaseException]] = [KombuOperationalError, OSError]
    try:
        from redis.exceptions import RedisError
    except ImportError:  # another broker's client
        pass
    else:
        errors.append(RedisError)
    return tuple(errors)


def run_send(*, run_id: int) -> bool:
    """Send the job of a queued run to the broker; True if the broker took it.

    Called on commit, by ``send_pending`` and by the sweep.  Never raises for
    a broker that is down: the error is recorded on the run (``send_error``),
    ``sent_at`` stays empty, and ``send_pending`` tries again within seconds.
    ``sent_at`` is set only after the broker accepted the message.
    """
    from .tasks import grade_run  # the task module imports services, which imports this one

    run = GradingRun.objects.select_related("harness").filter(pk=run_id, status=RunStatus.QUEUED).first()
    if run is None:
        return False
    limits = calculations.run_time_limits(
        predict_timeout_s=run.harness.predict_timeout_s, score_timeout_s=run.harness.score_timeout_s
    )
    task_id = f"run-{run.pk}-{secrets.token_hex(6)}"
    try:
        grade_run.apply_async(
            args=[run.pk], task_id=task_id, queue=run.queue, priority=run.priority,
            soft_time_limit=limits.soft_s, time_limit=limits.hard_s, retry_policy=SEND_RETRY_POLICY,
        )
    except Exception as exc:
        if grade_run.app.conf.task_always_eager and not isinstance(exc, _broker_errors()):
            raise  # in-process tests: a bug in the task itself must surface
        log.warning("sending run %s to the broker failed: %s", run.pk, exc)
        GradingRun.objects.filter(pk=run.pk, status=RunStatus.QUEUED).update(
            sent_at=None, send_error=f"{timezone.now():%Y-%m-%d %H:%M:%S} {type(exc).__name__}: {exc}"[:500],
        )
        return False
    GradingRun.objects.filter(pk=run.pk).update(sent_at=timezone.now(), task_id=task_id, send_error="")
    return True


def broker_task_ids(queues: Iterable[str]) -> set[str] | None:
    """Task ids waiting in ``queues`` or held unacknowledged by a worker; None when the broker cannot say.

    Redis: every priority list of each queue plus the ``unacked`` hash (a job a
    worker took but has not acknowledged stays there, acks_late).  Filesystem
    transport: the message files of each queue.  Other brokers, a queue longer
    than INSPECT_MAX_MESSAGES, or a broker that does not answer: None.
    """
    from courseapp.celery import app

    queues = sorted(set(queues))
    url = str(app.conf.broker_url or "")
    try:
        if url.startswith(("redis://", "rediss://")):
            return _redis_task_ids(app, queues)
        if url.startswith("filesystem://"):
            return _filesystem_task_ids(app, queues)
    except Exception as exc:  # the broker is down: nothing can be said about lost jobs
        log.info("could not inspect the broker: %s", exc)
    return None


def _message_id(message: dict) -> str | None:
    headers = message.get("headers") or {}
    return headers.get("id") or (message.get("properties") or {}).get("correlation_id")


def _add_id(ids: set[str], message_id: str | None) -> None:
    """Keep a message's task id; a message without one names no task."""
    if message_id is not None:
        ids.add(message_id)


def _redis_task_ids(app, queues: list[str]) -> set[str] | None:
    ids: set[str] = set()
    with app.connection_for_read() as conn:
        channel = conn.default_channel
        client = channel.client
        prefix = getattr(channel, "global_keyprefix", "") or ""
        keys = [prefix + channel._q_for_pri(queue, pri) for queue in queues for pri in channel.priority_steps]
        pipe = client.pipeline()
        for key in keys:
            pipe.execute_command("LLEN", key)
        if sum(int(n or 0) for n in pipe.execute()) > INSPECT_MAX_MESSAGES:
            return None
        for key in keys:
            for raw in client.execute_command("LRANGE", key, 0, -1):
                _add_id(ids, _message_id(json.loads(raw)))
        for raw in client.execute_command("HVALS", prefix + channel.unacked_key):
            _add_id(ids, _message_id(json.loads(raw)[0]))
    return ids


def _filesystem_task_ids(app, queues: list[str]) -> set[str] | None:
    folder = Path((app.conf.broker_transport_options or {}).get("data_folder_out", ""))
    if not folder.is_dir():
        return None
    ids: set[str] = set()
    wanted = {f"{queue}.msg" for queue in queues}
    names = [n for n in os.listdir(folder) if n.partition(".")[2] in wanted]
    if len(names) > INSPECT_MAX_MESSAGES:
        return None
    for name in names:
        try:
            _add_id(ids, _message_id(json.loads((folder / name).read_bytes())))
        except (OSError, ValueError):  # taken by a worker meanwhile, or half written
            continue
    return ids


@dataclasses.dataclass
class PendingReport:
    sent: list[int] = dataclasses.field(default_factory=list)  # never sent, or the send failed
    lost: list[int] = dataclasses.field(default_factory=list)  # sent, then missing from the broker
    failed: list[int] = dataclasses.field(default_factory=list)  # the broker still refused


def send_pending(*, now: dt.datetime | None = None, limit: int = 500) -> PendingReport:
    """Beat, every 10 s: send queued runs whose send failed or never happened, and jobs the broker lost."""
    now = now or timezone.now()
    report = PendingReport()
    unsent = list(GradingRun.objects.filter(
        status=RunStatus.QUEUED, sent_at__isnull=True, queued_at__lt=now - dt.timedelta(seconds=UNSENT_AFTER_S),
    ).order_by("priority", "queued_at", "pk").values_list("pk", flat=True)[:limit])
    for run_id in unsent:
        (report.sent if run_send(run_id=run_id) else report.failed).append(run_id)
        if report.failed:
            break  # the broker is down: the next beat tries again
    sent = list(GradingRun.objects.filter(
        status=RunStatus.QUEUED, sent_at__lt=now - dt.timedelta(seconds=LOST_AFTER_S),
    ).values_list("pk", "queue", "task_id")[:limit])
    if not sent or report.failed:
        return report
    present = broker_task_ids({queue for _, queue, _ in sent})
    if present is None:
        return report
    for run_id, _queue, task_id in sent:
        if task_id in present:
            continue
        if not GradingRun.objects.filter(pk=run_id, status=RunStatus.QUEUED, task_id=task_id).exists():
            continue  # claimed (or resent) while the broker was read
        log.warning("run %s: its job %s is not in the broker any more; sending it again", run_id, task_id)
        (report.lost if run_send(run_id=run_id) else report.failed).append(run_id)
    return report


# --- The spool: records that could not reach the database -------------------------------------


def spool_root() -> Path:
    root = getattr(settings, "PROJECTS_SPOOL_ROOT", None)
    return Path(root) if root else Path(settings.MEDIA_ROOT) / "spool"


def spool_write(*, run_id: int, attempt: int, record: dict, log_text: str) -> Path:
    """Keep a finished attempt's record on disk (atomically) until the database takes it."""
    root = spool_root()
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"run-{run_id}-attempt-{attempt}.json"
    fd, tmp = tempfile.mkstemp(dir=root, prefix=".tmp-", suffix=".json")
    with os.fdopen(fd, "w") as fh:
        json.dump({"run_id": run_id, "attempt": attempt, "record": record, "log": log_text,
                   "spooled_at": timezone.now().isoformat()}, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    log.warning("run %s attempt %s: the database is unreachable; its record is kept in %s", run_id, attempt, path)
    return path


@dataclasses.dataclass
class ReplayReport:
    posted: list[int] = dataclasses.field(default_factory=list)  # recorded from the spool
    dropped: list[int] = dataclasses.field(default_factory=list)  # the run had moved on; nothing to record
    kept: list[int] = dataclasses.field(default_factory=list)  # the database is still unreachable


def replay_spool(*, limit: int = 200) -> ReplayReport:
    """Post every spooled record (worker start, beat, and the sweep before it judges runs)."""
    from .services.runs import run_record

    report = ReplayReport()
    root = spool_root()
    try:
        paths = sorted(root.glob("run-*-attempt-*.json"))[:limit]
    except OSError:
        return report
    for path in paths:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # another process replayed and removed it, or a torn file from a crash
        try:
            status = run_record(run_id=int(data["run_id"]), attempt=int(data["attempt"]), record=data["record"],
                                log=data.get("log", ""), spooled=True)
        except DB_ERRORS:
            drop_connection()
            report.kept.append(int(data["run_id"]))
            break
        (report.posted if status is not None else report.dropped).append(int(data["run_id"]))
        path.unlink(missing_ok=True)
    return report


def spooled_runs() -> set[tuple[int, int]]:
    """(run id, attempt) of the records waiting in the spool."""
    found = set()
    try:
        for path in spool_root().glob("run-*-attempt-*.json"):
            parts = path.stem.split("-")
            found.add((int(parts[1]), int(parts[3])))
    except (OSError, ValueError, IndexError):
        pass
    return found


# --- Job folders of killed attempts ---------------------------------------------------------


def work_base() -> Path:
    root = getattr(settings, "PROJECTS_WORK_ROOT", None)
    return Path(root) if root else Path(tempfile.gettempdir()) / "ceng501-jobs"


def _host() -> str:
    return re.sub(r"[^\w.-]", "_", socket.gethostname())


def process_work_root() -> Path:
    """This worker process's own folder for job folders, emptied before each job.

    A process grades one job at a time, so whatever is in it is a leftover of
    an attempt that was killed (SIGKILL, OOM, the pool's hard time limit).
    """
    from .runner.workspace import remove_tree

    path = work_base() / f"{WORK_DIR_PREFIX}{_host()}-{os.getpid()}"
    if path.is_dir():
        for entry in os.scandir(path):
            remove_tree(Path(entry.path)) if entry.is_dir(follow_symlinks=False) else os.unlink(entry.path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` of this machine runs (a zombie nobody reaped counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def clean_dead_work_roots() -> list[str]:
    """Delete the job folders of this host's worker processes that are gone (at worker start)."""
    from .runner.workspace import remove_tree

    removed: list[str] = []
    prefix = f"{WORK_DIR_PREFIX}{_host()}-"
    try:
        entries = list(os.scandir(work_base()))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith(prefix) or not entry.is_dir(follow_symlinks=False):
            continue
        pid = entry.name[len(prefix):]
        if pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
            remove_tree(Path(entry.path))
            removed.append(entry.name)
    return removed


# --- When the database came back ---------------------------------------------------------------

_db_down_seen = False  # this process (the beat worker) saw the database unreachable
_db_back: dt.datetime | None = None  # … and when it saw it answer again
_postmaster: tuple[float, dt.datetime | None] = (0.0, None)


def note_db_down() -> None:
    """A periodic job of this process could not reach the database."""
    global _db_down_seen
    _db_down_seen = True


def note_db_up(now: dt.datetime | None = None) -> None:
    """A periodic job reached the database; if it had been down, remember when it came back."""
    global _db_down_seen, _db_back
    if _db_down_seen:
        _db_back = now or timezone.now()
        _db_down_seen = False


def db_back_at() -> dt.datetime | None:
    """The latest moment the database is known to have come back after an outage, or None.

    PostgreSQL: when the server last started (a restart or a stop/start); and,
    for an outage that was not a restart (network, a full connection table),
    when this process's periodic jobs saw it answer again.  Workers cannot beat
    while the database is down, so the sweep measures heartbeats from here.
    """
    global _postmaster
    found = [_db_back] if _db_back else []
    if connection.vendor == "postgresql":
        checked, started = _postmaster
        if time.monotonic() - checked > 5:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_postmaster_start_time()")
                    started = cursor.fetchone()[0]
            except DB_ERRORS:
                started = None
            _postmaster = (time.monotonic(), started)
        if started:
            found.append(started)
    return max(found) if found else None

"""The sweep (beat, every minute): runs a dead worker or a lost message left behind are moved on."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .. import calculations, lifecycle
from ..lifecycle import run_send
from ..models import GradingRun, RunStatus
from .base import setting
from .runs import finish_gave_up, max_attempts, worker_alive


def resend_after_s() -> float:
    """A queued run whose job was sent longer ago than this is sent again (seconds)."""
    return float(setting("PROJECTS_RESEND_AFTER_S", 300))


@dataclasses.dataclass
class SweepReport:
    requeued: list[int] = dataclasses.field(default_factory=list)  # dead workers' runs, queued again
    failed: list[int] = dataclasses.field(default_factory=list)  # ended as error/timed out
    resent: list[int] = dataclasses.field(default_factory=list)  # queued runs whose job was sent again
    replayed: list[int] = dataclasses.field(default_factory=list)  # runs recorded from the spool


def sweep_stuck_runs(*, now: dt.datetime | None = None) -> SweepReport:
    """Find runs a dead worker or a lost message left behind, and move them on.

    - running past ``started_at + stuck_after_s`` (hard limit + margin): ended
      as timed out, so every run is terminal within its limit plus two minutes
      (this sweep runs every 60 s);
    - running with a dead worker (stale heartbeat, or its process gone on this
      machine): queued again as a new attempt, or ended as an error when its
      attempts are used up;
    - queued but sent longer than PROJECTS_RESEND_AFTER_S ago (or never, e.g.
      the web process died between commit and send): sent again; a duplicate
      job is harmless because claiming is conditional.  (lifecycle.send_pending
      finds unsent and lost jobs within seconds; this is the fallback for
      brokers it cannot inspect.)

    Records waiting in the spool are posted first, so a run whose grading
    finished while the database was down is never taken for dead; and a
    heartbeat counts from when the database came back (lifecycle.db_back_at),
    so an outage longer than PROJECTS_STALE_AFTER_S does not make every live
    run look dead.
    """
    now = now or timezone.now()
    report = SweepReport()
    report.replayed = lifecycle.replay_spool().posted
    for run in GradingRun.objects.filter(status=RunStatus.RUNNING).select_related("harness"):
        limits = calculations.run_time_limits(
            predict_timeout_s=run.harness.predict_timeout_s, score_timeout_s=run.harness.score_timeout_s
        )
        started = run.started_at or run.queued_at
        if (now - started).total_seconds() > limits.stuck_after_s:
            if GradingRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING, attempts=run.attempts).update(
                status=RunStatus.TIMED_OUT, finished_at=now,
                error=f"Grading did not finish within its time limit ({limits.hard_s:g} s); "
                      "the worker was stopped. The course staff can rerun it.",
            ):
                report.failed.append(run.pk)
            continue
        if worker_alive(run, now=now):
            continue
        if run.attempts >= max_attempts():
            finish_gave_up(run, now=now)
            report.failed.append(run.pk)
            continue
        notice = lifecycle.requeue_notice(attempt_done=run.attempts, max_attempts=max_attempts(),
                                          why=lifecycle.WORKER_LOST)
        with transaction.atomic():
            if GradingRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING, attempts=run.attempts).update(
                status=RunStatus.QUEUED, started_at=None, heartbeat_at=None, notice=notice,
                priority=lifecycle.REQUEUED,
            ):
                transaction.on_commit(functools.partial(run_send, run_id=run.pk), robust=True)
                report.requeued.append(run.pk)
    resend_before = now - dt.timedelta(seconds=resend_after_s())
    never_sent_before = now - dt.timedelta(seconds=60)
    stale_queued = GradingRun.objects.filter(status=RunStatus.QUEUED).filter(
        Q(sent_at__lt=resend_before) | Q(sent_at__isnull=True, queued_at__lt=never_sent_before)
    ).values_list("pk", flat=True)
    for run_id in list(stale_queued[:1000]):
        run_send(run_id=run_id)
        report.resent.append(run_id)
    return report


"""Celery tasks of the project app: ids in, one service call out (STYLE.md).

``projects.grade_run`` is sent by lifecycle.run_send with the run's queue
(``cpu``, ``gpu`` or ``rerun``), priority and nested time limits; it is
``acks_late`` with ``reject_on_worker_lost`` (settings), so a job whose worker
dies is redelivered rather than lost, and the conditional claim in
services.run_claim makes any duplicate a no-op.  A claim that cannot reach the
database retries the task (with backoff) instead of acknowledging it as done.

The periodic jobs (sweep, send_pending, replay_spool) are routed to the
``beat`` queue (settings.CELERY_TASK_ROUTES), served by a worker of its own so
that grading never delays them.
"""

from __future__ import annotations

import logging

from celery import shared_task
from celery.signals import worker_ready

from . import lifecycle, services
from .gpus import current_worker

log = logging.getLogger(__name__)


@shared_task(bind=True, name="projects.grade_run", acks_late=True, reject_on_worker_lost=True,
             max_retries=None, ignore_result=True)
def grade_run(self, run_id: int) -> str | None:
    """Grade one run.  If another live worker holds it, check back later (retry), else do nothing."""
    try:
        result = services.run_execute(
            run_id=run_id,
            worker=current_worker(self.request.hostname),
            task_id=self.request.id or "",
            threaded=not self.request.is_eager,
        )
    except lifecycle.DB_ERRORS as exc:
        lifecycle.drop_connection()
        if self.request.is_eager:
            raise
        raise self.retry(countdown=min(60, 5 * 2 ** min(self.request.retries, 4)), exc=exc) from None
    if result.retry_in is not None and not self.request.is_eager:
        raise self.retry(countdown=result.retry_in)
    return result.status


def _periodic(job, **kwargs):
    """Run a periodic job, noting for the sweep whether the database answered (lifecycle.db_back_at)."""
    try:
        result = job(**kwargs)
    except lifecycle.DB_ERRORS:
        lifecycle.note_db_down()
        lifecycle.drop_connection()
        raise
    lifecycle.note_db_up()
    return result


@shared_task(name="projects.sweep_stuck_runs", ignore_result=True)
def sweep_stuck_runs() -> dict:
    """Beat, every 30 s: requeue or end runs stuck because a worker died or a job was lost."""
    report = _periodic(services.sweep_stuck_runs)
    return {"requeued": report.requeued, "failed": report.failed, "resent": report.resent,
            "replayed": report.replayed}


@shared_task(name="projects.send_pending", ignore_result=True)
def send_pending() -> dict:
    """Beat, every 10 s: send runs whose send failed, and jobs the broker lost."""
    report = _periodic(lifecycle.send_pending)
    return {"sent": report.sent, "lost": report.lost, "failed": report.failed}


@shared_task(name="projects.replay_spool", ignore_result=True)
def replay_spool() -> dict:
    """Beat, every 10 s: post records kept on disk while the database was unreachable."""
    report = _periodic(lifecycle.replay_spool)
    return {"posted": report.posted, "dropped": report.dropped, "kept": report.kept}


@worker_ready.connect
def _on_worker_ready(sender=None, **_kwargs) -> None:
    """At worker start: delete job folders of this host's dead worker processes, post spooled records."""
    try:
        removed = lifecycle.clean_dead_work_roots()
        if removed:
            log.info("removed the job folders of %d dead worker processes", len(removed))
        lifecycle.replay_spool()
    except Exception:  # the worker must start even when the database is still down
        log.exception("start-up clean-up failed; beat's replay_spool will post spooled records")
    finally:
        lifecycle.drop_connection()  # never hand a parent's connection to forked pool processes


@shared_task(name="projects.build_environment", ignore_result=True, soft_time_limit=3700, time_limit=3800)
def build_environment(bundle_id: int, gpu: bool = False) -> str | None:
    """Sent when a harness with [environment] is uploaded: build it on the worker that takes this."""
    from . import environments
    from .models import HarnessBundle

    bundle = HarnessBundle.objects.filter(pk=bundle_id).first()
    row = environments.environment_build(bundle=bundle, gpu=gpu) if bundle is not None else None
    return row.state if row is not None else None


@shared_task(bind=True, name="projects.harness_trial", acks_late=True, reject_on_worker_lost=True,
             ignore_result=True)
def harness_trial(self, trial_id: int) -> str | None:
    """Test-run a harness version on the instructor's sample (projects/trials.py); a duplicate is a no-op."""
    from . import trials

    worker = current_worker(self.request.hostname)
    return trials.trial_execute(trial_id=trial_id, gpu=worker.gpu_index, eager=bool(self.request.is_eager))

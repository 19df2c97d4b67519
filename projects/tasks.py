"""Celery tasks of the project app: ids in, one service call out (STYLE.md).

``projects.grade_run`` is sent by services.run_send with the run's queue
(``cpu``, ``gpu`` or ``rerun``), priority and nested time limits; it is
``acks_late`` with ``reject_on_worker_lost`` (settings), so a job whose worker
dies is redelivered rather than lost, and the conditional claim in
services.run_claim makes any duplicate a no-op.
"""

from __future__ import annotations

from celery import shared_task

from . import services
from .gpus import current_worker


@shared_task(bind=True, name="projects.grade_run", acks_late=True, reject_on_worker_lost=True,
             max_retries=None, ignore_result=True)
def grade_run(self, run_id: int) -> str | None:
    """Grade one run.  If another live worker holds it, check back later (retry), else do nothing."""
    result = services.run_execute(
        run_id=run_id,
        worker=current_worker(self.request.hostname),
        task_id=self.request.id or "",
        threaded=not self.request.is_eager,
    )
    if result.retry_in is not None and not self.request.is_eager:
        raise self.retry(countdown=result.retry_in)
    return result.status


@shared_task(name="projects.sweep_stuck_runs", ignore_result=True)
def sweep_stuck_runs() -> dict:
    """Beat, every 60 s: requeue or end runs stuck because a worker died or a job was lost."""
    report = services.sweep_stuck_runs()
    return {"requeued": report.requeued, "failed": report.failed, "resent": report.resent}


@shared_task(name="projects.build_environment", ignore_result=True, soft_time_limit=3700, time_limit=3800)
def build_environment(bundle_id: int, gpu: bool = False) -> str | None:
    """Sent when a harness with [environment] is uploaded: build it on the worker that takes this."""
    from . import environments
    from .models import HarnessBundle

    bundle = HarnessBundle.objects.filter(pk=bundle_id).first()
    row = environments.environment_build(bundle=bundle, gpu=gpu) if bundle is not None else None
    return row.state if row is not None else None

"""Celery tasks of the LTI app: ids in, one service call out."""

from __future__ import annotations

from celery import shared_task

from . import calculations, passback, roster
from .launches import used_nonces_purge
from .models import Context
from .toolconf import launch_values_purge

SEND_MAX_RETRIES = 6  # with 30 s doubling: the last try is about 30 minutes after the first


@shared_task(bind=True, name="lti.send_score", acks_late=True, max_retries=SEND_MAX_RETRIES, ignore_result=True)
def send_score(self, post_id: int) -> str:
    """Post one queued score; transient failures retry with exponential backoff, the last one is recorded failed.

    Run eagerly (the test suite), Celery cannot schedule a retry, so the same attempts are made at once.
    """
    if self.request.is_eager:
        for attempt in range(self.max_retries + 1):
            try:
                return passback.score_send(post_id=post_id, final_attempt=attempt >= self.max_retries).status
            except passback.TransientPostError:
                continue
    final = self.request.retries >= self.max_retries
    try:
        return passback.score_send(post_id=post_id, final_attempt=final).status
    except passback.TransientPostError as exc:
        raise self.retry(exc=exc, countdown=calculations.retry_countdown(self.request.retries)) from exc


@shared_task(name="lti.passback_sync", ignore_result=True)
def passback_sync() -> int:
    """Beat, every 5 minutes: queue the scores that changed since they were last posted, in every context."""
    queued = 0
    for context in Context.objects.filter(pk__in=passback.sync_contexts()).select_related("platform", "course"):
        queued += len(passback.passback_queue(context=context).queued)
    return queued


@shared_task(name="lti.roster_sync_nightly", ignore_result=True)
def roster_sync_nightly() -> int:
    """Beat, nightly: sync every roster the platforms offer (all or nothing each; failures recorded)."""
    for context in Context.objects.filter(pk__in=roster.nightly_contexts()).select_related("platform", "course"):
        roster.roster_sync_apply(context=context, by=None)
    launch_values_purge()
    used_nonces_purge()
    return len(roster.nightly_contexts())

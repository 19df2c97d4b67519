"""Celery tasks for quizzes: ids in, one service call out."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(name="quizzes.autosubmit_expired")
def autosubmit_expired() -> int:
    """Beat runs this every 30 s: submit open attempts past their deadline, graded with what was saved."""
    return services.autosubmit_expired()


@shared_task(name="quizzes.regrade", acks_late=True)
def regrade(key_change_id: int, by_id: int | None = None) -> int:
    """Regrade the attempts a key change touched (idempotent: a rerun changes nothing)."""
    from courseapp.models import User

    from .models import KeyChange

    by = User.objects.filter(pk=by_id).first() if by_id else None
    return services.regrade(key_change=KeyChange.objects.get(pk=key_change_id), by=by).changed

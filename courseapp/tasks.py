from celery import shared_task


@shared_task(name="courseapp.ping")
def ping(token: str) -> str:
    """Round trip through the broker and a worker; `make run` uses it to prove the worker is alive."""
    return f"pong:{token}"


@shared_task(name="courseapp.announcement_email", autoretry_for=(OSError,), retry_backoff=60, max_retries=5)
def announcement_email(announcement_id: int) -> int:
    """Mail one announcement to its course (idempotent: a mailed announcement is not sent twice)."""
    from .editing import announcement_email_send

    return announcement_email_send(announcement_id=announcement_id)

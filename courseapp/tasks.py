from celery import shared_task


@shared_task(name="courseapp.ping")
def ping(token: str) -> str:
    """Round trip through the broker and a worker; `make run` uses it to prove the worker is alive."""
    return f"pong:{token}"

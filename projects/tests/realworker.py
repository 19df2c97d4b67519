"""A real Celery worker process on a real broker, sharing the test's database (for @pytest.mark.worker tests).

The worker is a subprocess in its own session (so a test can SIGKILL the whole
tree), started with DATABASE_URL pointing at the test database (the SQLite test
file, or PostgreSQL's test_<name>), the test's SUBMISSIONS_ROOT/HARNESS_ROOT,
and a broker of its own (``choose_broker``):

- Redis when CELERY_BROKER_URL is a redis:// URL (CI; skipped when it is down,
  failed under REQUIRE_SERVICES=1) or when local Redis answers: a per-test key
  prefix (kombu's ``global_keyprefix``) on database 13;
- otherwise kombu's ``filesystem://`` transport (what ``make run`` uses with no
  server) in a folder of the test's own, so ``make test`` runs these tests on a
  laptop with no servers, and overlapping runs never share queues.  Under
  REQUIRE_SERVICES=1 a missing Redis is a failure instead: CI must test Redis.

The test process sends jobs to the same broker (the Celery app is switched off
eager mode meanwhile).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
REDIS_HOST = os.environ.get("PROJECTS_TEST_REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("PROJECTS_TEST_REDIS_PORT", "6379"))
REDIS_DB = int(os.environ.get("PROJECTS_TEST_REDIS_DB", "13"))  # kept apart from other apps' tests
POLLING_INTERVAL_S = 0.05  # the filesystem transport's poll, as in settings (make run)


def configured_redis() -> str:
    """CELERY_BROKER_URL when it is a Redis URL (CI), else ''."""
    configured = os.environ.get("CELERY_BROKER_URL", "")
    return configured if configured.startswith(("redis://", "rediss://")) else ""


def redis_url() -> str:
    """The Redis URL for worker tests: CELERY_BROKER_URL when it is Redis, else local Redis db 13."""
    return configured_redis() or f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}"


def redis_available(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except Exception:
        return False


def new_prefix() -> str:
    """A broker key prefix of this test: overlapping test runs never see each other's queues."""
    return f"projects-test-{os.getpid()}-{uuid.uuid4().hex[:8]}:"


@dataclasses.dataclass(frozen=True)
class Broker:
    """The broker of one test (or one module): where jobs go, for the sender and the worker alike.

    ``transport_options`` replace the settings' ones in both processes: a key
    prefix on Redis, private queue/processed/control folders on the filesystem.
    """

    kind: str  # "redis" or "filesystem"
    url: str
    transport_options: dict
    folder: Path | None = None  # the filesystem broker's folder (None on Redis)

    def describe(self) -> str:
        return f"{self.url} in {self.folder}" if self.folder else self.url


def choose_broker(tmp: Path) -> Broker:
    """Redis when configured or reachable, else a filesystem broker under ``tmp`` (see the module doc).

    Skips (fails under REQUIRE_SERVICES=1) when the configured Redis is down, and
    fails under REQUIRE_SERVICES=1 when no Redis answers at all.
    """
    from conftest import REQUIRE_SERVICES, skip_or_fail

    url = redis_url()
    if redis_available(url):
        return Broker(kind="redis", url=url,
                      transport_options={"visibility_timeout": 3600, "global_keyprefix": new_prefix()})
    if configured_redis() or REQUIRE_SERVICES:
        skip_or_fail(f"Redis is not reachable at {url}")
    folder = tmp / f"broker-{uuid.uuid4().hex[:8]}"
    for sub in ("queue", "processed", "control"):
        (folder / sub).mkdir(parents=True)
    return Broker(kind="filesystem", url="filesystem://", folder=folder, transport_options={
        "data_folder_in": str(folder / "queue"), "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"), "control_folder": str(folder / "control"),
        "store_processed": False, "polling_interval": POLLING_INTERVAL_S,
    })


def forget(broker: Broker) -> None:
    """Delete this test's broker keys or folder (and only those)."""
    if broker.kind == "filesystem":
        shutil.rmtree(broker.folder, ignore_errors=True)
        return
    import redis

    prefix = broker.transport_options["global_keyprefix"]
    client = redis.Redis.from_url(broker.url)
    for key in client.scan_iter(match=f"{prefix}*", count=1000):
        client.delete(key)


def database_url() -> str:
    """DATABASE_URL for the worker: the database this test is using right now."""
    data = connection.settings_dict
    if data["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{data['NAME']}"
    user = quote(data.get("USER") or "")
    password = quote(data.get("PASSWORD") or "")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    return f"postgres://{auth}{data.get('HOST') or 'localhost'}:{data.get('PORT') or 5432}/{data['NAME']}"


@contextlib.contextmanager
def sending_to(broker: Broker):
    """Send tasks from this process to ``broker`` for real, not eagerly, while the block runs."""
    from courseapp.celery import app

    saved = {k: app.conf[k] for k in ("broker_url", "task_always_eager", "broker_transport_options")}

    def reset_pools() -> None:  # the next send connects to the broker now configured
        app._pool = None
        app.amqp._producer_pool = None

    app.conf.update(broker_url=broker.url, task_always_eager=False,
                    broker_transport_options=dict(broker.transport_options))
    reset_pools()
    try:
        yield app
    finally:
        reset_pools()
        app.conf.update(saved)


class Worker:
    """``celery -A courseapp worker`` for the queues the tests use, concurrency 1, prefetch 1."""

    def __init__(self, *, broker: Broker, log_dir: Path, name: str = "e2e",
                 queues: str = "cpu,gpu,rerun,default", extra_env: dict[str, str] | None = None) -> None:
        self.name = f"{name}-{os.getpid()}-{time.monotonic_ns() % 100000}"
        self.broker = broker
        self.log_path = log_dir / f"{self.name}.log"
        env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": broker.url,
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "SUBMISSIONS_ROOT": str(settings.SUBMISSIONS_ROOT),
            "HARNESS_ROOT": str(settings.HARNESS_ROOT),
            "PYTHONUNBUFFERED": "1",
            "LOG_LEVEL": "INFO",
            **(extra_env or {}),
        }
        self.log_file = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "projects.tests.worker_entry",
             json.dumps(broker.transport_options), "--loglevel=INFO",
             f"--queues={queues}", "--concurrency=1", "--prefetch-multiplier=1", "--pool=prefork",
             "--without-gossip", "--without-mingle", f"--hostname={self.name}@{socket.gethostname()}"],
            cwd=ROOT, env=env, stdout=self.log_file, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if " ready." in self.log():
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"the worker exited ({self.proc.returncode}):\n{self.log()[-4000:]}")
            time.sleep(0.1)
        raise RuntimeError(f"the worker did not start in {timeout} s:\n{self.log()[-4000:]}")

    def freeze(self) -> None:
        """SIGSTOP the worker and its pool: from now on it can neither record a run nor beat its heart.

        The sandboxed step runs in a session of its own and goes on; it dies with the pool
        process on kill() (bubblewrap's --die-with-parent)."""
        os.killpg(self.proc.pid, signal.SIGSTOP)

    def kill(self, timeout: float = 60) -> None:
        """SIGKILL the worker and its pool (its whole process group): no warm shutdown, no ack.

        Returns once no process of the group is left running (zombies count as gone), so a
        check of the pool's pid right after (the sweep's) sees it dead."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=timeout)
        wait_for(lambda: not group_members(self.proc.pid), timeout=timeout, interval=0.05,
                 what=f"the processes of worker {self.name} to end")

    def stop(self) -> None:
        """Shut the worker down once its test is over: a warm shutdown on Redis; SIGKILL on the
        filesystem transport, whose shutdown (warm or cold) takes ~5 s per worker and which has
        nothing left to finish or acknowledge (its folder is deleted right after)."""
        if self.proc.poll() is None and self.broker.kind == "filesystem":
            self.kill()
        elif self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log_file.close()


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of process group ``pgid``."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            pids.append(int(stat.parent.name))
    return pids


def wait_for(predicate, *, timeout: float, interval: float = 0.1, what: str = "the condition"):
    """Poll ``predicate`` until it returns something truthy (returned), for at most ``timeout`` s.

    Worker tests wait on database state this way, never with a bare sleep: the bound is
    generous (a loaded 2-core CI machine) and a fast machine returns as soon as it is done."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")

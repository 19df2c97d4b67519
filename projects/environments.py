"""Harness environments as the course sees them: build on this node, record the state, hold runs until ready.

The building itself is the runner's (``projects.runner.environments``, no
Django); this module keeps ``HarnessEnvironment`` rows up to date so that the
instructor's pages show *building* (with the installer's live log), *ready*
(size, packages, build time) or *failed* (the installer's message naming the
requirements line), and tells a worker whether a run can be graded now.

    node_stores() -> NodeStores                     # this node's ENV_ROOT / DATA_ROOT / HARNESS_CACHE
    environment_build(*, bundle, node, gpu, force)  # build (or find) the bundle's environment here
    run_wait_s(*, run, node, gpu, threaded)         # None: grade now; else retry after that many seconds
"""

from __future__ import annotations

import functools
import logging
import socket
import threading
from pathlib import Path

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from projects import storage
from projects.models import EnvState, GradingRun, HarnessBundle, HarnessEnvironment
from projects.runner import environments as envs
from projects.runner.harness import Harness, HarnessError, load_harness
from projects.runner.runner import NodeStores

log = logging.getLogger(__name__)

LOG_EVERY_S = 2.0  # how often a build's log is copied to its row while it runs
WAIT_S = 10.0  # a run whose environment is being built here is retried after this long
_building: set[str] = set()  # digests this process is building in a background thread
_building_lock = threading.Lock()


def node_name() -> str:
    return socket.gethostname()


def node_stores() -> NodeStores:
    return NodeStores(
        env_root=Path(settings.ENV_ROOT),
        data_root=Path(settings.DATA_ROOT),
        harness_cache=Path(settings.HARNESS_CACHE),
        sources=envs.Sources.from_env(),
    )


def bundle_harness(bundle: HarnessBundle) -> Harness | None:
    """The bundle's parsed harness, or None if it cannot be read (grading then reports why).

    Kept per process: a stored bundle's path names its digest, so its contents never change.
    """
    return _load_stored(str(storage.harness_abspath(bundle.path)))


@functools.lru_cache(maxsize=64)
def _load_stored(path: str) -> Harness | None:
    try:
        return load_harness(path)
    except HarnessError:
        return None


def environment_build(*, bundle: HarnessBundle, node: str | None = None, gpu: bool = False,
                      force: bool = False) -> HarnessEnvironment | None:
    """Build the bundle's [environment] on this node (or find it built) and record the outcome.

    Returns None when the harness declares no environment.  A failed build is
    recorded as FAILED with the installer's message and is not retried unless
    ``force``.  Blocks for the whole build; the log is copied to the row every
    ``LOG_EVERY_S`` seconds so the page can show it live.
    """
    harness = bundle_harness(bundle)
    if harness is None or harness.environment is None:
        return None
    spec = harness.environment
    node = node or node_name()
    stores = node_stores()
    digest = envs.spec_digest(spec, gpu=gpu)
    now = timezone.now()
    row, _ = HarnessEnvironment.objects.get_or_create(
        bundle=bundle, digest=digest, node=node,
        defaults={"index": spec.flavour(gpu=gpu), "started_at": now, "state": EnvState.BUILDING},
    )
    state = envs.environment_state(digest, root=stores.env_root)
    if state.state == "ready" and not force:
        _record_ready(row, state.meta, state.log)
        return row
    HarnessEnvironment.objects.filter(pk=row.pk).update(state=EnvState.BUILDING, started_at=now, finished_at=None,
                                                        error="", log="")
    stop = threading.Event()
    follower = threading.Thread(target=_follow_log, args=(row.pk, stores.env_root / f"{digest}.log", stop),
                                daemon=True)
    follower.start()
    try:
        env = envs.ensure_environment(spec, root=stores.env_root, sources=stores.sources, gpu=gpu, force=force)
    except envs.EnvironmentError_ as exc:
        stop.set()
        follower.join()
        state = envs.environment_state(digest, root=stores.env_root)
        HarnessEnvironment.objects.filter(pk=row.pk).update(
            state=EnvState.FAILED, error=str(exc)[:20000], log=state.log, finished_at=timezone.now())
        row.refresh_from_db()
        return row
    finally:
        stop.set()
        follower.join()
    if env.digest != digest:  # the worker's packages changed during the build (a pip install on the node)
        row = HarnessEnvironment.objects.filter(bundle=bundle, digest=env.digest, node=node).first() or row
        HarnessEnvironment.objects.filter(pk=row.pk).update(digest=env.digest)
    _record_ready(row, env.meta, envs.environment_state(env.digest, root=stores.env_root).log)
    removed = envs.collect_garbage(stores.env_root, max_bytes=int(settings.ENV_CACHE_GB * 1e9), keep={digest})
    if removed:
        log.info("environment GC on %s removed %s", node, ", ".join(d[:12] for d in removed))
    row.refresh_from_db()
    return row


def _record_ready(row: HarnessEnvironment, meta: dict, log_text: str) -> None:
    HarnessEnvironment.objects.filter(pk=row.pk).update(
        state=EnvState.READY, error="", log=log_text, python=meta.get("python", ""),
        packages=meta.get("packages", []), size_bytes=meta.get("size_bytes"), build_s=meta.get("build_s"),
        finished_at=row.finished_at or timezone.now(),
    )
    row.refresh_from_db()


def _follow_log(row_id: int, path: Path, stop: threading.Event) -> None:
    try:
        while not stop.wait(LOG_EVERY_S):
            HarnessEnvironment.objects.filter(pk=row_id, state=EnvState.BUILDING).update(
                log=envs._tail_file(path))
    finally:
        connection.close()


def run_wait_s(*, run: GradingRun, node: str | None = None, gpu: bool = False,
               threaded: bool = True) -> float | None:
    """Whether a worker on this node may grade ``run`` now.

    None: yes (no environment, or it is ready, or its build failed: grading then
    records the harness error).  Otherwise the run stays queued and the caller
    retries after the returned seconds, while this process builds the
    environment in a background thread (so the build never counts against the
    run's own time limit).  ``threaded=False`` (eager tasks, tests) builds inline.
    """
    harness = bundle_harness(run.harness)
    if harness is None or harness.environment is None:
        return None
    stores = node_stores()
    digest = envs.spec_digest(harness.environment, gpu=gpu)
    state = envs.environment_state(digest, root=stores.env_root).state
    if state in ("ready", "failed"):
        return None
    if not threaded:
        environment_build(bundle=run.harness, node=node, gpu=gpu)
        return None
    with _building_lock:
        if digest in _building or state == "building":
            return WAIT_S
        _building.add(digest)
    bundle_id = run.harness_id

    def build() -> None:
        try:
            close_old_connections()
            environment_build(bundle=HarnessBundle.objects.get(pk=bundle_id), node=node, gpu=gpu)
        except Exception:
            log.exception("building the environment of harness %s failed", bundle_id)
        finally:
            with _building_lock:
                _building.discard(digest)
            connection.close()

    threading.Thread(target=build, name=f"env-build-{digest[:12]}", daemon=True).start()
    return WAIT_S


def bundle_environments(bundle: HarnessBundle | None) -> list[HarnessEnvironment]:
    """The rows the instructor's pages show for ``bundle`` (newest first)."""
    if bundle is None:
        return []
    return list(HarnessEnvironment.objects.filter(bundle=bundle).order_by("-started_at", "-id"))

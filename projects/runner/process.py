"""The ``process`` backend: a plain subprocess.  NOT a security boundary.

For a laptop without bubblewrap: the step runs as the worker, with its network
and files, at the real host path of ``root`` (``JOB_DIR`` is set to it).  A
bind whose ``dst`` lies under ``/job`` becomes a symlink at the matching place
under ``root`` for the duration of the step (read-only is not enforced); other
``dst`` values are refused.  Limits are rlimits (``prlimit`` in the child):
CPU, open files, file size, core, address space (for memory) and processes.

Without namespaces nothing makes the kernel end a step's processes for us, and
a setsid() child leaves the step's session and process group.  So the backend
finds them itself: the step's session and group, every descendant (by parent
pid), every process still carrying the step's marker in its environment (a
double-forked daemon is re-parented to init but keeps it), and, when the
output pipes do not close, every process holding them.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from . import stepio
from .contract import WORKDIR, Limits, Mount, SandboxError, StepRequest, StepResult

log = logging.getLogger(__name__)

NAME = "process"
STEP_MARKER = "SANDBOX_STEP"  # environment variable the process backend adds to each step
_KILL_ROUNDS = 8


def available() -> tuple[bool, str]:
    if not stepio.prlimit_path():
        return False, "prlimit (util-linux) is not installed"
    return True, ""


def info() -> dict[str, Any]:
    return {
        "backend": NAME,
        "security_boundary": False,
        "mechanisms": ["setsid", "rlimits"],
        "warning": "process backend: steps run as the worker, with its network and files",
    }


# ---------------------------------------------------------------------------
# Finding and killing the step's processes
# ---------------------------------------------------------------------------


def _proc_table() -> dict[int, tuple[int, int, int]]:
    """Live (non-zombie) host processes: pid -> (ppid, pgid, sid)."""
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] in (b"Z", b"X"):
            continue
        table[int(entry.name)] = (int(fields[1]), int(fields[2]), int(fields[3]))
    return table


def _carries(pid: int, token: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            return token in fh.read().split(b"\0")
    except OSError:
        return False


def _holds(pid: int, links: set[str]) -> bool:
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") in links:
                return True
        except OSError:
            continue
    return False


def step_processes(leader: int, marker: str, pipes: Sequence[int] = ()) -> set[int]:
    """Host pids that belong to the step started as ``leader`` (see the module docstring)."""
    me = os.getpid()
    table = _proc_table()
    ours = {me}
    pid = me
    while pid in table and pid not in (0, 1):  # never this worker or its ancestors
        pid = table[pid][0]
        ours.add(pid)
    token = f"{STEP_MARKER}={marker}".encode()
    links = {f"pipe:[{inode}]" for inode in pipes}
    found = {
        pid for pid, (_, pgid, sid) in table.items()
        if pid not in ours and (pid == leader or leader in (pgid, sid) or _carries(pid, token)
                                or (links and _holds(pid, links)))
    }
    grew = True
    while grew:
        more = {pid for pid, (ppid, _, _) in table.items() if ppid in found and pid not in ours} - found
        found |= more
        grew = bool(more)
    return found - {1}


def kill_step(leader: int, marker: str, pipes: Sequence[int] = ()) -> None:
    """SIGKILL every process of the step, again until none is found (a fork may race a round)."""
    for _ in range(_KILL_ROUNDS):
        pids = step_processes(leader, marker, pipes)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.01)
    log.warning("process backend: step %s still has processes after %d kill rounds", leader, _KILL_ROUNDS)


# ---------------------------------------------------------------------------
# The step
# ---------------------------------------------------------------------------


def _link_binds(root: Path, binds: Sequence[Mount]) -> list[Path]:
    """Symlinks under ``root`` standing in for ``binds`` (removed by the caller)."""
    links: list[Path] = []
    for mount in binds:
        dst = Path(mount.dst)
        if os.path.normpath(mount.dst) == os.path.realpath(mount.src):
            continue  # a host path seen at its own place (a Python environment): nothing to do
        try:
            rel = dst.relative_to(WORKDIR)
        except ValueError:
            raise SandboxError(f"process backend can only place binds under {WORKDIR}, not {mount.dst}") from None
        if not rel.parts:
            raise SandboxError(f"cannot bind over {WORKDIR} itself")
        link = root / rel
        if link.exists() or link.is_symlink():
            raise SandboxError(f"bind target {mount.dst} already exists in the job folder")
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(Path(mount.src).resolve())
        links.append(link)
    return links


def _rlimits(limits: Limits) -> dict[str, tuple[int, int]]:
    memory = limits.memory_mb << 20
    return {**stepio.rlimits(limits), "as": (memory, memory), "nproc": (limits.pids, limits.pids)}


def _step_env(env: Mapping[str, str], root: Path, gpu: int | None, marker: str) -> dict[str, str]:
    out = dict(env)
    out["JOB_DIR"] = str(root)
    if gpu is not None:
        out["CUDA_VISIBLE_DEVICES"] = str(gpu)
    out[STEP_MARKER] = marker
    return out


def run(step: StepRequest) -> StepResult:
    marker = secrets.token_hex(12)
    step_env = _step_env(step.env, step.root, step.gpu, marker)
    stepio.check_program(step.argv[0], cwd=step.root, path=step_env.get("PATH"))
    command = stepio.exec_wrapper(step.argv, _rlimits(step.limits))

    def after_exit(pid: int, captures: Sequence[stepio.Capture], pipes: Sequence[int]) -> None:
        # The main process is gone; whatever it started goes too, then the pipes
        # get a short drain.  A process that escaped the search but still holds
        # a pipe is found through the pipe itself.
        kill_step(pid, marker)
        if not stepio.await_eof(captures, stepio.DRAIN_S):
            kill_step(pid, marker, pipes)
            stepio.await_eof(captures, stepio.DRAIN_S)

    links = _link_binds(step.root, step.binds)
    started = time.monotonic()
    try:
        ended = stepio.run_captured(
            command,
            env=step_env,
            cwd=step.root,
            limits=step.limits,
            kill=lambda pid: kill_step(pid, marker),
            after_exit=after_exit,
        )
    finally:
        for link in links:
            link.unlink(missing_ok=True)
    usage = ended.usage
    return stepio.result(
        ended,
        limits=step.limits,
        started=started,
        wait_status=ended.wait_status,
        cpu_s=usage.ru_utime + usage.ru_stime if usage else None,
        peak_memory_mb=round(usage.ru_maxrss / 1024, 1) if usage else None,
    )

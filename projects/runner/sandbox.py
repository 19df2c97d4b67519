"""Run one step of a grading job in a sandbox.

This module imports no Django (see STYLE.md): a GPU node needs only the runner.

Contract, shared by every backend:

    run_step(argv, *, root, binds, env, limits, gpu) -> StepResult

* ``root`` is a host folder that becomes the step's working directory, seen
  inside as ``WORKDIR`` (``/job``).  Everything the step may see of the job
  lives under it; ``binds`` add further host paths (read-only unless
  ``Mount.writable``).
* ``env`` is the *whole* environment of the step: nothing of the caller's
  environment leaks in.
* ``limits`` bound wall time, CPU time, memory, processes, open files, file size
  and captured output.  A step that hits one ends with ``status`` naming it.
* ``gpu`` is the host index of the one GPU the step may use, or None.

The step's stdout and stderr are captured, each capped at
``limits.output_bytes``; the rest is discarded (and ``output`` is reported as
the limit hit if the step kept printing past the cap).

Where the step sees its folder
------------------------------

The step always finds its folder through the working directory and the
environment variable ``JOB_DIR``; argv should use paths relative to the
working directory (or ``$JOB_DIR``), never host paths:

* ``jail`` backend (default): the folder is mounted at ``/job`` and
  ``JOB_DIR=/job``; ``Mount.dst`` is a path inside the jail (typically under
  ``/job``).
* ``process`` backend (a laptop without bubblewrap; NOT a security boundary):
  the step runs at the real host path of ``root`` with ``JOB_DIR`` set to it.
  A bind whose ``dst`` lies under ``/job`` becomes a symlink at the matching
  place under ``root`` for the duration of the step (read-only is not
  enforced); other ``dst`` values are refused with SANDBOX_ERROR.

In the jail the step runs as its own uid: it owns every entry of ``root``
that the runner left owner-writable (``root`` itself included); entries the
runner made read-only (mode without ``u+w``, e.g. the score step's copy of
``outputs/``) keep their owner and stay read-only to the step.  Whatever else
the step must not change is passed as a read-only bind.

Select the backend with ``SANDBOX_BACKEND`` = ``jail`` | ``process``.
``backend_info()`` reports what is active.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import math
import os
import resource
import secrets
import select
import signal
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

log = logging.getLogger(__name__)

WORKDIR = "/job"


class Status(enum.StrEnum):
    OK = "ok"  # exit status 0
    FAILED = "failed"  # non-zero exit status or killed by a signal it caused
    TIMEOUT = "timeout"  # wall-clock limit
    CPU = "cpu_limit"
    MEMORY = "memory_limit"
    PIDS = "pids_limit"
    FSIZE = "file_size_limit"
    OUTPUT = "output_limit"
    SANDBOX_ERROR = "sandbox_error"  # the infrastructure failed, not the code


@dataclasses.dataclass(frozen=True)
class Limits:
    wall_s: float = 60.0
    cpu_s: float | None = None  # defaults to wall_s * 2 for multi-threaded steps
    memory_mb: int = 2048
    pids: int = 128
    nofile: int = 256
    fsize_mb: int = 256
    output_bytes: int = 1 << 20
    tmp_mb: int = 256  # each of /tmp and /dev/shm (jail); counts toward memory_mb too
    disk_mb: int = 1024  # total the step may leave in its writable folders (jail)
    disk_files: int = 100_000  # files and folders it may have there (jail)


@dataclasses.dataclass(frozen=True)
class Mount:
    src: Path
    dst: str
    writable: bool = False


@dataclasses.dataclass
class StepResult:
    status: Status
    exit_code: int | None
    signal: int | None
    limit: str | None  # which limit ended the step, or None
    wall_s: float
    cpu_s: float | None
    peak_memory_mb: float | None
    stdout: str
    stderr: str
    detail: str = ""  # for SANDBOX_ERROR: what failed

    def as_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["status"] = self.status.value
        return data


# ---------------------------------------------------------------------------
# Shared plumbing
# ---------------------------------------------------------------------------

_PIPE_CHUNK = 1 << 16
_POLL_S = 0.1
DRAIN_S = 1.0  # after the step ended and was killed: how long its output may still arrive


class _Capture:
    """Drain one pipe in a thread, keeping the first ``cap`` bytes.

    When the step writes past the cap, ``overflow`` is set and ``on_overflow``
    is called once (the caller kills the step: printing forever must not keep a
    worker busy until the wall limit).  ``finish`` bounds how long the caller
    waits for end-of-file: a process that escaped every kill and still holds
    the pipe's write end must not hang the worker.
    """

    def __init__(self, fd: int, cap: int, on_overflow) -> None:
        self.fd = fd
        self.cap = cap
        self.buf = bytearray()
        self.overflow = False
        self._on_overflow = on_overflow
        self._stop = threading.Event()
        os.set_blocking(fd, False)
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()

    def _take(self, chunk: bytes) -> None:
        room = self.cap - len(self.buf)
        if room > 0:
            self.buf += chunk[:room]
        if len(chunk) > room and not self.overflow:
            self.overflow = True
            self._on_overflow()

    def _drain(self) -> None:
        last_reads = 16  # once stopped: what is buffered, but never a live writer's endless stream
        try:
            while last_reads > 0:
                if self._stop.is_set():
                    last_reads -= 1
                else:
                    select.select([self.fd], [], [], _POLL_S)
                try:
                    chunk = os.read(self.fd, _PIPE_CHUNK)
                except (BlockingIOError, InterruptedError):
                    if self._stop.is_set():
                        break
                    continue
                except OSError:
                    break
                if not chunk:
                    break
                self._take(chunk)
        finally:
            os.close(self.fd)

    def text(self) -> str:
        return self.buf.decode("utf-8", errors="replace")

    def stop(self) -> None:
        """Stop reading (after what is already buffered) and close the pipe."""
        self._stop.set()
        self.thread.join()


def _await_eof(captures: Sequence[_Capture], timeout: float) -> bool:
    """Wait up to ``timeout`` s for every capture to reach end-of-file; True if all did."""
    deadline = time.monotonic() + timeout
    for capture in captures:
        capture.thread.join(max(0.0, deadline - time.monotonic()))
    return not any(c.thread.is_alive() for c in captures)


def _rlimits(limits: Limits) -> list[tuple[int, int, int]]:
    """(resource, soft, hard) applied to the step.

    CPU gets one second of grace between soft and hard so the kernel sends
    SIGXCPU first: the status can then name the limit without guessing.
    """
    cpu = max(1, math.ceil(_effective_cpu_s(limits)))
    return [
        (resource.RLIMIT_CPU, cpu, cpu + 1),
        (resource.RLIMIT_NOFILE, limits.nofile, limits.nofile),
        (resource.RLIMIT_FSIZE, limits.fsize_mb << 20, limits.fsize_mb << 20),
        (resource.RLIMIT_CORE, 0, 0),
    ]


def _effective_cpu_s(limits: Limits) -> float:
    return limits.cpu_s if limits.cpu_s is not None else limits.wall_s * 2


def _wait(pid: int, deadline: float, kill) -> tuple[int, resource.struct_rusage | None, bool]:
    """Wait for ``pid`` until ``deadline`` (monotonic); on timeout call ``kill``.

    Returns (wait status, rusage, timed_out).  The kill is in the caller's
    ``finally`` too, so an exception here (a Celery soft time limit) cannot
    leave the step running.
    """
    pidfd = os.pidfd_open(pid)
    timed_out = False
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                kill()
                break
            ready, _, _ = select.select([pidfd], [], [], remaining)
            if ready:
                break
    finally:
        os.close(pidfd)
    _, status, usage = os.wait4(pid, 0)
    return status, usage, timed_out


def _classify(
    *,
    wait_status: int,
    timed_out: bool,
    output_overflow: bool,
    cpu_s: float | None,
    limits: Limits,
    stderr: str,
    cgroup_stats: Mapping[str, object] | None = None,
    killed_for: str | None = None,
) -> tuple[Status, int | None, int | None, str | None]:
    """Map how the step ended to (status, exit_code, signal, limit).

    Order matters: the worker's own decisions (timeout, output) first, then
    what the kernel did (CPU, file size), then heuristics on stderr for the
    limits a plain process can only observe through the step's complaints.
    """
    exit_code = os.WEXITSTATUS(wait_status) if os.WIFEXITED(wait_status) else None
    sig = os.WTERMSIG(wait_status) if os.WIFSIGNALED(wait_status) else None
    if timed_out:
        return Status.TIMEOUT, exit_code, sig, "wall_s"
    if output_overflow:
        return Status.OUTPUT, exit_code, sig, "output_bytes"
    if killed_for == "pids":
        return Status.PIDS, exit_code, sig, "pids"
    if killed_for in ("disk_mb", "disk_files"):
        return Status.FSIZE, exit_code, sig, killed_for
    stats = cgroup_stats or {}
    if stats.get("oom_kills"):
        return Status.MEMORY, exit_code, sig, "memory_mb"
    if stats.get("pids_hits") and exit_code != 0:
        return Status.PIDS, exit_code, sig, "pids"
    if sig == signal.SIGXCPU or (
        sig == signal.SIGKILL and cpu_s is not None and cpu_s >= 0.9 * _effective_cpu_s(limits)
    ):
        return Status.CPU, exit_code, sig, "cpu_s"
    if exit_code == 0:
        return Status.OK, exit_code, sig, None
    if sig == signal.SIGXFSZ or "[Errno 27]" in stderr or "File too large" in stderr:
        return Status.FSIZE, exit_code, sig, "fsize_mb"
    if "[Errno 28]" in stderr or "No space left on device" in stderr:
        return Status.FSIZE, exit_code, sig, "tmp_mb"
    if "MemoryError" in stderr or "Cannot allocate memory" in stderr or "bad_alloc" in stderr:
        return Status.MEMORY, exit_code, sig, "memory_mb"
    if "[Errno 11] Resource temporarily unavailable" in stderr and "fork" in stderr:
        return Status.PIDS, exit_code, sig, "pids"
    return Status.FAILED, exit_code, sig, None


# ---------------------------------------------------------------------------
# process backend: a plain subprocess.  Not a security boundary.
# ---------------------------------------------------------------------------

# Without namespaces nothing makes the kernel end a step's processes for us, and
# a setsid() child leaves the step's session and process group.  So the backend
# finds them itself: the step's session and group, every descendant (by parent
# pid), every process still carrying the step's marker in its environment (a
# double-forked daemon is re-parented to init but keeps it), and, when the
# output pipes do not close, every process holding them.

STEP_MARKER = "SANDBOX_STEP"  # environment variable the process backend adds to each step
_KILL_ROUNDS = 8


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


def _step_processes(leader: int, marker: str, pipes: Sequence[int] = ()) -> set[int]:
    """Host pids that belong to the step started as ``leader`` (see above)."""
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


def _kill_step(leader: int, marker: str, pipes: Sequence[int] = ()) -> None:
    """SIGKILL every process of the step, again until none is found (a fork may race a round)."""
    for _ in range(_KILL_ROUNDS):
        pids = _step_processes(leader, marker, pipes)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.01)
    log.warning("process backend: step %s still has processes after %d kill rounds", leader, _KILL_ROUNDS)


def _process_links(root: Path, binds: Sequence[Mount]) -> list[Path]:
    links: list[Path] = []
    for mount in binds:
        dst = Path(mount.dst)
        if os.path.normpath(mount.dst) == os.path.realpath(mount.src):
            continue  # a host path seen at its own place (a Python environment): nothing to do
        try:
            rel = dst.relative_to(WORKDIR)
        except ValueError:
            raise _SandboxError(
                f"process backend can only place binds under {WORKDIR}, not {mount.dst}"
            ) from None
        if not rel.parts:
            raise _SandboxError(f"cannot bind over {WORKDIR} itself")
        link = root / rel
        if link.exists() or link.is_symlink():
            raise _SandboxError(f"bind target {mount.dst} already exists in the job folder")
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(Path(mount.src).resolve())
        links.append(link)
    return links


class _SandboxError(Exception):
    """The infrastructure failed (not the step): reported as SANDBOX_ERROR."""


def _run_process(
    argv: Sequence[str],
    *,
    root: Path,
    binds: Sequence[Mount],
    env: Mapping[str, str],
    limits: Limits,
    gpu: int | None,
) -> StepResult:
    step_env = dict(env)
    step_env["JOB_DIR"] = str(root)
    if gpu is not None:
        step_env["CUDA_VISIBLE_DEVICES"] = str(gpu)
    rlimits = _rlimits(limits) + [
        (resource.RLIMIT_AS, limits.memory_mb << 20, limits.memory_mb << 20),
        (resource.RLIMIT_NPROC, limits.pids, limits.pids),
    ]

    def preexec() -> None:
        for res, soft, hard in rlimits:
            resource.setrlimit(res, (soft, hard))

    links = _process_links(root, binds)
    marker = secrets.token_hex(12)
    step_env[STEP_MARKER] = marker
    started = time.monotonic()
    pid = None
    captures: list[_Capture] = []
    try:
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        pipes = (os.fstat(out_r).st_ino, os.fstat(err_r).st_ino)
        try:
            import subprocess

            proc = subprocess.Popen(
                list(argv),
                cwd=root,
                env=step_env,
                stdin=subprocess.DEVNULL,
                stdout=out_w,
                stderr=err_w,
                start_new_session=True,
                preexec_fn=preexec,
                close_fds=True,
            )
        except BaseException:
            for fd in (out_r, err_r):
                os.close(fd)
            raise
        finally:
            os.close(out_w)
            os.close(err_w)
        pid = proc.pid
        kill = lambda: _kill_step(proc.pid, marker)  # noqa: E731
        out = _Capture(out_r, limits.output_bytes, kill)
        captures.append(out)
        err = _Capture(err_r, limits.output_bytes, kill)
        captures.append(err)
        wait_status, usage, timed_out = _wait(pid, started + limits.wall_s, kill)
        proc.returncode = os.waitstatus_to_exitcode(wait_status)
        pid = None
        # The main process is gone; whatever it started goes too, then the pipes
        # get a short drain.  A process that escaped the search but still holds
        # a pipe is found through the pipe itself.
        _kill_step(proc.pid, marker)
        if not _await_eof(captures, DRAIN_S):
            _kill_step(proc.pid, marker, pipes)
            _await_eof(captures, DRAIN_S)
    finally:
        if pid is not None:
            _kill_step(pid, marker)
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        for capture in captures:
            capture.stop()
        for link in links:
            link.unlink(missing_ok=True)
    wall = time.monotonic() - started
    cpu = usage.ru_utime + usage.ru_stime if usage else None
    stderr = err.text()
    status, exit_code, sig, limit = _classify(
        wait_status=wait_status,
        timed_out=timed_out,
        output_overflow=out.overflow or err.overflow,
        cpu_s=cpu,
        limits=limits,
        stderr=stderr,
    )
    return StepResult(
        status=status,
        exit_code=exit_code,
        signal=sig,
        limit=limit,
        wall_s=round(wall, 3),
        cpu_s=round(cpu, 3) if cpu is not None else None,
        peak_memory_mb=round(usage.ru_maxrss / 1024, 1) if usage else None,
        stdout=out.text(),
        stderr=stderr,
    )


# ---------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------


def backend_name() -> str:
    """``jail`` or ``process``: the backend ``run_step`` will use."""
    return _backend_name()


def _backend_name() -> str:
    """The configured backend: ``SANDBOX_BACKEND``, else ``jail`` where it can run."""
    name = os.environ.get("SANDBOX_BACKEND", "").strip().lower()
    if name in ("jail", "process"):
        return name
    if name:
        raise ValueError(f"SANDBOX_BACKEND must be 'jail' or 'process', not {name!r}")
    from . import jail

    return "jail" if jail.available()[0] else "process"


def backend_info() -> dict:
    """What isolation is active, for ``grade_submission`` output and the README.

    ``mechanisms`` lists what the last step actually got (cgroup controllers can
    be missing in an unprivileged container; the rlimit fallback is then named).
    """
    from . import jail

    name = _backend_name()
    if name == "process":
        return {
            "backend": "process",
            "security_boundary": False,
            "mechanisms": ["setsid", "rlimits"],
            "warning": "process backend: steps run as the worker, with its network and files",
        }
    ok, why = jail.available()
    return {
        "backend": "jail",
        "security_boundary": ok,
        "available": ok,
        "why_not": why,
        "mechanisms": list(_last_mechanisms) or ["(no step run yet)"],
        "bwrap": jail.bwrap_path(),
        "python_prefixes": jail.python_prefixes(),
    }


_warned = False
_last_mechanisms: list[str] = []


def run_step(
    argv: Sequence[str],
    *,
    root: Path,
    binds: Sequence[Mount] = (),
    env: Mapping[str, str],
    limits: Limits,
    gpu: int | None = None,
) -> StepResult:
    """Run ``argv`` with ``root`` as its folder (see the module docstring).

    Never raises for what the step does; an infrastructure failure comes back
    as ``Status.SANDBOX_ERROR`` with ``detail``.  Exceptions raised *into* this
    call (a Celery soft time limit) still kill the step before propagating.
    """
    global _warned
    root = Path(root).resolve()
    started = time.monotonic()
    try:
        name = _backend_name()
        if name == "jail":
            from . import jail

            result, mechanisms = jail.run_jail(argv, root=root, binds=binds, env=env, limits=limits, gpu=gpu)
            _last_mechanisms[:] = mechanisms
            return result
        if not _warned:
            log.warning(
                "SANDBOX_BACKEND=process: submissions run as the worker user with its network "
                "and files. This is NOT a security boundary; use the jail backend in production."
            )
            _warned = True
        return _run_process(argv, root=root, binds=binds, env=env, limits=limits, gpu=gpu)
    except (_SandboxError, OSError, ValueError) as exc:
        log.exception("sandbox failed")
        return StepResult(
            status=Status.SANDBOX_ERROR,
            exit_code=None,
            signal=None,
            limit=None,
            wall_s=round(time.monotonic() - started, 3),
            cpu_s=None,
            peak_memory_mb=None,
            stdout="",
            stderr="",
            detail=f"{type(exc).__name__}: {exc}",
        )

"""Plumbing both sandbox backends share: start a step, watch it, capture its output, name how it ended.

Nothing Python-level runs between fork and exec: the step is started with
``subprocess``'s own options (a new session, a closed set of descriptors, the
given environment), and what must happen in the child before the step's
program runs is done by small programs that exec it (``exec_wrapper``):
``prlimit`` sets the rlimits, and where the step must join control groups a
``/bin/sh`` line writes its pid into them first.  (A ``preexec_fn`` would run
Python in a child forked from a worker with live threads -- the Celery
heartbeat, the capture threads of other steps -- which CPython warns can
deadlock.)
"""

from __future__ import annotations

import dataclasses
import errno
import math
import os
import resource
import select
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from .contract import Limits, SandboxError, Status, StepResult

_PIPE_CHUNK = 1 << 16
_POLL_S = 0.1
DRAIN_S = 1.0  # after the step ended and was killed: how long its output may still arrive
SH = "/bin/sh"
ENV = "/usr/bin/env"

Kill = Callable[[int], None]  # kill the step whose main process has this pid


class Capture:
    """Drain one pipe in a thread, keeping the first ``cap`` bytes.

    When the step writes past the cap, ``overflow`` is set and ``on_overflow``
    is called once (the caller kills the step: printing forever must not keep a
    worker busy until the wall limit).  ``stop`` bounds how long the caller
    waits for end-of-file: a process that escaped every kill and still holds
    the pipe's write end must not hang the worker.
    """

    def __init__(self, fd: int, cap: int, on_overflow: Callable[[], None]) -> None:
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


def await_eof(captures: Sequence[Capture], timeout: float) -> bool:
    """Wait up to ``timeout`` s for every capture to reach end-of-file; True if all did."""
    deadline = time.monotonic() + timeout
    for capture in captures:
        capture.thread.join(max(0.0, deadline - time.monotonic()))
    return not any(c.thread.is_alive() for c in captures)


# ---------------------------------------------------------------------------
# Limits: applied in the child by programs that then exec the step
# ---------------------------------------------------------------------------


def rlimits(limits: Limits) -> dict[str, tuple[int, int]]:
    """prlimit resource name -> (soft, hard), the limits every backend applies.

    CPU gets one second of grace between soft and hard so the kernel sends
    SIGXCPU first: the status can then name the limit without guessing.
    """
    cpu = max(1, math.ceil(limits.effective_cpu_s))
    fsize = limits.fsize_mb << 20
    return {
        "cpu": (cpu, cpu + 1),
        "nofile": (limits.nofile, limits.nofile),
        "fsize": (fsize, fsize),
        "core": (0, 0),
    }


def prlimit_path() -> str | None:
    return shutil.which("prlimit", path="/usr/bin:/bin")


# Writes the shell's pid (which exec keeps for the step) into each file named
# before "--", then execs the rest with an empty environment (a shell adds PWD).
_JOIN_CGROUPS = 'while [ "$1" != -- ]; do echo $$ >"$1" || exit 125; shift; done; shift; exec ' + ENV + ' -i "$@"'


def exec_wrapper(
    argv: Sequence[str], limits: Mapping[str, tuple[int, int]], *, cgroup_procs: Sequence[str] = ()
) -> list[str]:
    """``argv`` behind the programs that apply ``limits`` (and join ``cgroup_procs``) in the child.

    The wrappers exec: the step keeps the pid ``subprocess`` started, and the
    environment the caller gave reaches it unchanged.
    """
    prlimit = prlimit_path()
    if prlimit is None:
        raise SandboxError("prlimit (util-linux) is not installed: it sets the step's rlimits")
    command = [prlimit, *(f"--{name}={soft}:{hard}" for name, (soft, hard) in limits.items()), "--", *argv]
    if cgroup_procs:
        command = [SH, "-c", _JOIN_CGROUPS, "join-cgroups", *cgroup_procs, "--", *command]
    return command


def check_program(program: str, *, cwd: Path, path: str | None) -> None:
    """Raise FileNotFoundError, as ``subprocess`` would, when the step's program cannot be run.

    The wrappers exec it only in the child, where a failure would look like the
    step's own; a missing interpreter is the infrastructure's.
    """
    if "/" in program:
        candidate = cwd / program  # an absolute ``program`` replaces ``cwd``
        runnable = candidate.is_file() and os.access(candidate, os.X_OK)
    else:
        runnable = shutil.which(program, path=path if path is not None else os.defpath) is not None
    if not runnable:
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), program)


# ---------------------------------------------------------------------------
# Launch, watch, collect
# ---------------------------------------------------------------------------


@dataclasses.dataclass
class Ended:
    """How the step's main process ended, and what it printed."""

    wait_status: int
    usage: resource.struct_rusage | None
    timed_out: bool
    killed_for: str | None  # a limit a backend's ``check`` found broken
    stdout: str
    stderr: str
    output_overflow: bool


def _watch(pid: int, deadline: float, kill: Kill, check: Callable[[], str | None] | None,
           every: float) -> tuple[bool, str | None]:
    """Wait for ``pid`` until ``deadline`` (monotonic); on timeout or a broken ``check`` call ``kill``.

    Returns (timed_out, killed_for).
    """
    pidfd = os.pidfd_open(pid)
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                kill(pid)
                return True, None
            ready, _, _ = select.select([pidfd], [], [], remaining if check is None else min(remaining, every))
            if ready:
                return False, None
            broken = check() if check is not None else None
            if broken:
                kill(pid)
                return False, broken
    finally:
        os.close(pidfd)


def run_captured(
    command: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path | str,
    limits: Limits,
    kill: Kill,
    after_exit: Callable[[int, Sequence[Capture], Sequence[int]], None],
    check: Callable[[], str | None] | None = None,
    check_every: float = _POLL_S,
    pass_fds: Sequence[int] = (),
) -> Ended:
    """Start ``command`` in a session of its own, watch it, capture stdout/stderr.

    ``kill(pid)`` ends every process of the step: on timeout, output overflow,
    a broken ``check``, and in ``finally`` (an exception raised into the wait,
    such as a Celery soft time limit, cannot leave the step running).
    ``after_exit(pid, captures, pipe_inodes)`` runs once the main process is
    reaped: it ends what the step left and drains the pipes.
    """
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    pipes = (os.fstat(out_r).st_ino, os.fstat(err_r).st_ino)
    try:
        proc = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out_w,
            stderr=err_w,
            pass_fds=tuple(pass_fds),
            start_new_session=True,
            close_fds=True,
        )
    except BaseException:
        os.close(out_r)
        os.close(err_r)
        raise
    finally:
        os.close(out_w)
        os.close(err_w)
    pid = proc.pid
    captures: list[Capture] = []
    try:
        for fd in (out_r, err_r):
            captures.append(Capture(fd, limits.output_bytes, lambda: kill(pid)))
        timed_out, killed_for = _watch(pid, time.monotonic() + limits.wall_s, kill, check, check_every)
        _, wait_status, usage = os.wait4(pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(wait_status)
        after_exit(pid, captures, pipes)
    finally:
        if proc.returncode is None:
            kill(pid)
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        for fd in (out_r, err_r)[len(captures):]:  # a capture that never started owns nothing
            os.close(fd)
        for capture in captures:
            capture.stop()
    out, err = captures
    return Ended(
        wait_status=wait_status,
        usage=usage,
        timed_out=timed_out,
        killed_for=killed_for,
        stdout=out.text(),
        stderr=err.text(),
        output_overflow=out.overflow or err.overflow,
    )


def classify(
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
        sig == signal.SIGKILL and cpu_s is not None and cpu_s >= 0.9 * limits.effective_cpu_s
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


def result(
    ended: Ended,
    *,
    limits: Limits,
    started: float,
    wait_status: int,
    cpu_s: float | None,
    peak_memory_mb: float | None,
    cgroup_stats: Mapping[str, object] | None = None,
    detail: str = "",
) -> StepResult:
    """The StepResult for a step that ran: ``wait_status`` and the usage as the backend measured them."""
    status, exit_code, sig, limit = classify(
        wait_status=wait_status,
        timed_out=ended.timed_out,
        output_overflow=ended.output_overflow,
        cpu_s=cpu_s,
        limits=limits,
        stderr=ended.stderr,
        cgroup_stats=cgroup_stats,
        killed_for=ended.killed_for,
    )
    return StepResult(
        status=status,
        exit_code=exit_code,
        signal=sig,
        limit=limit,
        wall_s=round(time.monotonic() - started, 3),
        cpu_s=round(cpu_s, 3) if cpu_s is not None else None,
        peak_memory_mb=peak_memory_mb,
        stdout=ended.stdout,
        stderr=ended.stderr,
        detail=detail,
    )

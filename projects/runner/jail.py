"""The ``jail`` backend: bubblewrap + cgroups + seccomp + an unprivileged uid.

What a step gets (see docs/sandbox.md for the guarantees):

* namespaces: new mount, PID, network (only an empty loopback), IPC, UTS and
  cgroup namespaces; bubblewrap's PID 1 reaps orphans and, when the step's
  main process ends, its exit tears the namespace down, which SIGKILLs every
  process left (double-forked daemons, setsid children);
* a root that is an empty tmpfs remounted read-only, with read-only binds of
  ``/usr`` (+ merged-usr links), a handful of ``/etc`` files, a synthetic
  ``/etc/passwd``, and the Python prefixes (the venv and its base
  interpreter) at their host paths -- never the project source beside the
  venv; ``/job`` = ``root`` (writable) with ``binds`` on top; private,
  size-capped tmpfs ``/tmp`` and ``/dev/shm``; a new ``/proc`` and a minimal
  ``/dev``; for a GPU step only that GPU's device nodes;
* a uid of its own (``SANDBOX_UID_BASE`` + worker pid, outside any real
  account), no capabilities, no supplementary groups, ``no_new_privs``;
* a seccomp filter (``seccomp_filter``), rlimits (CPU, files, file size,
  core, processes), cgroup memory/pids limits with peak and OOM accounting;
* bubblewrap starts with an empty environment and reads its arguments from a
  memfd, so neither ``/proc/1/environ`` nor ``/proc/1/cmdline`` shows the
  worker's environment or the host paths behind the binds.

Requires root (or CAP_SYS_ADMIN + CAP_SETUID/SETGID, CAP_CHOWN) in the
worker: bubblewrap runs unprivileged-user-namespace-free, and ``setpriv``
drops to the step's uid inside.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import shutil
import signal
import stat
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from . import cgroups, seccomp_filter, stepio
from .contract import WORKDIR, Limits, Mount, SandboxError, StepRequest, StepResult

log = logging.getLogger(__name__)

NAME = "jail"

UID_BASE = int(os.environ.get("SANDBOX_UID_BASE", "200000"))
UID_SPAN = 60000
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
ETC_FILES = (
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/alternatives",
    "/etc/localtime",
    "/etc/timezone",
    "/etc/nsswitch.conf",
    "/etc/mime.types",
    "/etc/fonts",
)
POLL_S = 0.2  # how often the wait loop looks at pids hits and disk use
_swept = False
_swept_lock = threading.Lock()


def bwrap_path() -> str | None:
    return shutil.which("bwrap", path="/usr/bin:/usr/local/bin:/bin")


def setpriv_path() -> str | None:
    return shutil.which("setpriv", path="/usr/bin:/bin")


def python_prefixes() -> list[str]:
    """Folders a step needs to run this worker's Python: the venv and its base.

    Extra read-only folders (another interpreter, a model cache) can be added
    with ``SANDBOX_RO_PATHS`` (colon-separated).
    """
    paths = [sys.prefix, sys.base_prefix, os.path.dirname(os.path.realpath(sys.executable))]
    paths += [p for p in os.environ.get("SANDBOX_RO_PATHS", "").split(":") if p]
    out: list[str] = []
    for path in paths:
        real = os.path.realpath(path)
        if real.startswith("/usr/") or real == "/usr":
            continue
        if any(real == p or real.startswith(p + "/") for p in out):
            continue
        out = [p for p in out if not p.startswith(real + "/")] + [real]
    return out


def step_uid() -> int:
    return UID_BASE + os.getpid() % UID_SPAN


def gpu_binds(
    gpu: int, *, dev: Path = Path("/dev"), proc: Path = Path("/proc")
) -> list[tuple[str, str, str]]:
    """bwrap operations exposing host GPU ``gpu`` only: (option, src, dst) triples.

    The jail's /dev is a fresh tmpfs, so device nodes of other GPUs simply do
    not exist inside; CUDA_VISIBLE_DEVICES cannot bring them back.  Paths are
    parameters so tests can use a fake /dev and /proc.
    """
    ops: list[tuple[str, str, str]] = []
    node = dev / f"nvidia{gpu}"
    if not node.exists():
        raise SandboxError(f"GPU {gpu} requested but {node} does not exist")
    for name in ("nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset", f"nvidia{gpu}"):
        path = dev / name
        if path.exists():
            ops.append(("--dev-bind", str(path), f"/dev/{name}"))
    driver = proc / "driver" / "nvidia"
    if driver.is_dir():
        for name in ("version", "params", "registry", "capabilities"):
            if (driver / name).exists():
                ops.append(("--ro-bind", str(driver / name), f"/proc/driver/nvidia/{name}"))
        gpus = driver / "gpus"
        if gpus.is_dir():
            ops.append(("--tmpfs", "", "/proc/driver/nvidia/gpus"))
            for entry in sorted(gpus.iterdir()):
                info = entry / "information"
                try:
                    text = info.read_text()
                except OSError:
                    continue
                for line in text.splitlines():
                    key, _, value = line.partition(":")
                    if key.strip() == "Device Minor" and value.strip() == str(gpu):
                        ops.append(("--ro-bind", str(entry), f"/proc/driver/nvidia/gpus/{entry.name}"))
    return ops


def available() -> tuple[bool, str]:
    """Whether this host can run the jail, and why not."""
    if os.geteuid() != 0:
        return False, "the jail needs a root worker (bubblewrap in privileged mode + setpriv)"
    if not bwrap_path():
        return False, "bubblewrap (bwrap) is not installed"
    if not setpriv_path():
        return False, "setpriv (util-linux) is not installed"
    if not stepio.prlimit_path():
        return False, "prlimit (util-linux) is not installed"
    if not seccomp_filter.supported():
        return False, f"no seccomp filter for {platform.machine()}"
    return True, ""


def _chown_tree(path: Path, uid: int) -> None:
    """Give the step what the runner left writable; what it made read-only stays the worker's.

    An entry whose owner-write bit is set becomes the step uid's; a read-only
    one (the score step's copy of ``outputs/``, 0444/0555) keeps its owner, so
    the step can read it but not change it back to writable.
    """
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            entry = os.path.join(dirpath, name)
            st = os.lstat(entry)
            if st.st_mode & stat.S_IWUSR and not stat.S_ISLNK(st.st_mode):
                os.lchown(entry, uid, uid)
    if os.lstat(path).st_mode & stat.S_IWUSR:
        os.lchown(path, uid, uid)


def _disk_use(paths: Sequence[Path], max_bytes: int, max_files: int) -> str | None:
    """Name the disk limit exceeded under ``paths`` (host view), or None.

    Stops early, so a step that creates millions of files costs one bounded walk.
    """
    used = 0
    files = 0
    stack = [str(p) for p in paths]
    while stack:
        try:
            entries = os.scandir(stack.pop())
        except OSError:
            continue
        with entries:
            for entry in entries:
                files += 1
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                used += st.st_blocks * 512
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                if used > max_bytes:
                    return "disk_mb"
                if files > max_files:
                    return "disk_files"
    return None


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _passwd(uid: int) -> tuple[bytes, bytes]:
    passwd = f"root:x:0:0:root:/nonexistent:/usr/sbin/nologin\nstep:x:{uid}:{uid}:grading step:/tmp:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
    group = f"root:x:0:\nstep:x:{uid}:\nnogroup:x:65534:\n"
    return passwd.encode(), group.encode()


# ---------------------------------------------------------------------------
# bubblewrap's options, in the order it applies them
# ---------------------------------------------------------------------------

NAMESPACES = (
    "--die-with-parent",
    "--new-session",
    "--unshare-pid",
    "--unshare-net",
    "--unshare-ipc",
    "--unshare-uts",
    "--unshare-cgroup-try",
    "--hostname",
    "sandbox",
)


def _system_mounts(limits: Limits) -> list[str]:
    """/usr and the merged-usr links, then the private /proc, /dev, /tmp and /dev/shm.

    The private ones come before any host path: bwrap applies its operations in
    order, so a Python environment that lives under /tmp (a CI clone in /tmp,
    say) is bound on top of the fresh tmpfs instead of hidden by it.
    """
    a = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        host = Path("/") / name
        if host.is_symlink():
            a += ["--symlink", os.readlink(host), f"/{name}"]
        elif host.is_dir():
            a += ["--ro-bind", str(host), f"/{name}"]
    a += ["--proc", "/proc", "--dev", "/dev"]
    tmp_bytes = str(limits.tmp_mb << 20)
    for tmpfs in ("/tmp", "/dev/shm"):
        a += ["--perms", "1777", "--size", tmp_bytes, "--tmpfs", tmpfs]
    return a


def _parent_dirs(binds: Sequence[Mount]) -> list[str]:
    """Every folder above a mount point outside /job, made 0755.

    bwrap (privileged) creates missing parents 0700, which the step's uid
    could not traverse.
    """
    parents: list[str] = []
    for dst in ["/etc/x", *(f"{p}/x" for p in python_prefixes()), *(m.dst for m in binds)]:
        for folder in reversed(Path(os.path.normpath(dst)).parents):
            text = str(folder)
            if text not in ("/", "/tmp", "/dev", "/dev/shm", "/proc") and text not in parents \
                    and not _under(text, WORKDIR):
                parents.append(text)
    a: list[str] = []
    for parent in parents:
        a += ["--perms", "0755", "--dir", parent]
    return a


def _host_files(fds: Mapping[str, int]) -> list[str]:
    """A few /etc files, the synthetic passwd and group, and the Python prefixes, all read-only."""
    a: list[str] = []
    for path in ETC_FILES:
        a += ["--ro-bind-try", path, path]
    for name in ("passwd", "group"):
        a += ["--perms", "0644", "--ro-bind-data", str(fds[name]), f"/etc/{name}"]
    for prefix in python_prefixes():
        a += ["--ro-bind", prefix, prefix]
    return a


def _job_mounts(root: Path, binds: Sequence[Mount]) -> list[str]:
    """``root`` at /job (writable), then the binds on top."""
    a = ["--bind", str(root), WORKDIR]
    for mount in binds:
        dst = os.path.normpath(mount.dst)
        if not dst.startswith("/") or dst in ("/", "/proc", "/dev", "/usr", "/etc"):
            raise SandboxError(f"refusing to bind over {mount.dst}")
        src = Path(mount.src).resolve()
        if not src.exists():
            raise SandboxError(f"bind source {mount.src} does not exist")
        a += ["--bind" if mount.writable else "--ro-bind", str(src), dst]
    return a


def _gpu_mounts(gpu_ops: Sequence[tuple[str, str, str]]) -> list[str]:
    a: list[str] = []
    for op, src, dst in gpu_ops:
        a += [op, dst] if op == "--tmpfs" else [op, src, dst]
    return a


def _process_args(env: Mapping[str, str], fds: Mapping[str, int]) -> list[str]:
    """Read-only root, /job as working directory, only ``env``, the seccomp filter, the status pipe."""
    a = ["--remount-ro", "/", "--chdir", WORKDIR, "--clearenv"]
    for key, value in env.items():
        a += ["--setenv", key, value]
    a += ["--seccomp", str(fds["seccomp"]), "--json-status-fd", str(fds["status"])]
    return a


def build_args(
    *,
    root: Path,
    binds: Sequence[Mount],
    env: Mapping[str, str],
    limits: Limits,
    gpu_ops: Sequence[tuple[str, str, str]],
    fds: Mapping[str, int],
) -> list[str]:
    """The bubblewrap options (everything before ``--``), as passed through --args."""
    return [
        *NAMESPACES,
        *_system_mounts(limits),
        *_parent_dirs(binds),
        *_host_files(fds),
        *_job_mounts(root, binds),
        *_gpu_mounts(gpu_ops),
        *_process_args(env, fds),
    ]


def step_env(env: Mapping[str, str], gpu: int | None) -> dict[str, str]:
    out = {"PATH": DEFAULT_PATH, "HOME": "/tmp", "LANG": "C.UTF-8"}
    out.update(env)
    out["JOB_DIR"] = WORKDIR
    out["TMPDIR"] = "/tmp"
    if gpu is not None:
        out["CUDA_VISIBLE_DEVICES"] = "0"  # the only GPU that exists inside
    else:
        out.pop("CUDA_VISIBLE_DEVICES", None)
    return out


def _command(argv: Sequence[str], *, uid: int, args_fd: int) -> list[str]:
    """bwrap (options from the memfd), then setpriv dropping to the step's uid, then the step."""
    bwrap, setpriv = bwrap_path(), setpriv_path()
    if bwrap is None or setpriv is None:
        raise SandboxError("bubblewrap or setpriv disappeared")
    return [
        bwrap, "--args", str(args_fd), "--",
        setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs",
        "--inh-caps=-all", "--bounding-set=-all", "--",
        *argv,
    ]


class _Files:
    """The descriptors bubblewrap reads: passwd, group, seccomp filter, its options, the status pipe.

    ``fds`` are passed to bubblewrap; ``close_passed`` closes the worker's
    copies (the status pipe then reaches end-of-file once bubblewrap is gone).
    """

    def __init__(self) -> None:
        self.fds: dict[str, int] = {}
        self._status_r = -1

    def __enter__(self) -> _Files:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close_passed()
        if self._status_r >= 0:
            os.close(self._status_r)
            self._status_r = -1

    def memfd(self, name: str, data: bytes) -> int:
        fd = os.memfd_create(name, 0)  # no MFD_CLOEXEC: bwrap must read it
        self.fds[name] = fd
        os.write(fd, data)
        os.lseek(fd, 0, os.SEEK_SET)
        return fd

    def status_pipe(self) -> int:
        self._status_r, self.fds["status"] = os.pipe()
        return self.fds["status"]

    def close_passed(self) -> None:
        for fd in self.fds.values():
            try:
                os.close(fd)
            except OSError:
                pass
        self.fds.clear()

    def status_reports(self) -> list[dict[str, Any]]:
        """bubblewrap's JSON status reports; call after ``close_passed`` and bubblewrap's end."""
        chunks = []
        while chunk := os.read(self._status_r, 65536):
            chunks.append(chunk)
        text = b"".join(chunks).decode("utf-8", errors="replace")
        return [json.loads(line) for line in text.splitlines() if line.strip().startswith("{")]


# ---------------------------------------------------------------------------
# The step: prepare, limit, launch, collect
# ---------------------------------------------------------------------------

_last_mechanisms: list[str] = []


def info() -> dict[str, Any]:
    ok, why = available()
    return {
        "backend": NAME,
        "security_boundary": ok,
        "available": ok,
        "why_not": why,
        "mechanisms": list(_last_mechanisms) or ["(no step run yet)"],
        "bwrap": bwrap_path(),
        "python_prefixes": python_prefixes(),
    }


def _sweep_once() -> None:
    global _swept
    with _swept_lock:
        if not _swept:
            _swept = True
            cgroups.sweep_stale()


def _prepare(step: StepRequest, uid: int) -> list[tuple[str, str, str]]:
    """Check the host, give the step its writable folders; returns the GPU's bind operations."""
    ok, why = available()
    if not ok:
        raise SandboxError(why)
    _sweep_once()
    gpu_ops = gpu_binds(step.gpu) if step.gpu is not None else []
    _chown_tree(step.root, uid)
    for mount in step.binds:
        if mount.writable:
            _chown_tree(Path(mount.src), uid)
    return gpu_ops


def _rlimits(limits: Limits, groups: cgroups.JobCgroups) -> tuple[dict[str, tuple[int, int]], list[str]]:
    """The rlimits for the step given the groups it got, and the fallback mechanisms they add."""
    # RLIMIT_NPROC counts the step uid's processes; with a pids group it is only
    # a backstop set above the group's limit, so that the group (whose hits are
    # counted in pids.events) is what a fork bomb meets first.
    nproc = limits.pids + 16 if "pids" in groups.active else limits.pids
    rlimits = {**stepio.rlimits(limits), "nproc": (nproc, nproc)}
    if "memory" in groups.active:
        return rlimits, []
    memory = limits.memory_mb << 20
    return {**rlimits, "as": (memory, memory)}, ["rlimit_as"]


class _Watch:
    """What the wait loop checks between polls: pids-limit hits, and disk use about once a second."""

    def __init__(self, groups: cgroups.JobCgroups, root: Path, binds: Sequence[Mount], limits: Limits) -> None:
        self.groups = groups
        self.paths = [root] + [Path(m.src) for m in binds if m.writable]
        self.limits = limits
        self.next_disk = 0.0

    def check(self) -> str | None:
        if self.groups.stats()["pids_hits"]:
            return "pids"
        now = time.monotonic()
        if now < self.next_disk:
            return None
        exceeded = _disk_use(self.paths, self.limits.disk_mb << 20, self.limits.disk_files)
        # The walk's own cost sets the pace: at most ~10% of a core.
        self.next_disk = time.monotonic() + max(1.0, 10 * (time.monotonic() - now))
        return exceeded

    def kill(self, pid: int) -> None:
        self.groups.kill()
        try:
            os.kill(pid, signal.SIGKILL)  # --die-with-parent takes PID 1 along
        except ProcessLookupError:
            pass

    def after_exit(self, pid: int, captures: Sequence[stepio.Capture], pipes: Sequence[int]) -> None:
        # The namespace is gone with its PID 1; the cgroup kill is the second line
        # (and catches anything that escaped into the groups some other way).
        self.groups.kill()
        if not stepio.await_eof(captures, stepio.DRAIN_S):
            log.warning("jail: a process outside the step's namespace held its output pipes; stopped reading")


def _exit_status(reports: Sequence[Mapping[str, Any]], ended: stepio.Ended) -> int:
    """The step's wait status from bubblewrap's reports (bwrap's own is about bwrap)."""
    if not any("child-pid" in r for r in reports) and not ended.timed_out:
        raise SandboxError(f"bubblewrap failed to start the step: {ended.stderr.strip()[-2000:]}")
    exit_codes = [r["exit-code"] for r in reports if "exit-code" in r]
    if not exit_codes:
        return ended.wait_status
    code = int(exit_codes[-1])
    if 128 < code <= 128 + 64:  # bwrap reports a child killed by signal N as exit code 128 + N
        return (code - 128) & 0x7F  # a wait status "killed by signal"
    return (code & 0xFF) << 8


def _launch(step: StepRequest, *, uid: int, gpu_ops: Sequence[tuple[str, str, str]],
            groups: cgroups.JobCgroups, rlimits: Mapping[str, tuple[int, int]]) -> tuple[stepio.Ended, int]:
    """Run bubblewrap with its descriptors; returns how it ended and the step's wait status."""
    watch = _Watch(groups, step.root, step.binds, step.limits)
    with _Files() as files:
        passwd, group = _passwd(uid)
        files.memfd("passwd", passwd)
        files.memfd("group", group)
        files.memfd("seccomp", seccomp_filter.build())
        files.status_pipe()
        args = build_args(root=step.root, binds=step.binds, env=step_env(step.env, step.gpu),
                          limits=step.limits, gpu_ops=gpu_ops, fds=files.fds)
        files.memfd("args", b"".join(x.encode() + b"\0" for x in args))
        command = _command(step.argv, uid=uid, args_fd=files.fds["args"])
        ended = stepio.run_captured(
            stepio.exec_wrapper(command, rlimits, cgroup_procs=groups.procs_files()),
            env={},  # bwrap's own environment is what /proc/1/environ shows inside
            cwd="/",
            limits=step.limits,
            kill=watch.kill,
            after_exit=watch.after_exit,
            check=watch.check,
            check_every=POLL_S,
            pass_fds=tuple(files.fds.values()),
        )
        files.close_passed()
        return ended, _exit_status(files.status_reports(), ended)


def run(step: StepRequest) -> StepResult:
    """Run one step in the jail; ``info()`` then names the mechanisms it got."""
    uid = step_uid()
    gpu_ops = _prepare(step, uid)
    mechanisms = ["bwrap", "netns", "pidns", "mountns", "ipcns", "utsns", f"uid:{uid}"]
    mechanisms += ["no_new_privs", "no_caps", "seccomp", "tmpfs-size", "rlimits"]
    # +2: bubblewrap's monitor and its PID 1 live in the group too.
    groups = cgroups.JobCgroups.create(memory_bytes=step.limits.memory_mb << 20, pids=step.limits.pids + 2)
    mechanisms += [f"cgroup:{name}" for name in groups.active]
    rlimits, fallbacks = _rlimits(step.limits, groups)
    started = time.monotonic()
    try:
        ended, wait_status = _launch(step, uid=uid, gpu_ops=gpu_ops, groups=groups, rlimits=rlimits)
    finally:
        stats = groups.stats()
        leftover = groups.leftover_pids()
        groups.close()
    _last_mechanisms[:] = mechanisms + fallbacks + [f"cgroup-error:{e}" for e in groups.errors]
    # bwrap's rusage misses the step's processes (its PID 1 is not waited for
    # with their usage); the cpuacct group counts every one of them.
    cpu = stats.get("cpu_s")
    if cpu is None and ended.usage is not None:
        cpu = ended.usage.ru_utime + ended.usage.ru_stime
    return stepio.result(
        ended,
        limits=step.limits,
        started=started,
        wait_status=wait_status,
        cpu_s=cpu,
        peak_memory_mb=stats["peak_memory_mb"],
        cgroup_stats=stats,
        detail=f"processes left after the step: {leftover}" if leftover else "",
    )

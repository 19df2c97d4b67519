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
import resource
import select
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from . import cgroups, seccomp_filter
from .sandbox import (
    DRAIN_S,
    WORKDIR,
    Limits,
    Mount,
    StepResult,
    _await_eof,
    _Capture,
    _classify,
    _rlimits,
    _SandboxError,
)

log = logging.getLogger(__name__)

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
        raise _SandboxError(f"GPU {gpu} requested but {node} does not exist")
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


def _bus_ids(ops: list[tuple[str, str, str]]) -> list[str]:
    return [dst.rsplit("/", 1)[1] for _, _, dst in ops if dst.startswith("/proc/driver/nvidia/gpus/")]


def available() -> tuple[bool, str]:
    """Whether this host can run the jail, and why not."""
    if os.geteuid() != 0:
        return False, "the jail needs a root worker (bubblewrap in privileged mode + setpriv)"
    if not bwrap_path():
        return False, "bubblewrap (bwrap) is not installed"
    if not setpriv_path():
        return False, "setpriv (util-linux) is not installed"
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


def _memfd(name: str, data: bytes) -> int:
    fd = os.memfd_create(name, 0)  # no MFD_CLOEXEC: bwrap must read it
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _passwd(uid: int) -> tuple[bytes, bytes]:
    passwd = f"root:x:0:0:root:/nonexistent:/usr/sbin/nologin\nstep:x:{uid}:{uid}:grading step:/tmp:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
    group = f"root:x:0:\nstep:x:{uid}:\nnogroup:x:65534:\n"
    return passwd.encode(), group.encode()


def build_args(
    *,
    root: Path,
    binds: Sequence[Mount],
    env: Mapping[str, str],
    limits: Limits,
    gpu_ops: list[tuple[str, str, str]],
    fds: Mapping[str, int],
) -> list[str]:
    """The bubblewrap options (everything before ``--``), as passed through --args."""
    a: list[str] = [
        "--die-with-parent",
        "--new-session",
        "--unshare-pid",
        "--unshare-net",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--hostname",
        "sandbox",
        "--ro-bind",
        "/usr",
        "/usr",
    ]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        host = Path("/") / name
        if host.is_symlink():
            a += ["--symlink", os.readlink(host), f"/{name}"]
        elif host.is_dir():
            a += ["--ro-bind", str(host), f"/{name}"]
    # The private /proc, /dev, /tmp and /dev/shm come first: bwrap applies its
    # operations in order, so a Python environment that lives under /tmp (a CI
    # clone in /tmp, say) is bound on top of the fresh tmpfs instead of hidden by it.
    a += ["--proc", "/proc", "--dev", "/dev"]
    tmp_bytes = str(limits.tmp_mb << 20)
    a += ["--perms", "1777", "--size", tmp_bytes, "--tmpfs", "/tmp"]
    a += ["--perms", "1777", "--size", tmp_bytes, "--tmpfs", "/dev/shm"]
    # bwrap (privileged) creates missing parents 0700, which the step's uid
    # could not traverse: create every parent outside /job explicitly.
    parents: list[str] = []
    for dst in ["/etc/x", *(f"{p}/x" for p in python_prefixes()), *(m.dst for m in binds)]:
        for parent in reversed(Path(os.path.normpath(dst)).parents):
            text = str(parent)
            if text not in ("/", "/tmp", "/dev", "/dev/shm", "/proc") and text not in parents \
                    and not _under(text, WORKDIR):
                parents.append(text)
    for parent in parents:
        a += ["--perms", "0755", "--dir", parent]
    for path in ETC_FILES:
        a += ["--ro-bind-try", path, path]
    a += ["--perms", "0644", "--ro-bind-data", str(fds["passwd"]), "/etc/passwd"]
    a += ["--perms", "0644", "--ro-bind-data", str(fds["group"]), "/etc/group"]
    for prefix in python_prefixes():
        a += ["--ro-bind", prefix, prefix]
    a += ["--bind", str(root), WORKDIR]
    for mount in binds:
        dst = os.path.normpath(mount.dst)
        if not dst.startswith("/") or dst in ("/", "/proc", "/dev", "/usr", "/etc"):
            raise _SandboxError(f"refusing to bind over {mount.dst}")
        src = Path(mount.src).resolve()
        if not src.exists():
            raise _SandboxError(f"bind source {mount.src} does not exist")
        a += ["--bind" if mount.writable else "--ro-bind", str(src), dst]
    for op, src, dst in gpu_ops:
        a += [op, dst] if op == "--tmpfs" else [op, src, dst]
    a += ["--remount-ro", "/"]
    a += ["--chdir", WORKDIR, "--clearenv"]
    for key, value in env.items():
        a += ["--setenv", key, value]
    a += ["--seccomp", str(fds["seccomp"]), "--json-status-fd", str(fds["status"])]
    return a


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


def _sweep_once() -> None:
    global _swept
    with _swept_lock:
        if not _swept:
            _swept = True
            cgroups.sweep_stale()


def run_jail(
    argv: Sequence[str],
    *,
    root: Path,
    binds: Sequence[Mount],
    env: Mapping[str, str],
    limits: Limits,
    gpu: int | None,
) -> tuple[StepResult, list[str]]:
    """Run one step in the jail; returns the result and the mechanisms that were active."""
    ok, why = available()
    if not ok:
        raise _SandboxError(why)
    _sweep_once()
    uid = step_uid()
    mechanisms = ["bwrap", "netns", "pidns", "mountns", "ipcns", "utsns", f"uid:{uid}"]
    mechanisms += ["no_new_privs", "no_caps", "seccomp", "tmpfs-size", "rlimits"]

    gpu_ops = gpu_binds(gpu) if gpu is not None else []
    _chown_tree(root, uid)
    for mount in binds:
        if mount.writable:
            _chown_tree(Path(mount.src), uid)

    passwd, group = _passwd(uid)
    fds: dict[str, int] = {}
    status_r = status_w = -1
    out_r = out_w = err_r = err_w = -1
    # +2: bubblewrap's monitor and its PID 1 live in the group too.
    groups = cgroups.JobCgroups.create(memory_bytes=limits.memory_mb << 20, pids=limits.pids + 2)
    mechanisms += [f"cgroup:{name}" for name in groups.active]
    # RLIMIT_NPROC counts the step uid's processes; with a pids group it is only
    # a backstop set above the group's limit, so that the group (whose hits are
    # counted in pids.events) is what a fork bomb meets first.
    nproc = limits.pids + 16 if "pids" in groups.active else limits.pids
    rlimits = _rlimits(limits) + [(resource.RLIMIT_NPROC, nproc, nproc)]
    if "memory" not in groups.active:
        rlimits.append((resource.RLIMIT_AS, limits.memory_mb << 20, limits.memory_mb << 20))
        mechanisms.append("rlimit_as")
    procs_files = groups.procs_files()

    def preexec() -> None:
        # In the forked child, before exec: join the job's groups so that
        # every process of the step is counted and killable from outside.
        for path in procs_files:
            with open(path, "w") as fh:
                fh.write(str(os.getpid()))
        for res, soft, hard in rlimits:
            resource.setrlimit(res, (soft, hard))

    proc = None
    started = time.monotonic()
    timed_out = False
    killed_for: str | None = None
    wait_status = 0
    usage = None
    out = err = None
    try:
        fds["passwd"] = _memfd("passwd", passwd)
        fds["group"] = _memfd("group", group)
        fds["seccomp"] = _memfd("seccomp", seccomp_filter.build())
        status_r, status_w = os.pipe()
        fds["status"] = status_w
        full_env = step_env(env, gpu)
        args = build_args(root=root, binds=binds, env=full_env, limits=limits, gpu_ops=gpu_ops, fds=fds)
        fds["args"] = _memfd("args", b"".join(x.encode() + b"\0" for x in args))
        command = [
            bwrap_path(),
            "--args",
            str(fds["args"]),
            "--",
            setpriv_path(),
            f"--reuid={uid}",
            f"--regid={uid}",
            "--clear-groups",
            "--no-new-privs",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--",
            *argv,
        ]
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        proc = subprocess.Popen(
            command,
            env={},  # bwrap's own environment is what /proc/1/environ shows inside
            cwd="/",
            stdin=subprocess.DEVNULL,
            stdout=out_w,
            stderr=err_w,
            pass_fds=tuple(fds.values()),
            start_new_session=True,
            preexec_fn=preexec,
        )
        for fd in (out_w, err_w, status_w):
            os.close(fd)
        out_w = err_w = status_w = -1

        def kill() -> None:
            groups.kill()
            try:
                os.kill(proc.pid, signal.SIGKILL)  # --die-with-parent takes PID 1 along
            except ProcessLookupError:
                pass

        out = _Capture(out_r, limits.output_bytes, kill)
        err = _Capture(err_r, limits.output_bytes, kill)
        out_r = err_r = -1
        deadline = started + limits.wall_s
        disk_paths = [root] + [Path(m.src) for m in binds if m.writable]
        disk_bytes = limits.disk_mb << 20
        next_disk = 0.0
        pidfd = os.pidfd_open(proc.pid)
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    timed_out = True
                    kill()
                    break
                ready, _, _ = select.select([pidfd], [], [], min(remaining, POLL_S))
                if ready:
                    break
                if groups.stats()["pids_hits"]:
                    killed_for = "pids"
                    kill()
                    break
                now = time.monotonic()
                if now >= next_disk:
                    exceeded = _disk_use(disk_paths, disk_bytes, limits.disk_files)
                    # The walk's own cost sets the pace: at most ~10% of a core.
                    next_disk = time.monotonic() + max(1.0, 10 * (time.monotonic() - now))
                    if exceeded:
                        killed_for = exceeded
                        kill()
                        break
        finally:
            os.close(pidfd)
        _, wait_status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(wait_status)
        # The namespace is gone with its PID 1; the cgroup kill is the second line
        # (and catches anything that escaped into the groups some other way).
        groups.kill()
        if not _await_eof((out, err), DRAIN_S):
            log.warning("jail: a process outside the step's namespace held its output pipes; stopped reading")
        out.stop()
        err.stop()
    finally:
        if proc is not None and proc.returncode is None:
            groups.kill()
            try:
                os.kill(proc.pid, signal.SIGKILL)
                os.waitpid(proc.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        stats = groups.stats()
        leftover = groups.leftover_pids()
        groups.close()
        for fd in (*fds.values(), status_w, out_r, out_w, err_r, err_w):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
    status_lines = _read_all(status_r)
    mechanisms += [f"cgroup-error:{e}" for e in groups.errors]
    wall = time.monotonic() - started
    # bwrap's rusage misses the step's processes (its PID 1 is not waited for
    # with their usage); the cpuacct group counts every one of them.
    cpu = stats.get("cpu_s")
    if cpu is None and usage is not None:
        cpu = usage.ru_utime + usage.ru_stime
    stdout, stderr = out.text(), err.text()

    reports = [json.loads(line) for line in status_lines.splitlines() if line.strip().startswith("{")]
    started_child = any("child-pid" in r for r in reports)
    exit_codes = [r["exit-code"] for r in reports if "exit-code" in r]
    if not started_child and not timed_out:
        raise _SandboxError(f"bubblewrap failed to start the step: {stderr.strip()[-2000:]}")
    # bwrap reports a child killed by signal N as exit code 128 + N.
    code = exit_codes[-1] if exit_codes else None
    if code is not None and 128 < code <= 128 + 64:
        synthetic = (code - 128) & 0x7F  # a wait status "killed by signal"
    elif code is not None:
        synthetic = (code & 0xFF) << 8
    else:
        synthetic = wait_status
    status, exit_code, sig, limit = _classify(
        wait_status=synthetic,
        timed_out=timed_out,
        output_overflow=out.overflow or err.overflow,
        cpu_s=cpu,
        limits=limits,
        stderr=stderr,
        cgroup_stats=stats,
        killed_for=killed_for,
    )
    result = StepResult(
        status=status,
        exit_code=exit_code,
        signal=sig,
        limit=limit,
        wall_s=round(wall, 3),
        cpu_s=round(cpu, 3) if cpu is not None else None,
        peak_memory_mb=stats["peak_memory_mb"],
        stdout=stdout,
        stderr=stderr,
        detail=f"processes left after the step: {leftover}" if leftover else "",
    )
    return result, mechanisms


def _read_all(fd: int) -> str:
    if fd < 0:
        return ""
    chunks = []
    try:
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks).decode("utf-8", errors="replace")

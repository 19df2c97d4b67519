"""Per-step control groups: memory and pids limits, peak memory, and a kill switch.

Hierarchies used when present and writable (each independently):

* cgroup v1 ``memory``: ``memory.limit_in_bytes`` (+ ``memsw`` when swap
  accounting exists), peak from ``memory.max_usage_in_bytes``, OOM kills from
  ``memory.oom_control``;
* cgroup v1 ``pids``: ``pids.max``, hits from ``pids.events``;
* cgroup v2 (``/sys/fs/cgroup/unified`` on a hybrid host, ``/sys/fs/cgroup`` on
  a pure v2 host): ``cgroup.kill`` kills every process in the group at once,
  and on a pure v2 host ``memory.max``/``pids.max`` when delegated.

Job groups are created beneath the worker's own group (a container's memory
group is ``/process_api/<id>`` here, not ``/``), under a ``sandbox`` folder,
named ``job-<worker pid>-<n>`` so a later worker can sweep the groups of a
worker that died (``sweep_stale``).  Nothing here raises on an unwritable
hierarchy: the caller asks ``active`` what it got and falls back to rlimits.
"""

from __future__ import annotations

import itertools
import os
import signal
import time
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PARENT = "sandbox"
_counter = itertools.count()


def _own_paths() -> dict[str, str]:
    """Controller (or "v2") -> this process's group path, from /proc/self/cgroup."""
    paths: dict[str, str] = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return paths
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            paths["v2"] = path
        for name in controllers.split(","):
            if name:
                paths[name] = path
    return paths


def _hierarchies() -> dict[str, Path]:
    """Kind -> folder under which this worker's job groups live."""
    own = _own_paths()
    found: dict[str, Path] = {}
    for kind in ("memory", "pids", "cpuacct"):
        mount = CGROUP_ROOT / kind
        if kind in own and (mount / "cgroup.procs").exists():
            found[kind] = mount / own[kind].lstrip("/") / PARENT
    if "v2" in own:
        for mount in (CGROUP_ROOT / "unified", CGROUP_ROOT):
            if (mount / "cgroup.procs").exists() and (mount / "cgroup.controllers").exists():
                found["v2"] = mount / own["v2"].lstrip("/") / PARENT
                break
    return found


def _write(path: Path, value: str) -> None:
    with open(path, "w") as fh:
        fh.write(value)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _keyed(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


def _procs(group: Path) -> list[int]:
    return [int(p) for p in _read(group / "cgroup.procs").split()]


def _kill_and_remove(group: Path, *, v2: bool, timeout_s: float = 5.0) -> bool:
    """Kill every process in ``group`` and remove it; True when it is gone."""
    deadline = time.monotonic() + timeout_s
    while group.exists():
        if v2 and (group / "cgroup.kill").exists():
            try:
                _write(group / "cgroup.kill", "1")
            except OSError:
                pass
        for pid in _procs(group):
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            group.rmdir()
            return True
        except FileNotFoundError:
            return True
        except OSError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
    return True


def sweep_stale() -> list[str]:
    """Remove job groups left by workers that are no longer running."""
    removed = []
    for kind, parent in _hierarchies().items():
        try:
            entries = list(parent.iterdir())
        except OSError:
            continue
        for group in entries:
            parts = group.name.split("-")
            if len(parts) != 3 or parts[0] != "job" or not group.is_dir():
                continue
            try:
                os.kill(int(parts[1]), 0)
                continue  # its worker is alive
            except ProcessLookupError:
                pass
            except (PermissionError, ValueError):
                continue
            if _kill_and_remove(group, v2=kind == "v2"):
                removed.append(str(group))
    return removed


def _delegate_v2(parent: Path) -> None:
    """On a pure v2 host, make memory and pids available to the job groups.

    Best effort: the worker's own group can only pass controllers down when it
    has no processes of its own (the "no internal processes" rule), which is
    what deploy/sandbox-entrypoint.sh arranges in a container.  Without it the
    job groups still get ``cgroup.kill`` and the rlimit fallback covers memory.
    """
    for holder in (parent.parent, parent):
        wanted = {"memory", "pids"} & set(_read(holder / "cgroup.controllers").split())
        have = set(_read(holder / "cgroup.subtree_control").split())
        for controller in wanted - have:
            try:
                _write(holder / "cgroup.subtree_control", f"+{controller}")
            except OSError:
                pass


class JobCgroups:
    """The groups of one step.  Use ``create``, ``attach`` (in the child), ``close``."""

    def __init__(self) -> None:
        self.groups: dict[str, Path] = {}
        self.active: list[str] = []  # e.g. ["memory", "pids", "v2-kill"]
        self.errors: list[str] = []

    @classmethod
    def create(cls, *, memory_bytes: int, pids: int) -> JobCgroups:
        self = cls()
        name = f"job-{os.getpid()}-{next(_counter)}"
        for kind, parent in _hierarchies().items():
            group = parent / name
            try:
                parent.mkdir(exist_ok=True)
                if kind == "v2":
                    _delegate_v2(parent)
                group.mkdir()
            except OSError as exc:
                self.errors.append(f"{kind}: {exc}")
                continue
            self.groups[kind] = group
            try:
                if kind == "memory":
                    _write(group / "memory.limit_in_bytes", str(memory_bytes))
                    if (group / "memory.memsw.limit_in_bytes").exists():
                        try:
                            _write(group / "memory.memsw.limit_in_bytes", str(memory_bytes))
                        except OSError:
                            pass
                    self.active.append("memory")
                elif kind == "cpuacct":
                    self.active.append("cpuacct")
                elif kind == "pids":
                    _write(group / "pids.max", str(pids))
                    self.active.append("pids")
                else:
                    controllers = _read(group / "cgroup.controllers").split()
                    if "memory" in controllers and "memory" not in self.active:
                        _write(group / "memory.max", str(memory_bytes))
                        _write(group / "memory.swap.max", "0")
                        self.active.append("memory")
                    if "pids" in controllers and "pids" not in self.active:
                        _write(group / "pids.max", str(pids))
                        self.active.append("pids")
                    if (group / "cgroup.kill").exists():
                        self.active.append("v2-kill")
            except OSError as exc:
                self.errors.append(f"{kind}: {exc}")
        return self

    def procs_files(self) -> list[str]:
        """Paths the child writes its pid into (opened before fork by the caller)."""
        return [str(group / "cgroup.procs") for group in self.groups.values()]

    def kill(self) -> None:
        """SIGKILL everything in the step's groups (the second line after the PID namespace)."""
        v2 = self.groups.get("v2")
        if v2 is not None:
            try:
                _write(v2 / "cgroup.kill", "1")
                return
            except OSError:
                pass
        for group in self.groups.values():
            for pid in _procs(group):
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass

    def leftover_pids(self) -> list[int]:
        pids: set[int] = set()
        for group in self.groups.values():
            pids.update(_procs(group))
        return sorted(pids)

    def stats(self) -> dict:
        """peak_memory_mb, oom_kills, pids_hits, cpu_s (None where unknown)."""
        out: dict = {"peak_memory_mb": None, "oom_kills": None, "pids_hits": None, "cpu_s": None}
        cpuacct = self.groups.get("cpuacct")
        if cpuacct is not None:
            usage = _read(cpuacct / "cpuacct.usage").strip()
            if usage.isdigit():
                out["cpu_s"] = int(usage) / 1e9
        memory = self.groups.get("memory")
        if memory is not None and "memory" in self.active:
            peak = _read(memory / "memory.max_usage_in_bytes").strip()
            if peak.isdigit():
                out["peak_memory_mb"] = round(int(peak) / (1 << 20), 1)
            out["oom_kills"] = _keyed(_read(memory / "memory.oom_control")).get("oom_kill")
        v2 = self.groups.get("v2")
        if v2 is not None and memory is None and "memory" in self.active:
            peak = _read(v2 / "memory.peak").strip()
            if peak.isdigit():
                out["peak_memory_mb"] = round(int(peak) / (1 << 20), 1)
            out["oom_kills"] = _keyed(_read(v2 / "memory.events")).get("oom_kill")
        pids = self.groups.get("pids") or (v2 if "pids" in self.active else None)
        if pids is not None:
            out["pids_hits"] = _keyed(_read(pids / "pids.events")).get("max")
        return out

    def close(self) -> None:
        """Kill what is left and remove every group; always call (in ``finally``)."""
        for kind, group in list(self.groups.items()):
            if not _kill_and_remove(group, v2=kind == "v2"):
                self.errors.append(f"{kind}: could not remove {group}")
        self.groups.clear()

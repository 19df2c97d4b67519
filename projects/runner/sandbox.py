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
"""

from __future__ import annotations

import dataclasses
import enum
from pathlib import Path

WORKDIR = "/job"


class Status(str, enum.Enum):
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
    tmp_mb: int = 256


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

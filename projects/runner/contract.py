"""What every sandbox backend promises: the interface and the result types.

This module imports nothing of the runner (and no Django): the backends
(``process``, ``jail``) and the dispatcher (``sandbox``) import it, never the
other way round.

Contract, shared by every backend:

    run(StepRequest(argv, root, binds, env, limits, gpu)) -> StepResult

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

A backend raises ``SandboxError`` (or ``OSError``/``ValueError``) when the
infrastructure fails; ``sandbox.run_step`` turns that into
``Status.SANDBOX_ERROR``.  Where each backend puts the step's folder is in the
``sandbox`` module's docstring.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

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

    @property
    def effective_cpu_s(self) -> float:
        return self.cpu_s if self.cpu_s is not None else self.wall_s * 2


@dataclasses.dataclass(frozen=True)
class Mount:
    src: Path
    dst: str
    writable: bool = False


@dataclasses.dataclass(frozen=True)
class StepRequest:
    """One step to run: ``argv`` in ``root`` (seen as ``WORKDIR``) with exactly ``env``."""

    argv: Sequence[str]
    root: Path  # absolute, resolved
    binds: Sequence[Mount]
    env: Mapping[str, str]
    limits: Limits
    gpu: int | None = None


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

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["status"] = self.status.value
        return data

    @classmethod
    def sandbox_error(cls, detail: str, *, wall_s: float) -> StepResult:
        """The infrastructure failed before or around the step."""
        return cls(
            status=Status.SANDBOX_ERROR,
            exit_code=None,
            signal=None,
            limit=None,
            wall_s=round(wall_s, 3),
            cpu_s=None,
            peak_memory_mb=None,
            stdout="",
            stderr="",
            detail=detail,
        )


class SandboxError(Exception):
    """The infrastructure failed (not the step): reported as SANDBOX_ERROR."""


class Backend(Protocol):
    """A backend module (``process``, ``jail``) as the dispatcher uses it."""

    NAME: str

    def available(self) -> tuple[bool, str]:
        """Whether this host can run the backend, and why not."""
        ...

    def info(self) -> dict[str, Any]:
        """What isolation the backend gives (after a step: what that step got)."""
        ...

    def run(self, step: StepRequest) -> StepResult:
        """Run one step (see the module docstring); raises SandboxError on infrastructure failure."""
        ...

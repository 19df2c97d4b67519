"""Run one step of a grading job in a sandbox: the entry point that picks a backend.

This module imports no Django (see STYLE.md): a GPU node needs only the runner.
Layering, with no import cycle (``projects/tests/test_runner_layering.py``):

* ``contract``: the backend interface, ``Limits``, ``Mount``, ``StepResult``,
  ``Status`` (re-exported here, where the runner takes them from);
* ``stepio``: what both backends share (launch without ``preexec_fn``,
  watch, capture, classify);
* ``process`` and ``jail``: the backends;
* ``sandbox`` (this module): ``run_step``, ``backend_name``, ``backend_info``.

The contract is in ``contract``'s docstring.

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

import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from . import jail, process
from .contract import WORKDIR, Backend, Limits, Mount, SandboxError, Status, StepRequest, StepResult
from .stepio import DRAIN_S

__all__ = [
    "DRAIN_S", "WORKDIR", "Limits", "Mount", "SandboxError", "Status", "StepRequest", "StepResult",
    "backend_info", "backend_name", "run_step",
]

log = logging.getLogger(__name__)

BACKENDS: dict[str, Backend] = {jail.NAME: jail, process.NAME: process}


def backend_name() -> str:
    """The configured backend: ``SANDBOX_BACKEND``, else ``jail`` where it can run."""
    name = os.environ.get("SANDBOX_BACKEND", "").strip().lower()
    if name in BACKENDS:
        return name
    if name:
        raise ValueError(f"SANDBOX_BACKEND must be 'jail' or 'process', not {name!r}")
    return jail.NAME if jail.available()[0] else process.NAME


def backend_info() -> dict[str, Any]:
    """What isolation is active, for ``grade_submission`` output and the README.

    ``mechanisms`` lists what the last step actually got (cgroup controllers can
    be missing in an unprivileged container; the rlimit fallback is then named).
    """
    return BACKENDS[backend_name()].info()


_warned = False


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
        name = backend_name()
        if name == process.NAME and not _warned:
            log.warning(
                "SANDBOX_BACKEND=process: submissions run as the worker user with its network "
                "and files. This is NOT a security boundary; use the jail backend in production."
            )
            _warned = True
        step = StepRequest(tuple(argv), root, tuple(binds), dict(env), limits, gpu)
        return BACKENDS[name].run(step)
    except (SandboxError, OSError, ValueError) as exc:
        log.exception("sandbox failed")
        return StepResult.sandbox_error(f"{type(exc).__name__}: {exc}", wall_s=time.monotonic() - started)

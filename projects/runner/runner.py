"""Grade one submission with one harness: the autograder's core.

Imports no Django (see STYLE.md): it takes a harness and a submission on disk and
returns a ``GradeRecord``; a service records it.  The contract a harness follows
is in docs/harness.md.

Public API:

    grade(harness, submission, *, gpu=None, work_root=None, on_log=None,
          python=None, threads=None) -> GradeRecord
    GradeRecord.as_dict() -> dict          # JSON-serialisable
    GradeStatus                            # completed | harness_error |
                                           # submission_error | infrastructure_error
    EXIT_CODES                             # status -> process exit code (CLI, command)

One job, in a fresh temp folder ``grade-*`` under ``work_root``, deleted in a
``finally``; its step folders ``predict-*`` and ``score-*`` get unguessable names:

1. Load and validate the harness (folder or zip).  Unpack the submission (zip
   or folder) into ``predict-*/submission/`` with ``unpack_submission``.
2. predict step, in the sandbox, in ``predict-*/``: the harness files without
   ``hidden/``, ``submission/``, ``public/`` and an empty ``outputs/``.  Student
   code runs here.  The GPU (if the harness asks for one) is given here only.
3. ``outputs/`` is copied, regular files only, to ``score-*/outputs/`` (read-only);
   the predict folder is deleted before the score step starts.
4. score step, in the sandbox, in ``score-*/``: the harness files with ``hidden/``,
   ``public/``, ``outputs/`` and ``predict_status.json`` (how predict ended).  It
   never contains the student's code, and it runs even when predict failed.
5. ``score-*/results.json`` is read (Gradescope format, see results.py).

Score policy: the score step's ``score`` is authoritative (or the sum of its
tests' scores when it gives none), in points, never rescaled, and clamped to
``[0, points]``; with ``extra_credit = true`` in harness.toml only the lower
bound applies.  ``raw_score`` keeps the unclamped value.  Statuses other than
``completed`` carry ``score=None``: there is no grade to post.

"python"/"python3" as a command's first word means ``python`` (default: the
interpreter running the runner, ``sys.executable``): inside the sandbox PATH is
minimal.  Steps get a minimal environment, never the worker's.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import hashlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from projects.runner import sandbox
from projects.runner.archive import ArchiveError, unpack_submission
from projects.runner.harness import Harness, HarnessError, StepSpec, load_harness
from projects.runner.results import ResultsError, read_results
from projects.runner.workspace import copy_outputs, job_folder, remove_tree

PREDICT_STATUS = "predict_status.json"
RESULTS = "results.json"
RECORD_TEXT_CHARS = 32 * 1024  # stdout/stderr kept in the record, from the end
STATUS_TAIL_CHARS = 4 * 1024  # stdout/stderr tails handed to the score step
STEP_PATH = "/usr/local/bin:/usr/bin:/bin"


class GradeStatus(enum.StrEnum):
    COMPLETED = "completed"  # both steps ran and results.json was read: score is the grade
    HARNESS_ERROR = "harness_error"  # the bundle, its score step or its results.json is broken
    SUBMISSION_ERROR = "submission_error"  # the upload could not be unpacked (student can fix)
    INFRASTRUCTURE_ERROR = "infrastructure_error"  # sandbox, disk or GPU trouble: retry later


EXIT_CODES = {
    GradeStatus.COMPLETED: 0,
    GradeStatus.HARNESS_ERROR: 3,
    GradeStatus.SUBMISSION_ERROR: 4,
    GradeStatus.INFRASTRUCTURE_ERROR: 5,
}


@dataclasses.dataclass
class GradeRecord:
    status: GradeStatus
    score: float | None = None  # points, clamped (see module docstring); None unless completed
    max_score: float | None = None  # the harness's ``points``
    raw_score: float | None = None  # what results.json said, unclamped
    tests: list[dict] = dataclasses.field(default_factory=list)
    output: str = ""  # results.json's top-level "output"
    error: str = ""  # why it is not completed, or how predict failed (shown to the student)
    predict: dict | None = None  # StepResult.as_dict(), stdout/stderr cut to their tails
    score_step: dict | None = None
    outputs: dict | None = None  # what was copied from outputs/ and what was skipped, why
    durations: dict[str, float] = dataclasses.field(default_factory=dict)  # seconds
    harness_name: str = ""
    harness_label: str = ""  # harness.toml "version", the instructor's label
    harness_version: str = ""  # sha256 of the bundle's contents
    submission_sha256: str = ""  # sha256 over the unpacked files' paths and bytes
    submission_files: list[str] = dataclasses.field(default_factory=list)
    gpu: int | None = None
    sandbox: dict = dataclasses.field(default_factory=dict)
    started_at: str = ""  # ISO 8601, UTC

    def as_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["status"] = self.status.value
        return data


def grade(
    harness: Path | str,
    submission: Path | str,
    *,
    gpu: int | None = None,
    work_root: Path | None = None,
    on_log: Callable[[str], None] | None = None,
    python: str | None = None,
    threads: int | None = None,
) -> GradeRecord:
    """Run ``harness`` on ``submission`` and return the record; never raises for bad input.

    ``gpu`` is the host index of the GPU this job may use (only a harness with
    ``gpus = 1`` gets it; such a harness fails as infrastructure_error without
    one).  ``work_root`` is where the temp job folder is made (default: the
    system temp folder).  ``on_log`` receives one line per stage.  ``threads``
    caps OMP/MKL threads in the steps (default: ``default_threads()``).
    """
    log = on_log or (lambda _line: None)
    started = time.monotonic()
    record = GradeRecord(
        status=GradeStatus.INFRASTRUCTURE_ERROR,
        started_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )
    try:
        _grade(
            record,
            Path(harness),
            Path(submission),
            gpu=gpu,
            work_root=work_root,
            log=log,
            python=python or sys.executable,
            threads=threads or default_threads(),
        )
    except _Stop as stop:
        record.status = stop.status
        record.error = stop.message
        record.score = None
        log(f"{stop.status.value}: {stop.message}")
    except OSError as exc:  # disk full, permissions on the work root...
        record.status = GradeStatus.INFRASTRUCTURE_ERROR
        record.error = f"{type(exc).__name__}: {exc}"
        record.score = None
        log(f"infrastructure_error: {record.error}")
    record.sandbox = sandbox.backend_info()  # after the steps: it names what they got
    record.durations["total_s"] = round(time.monotonic() - started, 3)
    return record


def default_threads() -> int:
    """Threads per step: half the CPUs, 1 to 4.

    Small models slow down sharply when their threads outnumber the free cores
    (measured: a 200-step MLP takes 0.2 s with 1 thread, 1-4 s with 2 on a busy
    2-CPU machine), and the worker needs a core of its own.
    """
    return max(1, min(4, (os.cpu_count() or 1) // 2))


class _Stop(Exception):
    def __init__(self, status: GradeStatus, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _grade(
    record: GradeRecord,
    harness_path: Path,
    submission_path: Path,
    *,
    gpu: int | None,
    work_root: Path | None,
    log: Callable[[str], None],
    python: str,
    threads: int,
) -> None:
    clock = time.monotonic()
    try:
        harness = load_harness(harness_path)
    except HarnessError as exc:
        raise _Stop(GradeStatus.HARNESS_ERROR, str(exc)) from None
    record.harness_name = harness.name
    record.harness_label = harness.version
    record.harness_version = harness.sha256
    record.max_score = harness.points
    step_gpu = gpu if harness.gpus else None
    record.gpu = step_gpu
    if harness.gpus and gpu is None:
        raise _Stop(
            GradeStatus.INFRASTRUCTURE_ERROR,
            f"harness {harness.name!r} needs a GPU (gpus = 1) but this runner was given none; "
            "grade it on a GPU worker (--gpu INDEX).",
        )
    log(f"harness {harness.name} ({harness.sha256[:12]}), {harness.points:g} points")

    with job_folder(work_root) as job:
        # Fresh unguessable names: under the process backend a step could create
        # a folder where the next one is to be made.
        predict_root = Path(tempfile.mkdtemp(prefix="predict-", dir=job))
        try:
            harness.materialize(predict_root, include_hidden=False)
        except HarnessError as exc:
            raise _Stop(GradeStatus.HARNESS_ERROR, str(exc)) from None
        try:
            summary = unpack_submission(submission_path, predict_root / "submission", flatten_single_dir=True)
        except ArchiveError as exc:
            raise _Stop(GradeStatus.SUBMISSION_ERROR, str(exc)) from None
        record.submission_files = list(summary.paths)
        record.submission_sha256 = _tree_digest(predict_root / "submission", summary.paths)
        (predict_root / "outputs").mkdir()
        record.durations["prepare_s"] = round(time.monotonic() - clock, 3)

        log(f"predict step: {' '.join(harness.predict.command)}")
        predict = _run(harness.predict, predict_root, python=python, threads=threads, gpu=step_gpu)
        record.predict = _trimmed(predict)
        record.durations["predict_s"] = predict.wall_s
        predict_how = _describe(predict, harness.predict)
        log(f"predict step ended: {predict_how}")
        if predict.status is sandbox.Status.SANDBOX_ERROR:
            raise _Stop(GradeStatus.INFRASTRUCTURE_ERROR, f"sandbox failed in predict: {predict.detail}")
        if predict.status is not sandbox.Status.OK:
            record.error = f"predict step {predict_how}"

        clock = time.monotonic()
        score_root = Path(tempfile.mkdtemp(prefix="score-", dir=job))
        copied = copy_outputs(predict_root / "outputs", score_root / "outputs")
        record.outputs = copied.as_dict()
        remove_tree(predict_root)
        try:
            harness.materialize(score_root, include_hidden=True)
        except HarnessError as exc:
            raise _Stop(GradeStatus.HARNESS_ERROR, str(exc)) from None
        status_doc = {
            "status": predict.status.value,
            "ok": predict.status is sandbox.Status.OK,
            "timed_out": predict.status is sandbox.Status.TIMEOUT,
            "limit": predict.limit,
            "exit_code": predict.exit_code,
            "signal": predict.signal,
            "wall_s": predict.wall_s,
            "timeout_s": harness.predict.timeout_s,
            "message": "" if predict.status is sandbox.Status.OK else predict_how,
            "stdout_tail": _tail(predict.stdout, STATUS_TAIL_CHARS),
            "stderr_tail": _tail(predict.stderr, STATUS_TAIL_CHARS),
            "outputs": copied.as_dict(),
        }
        (score_root / PREDICT_STATUS).write_text(json.dumps(status_doc, indent=2))
        record.durations["copy_s"] = round(time.monotonic() - clock, 3)

        log(f"score step: {' '.join(harness.score.command)}")
        scored = _run(harness.score, score_root, python=python, threads=threads, gpu=None)
        record.score_step = _trimmed(scored)
        record.durations["score_s"] = scored.wall_s
        log(f"score step ended: {_describe(scored, harness.score)}")
        if scored.status is sandbox.Status.SANDBOX_ERROR:
            raise _Stop(GradeStatus.INFRASTRUCTURE_ERROR, f"sandbox failed in score: {scored.detail}")
        if scored.status is not sandbox.Status.OK:
            raise _Stop(
                GradeStatus.HARNESS_ERROR,
                f"score step {_describe(scored, harness.score)}"
                + (f"\n{_tail(scored.stderr, 2000)}" if scored.stderr.strip() else ""),
            )
        try:
            results = read_results(score_root / RESULTS)
        except ResultsError as exc:
            raise _Stop(GradeStatus.HARNESS_ERROR, str(exc)) from None

    record.raw_score = results.score
    record.score = _clamp(results.score, harness)
    record.tests = results.tests
    record.output = results.output
    record.status = GradeStatus.COMPLETED
    log(f"completed: {record.score:g} / {harness.points:g}")


def _clamp(score: float, harness: Harness) -> float:
    score = max(0.0, score)
    if not harness.extra_credit:
        score = min(score, harness.points)
    return round(score, 6)


def step_env(*, python: str, threads: int, gpu: int | None) -> dict[str, str]:
    """The whole environment of a step: nothing of the worker's (no secrets) leaks in."""
    env = {
        "PATH": f"{os.path.dirname(python)}:{STEP_PATH}",
        "HOME": "/tmp",
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "PYTHONNOUSERSITE": "1",
        "PYTHONHASHSEED": "0",
        "MPLBACKEND": "Agg",
        "CUDA_VISIBLE_DEVICES": "" if gpu is None else str(gpu),
    }
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
        env[var] = str(threads)
    return env


def step_argv(command: tuple[str, ...], *, python: str) -> list[str]:
    if command[0] in ("python", "python3"):
        return [python, *command[1:]]
    return list(command)


def _run(spec: StepSpec, root: Path, *, python: str, threads: int, gpu: int | None) -> sandbox.StepResult:
    return sandbox.run_step(
        step_argv(spec.command, python=python),
        root=root,
        binds=(),
        env=step_env(python=python, threads=threads, gpu=gpu),
        limits=sandbox.Limits(wall_s=spec.timeout_s, memory_mb=spec.memory_mb),
        gpu=gpu,
    )


def _describe(step: sandbox.StepResult, spec: StepSpec) -> str:
    """One line a student can read: how the step ended and, on a crash, the error line."""
    status = step.status
    if status is sandbox.Status.OK:
        return f"ok in {step.wall_s:.1f} s"
    if status is sandbox.Status.TIMEOUT:
        return f"timed out after {spec.timeout_s:g} s (timeout_s)"
    if status is sandbox.Status.MEMORY:
        return f"ran out of memory (memory limit {spec.memory_mb} MB)"
    if status is sandbox.Status.SANDBOX_ERROR:
        return f"could not run: {step.detail}"
    if status is not sandbox.Status.FAILED:
        return f"stopped by the {step.limit or status.value} limit ({status.value})"
    how = f"exit code {step.exit_code}" if step.exit_code is not None else f"signal {step.signal}"
    last = _last_line(step.stderr)
    return f"failed ({how})" + (f": {last}" if last else "")


def _last_line(text: str) -> str:
    for line in reversed(text.strip().splitlines()):
        if line.strip():
            return line.strip()[:500]
    return ""


def _tail(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"[... {len(text) - limit} characters cut]\n" + text[-limit:]


def _trimmed(step: sandbox.StepResult) -> dict:
    data = step.as_dict()
    data["stdout"] = _tail(step.stdout, RECORD_TEXT_CHARS)
    data["stderr"] = _tail(step.stderr, RECORD_TEXT_CHARS)
    return data


def _tree_digest(root: Path, paths: tuple[str, ...]) -> str:
    outer = hashlib.sha256()
    for rel in sorted(paths):
        inner = hashlib.sha256()
        with open(root / rel, "rb") as fh:
            while chunk := fh.read(1 << 20):
                inner.update(chunk)
        outer.update(rel.encode() + b"\0" + inner.hexdigest().encode() + b"\n")
    return outer.hexdigest()

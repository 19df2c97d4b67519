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

A harness with ``[environment]`` runs with that environment's interpreter instead,
built (once per node, see environments.py) before the job and bound read-only
into both steps.  Each ``[data]`` dataset is fetched once per node (datasets.py)
and bound read-only at ``/data/<name>``; ``public/`` and ``hidden/`` are bound
read-only from a per-node extracted copy of the bundle, never copied per job.
Steps are offline: ``offline/sitecustomize.py`` turns a download attempt into an
error that says which dataset to declare.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import enum
import fcntl
import hashlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from projects.runner import datasets as datasets_mod
from projects.runner import environments, sandbox
from projects.runner.archive import ArchiveError, unpack_submission
from projects.runner.harness import Harness, HarnessError, StepSpec, load_harness
from projects.runner.results import ResultsError, read_results
from projects.runner.workspace import copy_outputs, job_folder, remove_tree

PREDICT_STATUS = "predict_status.json"
RESULTS = "results.json"
RECORD_TEXT_CHARS = 32 * 1024  # stdout/stderr kept in the record, from the end
STATUS_TAIL_CHARS = 4 * 1024  # stdout/stderr tails handed to the score step
STEP_PATH = "/usr/local/bin:/usr/bin:/bin"
DATA_DIR = "/data"  # where [data] datasets are mounted in the jail
OFFLINE_DIR = Path(__file__).resolve().parent / "offline"  # sitecustomize.py: the offline guard
OFFLINE_MOUNT = "/opt/grading-offline"


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


@dataclasses.dataclass(frozen=True)
class NodeStores:
    """Where this node keeps what jobs share; None fields fall back to ``from_env``'s defaults."""

    env_root: Path  # ENV_ROOT: built environments
    data_root: Path  # DATA_ROOT: fetched datasets
    harness_cache: Path  # extracted harness bundles (public/, hidden/ bound from here)
    sources: environments.Sources = environments.Sources()

    @classmethod
    def from_env(cls, work_root: Path | None = None) -> NodeStores:
        base = Path(os.environ.get("GRADING_CACHE_ROOT") or Path(tempfile.gettempdir()) / "ceng501-grading")
        return cls(
            env_root=Path(os.environ.get("ENV_ROOT") or base / "envs"),
            data_root=Path(os.environ.get("DATA_ROOT") or base / "data"),
            harness_cache=Path(os.environ.get("HARNESS_CACHE") or base / "harnesses"),
            sources=environments.Sources.from_env(),
        )


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
    environment: dict | None = None  # [environment]: digest, python, index, packages count, size
    datasets: dict[str, dict] = dataclasses.field(default_factory=dict)  # mount -> {name, version}

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
    stores: NodeStores | None = None,
    datasets: Mapping[str, datasets_mod.DatasetRef] | None = None,
) -> GradeRecord:
    """Run ``harness`` on ``submission`` and return the record; never raises for bad input.

    ``gpu`` is the host index of the GPU this job may use (only a harness with
    ``gpus = 1`` gets it; such a harness fails as infrastructure_error without
    one).  ``work_root`` is where the temp job folder is made (default: the
    system temp folder).  ``on_log`` receives one line per stage.  ``threads``
    caps OMP/MKL threads in the steps (default: ``default_threads()``).
    ``stores`` says where environments, datasets and extracted bundles live on
    this node (default: ``NodeStores.from_env()``); ``datasets`` maps each
    registered dataset name the harness may declare to its current version.
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
            python=python,
            threads=threads or default_threads(),
            stores=stores or NodeStores.from_env(),
            datasets=datasets or {},
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
    python: str | None,
    threads: int,
    stores: NodeStores,
    datasets: Mapping[str, datasets_mod.DatasetRef],
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

    with contextlib.ExitStack() as stack:
        env = _environment(harness, record, stores=stores, gpu=step_gpu is not None, log=log)
        if env is not None:
            stack.enter_context(environments.in_use(env))
            python = env.python
        mounts = _dataset_trees(harness, record, datasets, stores=stores, log=log)
        tree = _bundle_tree(harness, stores.harness_cache)
        job = stack.enter_context(job_folder(work_root))
        _grade_job(record, harness, submission_path, job=job, tree=tree, env=env, data=mounts,
                   python=python or sys.executable, threads=threads, gpu=step_gpu, log=log, clock=clock)


def _environment(harness: Harness, record: GradeRecord, *, stores: NodeStores, gpu: bool,
                 log: Callable[[str], None]) -> environments.Environment | None:
    spec = harness.environment
    if spec is None:
        return None
    try:
        env = environments.ensure_environment(spec, root=stores.env_root, sources=stores.sources, gpu=gpu,
                                              on_log=log)
    except environments.EnvironmentError_ as exc:
        record.environment = {"digest": environments.spec_digest(spec, gpu=gpu), "state": "failed"}
        raise _Stop(GradeStatus.HARNESS_ERROR, f"the harness's Python environment could not be built: {exc}") \
            from None
    meta = env.meta
    record.environment = {
        "digest": env.digest, "python": meta.get("python"), "index": meta.get("index"),
        "base": meta.get("base"), "packages": len(meta.get("packages", [])),
        "size_bytes": meta.get("size_bytes"),
    }
    log(f"environment {env.digest[:12]} ({len(meta.get('packages', []))} packages)")
    return env


def _dataset_trees(harness: Harness, record: GradeRecord, registered: Mapping[str, datasets_mod.DatasetRef], *,
                   stores: NodeStores, log: Callable[[str], None]) -> dict[str, Path]:
    trees: dict[str, Path] = {}
    for mount, wanted in harness.data:
        name, _, pin = wanted.partition("@")
        ref = registered.get(name)
        if ref is None:
            raise _Stop(GradeStatus.HARNESS_ERROR,
                        f"harness.toml [data] {mount} = {wanted!r}: no dataset named {name!r} is registered; "
                        f"upload it (manage.py dataset_add {name} PATH) or fix the name.")
        if pin and not ref.version.startswith(pin):
            raise _Stop(GradeStatus.HARNESS_ERROR,
                        f"harness.toml [data] {mount} = {wanted!r}: dataset {name} has no version {pin}; "
                        f"the registered one is {ref.version[:12]}.")
        try:
            trees[mount] = datasets_mod.ensure_dataset(ref, root=stores.data_root)
        except datasets_mod.DatasetError as exc:
            raise _Stop(GradeStatus.HARNESS_ERROR, str(exc)) from None
        record.datasets[mount] = {"name": ref.name, "version": ref.version}
        log(f"dataset {ref.name} ({ref.version[:12]}) at {DATA_DIR}/{mount}")
    return trees


def _bundle_tree(harness: Harness, cache: Path) -> Path:
    """The bundle's files unpacked once per node under ``cache/<digest>`` (read-only), for binds."""
    target = Path(cache) / harness.sha256
    if (target / ".bundle-ok").exists():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    fd = os.open(cache / f"{harness.sha256}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if (target / ".bundle-ok").exists():
            return target
        tmp = Path(tempfile.mkdtemp(prefix=f".unpack-{harness.sha256[:12]}-", dir=cache))
        try:
            harness.materialize(tmp, include_hidden=True)
        except HarnessError as exc:
            remove_tree(tmp)
            raise _Stop(GradeStatus.HARNESS_ERROR, str(exc)) from None
        (tmp / ".bundle-ok").touch()
        for folder, _dirs, files in os.walk(tmp, topdown=False):
            for name in files:
                os.chmod(os.path.join(folder, name), 0o444)
            os.chmod(folder, 0o555)
        if target.exists():
            remove_tree(target)
        os.rename(tmp, target)
    finally:
        os.close(fd)
    return target


def _binds(*, tree: Path, env: environments.Environment | None, data: Mapping[str, Path], job: Path,
           include_hidden: bool) -> tuple[list[sandbox.Mount], dict[str, str]]:
    """Read-only binds and the extra environment variables of one step."""
    jail = sandbox.backend_name() == "jail"
    mounts = [sandbox.Mount(OFFLINE_DIR, OFFLINE_MOUNT if jail else str(OFFLINE_DIR))]
    for folder in ("public", "hidden") if include_hidden else ("public",):
        if (tree / folder).is_dir():
            mounts.append(sandbox.Mount(tree / folder, f"{sandbox.WORKDIR}/{folder}"))
    if env is not None:
        mounts.append(sandbox.Mount(env.path, str(env.path)))
        prefix = env.base_prefix
        if prefix and jail and not any(prefix == p or prefix.startswith(p + "/") for p in _jail_prefixes()):
            mounts.append(sandbox.Mount(Path(prefix), prefix))
    if jail:
        data_dir = DATA_DIR
        mounts += [sandbox.Mount(path, f"{DATA_DIR}/{mount}") for mount, path in data.items()]
        tmp = "/tmp"
    else:  # no mount namespace: a folder of links stands in for /data, job-private
        links = Path(tempfile.mkdtemp(prefix="data-", dir=job))
        for mount, path in data.items():
            (links / mount).symlink_to(path)
        data_dir = str(links)
        tmp = tempfile.mkdtemp(prefix="tmp-", dir=job)
    extra = {
        "PYTHONPATH": OFFLINE_MOUNT if jail else str(OFFLINE_DIR),
        "DATA_DIR": data_dir,
        # A cache declared as a dataset is used read-only; otherwise an empty one in the job's
        # tmp, so that a download attempt reaches the offline guard and its clear message.
        "TORCH_HOME": f"{data_dir}/torch" if "torch" in data else f"{tmp}/torch",
        "HF_HOME": f"{data_dir}/huggingface" if "huggingface" in data else f"{tmp}/huggingface",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "WANDB_MODE": "offline",
        "MPLCONFIGDIR": f"{tmp}/matplotlib",
    }
    return mounts, extra


def _jail_prefixes() -> list[str]:
    from projects.runner import jail

    return jail.python_prefixes()


def _grade_job(
    record: GradeRecord,
    harness: Harness,
    submission_path: Path,
    *,
    job: Path,
    tree: Path,
    env: environments.Environment | None,
    data: Mapping[str, Path],
    python: str,
    threads: int,
    gpu: int | None,
    log: Callable[[str], None],
    clock: float,
) -> None:
    step_gpu = gpu
    # Fresh unguessable names: under the process backend a step could create
    # a folder where the next one is to be made.
    predict_root = Path(tempfile.mkdtemp(prefix="predict-", dir=job))
    try:
        harness.materialize(predict_root, include_hidden=False, skip=("public", "hidden"))
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
    binds, extra = _binds(tree=tree, env=env, data=data, job=job, include_hidden=False)
    predict = _run(harness.predict, predict_root, python=python, threads=threads, gpu=step_gpu,
                   binds=binds, extra_env=extra)
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
        harness.materialize(score_root, include_hidden=True, skip=("public", "hidden"))
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
    binds, extra = _binds(tree=tree, env=env, data=data, job=job, include_hidden=True)
    scored = _run(harness.score, score_root, python=python, threads=threads, gpu=None,
                  binds=binds, extra_env=extra)
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


def _run(spec: StepSpec, root: Path, *, python: str, threads: int, gpu: int | None,
         binds: list[sandbox.Mount], extra_env: dict[str, str]) -> sandbox.StepResult:
    env = step_env(python=python, threads=threads, gpu=gpu)
    env.update(extra_env)
    return sandbox.run_step(
        step_argv(spec.command, python=python),
        root=root,
        binds=binds,
        env=env,
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

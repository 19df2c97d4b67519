"""Load and validate an autograder harness bundle (docs/harness.md has the contract).

Imports no Django.  Public API:

    load_harness(path) -> Harness      # a folder or a zip with harness.toml at its root
    HarnessError                       # the message names the field and what to fix
    Harness.materialize(dest, *, include_hidden)   # copy its files into a job folder

A bundle is ``harness.toml`` plus optional ``public/`` (inputs the student's code
may read), optional ``hidden/`` (reference data only the score step sees) and
any other files (harness code).  A zip may wrap everything in one top-level
folder.  Names the runner creates in job folders (``submission/``, ``outputs/``,
``predict_status.json``, ``results.json``) may not appear in a bundle.

``Harness.sha256`` identifies the bundle's contents (paths and bytes of its
regular files, junk such as ``__pycache__`` ignored): the same files zipped or in
a folder give the same digest, and any change gives another.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import tomllib
from pathlib import Path
from typing import Any

from projects.runner import archive
from projects.runner.datasets import NAME_RE as DATASET_NAME_RE
from projects.runner.environments import EnvSpec

MANIFEST = "harness.toml"
RESERVED = ("submission", "outputs", "predict_status.json", "results.json")
MAX_HARNESS_FILES = 10_000
MAX_HARNESS_BYTES = 2 * 1024**3
MAX_MANIFEST_BYTES = 64 * 1024
MAX_TIMEOUT_S = 4 * 3600
MIN_MEMORY_MB, MAX_MEMORY_MB = 64, 512 * 1024
MAX_POINTS = 10_000

_TOP_KEYS = {
    "name", "version", "description", "timeout_s", "memory_mb", "gpus", "points",
    "extra_credit", "predict", "score", "environment", "data",
}  # fmt: skip
_STEP_KEYS = {"command", "timeout_s", "memory_mb"}
_ENV_KEYS = {"requirements", "python", "index", "base"}
MAX_REQUIREMENTS_BYTES = 256 * 1024


class HarnessError(Exception):
    """The bundle is unusable; the message says which file or field and what to fix."""


@dataclasses.dataclass(frozen=True)
class StepSpec:
    command: tuple[str, ...]  # argv; "python"/"python3" as argv[0] means the runner's interpreter
    timeout_s: float  # wall-clock limit, seconds
    memory_mb: int


@dataclasses.dataclass(frozen=True)
class Harness:
    source: Path  # the folder or zip it was loaded from
    prefix: str  # folder inside the zip holding harness.toml ("" at the root)
    name: str
    version: str  # the instructor's label ("" if none); the digest is ``sha256``
    points: float  # the part's maximum, in points
    gpus: int  # 0 or 1
    extra_credit: bool  # True: a score above ``points`` is kept, not clamped
    predict: StepSpec
    score: StepSpec
    files: tuple[str, ...]  # relative paths of its regular files, sorted
    sha256: str
    environment: EnvSpec | None = None  # [environment]; None: the worker's interpreter
    data: tuple[tuple[str, str], ...] = ()  # [data]: (mount name under /data, dataset name[@version])

    @property
    def timeout_s(self) -> float:
        return self.predict.timeout_s

    @property
    def memory_mb(self) -> int:
        return self.predict.memory_mb

    def materialize(self, dest: Path, *, include_hidden: bool, skip: tuple[str, ...] = ()) -> None:
        """Copy the bundle's files into the existing folder ``dest``.

        ``include_hidden=False`` leaves out ``hidden/`` entirely (the predict step);
        its files are never written, not even temporarily.  ``skip`` names
        top-level folders left out (``public``, ``hidden``: bound read-only instead).
        """
        source = _open(self.source)
        try:
            entries = []
            for entry in source.entries:
                rel = _strip(entry.path, self.prefix)
                if rel is None or (not include_hidden and _is_hidden(rel)):
                    continue
                if rel.split("/", 1)[0] in skip:
                    continue
                entries.append(dataclasses.replace(entry, path=rel))
            archive.write_entries(entries, Path(dest), max_bytes=MAX_HARNESS_BYTES)
        except archive.ArchiveError as exc:
            raise HarnessError(f"harness bundle {self.source.name}: {exc}") from None
        finally:
            source.close()


def _is_hidden(rel: str) -> bool:
    return rel == "hidden" or rel.startswith("hidden/")


def _strip(path: str, prefix: str) -> str | None:
    if not prefix:
        return path
    return path[len(prefix) + 1 :] if path.startswith(prefix + "/") else None


def _open(path: Path) -> archive.Source:
    try:
        return archive.open_source(
            path, max_files=MAX_HARNESS_FILES, max_bytes=MAX_HARNESS_BYTES, max_ratio=10_000
        )
    except archive.ArchiveError as exc:
        raise HarnessError(f"harness bundle {path.name}: {exc}") from None


def load_harness(path: Path | str) -> Harness:
    """Read and validate a harness folder or zip; raise HarnessError saying what to fix."""
    path = Path(path)
    source = _open(path)
    try:
        by_path = {e.path: e for e in source.entries}
        if MANIFEST in by_path:
            prefix = ""
        else:
            tops = {p.split("/", 1)[0] for p in by_path}
            candidate = next(iter(tops)) if len(tops) == 1 else None
            if candidate is None or f"{candidate}/{MANIFEST}" not in by_path:
                raise HarnessError(
                    f"harness bundle {path.name}: no {MANIFEST} at its root; put harness.toml "
                    "next to public/ and hidden/ (a zip may wrap them in one folder)."
                )
            prefix = candidate
        files = sorted(r for p in by_path if (r := _strip(p, prefix)) is not None)
        for rel in files:
            top = rel.split("/", 1)[0]
            if top in RESERVED:
                raise HarnessError(
                    f"harness bundle {path.name}: {top!r} is reserved for the runner "
                    "(it creates submission/, outputs/, predict_status.json and results.json "
                    "in each job folder); rename or remove it."
                )
        manifest = by_path[f"{prefix}/{MANIFEST}" if prefix else MANIFEST]
        if manifest.size > MAX_MANIFEST_BYTES:
            raise HarnessError(f"{MANIFEST} is larger than {MAX_MANIFEST_BYTES // 1024} KB.")
        config = _parse_manifest(b"".join(archive.iter_entry_bytes(manifest, MAX_MANIFEST_BYTES)))
        environment = _environment(config.get("environment"), by_path, prefix)
        digest = _digest(source.entries, prefix)
    except archive.ArchiveError as exc:
        raise HarnessError(f"harness bundle {path.name}: {exc}") from None
    finally:
        source.close()

    default_timeout = _positive(config, "timeout_s", "timeout_s", maximum=MAX_TIMEOUT_S)
    default_memory = _memory(config, "memory_mb", "memory_mb")
    steps = {}
    for step in ("predict", "score"):
        table = config.get(step)
        if not isinstance(table, dict):
            raise HarnessError(
                f'{MANIFEST}: missing [{step}] table; add e.g.\n[{step}]\ncommand = ["python", "{step}.py"]'
            )
        _no_unknown(table, _STEP_KEYS, f"[{step}]")
        steps[step] = StepSpec(
            command=_command(table.get("command"), step, files),
            timeout_s=(
                _positive(table, "timeout_s", f"{step}.timeout_s", maximum=MAX_TIMEOUT_S)
                if "timeout_s" in table
                else default_timeout
            ),
            memory_mb=(
                _memory(table, "memory_mb", f"{step}.memory_mb") if "memory_mb" in table else default_memory
            ),
        )
    gpus = config.get("gpus", 0)
    if gpus not in (0, 1) or isinstance(gpus, bool):
        raise HarnessError(f"{MANIFEST}: gpus must be 0 or 1, not {gpus!r}.")
    extra = config.get("extra_credit", False)
    if not isinstance(extra, bool):
        raise HarnessError(f"{MANIFEST}: extra_credit must be true or false, not {extra!r}.")
    return Harness(
        source=path,
        prefix=prefix,
        name=_string(config, "name") or (prefix or path.stem),
        version=_string(config, "version"),
        points=_positive(config, "points", "points", maximum=MAX_POINTS),
        gpus=gpus,
        extra_credit=extra,
        predict=steps["predict"],
        score=steps["score"],
        files=tuple(files),
        sha256=digest,
        environment=environment,
        data=_data(config.get("data")),
    )


def _environment(table: Any, by_path: dict[str, archive.Entry], prefix: str) -> EnvSpec | None:
    if table is None:
        return None
    example = 'add e.g.\n[environment]\nrequirements = "env/requirements.txt"'
    if not isinstance(table, dict):
        raise HarnessError(f"{MANIFEST}: [environment] must be a table; {example}")
    _no_unknown(table, _ENV_KEYS, "[environment]")
    rel = table.get("requirements")
    if not isinstance(rel, str) or not rel:
        raise HarnessError(f"{MANIFEST}: [environment] requirements must name a file of the bundle; {example}")
    entry = by_path.get(f"{prefix}/{rel}" if prefix else rel)
    if entry is None:
        raise HarnessError(f"{MANIFEST}: [environment] requirements = {rel!r} is not in the bundle.")
    if _is_hidden(rel) or rel == "public" or rel.startswith("public/"):
        raise HarnessError(f"{MANIFEST}: keep [environment] requirements outside public/ and hidden/.")
    raw = b"".join(archive.iter_entry_bytes(entry, MAX_REQUIREMENTS_BYTES))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise HarnessError(f"{rel} is not UTF-8 text.") from None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.split("#", 1)[0].strip()
        if not stripped or stripped.startswith("--hash") or stripped.endswith("\\"):
            continue
        if stripped.startswith("-"):
            raise HarnessError(
                f"{rel} line {number}: options such as {stripped.split()[0]} are not allowed; the node's "
                "administrator sets where packages come from (docs/harness.md, Python environments)."
            )
        if "==" not in stripped:
            raise HarnessError(f"{rel} line {number}: {stripped!r} must be pinned with ==, e.g. tqdm==4.67.1.")
    python = table.get("python")
    if python is not None and (not isinstance(python, str) or not python.replace(".", "").isdigit()):
        raise HarnessError(f'{MANIFEST}: [environment] python must be a version such as "3.11", not {python!r}.')
    index = table.get("index")
    if index is not None and index not in ("cpu", "cuda"):
        raise HarnessError(f'{MANIFEST}: [environment] index must be "cpu" or "cuda", not {index!r}.')
    base = table.get("base", True)
    if not isinstance(base, bool):
        raise HarnessError(f"{MANIFEST}: [environment] base must be true or false, not {base!r}.")
    return EnvSpec(requirements=text, requirements_path=rel, python=python, index=index, base=base)


def _data(table: Any) -> tuple[tuple[str, str], ...]:
    if table is None:
        return ()
    if not isinstance(table, dict):
        raise HarnessError(f'{MANIFEST}: [data] must be a table, e.g.\n[data]\ncifar10 = "cifar10"')
    out = []
    for mount, value in sorted(table.items()):
        if not DATASET_NAME_RE.match(mount):
            raise HarnessError(
                f"{MANIFEST}: [data] {mount!r}: use lowercase letters, digits, '-' or '_' "
                "(it becomes the folder /data/<name>)."
            )
        name = value.split("@", 1)[0] if isinstance(value, str) else ""
        if not DATASET_NAME_RE.match(name):
            raise HarnessError(
                f'{MANIFEST}: [data] {mount} must name a registered dataset, e.g. {mount} = "{mount}" '
                f'(or "{mount}@<version prefix>" to pin one version), not {value!r}.'
            )
        out.append((mount, value))
    return tuple(out)


def _parse_manifest(raw: bytes) -> dict[str, Any]:
    if len(raw) > MAX_MANIFEST_BYTES:
        raise HarnessError(f"{MANIFEST} is larger than {MAX_MANIFEST_BYTES // 1024} KB.")
    try:
        config = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise HarnessError(f"{MANIFEST} is not UTF-8 text.") from None
    except tomllib.TOMLDecodeError as exc:
        raise HarnessError(f"{MANIFEST} is not valid TOML: {exc}.") from None
    _no_unknown(config, _TOP_KEYS, MANIFEST)
    for key in ("timeout_s", "memory_mb", "points"):
        if key not in config:
            raise HarnessError(f"{MANIFEST}: missing {key}; {_HINTS[key]}")
    return config


_HINTS = {
    "timeout_s": "add e.g. timeout_s = 60 (seconds of wall time for the predict step).",
    "memory_mb": "add e.g. memory_mb = 4096 (memory limit of each step, MB).",
    "points": "add e.g. points = 10 (the part's maximum score).",
}


def _no_unknown(table: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise HarnessError(
            f"{where}: unknown key {unknown[0]!r}; allowed keys are {', '.join(sorted(allowed))}."
        )


def _positive(table: dict, key: str, field: str, *, maximum: float) -> float:
    value = table.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise HarnessError(f"{MANIFEST}: {field} must be a number, not {value!r}.")
    if not (math.isfinite(value) and 0 < value <= maximum):
        raise HarnessError(f"{MANIFEST}: {field} must be above 0 and at most {maximum:g}.")
    return float(value)


def _memory(table: dict, key: str, field: str) -> int:
    value = table.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise HarnessError(f"{MANIFEST}: {field} must be a whole number of MB, not {value!r}.")
    if not MIN_MEMORY_MB <= value <= MAX_MEMORY_MB:
        raise HarnessError(f"{MANIFEST}: {field} must be between {MIN_MEMORY_MB} and {MAX_MEMORY_MB} MB.")
    return value


def _string(table: dict, key: str) -> str:
    value = table.get(key, "")
    if not isinstance(value, str):
        raise HarnessError(f"{MANIFEST}: {key} must be a string, not {value!r}.")
    return value


def _command(value: Any, step: str, files: list[str]) -> tuple[str, ...]:
    example = f'command = ["python", "{step}.py"]'
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(a, str) and a and "\x00" not in a for a in value)
    ):
        raise HarnessError(
            f"{MANIFEST}: [{step}] command must be a non-empty list of strings, e.g. {example}."
        )
    if value[0] in ("python", "python3") and len(value) > 1 and value[1].endswith(".py"):
        if value[1] not in files:
            raise HarnessError(f"{MANIFEST}: [{step}] command runs {value[1]!r}, which is not in the bundle.")
    if step == "predict" and len(value) > 1 and _is_hidden(value[1]):
        raise HarnessError(f"{MANIFEST}: the predict step cannot run a file from hidden/.")
    return tuple(value)


def _digest(entries: list[archive.Entry], prefix: str) -> str:
    outer = hashlib.sha256()
    for entry in sorted(entries, key=lambda e: e.path):
        rel = _strip(entry.path, prefix)
        if rel is None:
            continue
        inner = hashlib.sha256()
        for chunk in archive.iter_entry_bytes(entry, MAX_HARNESS_BYTES):
            inner.update(chunk)
        outer.update(rel.encode() + b"\0" + inner.hexdigest().encode() + b"\n")
    return outer.hexdigest()

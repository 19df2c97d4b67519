"""Read the ``results.json`` a harness's score step writes (Gradescope's format).

Imports no Django.  Public API:

    read_results(path, *, max_bytes=MAX_RESULTS_BYTES) -> Results
    parse_results(data: bytes | str) -> Results
    ResultsError: the file is missing, too large, not JSON, or not the format.

The format (https://gradescope-autograders.readthedocs.io/en/latest/specs/):

    {"score": 7.5,                       # optional: defaults to the sum of test scores
     "output": "text shown above tests", # optional
     "execution_time": 12,               # optional, number or numeric string (seconds)
     "tests": [{"name": "masked output", "score": 2, "max_score": 2,
                "output": "max |diff| = 3e-7", "visibility": "visible"}]}

Reading is tolerant: unknown keys are ignored, numbers may be numeric strings,
``tests`` may be missing.  It is strict where a wrong guess would post a wrong
grade: a non-finite or non-numeric ``score`` is an error.  A ``visibility`` that is
not one of Gradescope's values becomes ``"hidden"`` (fail closed: a typo must not
show a hidden test); a missing one is ``"visible"`` (Gradescope's default).
Texts are cut to ``MAX_TEXT_CHARS`` each and the list to ``MAX_TESTS`` tests.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import stat
from pathlib import Path
from typing import Any

MAX_RESULTS_BYTES = 1024 * 1024
MAX_TESTS = 500
MAX_TEXT_CHARS = 16 * 1024
VISIBILITIES = frozenset({"visible", "hidden", "after_due_date", "after_published"})


class ResultsError(Exception):
    """results.json is missing or unusable; the message names what to fix in the harness."""


@dataclasses.dataclass
class Results:
    score: float  # as the harness reported it (or the sum of test scores); not clamped
    tests: list[dict[str, Any]]
    output: str = ""
    execution_time: float | None = None
    score_was_given: bool = True  # False when ``score`` was summed from the tests


def read_results(path: Path | str, *, max_bytes: int = MAX_RESULTS_BYTES) -> Results:
    """Read and parse ``path``; refuse links, special files and files over ``max_bytes``."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ResultsError(
            f"The score step wrote no {path.name}; it must write results.json in its working directory."
        ) from None
    except OSError as exc:
        raise ResultsError(f"{path.name} could not be opened ({exc.strerror}).") from None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ResultsError(f"{path.name} is not a regular file.")
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ResultsError(f"{path.name} is larger than {max_bytes // 1024} KB; shorten the test outputs.")
    return parse_results(data)


def parse_results(data: bytes | str) -> Results:
    try:
        raw = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ResultsError(f"results.json is not valid JSON ({exc}).") from None
    except RecursionError:
        raise ResultsError("results.json is nested too deeply.") from None
    if not isinstance(raw, dict):
        raise ResultsError("results.json must hold a JSON object with 'score' and/or 'tests'.")

    tests_raw = raw.get("tests", [])
    if tests_raw is None:
        tests_raw = []
    if not isinstance(tests_raw, list):
        raise ResultsError("results.json: 'tests' must be a list of objects.")
    tests = [_test(i, t) for i, t in enumerate(tests_raw[:MAX_TESTS])]

    if raw.get("score") is None:
        if not tests:
            raise ResultsError("results.json has neither 'score' nor 'tests'; write at least one.")
        score = sum(t["score"] or 0.0 for t in tests)
        given = False
    else:
        score = _number(raw["score"], "score")
        given = True

    exec_time = raw.get("execution_time")
    try:
        exec_time = None if exec_time is None else _number(exec_time, "execution_time")
    except ResultsError:
        exec_time = None  # informational only; never fail a grade over it
    return Results(
        score=score,
        tests=tests,
        output=_text(raw.get("output")),
        execution_time=exec_time,
        score_was_given=given,
    )


def _test(index: int, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ResultsError(f"results.json: tests[{index}] must be an object.")
    where = f"tests[{index}]"
    score = None if raw.get("score") is None else _number(raw["score"], f"{where}.score")
    max_score = None if raw.get("max_score") is None else _number(raw["max_score"], f"{where}.max_score")
    visibility = raw.get("visibility", "visible")
    if visibility not in VISIBILITIES:
        visibility = "hidden"
    name = raw.get("name")
    test = {
        "name": _text(name) if name is not None else f"Test {index + 1}",
        "score": score,
        "max_score": max_score,
        "output": _text(raw.get("output")),
        "visibility": visibility,
    }
    for key in ("number", "status"):
        if isinstance(raw.get(key), str | int | float) and not isinstance(raw.get(key), bool):
            test[key] = _text(raw[key])
    return test


def _number(value: Any, field: str) -> float:
    if isinstance(value, bool):
        raise ResultsError(f"results.json: {field} must be a number, not {value!r}.")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise ResultsError(f"results.json: {field} must be a number, not {value!r}.") from None
    if not isinstance(value, int | float):
        raise ResultsError(f"results.json: {field} must be a number, not {type(value).__name__}.")
    try:
        value = float(value)
    except OverflowError:
        raise ResultsError(f"results.json: {field} is too large.") from None
    if not math.isfinite(value):
        raise ResultsError(f"results.json: {field} must be finite, not {value!r}.")
    return value


def _text(value: Any) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value)
    if len(text) > MAX_TEXT_CHARS:
        text = text[:MAX_TEXT_CHARS] + f"\n... [{len(text) - MAX_TEXT_CHARS} characters cut]"
    return text

"""The shipped example harnesses grade their sample submissions as documented.

Each grade imports PyTorch twice (predict and score), about 2-4 s on a laptop CPU.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from projects.runner.harness import load_harness
from projects.runner.runner import GradeStatus, grade

HARNESSES = Path(__file__).resolve().parents[1] / "harnesses"


def run(example: str, sample: str):
    record = grade(HARNESSES / example / "harness", HARNESSES / example / "samples" / sample)
    assert record.status is GradeStatus.COMPLETED, record.error
    return record


def scores(record) -> dict[str, float]:
    return {t["name"]: t["score"] for t in record.tests}


def test_mhsa_correct_gets_full_marks():
    record = run("mhsa", "correct")
    assert (record.score, record.max_score) == (10.0, 10.0)
    assert record.error == ""


def test_mhsa_partial_loses_only_the_masked_test():
    record = run("mhsa", "partial")
    assert record.score == 8.0
    assert scores(record)["output with causal + padding mask"] == 0
    assert "too large" in next(t for t in record.tests if t["score"] == 0)["output"]


def test_mhsa_crash_scores_zero_and_shows_the_error():
    record = run("mhsa", "crash")
    assert record.score == 0.0
    assert "NotImplementedError: TODO: implement multi-head self-attention" in record.error
    assert "NotImplementedError" in record.output
    assert all("your code raised during the" in t["output"] for t in record.tests[1:])


def test_classifier_correct_gets_full_marks():
    record = run("classifier", "correct")
    assert record.score == 10.0
    assert record.output.startswith("Test accuracy: 0.8") or record.output.startswith("Test accuracy: 0.9")


def test_classifier_partial_gets_the_lowest_threshold():
    record = run("classifier", "partial")
    assert record.score == 4.0
    assert scores(record)["test accuracy at least 60%"] == 3
    assert scores(record)["test accuracy at least 75%"] == 0


def test_classifier_crash_scores_zero_and_shows_the_error():
    record = run("classifier", "crash")
    assert record.score == 0.0
    assert "RuntimeError: mat1 and mat2 shapes cannot be multiplied" in record.error
    assert "mat1 and mat2" in record.tests[0]["output"]


def test_trivial_is_fast():
    record = run("trivial", "correct")
    assert record.score == 1.0
    assert record.durations["total_s"] < 5


def zipped(example: str, tmp_path: Path) -> Path:
    folder = HARNESSES / example / "harness"
    bundle = tmp_path / f"{example}.zip"
    with zipfile.ZipFile(bundle, "w") as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                zf.write(path, f"{example}/{path.relative_to(folder)}")
    return bundle


@pytest.mark.parametrize("example", ["mhsa", "classifier", "trivial"])
def test_a_zipped_harness_has_its_folders_digest(tmp_path, example):
    zipped_digest = load_harness(zipped(example, tmp_path)).sha256
    assert zipped_digest == load_harness(HARNESSES / example / "harness").sha256


def test_a_zipped_harness_grades_like_its_folder(tmp_path):
    record = grade(zipped("trivial", tmp_path), HARNESSES / "trivial" / "samples" / "correct")
    assert record.status is GradeStatus.COMPLETED, record.error
    assert record.score == 1.0

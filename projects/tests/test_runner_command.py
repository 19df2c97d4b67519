"""``manage.py grade_submission``: the runner CLI through Django, same output and exit status."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

TRIVIAL = Path(__file__).resolve().parents[1] / "harnesses" / "trivial"


def test_grade_submission_prints_the_record():
    out = io.StringIO()
    call_command(
        "grade_submission", str(TRIVIAL / "harness"), str(TRIVIAL / "samples/correct"), "--quiet", stdout=out
    )
    record = json.loads(out.getvalue())
    assert (record["status"], record["score"], record["max_score"]) == ("completed", 1.0, 1.0)


def test_grade_submission_fails_with_the_reason_and_exit_status(tmp_path):
    out = io.StringIO()
    with pytest.raises(CommandError) as info:
        call_command(
            "grade_submission", str(TRIVIAL / "harness"), str(tmp_path / "missing.zip"), "--quiet", stdout=out
        )
    assert info.value.returncode == 4
    assert (
        str(info.value) == f"grading failed (submission_error): '{tmp_path / 'missing.zip'}' does not exist."
    )
    assert json.loads(out.getvalue())["status"] == "submission_error"

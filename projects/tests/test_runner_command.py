"""``manage.py grade_submission``: the runner CLI through Django, same output and exit status."""

from __future__ import annotations

import io
import json
import os
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


# --- attacks through the command (issue 6); the worker path is test_e2e_attacks.py ----------------

ECHO_HARNESS = Path(__file__).resolve().parent / "fixtures" / "echo" / "harness"
ATTACKS = Path(__file__).resolve().parent / "attacks"


def _step_uid_processes(uid: int) -> list[int]:
    pids = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            lines = status.read_text().splitlines()
        except OSError:
            continue
        pids += [int(status.parent.name) for line in lines if line.startswith("Uid:") and str(uid) in line.split()[1:]]
    return pids


def grade_attack(tmp_path: Path, script: str, *args: str) -> dict:
    """``manage.py grade_submission`` on the echo harness with attacks/<script> as the student's main.py."""
    from projects.runner import jail

    ok, why = jail.available()
    if not ok:
        if os.environ.get("SANDBOX_REQUIRED") == "1":
            pytest.fail(f"SANDBOX_REQUIRED=1 but the jail is unavailable: {why}")
        pytest.skip(f"the jail is unavailable here: {why}")
    submission = tmp_path / "submission"
    submission.mkdir()
    (submission / script).write_text((ATTACKS / script).read_text())
    (submission / "main.py").write_text(f"import runpy, sys\nsys.argv = [{script!r}, *{list(args)!r}]\n"
                                        f"runpy.run_path('submission/{script}', run_name='__main__')\n")
    out = io.StringIO()
    call_command("grade_submission", str(ECHO_HARNESS), str(submission), "--quiet",
                 "--work-root", str(tmp_path), stdout=out)  # exit status 0: grading completed
    record = json.loads(out.getvalue())
    assert record["status"] == "completed" and record["sandbox"]["backend"] == "jail", record["error"]
    assert [p for p in tmp_path.iterdir() if p.name.startswith("grade-")] == []  # the job folder is gone
    return record


@pytest.mark.parametrize(("script", "status", "limit", "says"), [
    ("fork_bomb.py", "pids_limit", "pids", "stopped by the pids limit"),
    ("memory_hog.py", "memory_limit", "memory_mb", "ran out of memory (memory limit 512 MB)"),
    ("print_flood.py", "output_limit", "output_bytes", "stopped by the output_bytes limit"),
    ("stubborn.py", "timeout", "wall_s", "timed out after 5 s (timeout_s)"),
])
def test_an_attack_through_the_command_ends_with_the_limit_named(tmp_path, script, status, limit, says):
    record = grade_attack(tmp_path, script)
    assert (record["predict"]["status"], record["predict"]["limit"]) == (status, limit)
    assert says in record["error"]
    assert record["score"] == 0


def test_a_lurking_daemon_is_gone_when_the_command_returns(tmp_path):
    record = grade_attack(tmp_path, "lurker.py", json.dumps({"a": 1, "b": 2, "c": 3, "d": 4}))
    assert record["predict"]["status"] == "ok" and record["score"] == 0
    uids = [int(m.split(":")[1]) for m in record["sandbox"]["mechanisms"] if m.startswith("uid:")]
    assert uids and _step_uid_processes(uids[0]) == []

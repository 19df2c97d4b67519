"""grade(): the job's life cycle, failures, and what student code can and cannot reach.

These harnesses import nothing heavy, so each grade takes a fraction of a second;
test_runner_examples.py runs the shipped PyTorch harnesses.  The steps run on the
default sandbox backend (the jail where bubblewrap can run, else processes).
"""

from __future__ import annotations

import io
import json
import os
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import pytest

from projects.runner import __main__ as cli
from projects.runner import sandbox
from projects.runner.runner import GradeStatus, default_threads, grade

JAIL = sandbox.backend_info()["backend"] == "jail"
ENFORCES_READ_ONLY = JAIL or os.geteuid() != 0

MANIFEST = """
timeout_s = {timeout_s}
memory_mb = 1024
gpus = {gpus}
points = 10
{extra}
[predict]
command = ["python", "predict.py"]

[score]
command = ["python", "score.py"]
"""

# The predict side: run the student's main.py, as a harness would import it.
PREDICT = """
import runpy
runpy.run_path("submission/main.py", run_name="__main__")
"""

# The score side reports what it saw, so tests can look at the trusted view.
SCORE = """
import json, os
status = json.load(open("predict_status.json"))
listing = sorted(
    os.path.relpath(os.path.join(folder, name), "outputs")
    for folder, dirs, files in os.walk("outputs") for name in files + dirs
)
answer = ""
if os.path.isfile("outputs/answer.txt"):
    answer = open("outputs/answer.txt").read(100).strip()
score = 10 if answer == "42" else 0
seen = {"status": status, "outputs": listing, "hidden": open("hidden/secret.txt").read()}
json.dump({"score": score, "output": json.dumps(seen),
           "tests": [{"name": "answer", "score": score, "max_score": 10}]}, open("results.json", "w"))
"""

SECRET = "TOP-SECRET-REFERENCE-7781"


def make_harness(
    tmp_path: Path, *, score: str = SCORE, timeout_s: float = 10, gpus: int = 0, extra: str = ""
) -> Path:
    root = tmp_path / "harness"
    (root / "hidden").mkdir(parents=True)
    (root / "public").mkdir()
    (root / "harness.toml").write_text(MANIFEST.format(timeout_s=timeout_s, gpus=gpus, extra=extra))
    (root / "predict.py").write_text(PREDICT)
    (root / "score.py").write_text(textwrap.dedent(score))
    (root / "hidden/secret.txt").write_text(SECRET)
    (root / "public/input.txt").write_text("6 * 7")
    return root


def make_submission(tmp_path: Path, main: str) -> Path:
    root = tmp_path / "submission"
    root.mkdir()
    (root / "main.py").write_text(textwrap.dedent(main))
    return root


def seen_by_score(record) -> dict:
    return json.loads(record.output)


ANSWER = """
with open("outputs/answer.txt", "w") as fh:
    fh.write(str(eval(open("public/input.txt").read())))
"""


def test_a_right_answer_gets_full_marks_and_a_complete_record(tmp_path):
    record = grade(make_harness(tmp_path), make_submission(tmp_path, ANSWER))
    assert record.status is GradeStatus.COMPLETED
    assert (record.score, record.max_score, record.raw_score) == (10.0, 10.0, 10.0)
    assert record.tests[0]["name"] == "answer"
    assert record.predict["status"] == "ok" and record.score_step["status"] == "ok"
    assert record.outputs["copied"] == ["answer.txt"]
    assert len(record.harness_version) == 64 and len(record.submission_sha256) == 64
    assert record.submission_files == ["main.py"]
    assert record.error == ""
    json.dumps(record.as_dict())  # JSON-serialisable as it is


@pytest.mark.skipif(not ENFORCES_READ_ONLY, reason="the process backend runs steps as root")
def test_the_score_step_sees_hidden_data_and_a_read_only_copy_of_outputs(tmp_path):
    score = SCORE.replace(
        'answer = ""',
        'answer = ""\ntry:\n    open("outputs/answer.txt", "a").write("x")\n    raise SystemExit("writable")\n'
        "except PermissionError:\n    pass",
    )
    record = grade(make_harness(tmp_path, score=score), make_submission(tmp_path, ANSWER))
    assert record.score == 10.0, record.score_step["stderr"]
    assert seen_by_score(record)["hidden"] == SECRET


def test_a_crash_scores_zero_and_the_record_shows_the_error(tmp_path):
    main = """
    def train():
        raise ValueError("learning rate must be positive")
    train()
    """
    record = grade(make_harness(tmp_path), make_submission(tmp_path, main))
    assert record.status is GradeStatus.COMPLETED
    assert record.score == 0.0
    assert record.error == "predict step failed (exit code 1): ValueError: learning rate must be positive"
    assert "line 3, in train" in record.predict["stderr"]
    status = seen_by_score(record)["status"]
    assert status["ok"] is False and status["exit_code"] == 1
    assert "ValueError: learning rate must be positive" in status["stderr_tail"]


@pytest.mark.parametrize(
    "escape",
    [
        "pass",
        pytest.param(
            "os.setsid()",
            marks=pytest.mark.skipif(not JAIL, reason="only the jail ends a child in its own session"),
        ),
    ],
)
def test_a_submission_that_sleeps_forever_times_out_within_the_limit(tmp_path, escape):
    main = f"""
    import os, time
    if os.fork() == 0:
        {escape}
        time.sleep(1000)
    time.sleep(1000)
    """
    started = time.monotonic()
    record = grade(make_harness(tmp_path, timeout_s=1), make_submission(tmp_path, main))
    assert time.monotonic() - started < 15
    assert record.status is GradeStatus.COMPLETED
    assert record.score == 0.0
    assert record.predict["status"] == "timeout"
    assert record.error == "predict step timed out after 1 s (timeout_s)"
    status = seen_by_score(record)["status"]
    assert status["timed_out"] is True and status["limit"] == "wall_s"


def test_hidden_data_is_not_in_the_predict_workspace(tmp_path):
    main = f"""
    import os
    found = []
    for folder, dirs, files in os.walk("."):  # the whole job folder, contents too
        for name in files + dirs:
            path = os.path.join(folder, name)
            if name in ("hidden", "secret.txt"):
                found.append(path)
            elif os.path.isfile(path) and "{SECRET[:6]}" + "{SECRET[6:]}" in open(path, errors="ignore").read():
                found.append(path)
    for folder, dirs, files in os.walk(".."):  # around it, names only, not too deep
        if folder.count(os.sep) >= 3 or folder.startswith(("../proc", "../sys", "../usr")):
            dirs[:] = []
        found += [os.path.join(folder, n) for n in files + dirs if n in ("hidden", "secret.txt")]
    print("FOUND", found)
    """
    record = grade(make_harness(tmp_path), make_submission(tmp_path, main))
    assert record.predict["status"] == "ok", record.predict["stderr"]
    assert "FOUND []" in record.predict["stdout"]


def test_a_forged_results_json_does_not_count(tmp_path):
    main = """
    import json
    forged = {"score": 100, "tests": [{"name": "forged", "score": 100, "max_score": 10}]}
    for path in ("outputs/results.json", "results.json", "outputs/predict_status.json"):
        with open(path, "w") as fh:
            json.dump(forged, fh)
    """
    record = grade(make_harness(tmp_path), make_submission(tmp_path, main))
    assert record.status is GradeStatus.COMPLETED
    assert record.score == 0.0
    assert [t["name"] for t in record.tests] == ["answer"]
    assert seen_by_score(record)["status"]["status"] == "ok"  # the runner's file, not the forgery


def test_symlinks_and_fifos_in_outputs_are_skipped(tmp_path):
    main = """
    import os
    os.symlink("/etc/hostname", "outputs/link")
    os.symlink("../hidden/secret.txt", "outputs/answer.txt")
    os.symlink("/etc", "outputs/dirlink")
    os.mkfifo("outputs/fifo")
    os.makedirs("outputs/deep/er")
    open("outputs/deep/er/ok.txt", "w").write("fine")
    """
    started = time.monotonic()
    record = grade(make_harness(tmp_path), make_submission(tmp_path, main))
    assert time.monotonic() - started < 15  # the FIFO did not hang the copy
    assert record.outputs["copied"] == ["deep/er/ok.txt"]
    skipped = {s["path"]: s["reason"] for s in record.outputs["skipped"]}
    assert skipped == {
        "answer.txt": "symbolic link",
        "dirlink": "symbolic link",
        "fifo": "not a regular file",
        "link": "symbolic link",
    }
    assert seen_by_score(record)["outputs"] == ["deep", "deep/er", "deep/er/ok.txt"]
    assert record.score == 0.0


def test_outputs_over_the_file_cap_are_skipped_not_truncated(tmp_path, monkeypatch):
    from projects.runner import workspace

    monkeypatch.setattr(workspace, "MAX_OUTPUT_FILES", 3)
    monkeypatch.setattr(
        workspace.copy_outputs,
        "__kwdefaults__",
        {
            "max_files": 3,
            "max_bytes": 100,
            "max_depth": 8,
        },
    )
    main = """
    for i in range(5):
        open(f"outputs/f{i}.txt", "w").write("x" * 10)
    open("outputs/big.txt", "w").write("y" * 500)
    """
    record = grade(make_harness(tmp_path), make_submission(tmp_path, main))
    assert record.outputs["copied"] == ["f0.txt", "f1.txt", "f2.txt"]
    reasons = {s["path"]: s["reason"] for s in record.outputs["skipped"]}
    assert reasons["big.txt"] == "outputs exceed 100 bytes"
    assert reasons["f4.txt"] == "more than 3 files"


def test_the_step_environment_is_minimal(tmp_path, monkeypatch):
    monkeypatch.setenv("DJANGO_SECRET_KEY", "do-not-leak")
    main = """
    import json, os, sys
    print("ENV", json.dumps(dict(os.environ)))
    print("EXE", sys.executable)
    """
    record = grade(make_harness(tmp_path), make_submission(tmp_path, main))
    env = json.loads(record.predict["stdout"].split("ENV ", 1)[1].splitlines()[0])
    assert "DJANGO_SECRET_KEY" not in env
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["OMP_NUM_THREADS"] == str(default_threads())
    assert "CUDA_VISIBLE_DEVICES" not in env or env["CUDA_VISIBLE_DEVICES"] == ""
    assert f"EXE {sys.executable}" in record.predict["stdout"]


def test_a_missing_results_json_is_a_harness_error(tmp_path):
    record = grade(make_harness(tmp_path, score="print('forgot')"), make_submission(tmp_path, ANSWER))
    assert record.status is GradeStatus.HARNESS_ERROR
    assert record.score is None
    assert "The score step wrote no results.json" in record.error


def test_an_invalid_results_json_is_a_harness_error(tmp_path):
    score = 'open("results.json", "w").write("{\\"score\\": NaN}")'
    record = grade(make_harness(tmp_path, score=score), make_submission(tmp_path, ANSWER))
    assert record.status is GradeStatus.HARNESS_ERROR
    assert record.error == "results.json: score must be finite, not nan."


def test_a_crashing_score_step_is_a_harness_error_with_its_traceback(tmp_path):
    record = grade(make_harness(tmp_path, score="1 / 0"), make_submission(tmp_path, ANSWER))
    assert record.status is GradeStatus.HARNESS_ERROR
    assert record.error.startswith("score step failed (exit code 1): ZeroDivisionError")
    assert "Traceback" in record.error


def test_the_score_is_clamped_to_the_points(tmp_path):
    score = 'import json; json.dump({"score": 12.5}, open("results.json", "w"))'
    record = grade(make_harness(tmp_path, score=score), make_submission(tmp_path, ANSWER))
    assert (record.score, record.raw_score) == (10.0, 12.5)


def test_a_negative_score_is_clamped_to_zero(tmp_path):
    score = 'import json; json.dump({"score": -3}, open("results.json", "w"))'
    record = grade(make_harness(tmp_path, score=score), make_submission(tmp_path, ANSWER))
    assert (record.score, record.raw_score) == (0.0, -3.0)


def test_extra_credit_keeps_a_score_above_the_points(tmp_path):
    score = 'import json; json.dump({"score": 12.5}, open("results.json", "w"))'
    harness = make_harness(tmp_path, score=score, extra="extra_credit = true")
    assert grade(harness, make_submission(tmp_path, ANSWER)).score == 12.5


def test_an_unsafe_submission_zip_is_a_submission_error(tmp_path):
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("../../evil.py", "x")
    record = grade(make_harness(tmp_path), bad)
    assert record.status is GradeStatus.SUBMISSION_ERROR
    assert "points outside the archive folder" in record.error
    assert record.predict is None


def test_a_zipped_folder_is_unpacked_without_its_top_folder(tmp_path):
    sub = tmp_path / "hw.zip"
    with zipfile.ZipFile(sub, "w") as zf:
        zf.writestr("my-homework/main.py", textwrap.dedent(ANSWER))
        zf.writestr("__MACOSX/my-homework/._main.py", "junk")
    record = grade(make_harness(tmp_path), sub)
    assert record.score == 10.0
    assert record.submission_files == ["main.py"]


def test_an_invalid_harness_is_a_harness_error(tmp_path):
    harness = make_harness(tmp_path)
    (harness / "harness.toml").write_text("points = 10\n")
    record = grade(harness, make_submission(tmp_path, ANSWER))
    assert record.status is GradeStatus.HARNESS_ERROR
    assert "missing timeout_s" in record.error


def test_a_gpu_harness_without_a_gpu_is_an_infrastructure_error(tmp_path):
    record = grade(make_harness(tmp_path, gpus=1), make_submission(tmp_path, ANSWER))
    assert record.status is GradeStatus.INFRASTRUCTURE_ERROR
    assert "needs a GPU (gpus = 1)" in record.error


def test_job_folders_are_deleted_whatever_happens(tmp_path):
    work = tmp_path / "work"
    harness = make_harness(tmp_path)
    for main in (ANSWER, "raise SystemExit(3)", "import os; os.chmod('outputs', 0)"):
        sub = tmp_path / f"s{abs(hash(main))}"
        sub.mkdir()
        (sub / "main.py").write_text(main)
        grade(harness, sub, work_root=work)
        assert list(work.iterdir()) == []
    grade(make_harness(tmp_path / "x", score="1/0"), sub, work_root=work)
    assert list(work.iterdir()) == []


def test_on_log_reports_each_stage(tmp_path):
    lines: list[str] = []
    grade(make_harness(tmp_path), make_submission(tmp_path, ANSWER), on_log=lines.append)
    assert lines[0].startswith("harness harness (")
    assert lines[-1] == "completed: 10 / 10"
    assert any(line.startswith("predict step ended: ok") for line in lines)


def test_the_cli_prints_the_record_and_exits_zero_when_completed(tmp_path):
    out, err = io.StringIO(), io.StringIO()
    options = cli.build_parser().parse_args(
        [str(make_harness(tmp_path)), str(make_submission(tmp_path, "raise SystemExit(1)")), "--quiet"]
    )
    assert cli.run(options, out, err) == (0, "")
    assert json.loads(out.getvalue())["status"] == "completed"
    assert err.getvalue() == ""


def test_the_cli_exits_non_zero_with_the_reason_on_a_harness_error(tmp_path):
    out, err = io.StringIO(), io.StringIO()
    harness = make_harness(tmp_path, score="pass")
    options = cli.build_parser().parse_args([str(harness), str(make_submission(tmp_path, ANSWER))])
    code, reason = cli.run(options, out, err)
    assert code == 3
    assert json.loads(out.getvalue())["status"] == "harness_error"
    assert reason.startswith("grading failed (harness_error): The score step wrote no results.json")
    assert "[runner] predict step ended: ok" in err.getvalue()


def test_python_m_projects_runner_prints_json_and_the_reason(tmp_path):
    import subprocess

    harness = make_harness(tmp_path, score="pass")
    out = subprocess.run(
        [sys.executable, "-m", "projects.runner", str(harness), str(make_submission(tmp_path, ANSWER))],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert out.returncode == 3
    assert json.loads(out.stdout)["status"] == "harness_error"
    assert "grading failed (harness_error): The score step wrote no results.json" in out.stderr


def test_the_runner_imports_no_django():
    import subprocess

    code = (
        "import sys, projects.runner.runner, projects.runner.__main__; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'rest_framework')))"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert out.stdout.strip() == "[]"


def test_stale_job_folders_of_killed_workers_are_swept(tmp_path):
    from projects.runner.workspace import sweep_stale_jobs

    old, fresh, other = tmp_path / "grade-old", tmp_path / "grade-new", tmp_path / "keep-me"
    for folder in (old, fresh, other):
        (folder / "predict-x").mkdir(parents=True)
    long_ago = time.time() - 13 * 3600
    for folder in (old, other):
        os.utime(folder, (long_ago, long_ago))
    assert sweep_stale_jobs(tmp_path) == ["grade-old"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grade-new", "keep-me"]

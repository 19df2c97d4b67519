"""The process backend (SANDBOX_BACKEND=process, laptops without bubblewrap): never hangs, leaves nothing.

It is no security boundary, but a step that leaves a setsid() grandchild holding
its output pipes must not hang the worker: once the main process exits (or the
wall limit hits) every process of the step that can be found is killed and the
pipes get a short drain, so run_step returns within the wall limit + a few seconds.
These tests need no root and no bubblewrap.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from projects.runner import process, sandbox
from projects.runner.sandbox import Limits, Status

PY = sys.executable
SLACK_S = 2 * sandbox.DRAIN_S + 3  # the drain, the pipe-holder search, a loaded CI machine

# The grandchild leaves the session and process group, ignores SIGTERM/SIGHUP,
# keeps (or drops) the inherited stdout/stderr and writes its pid to a file
# before the main process exits.
DAEMON = """
import os, signal, sys, time
mode = sys.argv[1]
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        if mode == "quiet":  # a proper daemon: stdio to /dev/null
            null = os.open("/dev/null", os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
        if mode == "no-marker":  # a fresh environment: only the pipes give it away
            os.execve(sys.executable, [sys.executable, "-c",
                      "import os,time; open('daemon.pid','w').write(str(os.getpid())); time.sleep(3600)"], {})
        open("daemon.pid", "w").write(str(os.getpid()))
        while True:
            print("still here", flush=True)
            time.sleep(0.2)
    os._exit(0)
os.wait()
while not os.path.exists("daemon.pid") or not open("daemon.pid").read():
    time.sleep(0.01)
print("parent done", flush=True)
if mode == "sleep":
    time.sleep(3600)
"""


@pytest.fixture(autouse=True)
def _process_backend(monkeypatch):
    monkeypatch.setenv("SANDBOX_BACKEND", "process")


@pytest.fixture
def job(tmp_path) -> Path:
    root = tmp_path / "job"
    root.mkdir()
    (root / "daemon.py").write_text(DAEMON)
    return root


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in (b"Z", b"X")


def run_daemon(job: Path, mode: str, *, wall_s: float) -> tuple[sandbox.StepResult, float, int]:
    started = time.monotonic()
    result = sandbox.run_step([PY, "daemon.py", mode], root=job, env={"PATH": "/usr/bin:/bin"},
                              limits=Limits(wall_s=wall_s))
    elapsed = time.monotonic() - started
    pid = int((job / "daemon.pid").read_text())
    return result, elapsed, pid


def test_a_setsid_grandchild_holding_the_pipes_does_not_hang_the_step(job):
    result, elapsed, pid = run_daemon(job, "loud", wall_s=60)
    assert result.status is Status.OK, (result.status, result.stderr)
    assert "parent done" in result.stdout
    assert elapsed < SLACK_S  # not the 60 s wall limit, and not forever
    assert not alive(pid)


def test_the_wall_limit_kills_the_grandchild_too(job):
    result, elapsed, pid = run_daemon(job, "sleep", wall_s=1.5)
    assert result.status is Status.TIMEOUT and result.limit == "wall_s"
    assert 1.5 <= elapsed < 1.5 + SLACK_S
    assert not alive(pid)


def test_a_daemon_that_closed_its_output_is_found_by_its_marker(job):
    result, elapsed, pid = run_daemon(job, "quiet", wall_s=60)
    assert result.status is Status.OK
    assert elapsed < SLACK_S
    assert not alive(pid)


def test_a_daemon_with_a_fresh_environment_is_found_by_the_pipes_it_holds(job):
    result, elapsed, pid = run_daemon(job, "no-marker", wall_s=60)
    assert result.status is Status.OK and "parent done" in result.stdout
    assert elapsed < SLACK_S
    assert not alive(pid)


def test_the_step_environment_is_only_what_was_given_plus_the_folder_and_marker(job, monkeypatch):
    monkeypatch.setenv("SECRET_OF_THE_WORKER", "do-not-leak")
    result = sandbox.run_step([PY, "-c", "import os, json; print(json.dumps(dict(os.environ)))"], root=job,
                              env={"PATH": "/usr/bin:/bin"}, limits=Limits(wall_s=20))
    env = json.loads(result.stdout)
    assert set(env) - {"LC_CTYPE"} == {"PATH", "JOB_DIR", process.STEP_MARKER}
    assert env["JOB_DIR"] == str(job)


def test_the_worker_itself_is_never_a_target(job):
    """The step's marker and the search never reach the process that runs the step."""
    assert process.STEP_MARKER not in os.environ
    assert os.getpid() not in process.step_processes(os.getpid(), "no-such-marker")
    result = sandbox.run_step([PY, "-c", "print(1)"], root=job, env={}, limits=Limits(wall_s=20))
    assert result.status is Status.OK and result.stdout == "1\n"

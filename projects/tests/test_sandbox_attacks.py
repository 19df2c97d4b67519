"""Hostile submissions against the jail: every test asserts the concrete outcome.

The attacks live in ``projects/tests/attacks/`` and are run through
``sandbox.run_step`` directly (and through the runner, see the end of the
file).  They need root, bubblewrap and namespaces; without them the tests
skip, unless ``SANDBOX_REQUIRED=1`` (CI), which turns the skip into a failure.
"""

from __future__ import annotations

import http.server
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from projects.runner import cgroups, jail, sandbox
from projects.runner.sandbox import Limits, Mount, Status

ATTACKS = Path(__file__).parent / "attacks"
ROOT = Path(__file__).resolve().parents[2]  # this checkout, wherever it lies
PY = sys.executable
FAST = Limits(wall_s=20, memory_mb=512, pids=64, output_bytes=1 << 20)


def _jail_missing() -> str | None:
    ok, why = jail.available()
    if not ok:
        return why
    if not Path("/proc/self/ns/net").exists():
        return "no network namespaces"
    return None


def _require_jail() -> None:
    why = _jail_missing()
    if why is None:
        return
    message = f"jail backend unavailable here: {why}"
    if os.environ.get("SANDBOX_REQUIRED") == "1":
        pytest.fail(f"SANDBOX_REQUIRED=1 but {message}")
    pytest.skip(message)


@pytest.fixture(autouse=True)
def _jail(monkeypatch):
    _require_jail()
    monkeypatch.setenv("SANDBOX_BACKEND", "jail")
    # A secret in the worker's environment, as settings would put there.
    monkeypatch.setenv("SANDBOX_TEST_CANARY", CANARY)


CANARY = "canary-" + secrets.token_hex(8)


@pytest.fixture
def job(tmp_path):
    root = tmp_path / "job"
    root.mkdir()
    for script in ATTACKS.glob("*.py"):
        shutil.copy(script, root / script.name)
    return root


def run(root: Path, script: str, *args: str, limits: Limits = FAST, **kw) -> sandbox.StepResult:
    env = {"PATH": f"{os.path.dirname(PY)}:/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"}
    return sandbox.run_step([PY, script, *args], root=root, env=env, limits=limits, **kw)


def step_processes() -> list[int]:
    """Host pids running as this worker's step uid."""
    uid = str(jail.step_uid())
    pids = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("Uid:") and uid in line.split()[1:]:
                pids.append(int(status.parent.name))
    return pids


def probes(result: sandbox.StepResult) -> dict:
    assert result.status is Status.OK, (result.status, result.stderr[-2000:])
    return json.loads(result.stdout)


# --- network -----------------------------------------------------------------


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def web_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


@pytest.fixture
def netns_peer():
    """A listener at 10.251.x.2 in a network namespace made here (veth to the host)."""
    if not shutil.which("ip"):
        pytest.skip("iproute2 missing")
    name = f"sbx{os.getpid() % 100000}"
    host_if, peer_if = f"{name}h", f"{name}p"
    subnet = f"10.251.{os.getpid() % 250}"
    cmds = [
        ["ip", "netns", "add", name],
        ["ip", "link", "add", host_if, "type", "veth", "peer", "name", peer_if],
        ["ip", "link", "set", peer_if, "netns", name],
        ["ip", "addr", "add", f"{subnet}.1/30", "dev", host_if],
        ["ip", "link", "set", host_if, "up"],
        ["ip", "-n", name, "addr", "add", f"{subnet}.2/30", "dev", peer_if],
        ["ip", "-n", name, "link", "set", peer_if, "up"],
    ]
    listener = None
    try:
        for cmd in cmds:
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode != 0:
                reason = f"cannot build a test network namespace: {' '.join(cmd)}: {done.stderr}"
                if os.environ.get("SANDBOX_REQUIRED") == "1":
                    pytest.fail(reason)
                pytest.skip(reason)
        listener = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                name,
                PY,
                "-c",
                "import socket,sys;s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);"
                f"s.bind(('{subnet}.2',8765));s.listen();print('up',flush=True)\n"
                "while True:\n c,_=s.accept();c.sendall(b'peer');c.close()",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert listener.stdout.readline().strip() == "up"
        yield f"{subnet}.2", 8765
    finally:
        if listener is not None:
            listener.kill()
            listener.wait()
        subprocess.run(["ip", "link", "del", host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def test_no_network_reaches_anything(job, web_server, netns_peer):
    abstract = f"sandbox-test-{os.getpid()}"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind("\0" + abstract)
    listener.listen()
    addr, port = netns_peer
    # The targets are real: the worker itself reaches them.
    with socket.create_connection(("127.0.0.1", web_server), timeout=2):
        pass
    with socket.create_connection((addr, port), timeout=2) as conn:
        assert conn.recv(4) == b"peer"
    targets = {"web_port": web_server, "netns_addr": addr, "netns_port": port, "abstract": abstract}
    try:
        out = probes(run(job, "network.py", json.dumps(targets)))
    finally:
        listener.close()
    for probe, outcome in out.items():
        assert outcome.startswith("blocked:"), (probe, outcome)
    # seccomp refuses the socket itself (EAFNOSUPPORT), before any routing.
    for probe in ("postgres_tcp", "redis_tcp", "web_loopback", "netns_peer", "udp", "vsock", "netlink"):
        assert out[probe].startswith("blocked:97:"), (probe, out[probe])
    assert out["postgres_unix"].startswith("blocked:2:")  # no /var/run/postgresql inside
    assert out["abstract_unix"].startswith("blocked:111:")  # own netns: own abstract names


# --- secrets and other jobs ----------------------------------------------------


def test_secrets_and_other_jobs_are_invisible(job, tmp_path):
    other = tmp_path / "other-job"
    other.mkdir()
    (other / "submission.py").write_text(f"# {CANARY}\n")
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    (hidden / "reference.csv").write_text(f"{CANARY}\n")
    # The checkout's own files, wherever this checkout lies (CI clones elsewhere than a developer).
    source = [str(ROOT / "courseapp" / "settings.py"), str(ROOT / "manage.py"), str(ROOT / "projects")]
    paths = [str(other), str(other / "submission.py"), str(hidden / "reference.csv"), str(tmp_path), *source]

    result = run(job, "snoop.py", json.dumps(paths), json.dumps([str(ROOT)]))
    out = probes(result)

    assert CANARY not in result.stdout + result.stderr
    assert not any(CANARY in p.read_text(errors="replace") for p in job.rglob("*") if p.is_file())
    for path in paths + ["/etc/shadow", "/root/.ssh"]:
        assert path not in out["read"], path
    assert set(source) <= set(out["errors"])  # each was tried, and refused
    assert "/proc/1/environ" in out["errors"]  # bubblewrap's PID 1 is root's, not the step's
    assert set(out["environ"]) <= {
        "PATH",
        "PYTHONDONTWRITEBYTECODE",
        "HOME",
        "LANG",
        "JOB_DIR",
        "TMPDIR",
        "PWD",
        "LC_CTYPE",
    }
    assert out["environ"]["JOB_DIR"] == "/job"
    # Only the job's own files are there to find: no project source, no earlier job.
    allowed = ("/job/", "/etc/", *(p + "/" for p in jail.python_prefixes()))
    assert not [f for f in out["files"] if not f.startswith(allowed)]
    assert not [f for f in out["files"] if f.startswith(f"{ROOT}/") and "/.venv/" not in f]


def test_cmdline_of_pid1_does_not_reveal_host_paths(job, tmp_path):
    hidden = tmp_path / "secret-location"
    hidden.mkdir()
    result = sandbox.run_step(
        ["/bin/cat", "/proc/1/cmdline"],
        root=job,
        binds=[Mount(hidden, "/job/ref")],
        env={},
        limits=FAST,
    )
    assert result.status is Status.OK
    assert "secret-location" not in result.stdout
    assert "--args" in result.stdout


# --- writes and kernel surface ---------------------------------------------------


def test_writes_outside_the_job_and_kernel_calls_fail(job, tmp_path):
    harness = tmp_path / "harness"
    harness.mkdir()
    (harness / "score.py").write_text("print('honest')\n")
    venv_before = sorted(os.listdir(sys.prefix))
    targets = {"write": ["/job/harness/score.py", "/job/harness/new.py", "/tmp/../usr/y",
                         str(Path(sys.prefix) / "pwned.pth"), str(ROOT / "pwned.py")]}

    out = probes(run(job, "escape.py", json.dumps(targets), binds=[Mount(harness, "/job/harness")]))

    for probe, outcome in out.items():
        if probe.startswith("write:"):
            assert outcome.startswith("denied:"), (probe, outcome)
    for probe in (
        "ptrace_attach_1",
        "unshare_user",
        "unshare_net",
        "mount_tmpfs",
        "setuid_0",
        "chroot",
        "keyctl",
        "bpf",
        "perf_event_open",
        "io_uring_setup",
        "kill_1",
        "mknod",
    ):
        assert out[probe].startswith("denied"), (probe, out[probe])
    status = out["status"]
    assert status["Uid"].split()[0] == str(jail.step_uid())
    assert status["CapEff"] == status["CapBnd"] == status["CapPrm"] == "0000000000000000"
    assert status["NoNewPrivs"] == "1"
    assert status["Seccomp"] == "2"
    assert all(uid != "0" for uid in out["setuid_binary"].values()), out["setuid_binary"]
    assert (harness / "score.py").read_text() == "print('honest')\n"
    assert not (harness / "new.py").exists()
    assert sorted(os.listdir(sys.prefix)) == venv_before


# --- limits -----------------------------------------------------------------------


def test_fork_bomb_ends_with_the_pids_limit(job):
    result = run(job, "fork_bomb.py", limits=Limits(wall_s=20, pids=32))
    assert result.status is Status.PIDS
    assert result.limit == "pids"
    assert result.wall_s < 10
    assert step_processes() == []


def test_allocating_16_gb_ends_with_the_memory_limit(job):
    result = run(job, "memory_hog.py", limits=Limits(wall_s=30, memory_mb=256))
    assert result.status is Status.MEMORY
    assert result.limit == "memory_mb"
    assert "allocated 16 GB" not in result.stdout
    assert result.peak_memory_mb is not None and result.peak_memory_mb <= 257


def test_one_huge_file_ends_with_the_file_size_limit(job):
    result = run(job, "fill_disk.py", "/job", "one", limits=Limits(wall_s=20, fsize_mb=8))
    assert result.status is Status.FSIZE
    assert result.limit == "fsize_mb"
    assert (job / "huge").stat().st_size <= 8 << 20


def test_many_files_end_with_the_disk_limit(job):
    result = run(job, "fill_disk.py", "/job", "many", limits=Limits(wall_s=30, disk_mb=24))
    assert result.status is Status.FSIZE
    assert result.limit == "disk_mb"
    assert result.wall_s < 10


def test_filling_tmp_ends_with_the_tmpfs_limit(job):
    result = run(job, "fill_disk.py", "/tmp", "one", limits=Limits(wall_s=20, tmp_mb=16))
    assert result.status is Status.FSIZE
    assert result.limit == "tmp_mb"
    assert "No space left on device" in result.stderr


def test_printing_1_gb_ends_with_the_output_limit(job):
    result = run(job, "print_flood.py", limits=Limits(wall_s=30, output_bytes=64 << 10))
    assert result.status is Status.OUTPUT
    assert result.limit == "output_bytes"
    assert len(result.stdout.encode()) == 64 << 10
    assert result.wall_s < 5


def test_sleeping_forever_ends_with_the_timeout(job):
    result = sandbox.run_step(["/bin/sleep", "infinity"], root=job, env={}, limits=Limits(wall_s=1))
    assert result.status is Status.TIMEOUT
    assert result.limit == "wall_s"
    assert 1 <= result.wall_s < 3


def test_ignoring_sigterm_is_still_killed(job):
    result = run(job, "stubborn.py", limits=Limits(wall_s=1.5))
    assert result.status is Status.TIMEOUT
    assert result.wall_s < 4
    assert step_processes() == []


def test_cpu_time_limit_is_named(job):
    result = sandbox.run_step(
        [PY, "-c", "while True: pass"], root=job, env={}, limits=Limits(wall_s=10, cpu_s=1)
    )
    assert result.status is Status.CPU
    assert result.limit == "cpu_s"


def test_open_files_are_limited(job):
    code = "import os\nn=0\ntry:\n while True: os.open('/dev/null', 0); n+=1\nexcept OSError as e: print(n, e.errno)"
    result = sandbox.run_step([PY, "-c", code], root=job, env={}, limits=Limits(nofile=64))
    count, err = result.stdout.split()
    assert int(count) < 64 and err == "24"  # EMFILE


# --- nothing outlives the step ------------------------------------------------------


def fresh_jail_tmp() -> dict[str, list[str]]:
    """What /tmp and /dev/shm hold in a jail no job has touched: empty, except the
    mount points of a Python environment that itself lives under /tmp (a CI clone)."""
    seen: dict[str, list[str]] = {"/tmp": [], "/dev/shm": []}
    for prefix in jail.python_prefixes():
        parts = prefix.split("/")
        if len(parts) > 2 and parts[1] == "tmp" and parts[2] not in seen["/tmp"]:
            seen["/tmp"].append(parts[2])
    return seen


def test_double_forked_daemon_is_gone_after_the_step(job, tmp_path):
    result = run(job, "daemon.py", "0.5")
    assert result.status is Status.OK and "parent done" in result.stdout
    assert step_processes() == []
    time.sleep(1.0)  # the daemon would have written its marker by now
    assert not (job / "marker").exists()
    later = tmp_path / "later"
    later.mkdir()
    shutil.copy(ATTACKS / "leave_tmp.py", later)
    seen = probes(run(later, "leave_tmp.py", "look"))
    assert seen == fresh_jail_tmp()


def test_tmp_and_shm_start_empty_for_the_next_job(job, tmp_path):
    assert run(job, "leave_tmp.py", "leave").status is Status.OK
    later = tmp_path / "later"
    later.mkdir()
    shutil.copy(ATTACKS / "leave_tmp.py", later)
    assert probes(run(later, "leave_tmp.py", "look")) == fresh_jail_tmp()


def test_no_job_cgroups_are_left_behind(job):
    run(job, "stubborn.py", limits=Limits(wall_s=0.5))
    mine = f"job-{os.getpid()}-"
    for parent in cgroups._hierarchies().values():
        if parent.exists():
            assert not [p for p in parent.iterdir() if p.name.startswith(mine)], parent


def test_stale_cgroups_of_a_dead_worker_are_swept():
    dead = subprocess.Popen(["true"])
    dead.wait()
    made = []
    for parent in cgroups._hierarchies().values():
        parent.mkdir(exist_ok=True)
        group = parent / f"job-{dead.pid}-0"
        group.mkdir()
        made.append(group)
    removed = cgroups.sweep_stale()
    assert sorted(removed) == sorted(str(g) for g in made)
    assert not any(g.exists() for g in made)


def test_an_exception_in_the_wait_kills_the_step(job):
    """A Celery soft time limit raises inside the wait: the step must not survive it."""

    class SoftTimeLimit(Exception):
        pass

    def raise_soft(signum, frame):
        raise SoftTimeLimit()

    previous = signal.signal(signal.SIGALRM, raise_soft)
    signal.setitimer(signal.ITIMER_REAL, 0.5)
    try:
        with pytest.raises(SoftTimeLimit):
            run(job, "stubborn.py", limits=Limits(wall_s=30))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert step_processes() == []
    mine = f"job-{os.getpid()}-"
    for parent in cgroups._hierarchies().values():
        if parent.exists():
            assert not [p for p in parent.iterdir() if p.name.startswith(mine)]


def test_the_worker_survives_and_runs_the_next_step(job):
    for script, limits in (
        ("fork_bomb.py", Limits(wall_s=5, pids=16)),
        ("memory_hog.py", Limits(wall_s=10, memory_mb=128)),
        ("stubborn.py", Limits(wall_s=0.5)),
    ):
        run(job, script, limits=limits)
    result = sandbox.run_step([PY, "-c", "print(6 * 7)"], root=job, env={}, limits=FAST)
    assert result.status is Status.OK and result.stdout == "42\n"
    assert sandbox.backend_info()["security_boundary"] is True


# --- GPU ----------------------------------------------------------------------------


def test_cuda_visible_devices_cannot_bring_back_gpus(job):
    out = probes(run(job, "gpu_probe.py"))
    assert out == {"nodes": [], "driver": []}


def test_gpu_binds_expose_only_the_assigned_gpu(tmp_path):
    dev, proc = tmp_path / "dev", tmp_path / "proc"
    dev.mkdir()
    for name in ("nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia0", "nvidia1", "nvidia2"):
        (dev / name).touch()
    gpus = proc / "driver" / "nvidia" / "gpus"
    for minor, bus in enumerate(("0000:17:00.0", "0000:65:00.0", "0000:b3:00.0")):
        (gpus / bus).mkdir(parents=True)
        (gpus / bus / "information").write_text(f"Model: H100\nDevice Minor: {minor}\n")
    (proc / "driver" / "nvidia" / "version").write_text("NVRM 550\n")

    ops = jail.gpu_binds(1, dev=dev, proc=proc)

    dests = [dst for _, _, dst in ops]
    assert ("--dev-bind", str(dev / "nvidia1"), "/dev/nvidia1") in ops
    assert "/dev/nvidia0" not in dests and "/dev/nvidia2" not in dests
    assert {"/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools"} <= set(dests)
    assert ("--tmpfs", "", "/proc/driver/nvidia/gpus") in ops
    assert [d for d in dests if d.startswith("/proc/driver/nvidia/gpus/")] == [
        "/proc/driver/nvidia/gpus/0000:65:00.0"
    ]
    assert jail.step_env({"CUDA_VISIBLE_DEVICES": "0,1,2"}, 1)["CUDA_VISIBLE_DEVICES"] == "0"
    assert "CUDA_VISIBLE_DEVICES" not in jail.step_env({"CUDA_VISIBLE_DEVICES": "2"}, None)
    with pytest.raises(sandbox.SandboxError):
        jail.gpu_binds(7, dev=dev, proc=proc)


# --- through the runner -------------------------------------------------------------


def test_claiming_full_marks_through_the_runner_changes_nothing(tmp_path):
    """Wrong answer + forged results.json everywhere + symlinks, FIFO and a daemon in outputs/."""
    from projects.runner import runner

    record = runner.grade(ATTACKS / "harness" / "harness", ATTACKS / "harness" / "cheat", work_root=tmp_path)

    assert record.status is runner.GradeStatus.COMPLETED, record.error
    assert record.score == 0 and record.raw_score == 0
    assert record.sandbox["backend"] == "jail"
    found = json.loads(record.output)
    assert found["answer"] == "41"
    # Links and the FIFO are skipped; the forged outputs/results.json is mere data to the scorer.
    assert found["found"] == ["answer.txt", "results.json"]
    assert found["outputs_writable"] is False
    skipped = {entry["path"] for entry in record.outputs["skipped"]}
    assert {"passwd-link", "results-link", "fifo"} <= skipped
    assert step_processes() == []
    assert list(tmp_path.iterdir()) == []  # the job folder is gone too


# --- fallbacks ----------------------------------------------------------------------


def test_without_cgroups_memory_falls_back_to_rlimit_as(job, monkeypatch):
    monkeypatch.setattr(cgroups, "_hierarchies", lambda: {})
    result = run(job, "memory_hog.py", limits=Limits(wall_s=20, memory_mb=256))
    assert result.status is Status.MEMORY
    mechanisms = sandbox.backend_info()["mechanisms"]
    assert "rlimit_as" in mechanisms and "cgroup:memory" not in mechanisms


def test_process_backend_still_bounds_time_and_output(job, monkeypatch):
    monkeypatch.setenv("SANDBOX_BACKEND", "process")
    assert sandbox.backend_info()["security_boundary"] is False
    slow = sandbox.run_step(["/bin/sleep", "infinity"], root=job, env={}, limits=Limits(wall_s=0.5))
    assert slow.status is Status.TIMEOUT
    loud = run(job, "print_flood.py", limits=Limits(wall_s=20, output_bytes=4096))
    assert loud.status is Status.OUTPUT and len(loud.stdout) == 4096

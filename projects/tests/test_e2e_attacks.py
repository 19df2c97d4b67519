"""The attack suite through a real worker (issue 6): HTTP -> database -> broker -> worker -> jail -> gradebook.

ONE Celery worker grades the whole batch (starting a worker per attack would
cost more than the attacks).  A module fixture submits every hostile submission,
each from a team of its own so each grade can be checked, plus honest ones
between and after them, waits for every run to end by polling the database, and
keeps a snapshot of what each run and the gradebook recorded; then the
parametrized tests below assert, one attack each, the concrete outcome: the limit
named, the probe blocked, the claim ignored, no process left, the next job
unaffected, the worker still grading normally.

The runner-level suite (test_sandbox_attacks.py) holds every attack against
``run_step`` directly; test_runner_command.py runs some through
``manage.py grade_submission``.  Runs on Redis when it is configured or
reachable, else on kombu's filesystem transport (realworker.choose_broker); needs
the jail (else skipped, failed under SANDBOX_REQUIRED=1).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import threading
from decimal import Decimal
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connections
from django.test import Client, override_settings

from courseapp import demo as course_demo
from courseapp.models import Membership, Role
from courseapp.tokens import token_create
from grading.models import Grade, GradeChange
from projects import demo as project_demo
from projects import services, storage
from projects.models import TERMINAL_STATUSES, GradingRun, RunStatus, Submission
from projects.runner import jail

from . import realworker
from .conftest import ECHO_HARNESS, make_echo_part, sample_zip, zip_bytes

# The mark makes pytest-django create the test database even when this module runs alone;
# the tests themselves only read the batch's snapshot.
pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

ATTACKS = Path(__file__).resolve().parent / "attacks"
ROOT = Path(__file__).resolve().parents[2]
ECHO_POINTS = Decimal("8")  # the echo part: 4 tests of 1 harness point, worth 8 part points
PERFECT = {"a": 1, "b": 2, "c": 3, "d": 4}  # hidden/expected.json of the echo harness
CANARY = "canary-" + secrets.token_hex(8)  # in the worker's environment, as a secret would be
BATCH_TIMEOUT_S = 300  # generous: ~30 s of work on an idle machine; polled, not slept


def wrap(script: str, *args: str) -> dict[str, str]:
    """A submission whose main.py (what the echo harness runs) runs attacks/<script> with ``args``."""
    main = (f"import runpy, sys\nsys.argv = [{script!r}, *{list(args)!r}]\n"
            f"runpy.run_path('submission/{script}', run_name='__main__')\n")
    return {"main.py": main, script: (ATTACKS / script).read_text()}


SNOOP_MAIN = """\
import contextlib, io, json, runpy, sys
sys.argv = ["snoop.py", {paths!r}, {tops!r}]
buffer = io.StringIO()
with contextlib.redirect_stdout(buffer):
    runpy.run_path("submission/snoop.py", run_name="__main__")
found = json.loads(buffer.getvalue())
mine = ("/etc/", "/job/", sys.prefix + "/", sys.base_prefix + "/")
print(json.dumps({{"read": sorted(found["read"]), "errors": sorted(found["errors"]),
                  "environ": sorted(found["environ"]),
                  "foreign_files": [f for f in found["files"] if not f.startswith(mine)][:100],
                  "canary_seen": {canary!r} in buffer.getvalue()}}))
"""


def _jail_missing() -> str | None:
    ok, why = jail.available()
    return None if ok else why


def _post(user, files: dict[str, str | bytes] | bytes) -> int:
    data = files if isinstance(files, bytes) else zip_bytes(files)
    token = token_create(user=user)[1]
    response = Client(HTTP_AUTHORIZATION=f"Token {token}").post(
        "/api/courses/ceng501-2024f/projects/echo/submissions/",
        {"file": SimpleUploadedFile("s.zip", data, content_type="application/zip")},
    )
    assert response.status_code == 201, response.content
    return response.json()["run"]["id"]


def _predict_json(run: GradingRun) -> dict | None:
    """The JSON line the attack printed in the predict step (from the run's stored stdout)."""
    for line in run.stdout.splitlines():
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                return None
    return None


def _uid_processes(uid: int) -> list[int]:
    pids = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            lines = status.read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            if line.startswith("Uid:") and str(uid) in line.split()[1:]:
                pids.append(int(status.parent.name))
    return pids


def _snapshot(run: GradingRun) -> dict:
    members = list(run.submission.members.all())
    grades = {g.student_id: g.points for g in Grade.objects.filter(item=run.submission.part.grade_item,
                                                                    student__in=members)}
    sandbox = (run.results or {}).get("sandbox") or {}
    uids = [int(m.split(":")[1]) for m in sandbox.get("mechanisms", []) if m.startswith("uid:")]
    return {
        "status": run.status, "limit_hit": run.limit_hit, "error": run.error, "attempts": run.attempts,
        "stdout": run.stdout, "stderr": run.stderr, "score": run.score, "worker_host": run.worker_host,
        "started_at": run.started_at, "finished_at": run.finished_at,
        "predict": (run.results or {}).get("steps", {}).get("predict") or {},
        "printed": _predict_json(run), "mechanisms": sandbox.get("mechanisms", []), "step_uids": uids,
        "grades": [grades.get(m.pk) for m in members],
        "grade_changes": GradeChange.objects.filter(item=run.submission.part.grade_item,
                                                    student__in=members).count(),
    }


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _run_batch(tmp: Path, broker: realworker.Broker) -> dict:
    course = course_demo.load_course().course
    project = project_demo.load(course=course)
    project.daily_submission_limit = 20
    project.save(update_fields=["daily_submission_limit"])
    instructor = Membership.objects.filter(course=course, role=Role.INSTRUCTOR).order_by("id")[0].user
    part = make_echo_part(project, instructor)
    loners = iter(m.user for m in Membership.objects.filter(course=course, role=Role.STUDENT)
                  .order_by("user__username")[8:])  # the demo's four teams hold the first eight

    def student(label: str):
        user = next(loners)
        services.team_create(project=project, name=f"Team {label}", by=user)
        return user

    # Targets that are really there, as the worker sees them: a web server, Redis (when it runs here),
    # PostgreSQL when it runs here, an abstract Unix socket.
    web = ThreadingHTTPServer(("127.0.0.1", 0), _Quiet)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    abstract.bind(f"\0projects-e2e-{os.getpid()}")
    abstract.listen()
    with socket.create_connection(("127.0.0.1", web.server_address[1]), timeout=2):
        pass
    targets = {"web_port": web.server_address[1], "abstract": f"projects-e2e-{os.getpid()}"}

    runs: dict[str, int] = {}
    worker = None
    try:
        with realworker.sending_to(broker):
            worker = realworker.Worker(broker=broker, log_dir=tmp, name="attacks",
                                       extra_env={"PROJECTS_TEST_CANARY": CANARY})
            worker.wait_ready()
            runs["fork_bomb"] = _post(student("fork bomb"), wrap("fork_bomb.py"))
            runs["cheat"] = _post(student("cheat"), {"main.py": (ATTACKS / "harness/cheat/attack.py").read_text()})
            runs["network"] = _post(student("network"), wrap("network.py", json.dumps(targets)))
            other = Submission.objects.get(runs__pk=runs["cheat"])
            secrets_paths = [
                str(storage.submission_abspath(other.path)), str(storage.submissions_root()),
                str(storage.harness_abspath(part.harness.path)), str(settings.HARNESS_ROOT),
                str(ROOT / "courseapp" / "settings.py"), str(ROOT / "manage.py"), str(ROOT / ".env"),
                str(ECHO_HARNESS / "hidden" / "expected.json"),
            ]
            runs["snoop"] = _post(student("snoop"), {
                "main.py": SNOOP_MAIN.format(paths=json.dumps(secrets_paths), tops=json.dumps([str(ROOT)]),
                                             canary=CANARY),
                "snoop.py": (ATTACKS / "snoop.py").read_text()})
            runs["sleep"] = _post(student("sleep"), sample_zip("sleep"))
            runs["lurker"] = _post(student("lurker"), wrap("lurker.py", json.dumps(PERFECT)))
            runs["after_lurker"] = _post(student("after lurker"), sample_zip("partial"))
            runs["print_flood"] = _post(student("print flood"), wrap("print_flood.py"))
            runs["memory_hog"] = _post(student("memory hog"), wrap("memory_hog.py"))
            runs["honest"] = _post(student("honest"), sample_zip("correct"))

            def all_done():
                found = {r.pk: r for r in GradingRun.objects.filter(pk__in=runs.values())}
                return found if all(r.status in TERMINAL_STATUSES for r in found.values()) else None

            realworker.wait_for(all_done, timeout=BATCH_TIMEOUT_S, interval=0.25,
                                what=f"the attack batch to finish (worker log: {worker.log_path})")
            worker_alive = worker.proc.poll() is None
            found = {r.pk: r for r in GradingRun.objects.select_related("submission__part__grade_item")
                     .filter(pk__in=runs.values())}
            outcomes = {name: _snapshot(found[pk]) for name, pk in runs.items()}
            uids = {uid for o in outcomes.values() for uid in o["step_uids"]}
            return {"runs": outcomes, "worker": worker.name, "worker_alive": worker_alive,
                    "worker_log": worker.log()[-3000:], "stray": {uid: _uid_processes(uid) for uid in uids},
                    "targets": targets, "secret_paths": secrets_paths}
    finally:
        if worker is not None:
            worker.stop()
        realworker.forget(broker)
        web.shutdown()
        abstract.close()


@pytest.fixture(scope="module")
def batch(django_db_setup, django_db_blocker, tmp_path_factory) -> dict:
    why = _jail_missing()
    if why:
        if os.environ.get("SANDBOX_REQUIRED") == "1":
            pytest.fail(f"SANDBOX_REQUIRED=1 but the jail is unavailable: {why}")
        pytest.skip(f"the jail is unavailable here: {why}")
    tmp = tmp_path_factory.mktemp("attacks")
    broker = realworker.choose_broker(tmp)  # Redis, else the filesystem transport (skip/fail as documented)
    with django_db_blocker.unblock():
        names = [Path(str(connections[alias].settings_dict["NAME"])).name for alias in connections]
        if not all(name.startswith("test") for name in names):  # never write to (or flush) a real database
            pytest.fail(f"the test database is not set up ({names}); run this module through pytest-django")
        try:
            with override_settings(SUBMISSIONS_ROOT=tmp / "submissions", HARNESS_ROOT=tmp / "harnesses"):
                return _run_batch(tmp, broker)
        finally:
            # What transactional tests do after each test: leave the test database empty.
            for alias in connections:
                call_command("flush", verbosity=0, interactive=False, database=alias)


def outcome(batch: dict, name: str) -> dict:
    return batch["runs"][name]


def zero_in_gradebook(run: dict) -> None:
    assert run["grades"] == [Decimal("0.00")] * len(run["grades"]) and run["grade_changes"] == len(run["grades"])


def test_fork_bomb_ends_with_the_pids_limit(batch):
    run = outcome(batch, "fork_bomb")
    assert run["status"] == RunStatus.FAILED and run["limit_hit"] == "pids", (run["limit_hit"], run["error"])
    assert "pids" in run["error"]
    zero_in_gradebook(run)


def test_forged_results_are_ignored(batch):
    run = outcome(batch, "cheat")
    assert run["score"] == 0, run["stdout"][-2000:]
    zero_in_gradebook(run)


def test_network_to_postgres_redis_and_the_web_server_is_blocked(batch):
    run = outcome(batch, "network")
    probes = run["printed"]
    assert probes, run["stdout"][-2000:]
    for probe in ("postgres_tcp", "redis_tcp", "web_loopback", "web_ipv6", "outside", "udp", "vsock", "netlink"):
        assert probes[probe].startswith("blocked:"), (probe, probes[probe])
    assert probes["postgres_unix"].startswith("blocked:") and probes["abstract_unix"].startswith("blocked:")
    assert run["status"] == RunStatus.SUCCEEDED  # it ran to the end, it just reached nothing
    zero_in_gradebook(run)


def test_another_submission_the_harness_and_the_settings_are_unreadable(batch):
    run = outcome(batch, "snoop")
    found = run["printed"]
    assert found, run["stdout"][-2000:]
    secret = [*batch["secret_paths"], "/etc/shadow", "/root/.ssh", "/var/run/postgresql"]
    assert not set(secret) & set(found["read"]), set(secret) & set(found["read"])
    assert set(batch["secret_paths"]) <= set(found["errors"])  # each was tried
    assert "/proc/1/environ" in found["errors"]
    assert set(found["environ"]) <= {"PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "JOB_DIR", "PWD",
                                     "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "PYTHONNOUSERSITE",
                                     "PYTHONHASHSEED", "MPLBACKEND", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                     "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS", "CUDA_VISIBLE_DEVICES",
                                     # offline caches and the offline guard (docs/harness.md): no secrets
                                     "PYTHONPATH", "DATA_DIR", "TORCH_HOME", "HF_HOME", "HF_HUB_OFFLINE",
                                     "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "WANDB_MODE", "MPLCONFIGDIR"}
    assert found["foreign_files"] == []
    assert found["canary_seen"] is False and CANARY not in run["stdout"] + run["stderr"]
    zero_in_gradebook(run)


def test_sleeping_forever_times_out_with_the_limit_named(batch):
    run = outcome(batch, "sleep")
    assert run["status"] == RunStatus.TIMED_OUT and run["limit_hit"] == "wall_s"
    assert "timed out after 5 s (timeout_s)" in run["error"]
    zero_in_gradebook(run)


def test_a_daemon_waiting_for_the_next_job_dies_with_its_step(batch):
    lurker, after = outcome(batch, "lurker"), outcome(batch, "after_lurker")
    assert lurker["status"] == RunStatus.SUCCEEDED and "pidns" in lurker["mechanisms"]
    zero_in_gradebook(lurker)
    assert after["started_at"] >= lurker["finished_at"]  # it really was the next job on that worker
    assert after["worker_host"] == lurker["worker_host"]
    assert after["status"] == RunStatus.SUCCEEDED and after["score"] == 2  # partial: 2 of 4, not the forged 4
    assert after["grades"] == [ECHO_POINTS / 2] * len(after["grades"])
    assert batch["stray"] and not any(batch["stray"].values()), batch["stray"]  # nothing of the step uid is left


def test_printing_1_gb_ends_with_the_output_limit(batch):
    run = outcome(batch, "print_flood")
    assert run["status"] == RunStatus.FAILED and run["limit_hit"] == "output_bytes", (run["limit_hit"], run["error"])
    assert "output" in run["error"]
    assert len(run["stdout"].encode()) <= services.STD_MAX_BYTES
    zero_in_gradebook(run)


def test_allocating_16_gb_ends_with_the_memory_limit(batch):
    run = outcome(batch, "memory_hog")
    assert run["status"] == RunStatus.FAILED and run["limit_hit"] == "memory_mb", (run["limit_hit"], run["error"])
    assert "ran out of memory (memory limit 512 MB)" in run["error"]
    assert "allocated 16 GB" not in run["stdout"]
    zero_in_gradebook(run)


def test_the_worker_survives_and_then_grades_a_correct_submission_normally(batch):
    run = outcome(batch, "honest")
    assert batch["worker_alive"], batch["worker_log"]
    assert run["status"] == RunStatus.SUCCEEDED and run["score"] == 4 and run["attempts"] == 1
    assert run["worker_host"].startswith(batch["worker"])
    assert run["grades"] == [ECHO_POINTS] * len(run["grades"]) and run["grade_changes"] == len(run["grades"])
    # One worker, one attempt each: no attack crashed it into a retry.
    assert {r["attempts"] for r in batch["runs"].values()} == {1}
    assert {r["worker_host"] for r in batch["runs"].values()} == {run["worker_host"]}


def test_every_run_used_the_jail(batch):
    for name, run in batch["runs"].items():
        assert {"bwrap", "netns", "pidns", "seccomp", "no_new_privs"} <= set(run["mechanisms"]), name

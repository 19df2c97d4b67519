"""Fault injection: worker kills, Redis and PostgreSQL outages while students submit and save quiz answers.

    .venv/bin/python bench/faults.py [--students 8 --quiz-students 8] [--settle 20] [--sandbox process]

Everything runs on this machine, on private ports, in a temporary folder (only
127.0.0.1 traffic; the tests' and a developer's servers are never touched):

1. Its own PostgreSQL cluster (initdb/pg_ctl from /usr/lib/postgresql/*/bin, port
   55432, as the ``postgres`` user when run as root) and its own Redis (port 56379,
   no persistence: a restart loses every queued job, the harder case).
2. The app as docker-compose runs it, with production settings: gunicorn (2
   workers), beat, the cpu worker (queues default,cpu, concurrency 2), the rerun
   worker and the beat-jobs worker (queue beat).
3. A course with one team per submitting student, an autograded part graded by a
   copy of projects/harnesses/trivial whose predict step sleeps when the
   submission asks it to (so runs are in flight when a fault hits), and a quiz.
4. Load: students submit every 8-16 s (one in four a 6 s run) and others save quiz
   answers every 0.2-0.6 s; while it runs, each fault is injected in turn, with
   --settle seconds between: SIGKILL of the cpu worker mid-run (restarted 2 s
   later, as compose's restart policy does), Redis down 10 s, PostgreSQL
   ``restart -m fast``, ``restart -m immediate``, and stopped 10 s; first, two 45 s
   runs hold both grading slots (beat's jobs must keep running on their own worker).
5. Then it waits (bounded) until every accepted submission's run is terminal and
   checks the invariants: 0 acknowledged answers lost, 0 committed submissions
   answered 5xx, 0 accepted submissions never graded, 0 duplicated grades, every
   run terminal within its limit + 2 min of the end of the fault it met, no
   leftovers (job folders, spool, staged uploads), sweeps never starved.

Prints a table per fault and the invariants; exits 1 on any violation.
Every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import glob
import io
import json
import os
import random
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_PORT = 55432
REDIS_PORT = 56379
WEB_PORT = 58765
DB_NAME = "ceng501_faults"
SLOW_S = 6  # a slow submission's predict step sleeps this long
LONG_S = 45  # two long runs hold both grading slots: beat's jobs must not wait behind them
MAX_SUBMISSIONS_PER_STUDENT = 200
MAX_SAVES_PER_STUDENT = 20_000
DRAIN_TIMEOUT_S = 420


# --- Servers of its own ---------------------------------------------------------------------------


def pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    if not found:
        raise SystemExit("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin")
    return Path(found[-1]).parent


def as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


class Postgres:
    def __init__(self, tmp: Path) -> None:
        self.bin = pg_bin()
        self.data = tmp / "pg"
        self.log = tmp / "pg.log"
        self.sock = tmp / "pgsock"

    def init(self) -> None:
        for path in (self.data, self.sock):
            path.mkdir(parents=True)
        self.log.touch()
        if os.geteuid() == 0:
            for path in (self.data, self.sock, self.log):
                shutil.chown(path, "postgres", "postgres")
            os.chmod(self.data.parent, 0o755)
        subprocess.run(as_postgres([str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
                                    "--auth=trust", "-E", "UTF8", "--no-sync"]), check=True, capture_output=True)

    def ctl(self, *args: str, check: bool = True) -> None:
        opts = f"-p {PG_PORT} -k {self.sock} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        subprocess.run(as_postgres([str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
                                    "-o", opts, "-w", "-t", "60", *args]), check=check, capture_output=True)

    def start(self) -> None:
        self.ctl("start")

    def stop(self, mode: str = "fast") -> None:
        self.ctl("stop", "-m", mode, check=False)

    def restart(self, mode: str) -> None:
        self.ctl("restart", "-m", mode)


class Redis:
    def __init__(self, tmp: Path) -> None:
        self.dir = tmp / "redis"
        self.dir.mkdir()
        self.proc: subprocess.Popen | None = None

    def cli(self, *args: str) -> str:
        return subprocess.run(["redis-cli", "-p", str(REDIS_PORT), *args], capture_output=True,
                              text=True).stdout

    def persist(self) -> None:
        """Turn on append-only persistence live and wait (bounded) until the first rewrite is on disk."""
        self.cli("config", "set", "appendonly", "yes")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            info = self.cli("info", "persistence")
            if "aof_enabled:1" in info and "aof_rewrite_in_progress:0" in info \
                    and "aof_rewrite_scheduled:0" in info:
                break
            time.sleep(0.2)
        time.sleep(1.5)  # appendfsync everysec: what was acknowledged a second ago is on disk

    def start(self, *, appendonly: bool = False) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(REDIS_PORT), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes" if appendonly else "no", "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            if subprocess.run(["redis-cli", "-p", str(REDIS_PORT), "ping"], capture_output=True).stdout.strip() == \
                    b"PONG":
                return
            time.sleep(0.1)
        raise SystemExit("Redis did not start")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


# --- The app --------------------------------------------------------------------------------------


def app_env(tmp: Path, sandbox: str) -> dict:
    env = os.environ.copy()
    for key in [k for k in env if k.startswith(("CELERY_", "PROJECTS_", "DJANGO_"))] + ["DATABASE_URL"]:
        env.pop(key, None)
    env.update(
        DJANGO_ENV="production",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        DJANGO_SECURE_SSL_REDIRECT="0",
        DJANGO_SECURE_HSTS_SECONDS="0",
        DATABASE_URL=f"postgres://postgres@127.0.0.1:{PG_PORT}/{DB_NAME}",
        CELERY_BROKER_URL=f"redis://127.0.0.1:{REDIS_PORT}/0",
        VAR_DIR=str(tmp / "var"),
        MEDIA_ROOT=str(tmp / "media"),
        PROJECTS_WORK_ROOT=str(tmp / "work"),
        # Shorter than the 10 s outage, so a run finishing meanwhile goes through the spool and its replay.
        PROJECTS_DB_RETRY_S="5",
        SANDBOX_BACKEND=sandbox,
        LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
        PYTHONUNBUFFERED="1",
    )
    env.pop("PYTEST_VERSION", None)
    return env


def slow_harness(tmp: Path) -> Path:
    """projects/harnesses/trivial, whose predict step sleeps when the submission has a sleep.txt."""
    dest = tmp / "harness"
    shutil.copytree(ROOT / "projects" / "harnesses" / "trivial" / "harness", dest)
    toml = (dest / "harness.toml").read_text()
    (dest / "harness.toml").write_text(toml.replace("timeout_s = 10", f"timeout_s = {LONG_S + 15}"))
    predict = (dest / "predict.py").read_text()
    (dest / "predict.py").write_text(
        "import time, pathlib\n"
        "p = pathlib.Path('submission/sleep.txt')\n"
        "if p.is_file():\n    time.sleep(float(p.read_text()))\n" + predict)
    return dest


def setup(out: Path, harness: str, n_sub: int, n_quiz: int) -> None:
    """Child process with the app's environment: migrate, build the course, part, quiz, students."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "courseapp.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from decimal import Decimal

    from django.core.management import call_command
    from django.utils import timezone

    from courseapp.models import Course, Membership, Role, User
    from courseapp.tokens import token_create
    from grading.models import Category, GradeItem
    from projects import services
    from projects.models import GradingMode, Project, ProjectPart
    from quizzes import services as quiz_services

    call_command("migrate", verbosity=0, interactive=False)
    course = Course.objects.create(
        code="faults", number="CENG 501", title="Fault bench", term="bench", department="CENG",
        lecture_weekday=2, lecture_start="09:40", lecture_end="11:30", lecture_room="BMB2",
        calendar_token="faults-" + secrets.token_hex(8),
    )
    category = Category.objects.create(course=course, name="Project", weight=45)
    Category.objects.create(course=course, name="Quizzes", weight=20)
    item = GradeItem.objects.create(course=course, category=category, name="Trivial", points_possible=Decimal("1"))
    project = Project.objects.create(course=course, slug="project", name="Bench", daily_submission_limit=0,
                                     team_size=1)
    part = ProjectPart.objects.create(project=project, course=course, slug="trivial", name="Trivial",
                                      grade_item=item, mode=GradingMode.AUTOGRADED)
    services.harness_upload(part=part, source=Path(harness), by=None)
    tokens = []
    for i in range(n_sub + n_quiz):
        user = User.objects.create(username=f"fault{i:03d}", password="!", student_number=f"8{i:06d}")
        Membership.objects.create(course=course, user=user, role=Role.STUDENT)
        if i < n_sub:
            services.team_create(project=project, name=f"Team {i}", by=user)
        tokens.append(token_create(user=user, name="faults bench")[1])
    questions = [quiz_services.question_create(course=course, by=None, qtype="short", title=f"Q{n}",
                                               text=f"Question {n}?", answers=[{"text": "x", "fraction": 1}])
                 for n in range(5)]
    now = timezone.now()
    quiz = quiz_services.quiz_create(course=course, by=None, title="Fault quiz", opens_at=now - dt.timedelta(minutes=5),
                                     closes_at=now + dt.timedelta(hours=3), time_limit=dt.timedelta(minutes=90),
                                     published=True, max_attempts=1)
    for question in questions:
        quiz_services.slot_add(quiz=quiz, question=question, by=None, points=Decimal("1"))
    out.write_text(json.dumps({
        "code": course.code, "quiz": quiz.id, "item": item.id,
        "submit_url": f"/api/courses/{course.code}/projects/{part.slug}/submissions/",
        "sub_tokens": tokens[:n_sub], "quiz_tokens": tokens[n_sub:],
    }))


class App:
    """gunicorn, beat and the three workers of docker-compose.yml, each in its own process group."""

    def __init__(self, tmp: Path, env: dict) -> None:
        self.tmp, self.env = tmp, env
        self.logs = tmp / "logs"
        self.logs.mkdir()
        celery = [sys.executable, "-m", "celery", "-A", "courseapp"]
        self.commands = {
            "web": [sys.executable, "-m", "gunicorn", "courseapp.wsgi", "-b", f"127.0.0.1:{WEB_PORT}", "-w", "2",
                    "--log-level", "warning", "--timeout", "60"],
            "beat": [*celery, "beat", "--loglevel=INFO", f"--schedule={tmp / 'celerybeat-schedule'}"],
            "worker": [*celery, "worker", "--loglevel=WARNING", "--queues=default,cpu", "--concurrency=2",
                       "--prefetch-multiplier=1", "--hostname=cpu@%h"],
            "rerun-worker": [*celery, "worker", "--loglevel=WARNING", "--queues=rerun", "--concurrency=1",
                             "--prefetch-multiplier=1", "--hostname=rerun@%h"],
            "beat-worker": [*celery, "worker", "--loglevel=INFO", "--queues=beat", "--concurrency=1",
                            "--prefetch-multiplier=1", "--hostname=beat@%h"],
        }
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str) -> None:
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child for its life
        self.procs[name] = subprocess.Popen(self.commands[name], env=self.env, cwd=ROOT, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)

    def kill(self, name: str) -> None:
        """SIGKILL the whole process group: the worker and its pool, as the OOM killer or a crash would."""
        proc = self.procs[name]
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 30
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


# --- Load -------------------------------------------------------------------------------------


class Record:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.submits: list[dict] = []  # {t, name, status, id}
        self.saves_ok: dict[tuple[int, int], tuple[int, str]] = {}  # (attempt, slot) -> (seq, value)
        self.saves: list[tuple[float, int]] = []  # (t, status or 0 for a connection error)


def http(method: str, url: str, token: str, body: bytes | None = None, ctype: str = "application/json",
         timeout: float = 30) -> tuple[int, dict | None]:
    request = urllib.request.Request(url, data=body, method=method,
                                     headers={"Authorization": f"Token {token}", "Content-Type": ctype})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except (OSError, ValueError):
        return 0, None


def submission_zip(sleep_s: float) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("main.py", 'print("hi")\n')
        if sleep_s:
            zf.writestr("sleep.txt", str(sleep_s))
    return buffer.getvalue()


def post_submission(base: str, url: str, token: str, name: str, sleep_s: float, rec: Record) -> None:
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
            f"Content-Type: application/zip\r\n\r\n").encode() + submission_zip(sleep_s) + \
        f"\r\n--{boundary}--\r\n".encode()
    t = time.time()
    status, data = http("POST", base + url, token, body, f"multipart/form-data; boundary={boundary}")
    with rec.lock:
        rec.submits.append({"t": t, "name": name, "status": status, "id": (data or {}).get("id")})


def submitter(base: str, url: str, token: str, index: int, rec: Record, stop: threading.Event) -> None:
    rng = random.Random(index)
    for k in range(MAX_SUBMISSIONS_PER_STUDENT):
        if stop.wait(rng.uniform(8, 16)):
            return
        name = f"s{index:03d}-{k:03d}-{uuid.uuid4().hex[:6]}.zip"
        post_submission(base, url, token, name, SLOW_S if k % 4 == 1 else 0, rec)


def quiz_taker(base: str, code: str, quiz: int, token: str, index: int, rec: Record, stop: threading.Event) -> None:
    rng = random.Random(1000 + index)
    attempt = None
    for _ in range(100):
        status, attempt = http("POST", f"{base}/api/courses/{code}/quizzes/{quiz}/attempts/", token, b"{}")
        if status in (200, 201) and attempt:
            break
        if stop.wait(1):
            return
    if not attempt:
        return
    slots = [q["slot"] for q in attempt["questions"]]
    for seq in range(1, MAX_SAVES_PER_STUDENT):
        if stop.wait(rng.uniform(0.2, 0.6)):
            return
        slot = slots[seq % len(slots)]
        value = f"answer {index} #{seq}"
        status, data = http("PUT", f"{base}/api/courses/{code}/quiz-attempts/{attempt['id']}/answers/{slot}/",
                            token, json.dumps({"value": value, "seq": seq}).encode(), timeout=15)
        with rec.lock:
            rec.saves.append((time.time(), status))
            if status == 200 and data and data.get("seq") == seq:
                rec.saves_ok[(attempt["id"], slot)] = (seq, value)


# --- Checks -------------------------------------------------------------------------------------


def query(sql: str, args=()) -> list[tuple]:
    import psycopg2

    conn = psycopg2.connect(host="127.0.0.1", port=PG_PORT, user="postgres", dbname=DB_NAME, connect_timeout=5)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall()
    finally:
        conn.close()


def wait_db(timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            query("SELECT 1")
            return
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.5)
    raise SystemExit("PostgreSQL did not come back")


def running_count() -> int:
    try:
        return query("SELECT count(*) FROM projects_gradingrun WHERE status = 'running'")[0][0]
    except Exception:  # noqa: BLE001 - the database may be the fault
        return 0


def sweep_gaps(log: Path) -> float:
    """Longest gap between two executions of the sweep on the beat-jobs worker (seconds)."""
    stamps = []
    for line in log.read_text(errors="replace").splitlines():
        if "projects.sweep_stuck_runs" in line and ("succeeded" in line or "raised" in line):
            match = re.match(r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),\d+", line)
            if match:
                stamps.append(dt.datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S").timestamp())
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    return max(gaps) if gaps else float("inf")


def beat_job_totals(log: Path) -> dict[str, int]:
    """What the beat jobs did, summed from the beat-jobs worker's log."""
    import ast

    totals = {"unsent runs sent by send_pending": 0, "lost jobs sent again": 0, "runs requeued by the sweep": 0,
              "spooled records posted": 0}
    keys = {"sent": "unsent runs sent by send_pending", "lost": "lost jobs sent again",
            "requeued": "runs requeued by the sweep", "posted": "spooled records posted",
            "replayed": "spooled records posted"}
    for line in log.read_text(errors="replace").splitlines():
        match = re.search(r"Task projects\.\w+\[[^\]]+\] succeeded in [\d.]+s: (\{.*\})$", line)
        if not match:
            continue
        for key, value in ast.literal_eval(match.group(1)).items():
            if key in keys:
                totals[keys[key]] += len(value)
    return totals


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--students", type=int, default=6, help="students submitting")
    parser.add_argument("--quiz-students", type=int, default=8, help="students saving quiz answers")
    parser.add_argument("--settle", type=float, default=20, help="seconds of plain load between faults")
    parser.add_argument("--sandbox", default=os.environ.get("SANDBOX_BACKEND", "process"),
                        help="jail or process (default: $SANDBOX_BACKEND, else process)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="faults-"))
    os.chmod(tmp, 0o755)
    env = app_env(tmp, args.sandbox)
    pg, redis, app = Postgres(tmp), Redis(tmp), None
    started = time.time()
    try:
        pg.init()
        pg.start()
        subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(PG_PORT), "-U", "postgres", "-q", "-c",
                        f"CREATE DATABASE {DB_NAME}"], check=True, capture_output=True)
        redis.start()
        info = tmp / "setup.json"
        subprocess.run([sys.executable, __file__, "--setup", str(info), str(slow_harness(tmp)),
                        str(args.students), str(args.quiz_students)], check=True, env=env, cwd=ROOT)
        data = json.loads(info.read_text())
        app = App(tmp, env)
        for name in app.commands:
            app.start(name)
        base = f"http://127.0.0.1:{WEB_PORT}"
        for _ in range(300):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=2)
                break
            except OSError:
                time.sleep(0.2)
        else:
            raise SystemExit("gunicorn did not start")

        rec, stop = Record(), threading.Event()
        threads = [threading.Thread(target=submitter, args=(base, data["submit_url"], tok, i, rec, stop), daemon=True)
                   for i, tok in enumerate(data["sub_tokens"])]
        threads += [threading.Thread(target=quiz_taker, args=(base, data["code"], data["quiz"], tok, i, rec, stop),
                                     daemon=True) for i, tok in enumerate(data["quiz_tokens"])]
        for thread in threads:
            thread.start()
        time.sleep(args.settle)

        def wait_running(timeout: float = 20) -> None:
            deadline = time.monotonic() + timeout
            while running_count() == 0 and time.monotonic() < deadline:
                time.sleep(0.2)

        def kill_worker() -> None:
            wait_running()
            app.kill("worker")
            time.sleep(2)
            app.start("worker")

        def redis_down() -> None:
            redis.kill()
            time.sleep(10)
            redis.start()

        def redis_down_persistent() -> None:
            redis.persist()
            redis.kill()
            time.sleep(10)
            redis.start(appendonly=True)  # reloads the queues from the append-only file

        def pg_restart(mode: str):
            def fault() -> None:
                wait_running()
                pg.restart(mode)
            return fault

        def pg_down() -> None:
            wait_running()
            pg.stop("fast")
            time.sleep(10)
            pg.start()

        def long_runs() -> None:
            for i in range(2):
                post_submission(base, data["submit_url"], data["sub_tokens"][i], f"long-{i}.zip", LONG_S, rec)
            time.sleep(LONG_S)

        faults = [(f"two {LONG_S} s runs hold both grading slots", long_runs),
                  ("worker SIGKILL mid-run", kill_worker), ("Redis down 10 s (no persistence)", redis_down),
                  ("Redis down 10 s (append-only file)", redis_down_persistent),
                  ("PostgreSQL restart -m fast", pg_restart("fast")),
                  ("PostgreSQL restart -m immediate", pg_restart("immediate")),
                  ("PostgreSQL stopped 10 s", pg_down)]
        windows = []
        for name, fault in faults:
            t0 = time.time()
            fault()
            t1 = time.time()
            windows.append((name, t0, t1))
            print(f"  {name}: {t1 - t0:.1f} s", flush=True)
            wait_db()
            time.sleep(args.settle)
        stop.set()
        for thread in threads:
            thread.join(timeout=40)
        load_end = time.time()

        # Drain: every accepted submission's run terminal (bounded).
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        while time.monotonic() < deadline:
            left = query("SELECT count(*) FROM projects_gradingrun WHERE status IN ('queued', 'running')")[0][0]
            if left == 0:
                break
            print(f"  draining: {left} runs queued or running", flush=True)
            time.sleep(10)
        time.sleep(3)  # a last replay/clean-up tick
        report = check(data, rec, windows, tmp, app)
        print_report(report, windows, time.time() - started, load_end - started, args)
        return 0 if all(ok for _, _, ok in report["invariants"]) else 1
    finally:
        if app is not None:
            app.stop_all()
        redis.kill()
        pg.stop("immediate")
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"logs kept in {tmp}")


def check(data: dict, rec: Record, windows: list, tmp: Path, app: App) -> dict:
    rows = query(
        "SELECT s.original_name, s.id, r.id, r.status, extract(epoch from r.queued_at), "
        "extract(epoch from r.finished_at), r.time_limit_s, r.attempts, r.error "
        "FROM projects_submission s LEFT JOIN projects_gradingrun r ON r.submission_id = s.id"
    )
    committed = {row[0]: row for row in rows}
    accepted = [s for s in rec.submits if s["status"] == 201]
    committed_5xx = [s for s in rec.submits if s["status"] != 201 and s["name"] in committed]
    refused = [s for s in rec.submits if s["status"] != 201 and s["name"] not in committed]
    never_graded = [s["name"] for s in accepted
                    if s["name"] not in committed or committed[s["name"]][3] != "succeeded"]
    graded_uncounted = [name for name, row in committed.items() if row[3] != "succeeded"]
    dup_grades = query("SELECT count(*) FROM (SELECT item_id, student_id FROM grading_grade "
                       "GROUP BY item_id, student_id HAVING count(*) > 1) d")[0][0]
    # A grade posted twice by one run: two history rows of one student with the same run in the reason.
    dup_changes = query("SELECT count(*) FROM (SELECT student_id, reason FROM grading_gradechange WHERE item_id = %s "
                        "GROUP BY student_id, reason HAVING count(*) > 1) d", [data["item"]])[0][0]
    late = []
    per_fault = {name: {"runs": 0, "max_s": 0.0, "requeued": 0} for name, _, _ in windows}
    for _name, _sub_id, run_id, _status, queued, finished, limit, attempts, _error in committed.values():
        if run_id is None or finished is None:
            continue
        queued, finished = float(queued), float(finished)
        start = queued
        for fname, t0, t1 in windows:
            if queued <= t1 and finished >= t0:
                start = max(start, t1)
                stats = per_fault[fname]
                stats["runs"] += 1
                stats["max_s"] = max(stats["max_s"], finished - queued)
                stats["requeued"] += attempts > 1
        if finished - start > limit + 120:
            late.append(run_id)
    stored = {}
    if rec.saves_ok:
        attempts = sorted({a for a, _ in rec.saves_ok})
        stored = {(a, s): (seq, v) for a, s, v, seq in query("SELECT attempt_id, slot_id, value, client_seq FROM quizzes_response "
                                            "WHERE attempt_id = ANY(%s)", [attempts])}
    lost = sum(1 for key, value in rec.saves_ok.items() if stored.get(key) != value)
    work = tmp / "work"
    leftovers = [str(p.relative_to(tmp)) for p in work.glob("**/grade-*")] if work.exists() else []
    spool = list((tmp / "media" / "spool").glob("*.json")) if (tmp / "media" / "spool").exists() else []
    staging = [p for p in (tmp / "media" / "submissions").glob("**/*") if p.is_file() and ".staging" in str(p)] \
        if (tmp / "media" / "submissions").exists() else []
    missing_files = [name for name, row in committed.items()
                     if not query("SELECT path FROM projects_submission WHERE id = %s", [row[1]])
                     or not (tmp / "media" / "submissions" /
                             query("SELECT path FROM projects_submission WHERE id = %s", [row[1]])[0][0]).is_file()]
    gap = sweep_gaps(app.logs / "beat-worker.log")
    recovered = beat_job_totals(app.logs / "beat-worker.log")
    recovered["send failed at submit (recorded)"] = len(re.findall(
        r"sending run \d+ to the broker failed", (app.logs / "web.log").read_text(errors="replace")))
    recovered["records spooled by workers"] = len(re.findall(
        r"its record is kept in", (app.logs / "worker.log").read_text(errors="replace")))
    invariants = [
        ("acknowledged quiz answers lost (last acked per answer)",
         f"{lost} of {len(rec.saves_ok)} ({sum(1 for _, st in rec.saves if st == 200)} acks)", lost == 0),
        ("committed submissions answered non-201", str(len(committed_5xx)), not committed_5xx),
        ("submissions answered 500 or no answer (503 = nothing stored, ok)",
         str(sum(1 for x in rec.submits if x["status"] not in (201, 503))),
         all(x["status"] in (201, 503) for x in rec.submits)),
        ("accepted submissions never graded", f"{len(never_graded)} of {len(accepted)}", not never_graded),
        ("committed submissions not graded", str(len(graded_uncounted)), not graded_uncounted),
        ("duplicated grades (rows; posts by one run)", f"{dup_grades}, {dup_changes}", dup_grades == 0 and dup_changes == 0),
        ("runs terminal later than limit + 2 min after their fault", str(len(late)), not late),
        ("leftover job folders / spooled records / staged uploads",
         f"{len(leftovers)} / {len(spool)} / {len(staging)}", not leftovers and not spool and not staging),
        ("committed submissions whose file is gone", str(len(missing_files)), not missing_files),
        ("longest gap between sweeps (beat every 30 s)", f"{gap:.0f} s", gap <= 75),
    ]
    return {"invariants": invariants, "per_fault": per_fault, "recovered": recovered, "refused": refused, "accepted": accepted,
            "never_graded": never_graded[:10], "late": late[:10], "leftovers": leftovers[:10]}


def print_report(report: dict, windows: list, total_s: float, load_s: float, args) -> None:
    rec_refused = report["refused"]
    print(f"\nFault bench: {args.students} submitting + {args.quiz_students} quiz students, sandbox {args.sandbox}, "
          f"load {load_s:.0f} s, total {total_s:.0f} s")
    print(f"  {'fault':40}{'lasted':>8}{'refused*':>10}{'runs met':>10}{'requeued':>10}{'max queued->done':>18}")
    for name, t0, t1 in windows:
        stats = report["per_fault"][name]
        refused = sum(1 for s in rec_refused if t0 - 5 <= s["t"] <= t1 + 5)
        print(f"  {name:40}{t1 - t0:7.1f}s{refused:>10}{stats['runs']:>10}{stats['requeued']:>10}"
              f"{stats['max_s']:>16.1f} s")
    print("  * submissions refused and not stored (503 while the database was down), within 5 s of the fault")
    print(f"  submissions accepted (201): {len(report['accepted'])}; refused, nothing stored: {len(rec_refused)} "
          f"(HTTP {sorted({s['status'] for s in rec_refused})})")
    print("  recovery: " + "; ".join(f"{k} {v}" for k, v in report["recovered"].items()))
    print(f"\n  {'invariant':66}{'value':>24}  ok")
    for name, value, ok in report["invariants"]:
        print(f"  {name:66}{value:>24}  {'yes' if ok else 'NO'}")
    for key in ("never_graded", "late", "leftovers"):
        if report[key]:
            print(f"  {key}: {report[key]}")


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--setup":
        setup(Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
        sys.exit(0)
    sys.exit(main())

"""The end of a quiz: 500 students start the same quiz within a minute, save 10 answers each, submit.

    .venv/bin/python bench/quiz_rush.py [--profile | --profile-only] [--students 500] [--ramp 60] [--seconds 20 --rounds 10] [--workers 4 --threads 4]

What it does (a measurement, not a test):
1. Creates the PostgreSQL database ceng501_quizbench afresh (psql -h 127.0.0.1 -U postgres) and
   migrates it; builds a course with 500 students (+ 32 for the throughput phase), each with a
   hashed API token (courseapp.tokens), and one open quiz of 10 auto-graded questions (single, multiple, true/false, numeric, short).
2. Starts gunicorn on 127.0.0.1 with production settings (DJANGO_ENV=production, DJANGO_SECRET_KEY,
   DJANGO_ALLOWED_HOSTS=127.0.0.1, DJANGO_SECURE_SSL_REDIRECT=0 so plain http works, Redis at
   redis://127.0.0.1:6379/14 as the broker). Clients authenticate with `Authorization: Token …`:
   production session cookies are Secure and would not be sent over plain http.
   QUIZ_BENCH_PING=1 mounts the ceiling view /quizzes/_ping (a plain HttpResponse, no auth, no DB)
   in quizzes/urls.py; without that variable the URL does not exist.
3. The rush (open loop): student i starts at i × ramp / students seconds, then saves one answer to
   each of the 10 questions with 0.2–1.5 s of thinking between saves, then submits; meanwhile each
   student polls the versions of its answers every --poll seconds, as an open taking page does (0: no
   polling). Saves use the page's protocol: each names the server version it replaces (`base`).
   Latency is measured per request from send to response; each student has its own keep-alive
   connection (and one more for polling). Reports p50/p95/p99 per operation, errors, and answers lost:
   every answer the server acknowledged (HTTP 200) is compared with what PostgreSQL holds afterwards
   (value and version). It also reports the CPU seconds gunicorn's processes and this load generator
   spent during the rush, per request.
4. The ceiling (closed loop): 32 connections hammer /quizzes/_ping, then 32 students hammer the save
   endpoint for as long, taking turns --rounds times (--seconds in all for each side), so that load
   from elsewhere on a shared machine falls on both alike; the save throughput is reported as a
   ratio of the ping's, with the ratio of each turn, and the CPU milliseconds each ping and each save
   cost gunicorn, PostgreSQL (all its processes, from /proc) and this load generator.

5. --profile: in a child process with the same settings, one student's start, a save and the submit
   through Django's test client, with the SQL statements and the CPU time of each (no HTTP server).
   With QUIZ_BENCH_CPROFILE=DIR it also writes cProfile statistics of each kind of request
   (DIR/start.pstats, save, poll, submit; read them with `python -m pstats`).

Everything (gunicorn, PostgreSQL, this load generator) shares the same machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "ceng501_quizbench"
THROUGHPUT_STUDENTS = 32
PROFILE_STUDENTS = 5


def bench_env(port: int) -> dict:
    env = os.environ.copy()
    env.update(
        DJANGO_ENV="production",
        DJANGO_SECRET_KEY=env.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        DJANGO_SECURE_SSL_REDIRECT="0",
        DJANGO_SECURE_HSTS_SECONDS="0",
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/14",
        QUIZ_BENCH_PING="1",
        LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
    )
    return env


# --- Setup (runs in a child process with the production settings) --------------------


def setup(n_students: int, out: Path) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "courseapp.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    import datetime as dt
    from decimal import Decimal

    from django.db import transaction
    from django.utils import timezone

    from courseapp.models import ApiToken, Course, Membership, Role, User
    from courseapp.tokens import token_build
    from grading.models import Category
    from quizzes import services

    with transaction.atomic():
        course = Course.objects.create(
            code="quizbench", number="CENG 501", title="Quiz rush", term="bench", department="CENG",
            lecture_weekday=2, lecture_start="09:40", lecture_end="11:30", lecture_room="BMB2",
            calendar_token="quizbench-" + secrets.token_hex(8),
        )
        Category.objects.create(course=course, name="Quizzes", weight=20)
        total = n_students + THROUGHPUT_STUDENTS + PROFILE_STUDENTS
        users = User.objects.bulk_create(
            [User(username=f"rush{i:04d}", first_name="Student", last_name=f"{i:04d}", password="!",
                  student_number=f"9{i:06d}") for i in range(total)]
        )
        Membership.objects.bulk_create([Membership(course=course, user=u, role=Role.STUDENT) for u in users])
        built = [token_build(user=u, name="quiz rush") for u in users]
        ApiToken.objects.bulk_create([token for token, _ in built])
        tokens = [key for _, key in built]
        kinds = ["single", "single", "single", "multi", "multi", "truefalse", "truefalse", "numeric", "short", "short"]
        questions = []
        for n, kind in enumerate(kinds, start=1):
            answers = {
                "single": [{"text": f"choice {c}", "fraction": 1 if c == 0 else 0} for c in range(4)],
                "multi": [{"text": f"option {c}", "fraction": "0.5" if c < 2 else -1} for c in range(4)],
                "numeric": [{"value": "3.14", "tolerance": "0.01", "fraction": 1}],
                "short": [{"text": "backpropagation", "fraction": 1}],
            }.get(kind, [])
            extra = {"correct_bool": True} if kind == "truefalse" else {}
            questions.append(services.question_create(course=course, by=None, qtype=kind, title=f"Q{n}",
                                                      text=f"Question {n}?", answers=answers, **extra))
        now = timezone.now()
        quiz = services.quiz_create(course=course, by=None, title="Rush quiz", opens_at=now - dt.timedelta(minutes=5),
                                    closes_at=now + dt.timedelta(hours=3), time_limit=dt.timedelta(minutes=60),
                                    published=True, shuffle_questions=True, shuffle_choices=True, max_attempts=1)
        for question in questions:
            services.slot_add(quiz=quiz, question=question, by=None, points=Decimal("1"))
    out.write_text(json.dumps({
        "code": course.code, "quiz": quiz.id, "grade_item": quiz.grade_item_id,
        "tokens": tokens[:n_students],
        "throughput_tokens": tokens[n_students:n_students + THROUGHPUT_STUDENTS],
        "profile_tokens": tokens[n_students + THROUGHPUT_STUDENTS:],
    }))


def profile(data_file: Path, out: Path) -> None:
    """Start, save and submit in-process (Django's test client, no HTTP server): SQL statements and CPU per request."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "courseapp.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    data = json.loads(data_file.read_text())
    code, quiz = data["code"], data["quiz"]
    rows: dict[str, list[tuple[int, float]]] = {"start": [], "save": [], "submit": [], "poll": []}
    statements: dict[str, list[str]] = {}  # the last request of each kind: its SQL, to see where queries go

    import cProfile

    profilers = {name: cProfile.Profile() for name in rows} if os.environ.get("QUIZ_BENCH_CPROFILE") else {}
    counting = False

    def measure(client, name: str, method: str, url: str, body: str | None = None):
        profiler = profilers.get(name) if counting else None
        with CaptureQueriesContext(connection) as ctx:
            t0 = time.process_time()
            if profiler:
                profiler.enable()
            if body is None:
                response = getattr(client, method)(url)
            else:
                response = getattr(client, method)(url, data=body, content_type="application/json")
            if profiler:
                profiler.disable()
            took = time.process_time() - t0
        assert response.status_code in (200, 201), (name, response.status_code, response.content[:300])
        rows[name].append((len(ctx.captured_queries), took))
        statements[name] = [q["sql"][:160] for q in ctx.captured_queries]
        return response

    for token in data["profile_tokens"]:
        client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Token {token}")
        attempt = measure(client, "start", "post", f"/api/courses/{code}/quizzes/{quiz}/attempts/").json()
        base = f"/api/courses/{code}/quiz-attempts/{attempt['id']}/"
        rng = random.Random(7)
        for question in attempt["questions"]:
            body = json.dumps({"value": answer_for(question, rng), "base": 0})
            measure(client, "save", "put", f"{base}answers/{question['slot']}/", body)
            measure(client, "poll", "get", f"{base}answers/")
        measure(client, "submit", "post", f"{base}submit/")
        if token == data["profile_tokens"][0]:  # the first student warms the process up (imports, caches): not counted
            for values in rows.values():
                values.clear()
            counting = True
    for name, profiler in profilers.items():  # QUIZ_BENCH_CPROFILE=DIR: pstats files, DIR/start.pstats …
        Path(os.environ["QUIZ_BENCH_CPROFILE"]).mkdir(parents=True, exist_ok=True)
        profiler.dump_stats(Path(os.environ["QUIZ_BENCH_CPROFILE"]) / f"{name}.pstats")
    out.write_text(json.dumps({
        name: {"n": len(v), "sql_statements": sum(q for q, _ in v) / len(v),
               "cpu_ms": 1000 * sum(c for _, c in v) / len(v)}
        for name, v in rows.items() if v
    } | {"statements": statements}))


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used, from /proc."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu(root: int) -> float:
    """CPU seconds of a process and its children (gunicorn's master and workers)."""
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    if int(handle.read().rsplit(")", 1)[1].split()[1]) == root:
                        children.append(int(entry))
            except (OSError, ValueError, IndexError):
                continue
    total = 0.0
    for pid in [root, *children]:
        try:
            total += process_cpu(pid)
        except OSError:
            continue
    return total


def postgres_cpu() -> dict[int, float]:
    """CPU seconds of each PostgreSQL server process on this machine (backends and background workers), by pid."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as handle:
                    if handle.read().strip() != "postgres":
                        continue
                found[int(entry)] = process_cpu(int(entry))
            except (OSError, ValueError, IndexError):
                continue
    return found


class PostgresCpu:
    """PostgreSQL's CPU seconds over a stretch of time, read every 0.5 s from a thread.

    A backend exits when its connection closes (gunicorn's are recycled every minute),
    taking its counters with it: reading often keeps all but its last half second.
    """

    def __init__(self) -> None:
        import threading

        self.first = postgres_cpu()
        self.last = dict(self.first)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.last.update(postgres_cpu())

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        self.last.update(postgres_cpu())
        return sum(cpu - self.first.get(pid, 0.0) for pid, cpu in self.last.items())


# --- The load ----------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return (ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)) * 1000


def answer_for(question: dict, rng: random.Random):
    kind = question["type"]
    if kind == "single":
        return rng.choice(question["choices"])["id"]
    if kind == "multi":
        ids = [c["id"] for c in question["choices"]]
        return rng.sample(ids, rng.randint(1, len(ids)))
    if kind == "truefalse":
        return rng.random() < 0.5
    if kind == "numeric":
        return f"{rng.uniform(3, 3.3):.3f}"
    if kind == "short":
        return rng.choice(["backpropagation", "Backprop", "chain rule"])
    return "Attention mixes every position with every other in one step. " * rng.randint(1, 5)


class Http:
    """A minimal keep-alive HTTP/1.1 client on asyncio streams.

    httpx costs the load generator more CPU per request than a minimal Django view
    costs the server; on a shared 2-core machine that would flatten the ceiling.
    A request on a connection the server closed while idle is resent once on a new
    connection (every request here is idempotent: saves carry a sequence number).
    """

    def __init__(self, host: str, port: int, token: str | None = None) -> None:
        self.host, self.port, self.token = host, port, token
        self.reader = self.writer = None

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None

    async def request(self, method: str, path: str, payload=None) -> tuple[int, object]:
        for attempt in (1, 2):
            fresh = self.writer is None
            if fresh:
                self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            try:
                return await self._send(method, path, payload)
            except (asyncio.IncompleteReadError, ConnectionError):
                await self.close()
                if fresh or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _send(self, method: str, path: str, payload) -> tuple[int, object]:
        body = b"" if payload is None else json.dumps(payload).encode()
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", "Accept: application/json",
                f"Content-Length: {len(body)}"]
        if payload is not None:
            head.append("Content-Type: application/json")
        if self.token:
            head.append(f"Authorization: Token {self.token}")
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        await self.writer.drain()
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        if headers.get("transfer-encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                data += chunk[:-2]
        else:
            data = await self.reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            await self.close()
        if headers.get("content-type", "").startswith("application/json") and data:
            return status, json.loads(data)
        return status, data


class Recorder:
    def __init__(self) -> None:
        self.latency: dict[str, list[float]] = {"start": [], "save": [], "submit": [], "poll": []}
        self.errors: dict[str, int] = {}
        self.acked: dict[tuple[int, int], tuple[int, object]] = {}

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1


async def timed(http: Http, method: str, path: str, payload=None):
    t0 = time.perf_counter()
    status, body = await http.request(method, path, payload)
    return status, body, time.perf_counter() - t0


async def one_student(host: str, port: int, code: str, quiz: int, token: str, delay: float, rec: Recorder,
                      rng: random.Random, poll_every: float) -> None:
    await asyncio.sleep(delay)
    http = Http(host, port, token)
    poller = Http(host, port, token)
    started: asyncio.Future = asyncio.get_running_loop().create_future()
    polling = asyncio.create_task(_poll(poller, code, started, rec, poll_every, rng))
    try:
        await _student_session(http, code, quiz, rec, rng, started)
    finally:
        if not started.done():
            started.set_result(None)
        polling.cancel()
        await asyncio.gather(polling, return_exceptions=True)
        await http.close()
        await poller.close()


async def _poll(http: Http, code: str, started: asyncio.Future, rec: Recorder, every: float,
                rng: random.Random) -> None:
    """What an open taking page does: ask for the versions of the attempt's answers every `every` seconds."""
    attempt_id = await started
    if attempt_id is None or every <= 0:
        return
    await asyncio.sleep(rng.uniform(0, every))
    while True:
        try:
            status, _, took = await timed(http, "GET", f"/api/courses/{code}/quiz-attempts/{attempt_id}/answers/")
        except Exception as exc:  # noqa: BLE001
            rec.error(f"poll: {type(exc).__name__}")
        else:
            if status == 200:
                rec.latency["poll"].append(took)
            else:
                rec.error(f"poll: HTTP {status}")
        await asyncio.sleep(every)


async def _student_session(http: Http, code: str, quiz: int, rec: Recorder, rng: random.Random,
                           started: asyncio.Future) -> None:
    try:
        status, attempt, took = await timed(http, "POST", f"/api/courses/{code}/quizzes/{quiz}/attempts/")
    except Exception as exc:  # noqa: BLE001 - every failure is an error to count
        rec.error(f"start: {type(exc).__name__}")
        return
    if status not in (200, 201):
        rec.error(f"start: HTTP {status}")
        return
    rec.latency["start"].append(took)
    started.set_result(attempt["id"])
    for question in attempt["questions"]:
        await asyncio.sleep(rng.uniform(0.2, 1.5))
        value = answer_for(question, rng)
        path = f"/api/courses/{code}/quiz-attempts/{attempt['id']}/answers/{question['slot']}/"
        try:
            status, body, took = await timed(http, "PUT", path, {"value": value, "base": question.get("version", 0)})
        except Exception as exc:  # noqa: BLE001
            rec.error(f"save: {type(exc).__name__}")
            continue
        if status != 200:
            rec.error(f"save: HTTP {status}")
            continue
        rec.latency["save"].append(took)
        rec.acked[(attempt["id"], question["slot"])] = (body["version"], value)
    await asyncio.sleep(rng.uniform(0.2, 1.0))
    try:
        status, _, took = await timed(http, "POST", f"/api/courses/{code}/quiz-attempts/{attempt['id']}/submit/")
    except Exception as exc:  # noqa: BLE001
        rec.error(f"submit: {type(exc).__name__}")
        return
    if status != 200:
        rec.error(f"submit: HTTP {status}")
        return
    rec.latency["submit"].append(took)


async def rush(host: str, port: int, setup_data: dict, ramp: float, seed: int, poll_every: float) -> Recorder:
    rec = Recorder()
    tokens = setup_data["tokens"]
    await asyncio.gather(*(
        one_student(host, port, setup_data["code"], setup_data["quiz"], token, i * ramp / len(tokens), rec,
                    random.Random(seed + i), poll_every)
        for i, token in enumerate(tokens)
    ))
    return rec


async def closed_loop(connections: list[Http], seconds: float, make_request) -> tuple[int, int]:
    """Requests completed (2xx) and failed within `seconds`, each connection sending back to back.

    Only requests that complete inside the window count: those still in flight when it ends (one per
    connection at most) would otherwise add up to 32 requests to whichever side is slower per request.
    """
    done = failed = 0
    stop = time.perf_counter() + seconds

    async def worker(index: int) -> None:
        nonlocal done, failed
        n = 0
        while time.perf_counter() < stop:
            n += 1
            try:
                status = await make_request(connections[index], index, n)
            except Exception:  # noqa: BLE001
                status = 0
            if time.perf_counter() > stop:
                break
            if 200 <= status < 300:
                done += 1
            else:
                failed += 1

    await asyncio.gather(*(worker(i) for i in range(len(connections))))
    return done, failed


async def ceiling(host: str, port: int, setup_data: dict, seconds: float, rounds: int, server_pid: int) -> dict:
    code, quiz = setup_data["code"], setup_data["quiz"]
    tokens = setup_data["throughput_tokens"]
    students = [Http(host, port, token) for token in tokens]
    attempts = []
    for http in students:
        status, attempt = await http.request("POST", f"/api/courses/{code}/quizzes/{quiz}/attempts/")
        assert status in (200, 201), (status, attempt)
        attempts.append(attempt)
    pingers = [Http(host, port) for _ in tokens]
    versions: dict[tuple[int, int], int] = {}  # (connection, slot) -> the server's version, as a page keeps it

    async def ping(http, index, n):
        return (await http.request("GET", "/quizzes/_ping"))[0]

    async def save(http, index, n):
        attempt = attempts[index]
        question = attempt["questions"][n % len(attempt["questions"])]
        value = answer_for(question, random.Random(n))
        path = f"/api/courses/{code}/quiz-attempts/{attempt['id']}/answers/{question['slot']}/"
        status, body = await http.request("PUT", path, {"value": value,
                                                        "base": versions.get((index, question["slot"]), 0)})
        if status == 200:
            versions[(index, question["slot"])] = body["version"]
        return status  # a 409 conflict would be a bench bug: one connection per attempt

    await closed_loop(pingers, 2, ping)  # warm every worker and connection
    await closed_loop(students, 2, save)
    # Take turns, so that load from elsewhere on a shared machine hits both sides alike.
    totals = {"ping": [0, 0], "save": [0, 0]}
    # CPU seconds each side cost gunicorn, PostgreSQL and this load generator, summed over the turns.
    cpu = {side: {"gunicorn": 0.0, "postgres": 0.0, "load_generator": 0.0} for side in ("ping", "save")}

    async def turn(side: str, connections: list[Http], make_request) -> tuple[int, int]:
        server, database, own = tree_cpu(server_pid), PostgresCpu(), sum(os.times()[:2])
        result = await closed_loop(connections, seconds / rounds, make_request)
        cpu[side]["gunicorn"] += tree_cpu(server_pid) - server
        cpu[side]["postgres"] += database.stop()
        cpu[side]["load_generator"] += sum(os.times()[:2]) - own
        return result

    ratios = []
    for _ in range(rounds):
        ping_done, ping_failed = await turn("ping", pingers, ping)
        save_done, save_failed = await turn("save", students, save)
        totals["ping"][0] += ping_done
        totals["ping"][1] += ping_failed
        totals["save"][0] += save_done
        totals["save"][1] += save_failed
        ratios.append(save_done / ping_done if ping_done else float("nan"))
    for http in students + pingers:
        await http.close()
    return {"ping_rps": totals["ping"][0] / seconds, "ping_failed": totals["ping"][1],
            "save_rps": totals["save"][0] / seconds, "save_failed": totals["save"][1],
            "round_ratios": ratios,
            "cpu_ms_per_request": {side: {name: 1000 * value / max(totals[side][0], 1) for name, value in parts.items()}
                                   for side, parts in cpu.items()}}


def lost_answers(setup_data: dict, rec: Recorder) -> tuple[int, dict]:
    import psycopg2

    conn = psycopg2.connect(host="127.0.0.1", user="postgres", dbname=DB_NAME)
    with conn, conn.cursor() as cur:
        attempt_ids = sorted({a for a, _ in rec.acked})
        cur.execute("SELECT attempt_id, slot_id, value, version FROM quizzes_response WHERE attempt_id = ANY(%s)",
                    [attempt_ids])
        stored = {(a, s): (version, value) for a, s, value, version in cur.fetchall()}
        cur.execute("SELECT state, count(*) FROM quizzes_attempt a JOIN quizzes_quiz q ON q.id = a.quiz_id "
                    "WHERE q.id = %s GROUP BY state", [setup_data["quiz"]])
        states = dict(cur.fetchall())
        cur.execute("SELECT count(*) FROM grading_grade WHERE item_id = %s", [setup_data["grade_item"]])
        states["grades_in_gradebook"] = cur.fetchone()[0]
    conn.close()
    lost = sum(1 for key, (version, value) in rec.acked.items() if stored.get(key) != (version, value))
    return lost, states


def psql(sql: str, database: str = "postgres") -> None:
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", database, "-q", "-c", sql], check=True)


def wait_up(host: str, port: int, timeout: float = 30) -> None:
    async def probe() -> int:
        http = Http(host, port)
        try:
            return (await http.request("GET", "/healthz"))[0]
        finally:
            await http.close()

    end = time.time() + timeout
    while time.time() < end:
        try:
            if asyncio.run(probe()) == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"gunicorn did not answer on {host}:{port} within {timeout} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=500)
    parser.add_argument("--ramp", type=float, default=60, help="seconds over which students start")
    parser.add_argument("--seconds", type=float, default=20, help="closed-loop time for each of ping and save")
    parser.add_argument("--rounds", type=int, default=10, help="ping and save take turns this many times")
    # The defaults are production's (Dockerfile: gunicorn --workers 4 --threads 4), so the bench measures that.
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--seed", type=int, default=501)
    parser.add_argument("--poll", type=float, default=3, help="seconds between an open page's version polls (0: none)")
    parser.add_argument("--profile", action="store_true", help="also profile start/save/submit in-process")
    parser.add_argument("--profile-only", action="store_true",
                        help="only the in-process profile (no gunicorn, no rush), with each request's SQL")
    parser.add_argument("--setup", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--profile-child", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.setup:
        setup(args.students, args.setup)
        return
    if args.profile_child:
        profile(*args.profile_child)
        return

    env = bench_env(args.port)
    python = sys.executable
    print(f"Creating database {DB_NAME} and {args.students} students …", flush=True)
    psql(f"DROP DATABASE IF EXISTS {DB_NAME}")
    psql(f"CREATE DATABASE {DB_NAME}")
    subprocess.run([python, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    with tempfile.TemporaryDirectory() as tmp:
        data_file = Path(tmp) / "setup.json"
        subprocess.run([python, __file__, "--students", str(args.students), "--setup", str(data_file)],
                       cwd=ROOT, env=env, check=True)
        setup_data = json.loads(data_file.read_text())
        # Statistics for the new rows, as autovacuum's ANALYZE gives a server within a minute of the
        # enrolment; without them (a server with autovacuum off, like this machine's) the planner picks
        # plans for empty tables (e.g. reading every member of the course to find one).
        psql("ANALYZE", database=DB_NAME)
        profiled = None
        if args.profile or args.profile_only:
            profile_file = Path(tmp) / "profile.json"
            subprocess.run([python, __file__, "--profile-child", str(data_file), str(profile_file)],
                           cwd=ROOT, env=env, check=True)
            profiled = json.loads(profile_file.read_text())
    statements = profiled.pop("statements", {}) if profiled else {}
    if args.profile_only:
        assert profiled is not None
        for name, row in profiled.items():
            print(f"{name}: {row['sql_statements']:.1f} SQL, {row['cpu_ms']:.1f} ms CPU (n={row['n']})")
            for sql in statements.get(name, []):
                print(f"    {sql}")
        return

    gunicorn = Path(python).with_name("gunicorn")
    server = subprocess.Popen(
        [str(gunicorn), "courseapp.wsgi:application", "-b", f"127.0.0.1:{args.port}", "-w", str(args.workers),
         "-k", "gthread", "--threads", str(args.threads), "--backlog", "2048", "--keep-alive", "5",
         "--log-level", "warning"],
        cwd=ROOT, env=env,
    )
    host = "127.0.0.1"
    try:
        wait_up(host, args.port)
        print(f"gunicorn: {args.workers} workers × {args.threads} threads on {os.cpu_count()} CPU(s); "
              f"rush: {args.students} students over {args.ramp:.0f} s …", flush=True)
        t0 = time.perf_counter()
        server_cpu0, own_cpu0, database_cpu0 = tree_cpu(server.pid), sum(os.times()[:2]), PostgresCpu()
        rec = asyncio.run(rush(host, args.port, setup_data, args.ramp, args.seed, args.poll))
        wall = time.perf_counter() - t0
        server_cpu, own_cpu = tree_cpu(server.pid) - server_cpu0, sum(os.times()[:2]) - own_cpu0
        database_cpu = database_cpu0.stop()
        print(f"Throughput: {THROUGHPUT_STUDENTS} connections, {args.seconds:.0f} s each for ping and save "
              f"in {args.rounds} turns …", flush=True)
        tput = asyncio.run(ceiling(host, args.port, setup_data, args.seconds, args.rounds, server.pid))
    finally:
        server.terminate()
        server.wait(timeout=30)

    lost, states = lost_answers(setup_data, rec)
    requests = sum(len(v) for v in rec.latency.values())
    print()
    print(f"Quiz rush: {args.students} students, {requests} successful requests in {wall:.1f} s")
    print(f"{'operation':<10}{'n':>7}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    for name, values in rec.latency.items():
        print(f"{name:<10}{len(values):>7}{pct(values, .5):>10.1f}{pct(values, .95):>10.1f}{pct(values, .99):>10.1f}"
              f"{(max(values) * 1000 if values else float('nan')):>10.1f}")
    print(f"errors: {sum(rec.errors.values())} {rec.errors or ''}")
    print(f"CPU during the rush: gunicorn {server_cpu:.1f} s ({1000 * server_cpu / max(requests, 1):.2f} ms/request), "
          f"PostgreSQL {database_cpu:.1f} s ({1000 * database_cpu / max(requests, 1):.2f} ms/request), "
          f"this load generator {own_cpu:.1f} s ({1000 * own_cpu / max(requests, 1):.2f} ms/request), "
          f"of {wall * (os.cpu_count() or 1):.0f} CPU-s the machine had")
    if profiled:
        print("in-process profile (no HTTP server): " + "; ".join(
            f"{name} {row['sql_statements']:.1f} SQL, {row['cpu_ms']:.1f} ms CPU" for name, row in profiled.items()))
    print(f"answers acknowledged: {len(rec.acked)}; lost: {lost}")
    print(f"attempts by state: {states}")
    ratio = tput["save_rps"] / tput["ping_rps"] if tput["ping_rps"] else float("nan")
    print(f"ceiling /quizzes/_ping: {tput['ping_rps']:.0f} req/s (failed {tput['ping_failed']}); "
          f"save: {tput['save_rps']:.0f} req/s (failed {tput['save_failed']}); ratio {ratio:.2f} "
          f"(per round: {', '.join(f'{r:.2f}' for r in tput['round_ratios'])})")
    for side, parts in tput["cpu_ms_per_request"].items():
        print(f"  CPU per {side} (ms): " + ", ".join(f"{name} {value:.2f}" for name, value in parts.items())
              + f"; all {sum(parts.values()):.2f}")
    goals = {
        "zero errors": not rec.errors and not tput["ping_failed"] and not tput["save_failed"],
        "zero lost answers": lost == 0,
        "p95 save < 100 ms": pct(rec.latency["save"], .95) < 100,
        "save/ping ratio >= 0.6": ratio >= 0.6,
    }
    print("goals: " + ", ".join(f"{k}: {'yes' if v else 'NO'}" for k, v in goals.items()))
    result_dir = ROOT / "var" / "bench"
    result_dir.mkdir(parents=True, exist_ok=True)
    (result_dir / "quiz_rush.json").write_text(json.dumps({
        "students": args.students, "ramp_s": args.ramp, "workers": args.workers, "threads": args.threads,
        "cpus": os.cpu_count(), "wall_s": wall,
        "latency_ms": {k: {"n": len(v), "p50": pct(v, .5), "p95": pct(v, .95), "p99": pct(v, .99)}
                       for k, v in rec.latency.items()},
        "errors": rec.errors, "acknowledged": len(rec.acked), "lost": lost, "states": states, **tput,
        "cpu_s": {"gunicorn": server_cpu, "postgres": database_cpu, "load_generator": own_cpu}, "profile": profiled, "poll_s": args.poll,
        "ratio": ratio, "goals": goals,
    }, indent=2))


if __name__ == "__main__":
    main()

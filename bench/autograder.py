"""Autograder overhead: submissions of the trivial harness through the whole real path.

    .venv/bin/python bench/autograder.py [--jobs 100] [--sqlite]

Path measured: HTTP request (gunicorn, token auth) -> PostgreSQL -> Redis -> one
Celery worker (concurrency 1, prefetch 1) -> the runner and its jail -> the
gradebook (grade_post in the run's transaction).

1. Creates the PostgreSQL database ceng501_autobench afresh (or a SQLite file with
   --sqlite), migrates it, builds a course with one team and a part graded by
   projects/harnesses/trivial (no daily limit).
2. Starts gunicorn (2 workers) with production settings and one Celery worker on
   Redis db 12 serving the ``cpu`` queue.
3. Latency phase: --jobs submissions one after another; each waits until its
   grade is in the gradebook.  Per job: total = grade posted (run finished_at)
   minus the moment the client started the upload; harness time = the predict
   and score steps' own wall time inside the sandbox (as the runner measured
   them); overhead = total - harness time.  Also split into request, queue wait
   (sent -> started) and worker-side overhead (started -> finished minus steps).
4. Throughput phase: --jobs more submissions sent back to back, then the time
   until the last grade is posted: jobs per minute with one worker.

Everything shares this machine's cores.  A measurement, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "ceng501_autobench"
BROKER = "redis://127.0.0.1:6379/12"  # a database of its own: it is flushed
PORT = 8765


def bench_env(tmp: Path, *, sqlite: bool) -> dict:
    env = os.environ.copy()
    env.update(
        DJANGO_ENV="production",
        DJANGO_SECRET_KEY=env.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        DJANGO_SECURE_SSL_REDIRECT="0",
        DJANGO_SECURE_HSTS_SECONDS="0",
        DATABASE_URL=f"sqlite:///{tmp / 'bench.sqlite3'}" if sqlite else f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
        CELERY_BROKER_URL=BROKER,
        SUBMISSIONS_ROOT=str(tmp / "submissions"),
        HARNESS_ROOT=str(tmp / "harnesses"),
        VAR_DIR=str(tmp / "var"),
        LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
    )
    env.pop("PYTEST_VERSION", None)
    return env


def setup(out: Path) -> None:
    """Runs in a child process with the bench environment: migrate and build the course."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "courseapp.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from decimal import Decimal

    from django.core.management import call_command

    from courseapp.models import Course, Membership, Role, User
    from courseapp.tokens import token_create
    from grading.models import Category, GradeItem
    from projects import services
    from projects.models import GradingMode, Project, ProjectPart

    call_command("migrate", verbosity=0, interactive=False)
    course = Course.objects.create(
        code="autobench", number="CENG 501", title="Autograder bench", term="bench", department="CENG",
        lecture_weekday=2, lecture_start="09:40", lecture_end="11:30", lecture_room="BMB2",
        calendar_token="autobench-" + secrets.token_hex(8),
    )
    category = Category.objects.create(course=course, name="Project", weight=45)
    item = GradeItem.objects.create(course=course, category=category, name="Trivial", points_possible=Decimal("1"))
    project = Project.objects.create(course=course, slug="project", name="Bench", daily_submission_limit=0)
    part = ProjectPart.objects.create(project=project, course=course, slug="trivial", name="Trivial",
                                      grade_item=item, mode=GradingMode.AUTOGRADED)
    services.harness_upload(part=part, source=ROOT / "projects" / "harnesses" / "trivial" / "harness", by=None)
    a = User.objects.create(username="bench-a", password="!")
    b = User.objects.create(username="bench-b", password="!")
    for user in (a, b):
        Membership.objects.create(course=course, user=user, role=Role.STUDENT)
    team = services.team_create(project=project, name="Benchers", by=a)
    services.team_join(project=project, code=team.join_code, user=b)
    token = token_create(user=a, name="autograder bench")[1]
    out.write_text(json.dumps({"token": token, "url": f"/api/courses/{course.code}/projects/{part.slug}/submissions/"}))


def runs_by_id(ids: list[int]) -> dict:
    """Read run rows (child-free: the bench process has Django set up with the same env)."""
    from projects.models import GradingRun

    return {r.pk: r for r in GradingRun.objects.filter(pk__in=ids).select_related("submission")}


def multipart(filename: str, data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
            f"Content-Type: application/zip\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def submit(base: str, url: str, token: str, payload: bytes) -> dict:
    body, ctype = multipart("main.zip", payload)
    request = urllib.request.Request(base + url, data=body, method="POST",
                                     headers={"Authorization": f"Token {token}", "Content-Type": ctype})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def wait_done(ids: list[int], timeout: float) -> dict:
    from projects.models import TERMINAL_STATUSES

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = runs_by_id(ids)
        if len(runs) == len(ids) and all(r.status in TERMINAL_STATUSES for r in runs.values()):
            return runs
        time.sleep(0.005 if len(ids) == 1 else 0.2)
    raise SystemExit(f"runs {ids} did not finish in {timeout} s")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="autobench-"))
    env = bench_env(tmp, sqlite=args.sqlite)
    if not args.sqlite:
        for sql in (f"DROP DATABASE IF EXISTS {DB_NAME}", f"CREATE DATABASE {DB_NAME}"):
            subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-c", sql], check=True, env=env)
    subprocess.run(["redis-cli", "-n", "12", "flushdb"], check=True, capture_output=True)
    info = tmp / "setup.json"
    subprocess.run([sys.executable, __file__, "--setup", str(info)], check=True, env=env, cwd=ROOT)
    setup_info = json.loads(info.read_text())

    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "courseapp.settings"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()

    procs = [
        subprocess.Popen([sys.executable, "-m", "gunicorn", "courseapp.wsgi", "-b", f"127.0.0.1:{PORT}", "-w", "2",
                          "--log-level", "warning"], env=env, cwd=ROOT),
        subprocess.Popen([sys.executable, "-m", "celery", "-A", "courseapp", "worker", "--loglevel=WARNING",
                          "--queues=cpu", "--concurrency=1", "--prefetch-multiplier=1", "--without-gossip",
                          "--without-mingle", "-n", "bench@%h"], env=env, cwd=ROOT),
    ]
    base = f"http://127.0.0.1:{PORT}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(base + "/healthz", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("gunicorn did not start") from None
                time.sleep(0.2)
        folder = ROOT / "projects" / "harnesses" / "trivial" / "samples" / "correct"
        import io
        import zipfile

        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as zf:
            for path in folder.rglob("*"):
                if path.is_file():
                    zf.write(path, path.relative_to(folder).as_posix())
        payload = buffer.getvalue()
        token, url = setup_info["token"], setup_info["url"]

        # Warm-up: the worker's first job imports the runner; gunicorn workers start lazily.
        for _ in range(3):
            wait_done([submit(base, url, token, payload)["run"]["id"]], timeout=120)

        totals, harness, overheads, request_s, queue_s, worker_s = [], [], [], [], [], []
        for _ in range(args.jobs):
            t0 = time.time()
            body = submit(base, url, token, payload)
            t_resp = time.time()
            run = wait_done([body["run"]["id"]], timeout=120)[body["run"]["id"]]
            steps = (run.results or {}).get("steps", {})
            own = sum(steps.get(s, {}).get("wall_s") or 0 for s in ("predict", "score"))
            total = run.finished_at.timestamp() - t0
            totals.append(total)
            harness.append(own)
            overheads.append(total - own)
            request_s.append(t_resp - t0)
            queue_s.append(run.started_at.timestamp() - (run.sent_at or run.queued_at).timestamp())
            worker_s.append((run.finished_at - run.started_at).total_seconds() - own)
            assert run.status == "succeeded", (run.status, run.error)

        t_start = time.time()
        ids = [submit(base, url, token, payload)["run"]["id"] for _ in range(args.jobs)]
        runs = wait_done(ids, timeout=60 + args.jobs * 10)
        t_end = max(r.finished_at.timestamp() for r in runs.values())
        per_min = args.jobs / (t_end - t_start) * 60
        ok = sum(r.status == "succeeded" for r in runs.values())

        from grading.models import Grade, GradeChange

        grades = Grade.objects.filter(item__course__code="autobench").count()
        changes = GradeChange.objects.filter(item__course__code="autobench").count()

        ms = lambda xs, q: f"{pct(xs, q) * 1000:7.1f} ms"  # noqa: E731
        db = "SQLite" if args.sqlite else "PostgreSQL"
        print(f"\nAutograder bench: trivial harness, {args.jobs} jobs, gunicorn + {db} + Redis + 1 worker + jail")
        print(f"  sandbox backend: {(next(iter(runs.values())).results or {}).get('sandbox', {}).get('backend')}")
        print(f"  {'':28}{'p50':>10}{'p95':>11}")
        for label, xs in [("total (upload -> grade)", totals), ("harness's own steps", harness),
                          ("overhead (total - steps)", overheads), ("  request (upload+store)", request_s),
                          ("  queue wait (sent->start)", queue_s), ("  worker (prep, jail, record)", worker_s)]:
            print(f"  {label:28}{ms(xs, 0.5)}  {ms(xs, 0.95)}")
        print(f"  mean overhead {statistics.mean(overheads) * 1000:.1f} ms")
        print(f"  throughput: {args.jobs} jobs back to back, {ok} succeeded, in {t_end - t_start:.1f} s "
              f"= {per_min:.0f} jobs/min with one worker")
        print(f"  gradebook: {grades} grade rows (2 students), {changes} history rows")
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--setup":
        setup(Path(sys.argv[2]))
        sys.exit(0)
    sys.exit(main())

"""`make run`: serve the site with real Celery workers and beat, then say where and how to log in.

Starts four processes (web, the grading worker, the beat-jobs worker, beat),
waits until the site answers and a ping task has made the round trip through
the broker and the worker, prints the URL and the demo logins, and stops all
of them on Ctrl-C.  Beat's jobs (sweeps, quiz auto-submission) have a worker
of their own, as in production, so a long grading run never delays them.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    started = time.monotonic()
    python = sys.executable
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    celery = [python, "-m", "celery", "-A", "courseapp"]
    procs = {
        "web": subprocess.Popen(
            [python, "manage.py", "runserver", f"{args.host}:{args.port}", "--noreload"], cwd=ROOT, env=env
        ),
        "worker": subprocess.Popen(
            [*celery, "worker", "--loglevel=INFO", "--concurrency=2",
             "--queues=default,cpu,gpu,rerun", "--hostname=dev@%h"],
            cwd=ROOT, env=env,
        ),
        "beat-worker": subprocess.Popen(
            [*celery, "worker", "--loglevel=INFO", "--concurrency=1", "--queues=beat", "--hostname=beat@%h"],
            cwd=ROOT, env=env,
        ),
        "beat": subprocess.Popen(
            [*celery, "beat", "--loglevel=INFO", f"--schedule={ROOT / 'var' / 'celerybeat-schedule'}"],
            cwd=ROOT, env=env,
        ),
    }

    def stop(*_):
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        sys.exit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    url = f"http://{args.host}:{args.port}/"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url + "healthz", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if time.monotonic() > deadline or procs["web"].poll() is not None:
            print("The web server did not start; see its output above.", file=sys.stderr)
            stop()
        time.sleep(0.2)
    served = time.monotonic() - started

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "courseapp.settings")
    import django

    django.setup()
    from courseapp.tasks import ping

    token = uuid.uuid4().hex[:8]
    t0 = time.monotonic()
    try:
        reply = ping.delay(token).get(timeout=60)
        worker_line = f"Celery worker answered a ping in {time.monotonic() - t0:.2f} s ({reply})."
    except Exception as exc:  # the site still works; say plainly what does not
        worker_line = f"WARNING: the Celery worker did not answer a ping: {exc!r}"

    from courseapp.demo import DEMO_PASSWORD

    print(
        f"""
==========================================================================
 CENG 501 course site is up: {url}   (first page served after {served:.1f} s)
 {worker_line}
 Demo logins (password for all: {DEMO_PASSWORD}):
   instructor  skalkan
   TAs         ta.ayse, ta.mehmet
   students    e2380001, e2380002, … e2380040 (`manage.py load_demo` lists them)
 API docs: {url}api/docs/    Admin: {url}admin/
 Press Ctrl-C to stop the web server, the workers and beat.
==========================================================================
""",
        flush=True,
    )
    while all(proc.poll() is None for proc in procs.values()):
        time.sleep(1)
    dead = [name for name, proc in procs.items() if proc.poll() is not None]
    print(f"Stopped because {', '.join(dead)} exited.", file=sys.stderr)
    stop()
    return 1


if __name__ == "__main__":
    sys.exit(main())

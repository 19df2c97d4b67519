"""The site's edge under abuse: login guessing with throttling on, and a slowloris.

    .venv/bin/python bench/edge.py [--usernames 20] [--attack 50] [--seconds 25] [--database-url URL] [--only logins|slowloris]

What it does (a measurement, not a test; everything on 127.0.0.1, every phase bounded):

Setup: a private folder with an SQLite database (or --database-url, e.g. PostgreSQL's
ceng501_edgebench, created and migrated), migrated, with users edge0000… sharing one password
hashed with the production hasher (PBKDF2, Django's default cost), so a check costs what it
costs in production. gunicorn runs with production settings (DJANGO_ENV=production, plain
http, BEHIND_PROXY=1), 2 workers × 4 threads (gthread), like the Dockerfile's but for 2 cores.

(a) Logins at /api/auth/token/ with throttling on (LOGIN_FAILURE_LIMIT 5, per address 50):
    each client sends its own X-Real-IP (gunicorn trusts it behind the proxy), 4 in parallel.
    1. guessing: --usernames usernames × 8 wrong passwords, each username from its own address:
       the first 5 are counted failures (the password is hashed), the next 3 are refused 429
       before any hashing;
    2. one address guessing across 60 other usernames, 1 wrong password each: refused from the 51st;
    3. the right password for 20 users nobody attacked (200), and for 5 locked users (429);
    4. the right password for 20 users with throttling off (LOGIN_THROTTLING=0), for the cost of axes.
    Reports requests/s and the median latency of each kind.

(b) Slowloris: --attack connections that send part of a request's headers and then one more
    header line every second (reopened when the server drops them), against nginx (Debian's
    package, deploy/nginx/ceng501/edge.conf) in front of gunicorn, then against gunicorn direct.
    /healthz is fetched every 0.1 s (fresh connection each, 5 s timeout) for 5 s before and
    --seconds during the attack (giving up after 3 timeouts in a row); reports p50/p95 and
    failures. A stalled POST variant (headers and part of
    a body) is run the same way.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from courseapp.tests import edge_servers as es  # noqa: E402

PASSWORD = "edge-bench-Pa55word"


def setup(env: dict[str, str], *, users: int) -> None:
    """Migrate and create users (in a child process with the bench's settings)."""
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    code = f"""
import django, os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "courseapp.settings")
django.setup()
from django.contrib.auth.hashers import make_password
from courseapp.models import User
hashed = make_password({PASSWORD!r})
User.objects.filter(username__startswith="edge").delete()
User.objects.bulk_create([User(username=f"edge{{i:04d}}", password=hashed) for i in range({users})])
"""
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)


def token_login(port: int, username: str, password: str, address: str) -> tuple[int, float]:
    body = json.dumps({"username": username, "password": password})
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", "/api/auth/token/", body=body, headers={
            "Host": "127.0.0.1", "Content-Type": "application/json", "X-Real-IP": address})
        response = conn.getresponse()
        response.read()
        return response.status, time.perf_counter() - start
    finally:
        conn.close()


def run_logins(port: int, attempts: list[tuple[str, str, str]], *, parallel: int = 4) -> tuple[list, float]:
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
        results = list(pool.map(lambda a: token_login(port, *a), attempts))
    return results, time.perf_counter() - start


def summarize(name: str, results: list[tuple[int, float]], elapsed: float) -> None:
    by_status: dict[int, list[float]] = {}
    for status, seconds in results:
        by_status.setdefault(status, []).append(seconds)
    parts = ", ".join(
        f"{status}: {len(v)} (median {statistics.median(v) * 1000:.0f} ms)" for status, v in sorted(by_status.items())
    )
    print(f"  {name}: {len(results)} requests in {elapsed:.1f} s = {len(results) / elapsed:.1f}/s; {parts}")


def logins(args, env: dict[str, str], tmp: Path) -> None:
    print("(a) logins at /api/auth/token/ with throttling on (limit 5 per username, 50 per address)")
    port = es.free_port()
    g = es.start_gunicorn(tmp / "var-a", port, workers=2, threads=4, env=env)
    try:
        es.get_latency(port, timeout=30)
        n = args.usernames
        guesses = [(f"edge{u:04d}", f"wrong-{k}", f"10.1.{u // 250}.{u % 250 + 1}") for k in range(8) for u in range(n)]
        results, elapsed = run_logins(port, guesses)
        summarize(f"guessing, {n} usernames × 8 wrong passwords", results, elapsed)
        spray = [(f"edge{100 + u:04d}", "wrong", "10.2.0.1") for u in range(60)]
        results, elapsed = run_logins(port, spray, parallel=1)
        summarize("one address, 60 usernames × 1 wrong password", results, elapsed)
        right = [(f"edge{200 + u:04d}", PASSWORD, f"10.3.0.{u + 1}") for u in range(20)]
        results, elapsed = run_logins(port, right)
        summarize("right password, 20 users not attacked", results, elapsed)
        locked = [(f"edge{u:04d}", PASSWORD, "10.4.0.1") for u in range(5)]
        results, elapsed = run_logins(port, locked)
        summarize("right password, 5 locked users", results, elapsed)
    finally:
        es.stop(g)
    port = es.free_port()
    g = es.start_gunicorn(tmp / "var-a2", port, workers=2, threads=4, env={**env, "LOGIN_THROTTLING": "0"})
    try:
        es.get_latency(port, timeout=30)
        right = [(f"edge{300 + u:04d}", PASSWORD, f"10.5.0.{u + 1}") for u in range(20)]
        results, elapsed = run_logins(port, right)
        summarize("right password, 20 users, throttling OFF", results, elapsed)
    finally:
        es.stop(g)


class Attack:
    """Keeps ``count`` slow connections open against ``port`` until stopped."""

    def __init__(self, port: int, count: int, *, kind: str) -> None:
        self.port, self.count, self.kind = port, count, kind
        self.stopped = threading.Event()
        self.reopened = 0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def open(self) -> socket.socket:
        opener = es.slowloris if self.kind == "slowloris" else es.stalled_posts
        return opener(self.port, 1)[0]

    def run(self) -> None:
        socks = []
        for _ in range(self.count):
            try:
                socks.append(self.open())
            except OSError:
                pass
        while not self.stopped.wait(1.0):
            for i, sock in enumerate(socks):
                try:
                    sock.sendall(b"X-b: c\r\n" if self.kind == "slowloris" else b"x")
                except OSError:
                    sock.close()
                    try:
                        socks[i] = self.open()
                        self.reopened += 1
                    except OSError:
                        pass
        for sock in socks:
            sock.close()

    def __enter__(self) -> Attack:
        self.thread.start()
        time.sleep(1.0)
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        self.thread.join()


def healthz(port: int, seconds: float) -> str:
    """GET /healthz every 0.1 s for ``seconds`` (fresh connection each, 5 s timeout).

    Gives up after 3 timeouts in a row (the server is down; waiting longer measures nothing).
    """
    results: list[tuple[float, int]] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        results.append(es.get_latency(port, timeout=5))
        if len(results) >= 3 and all(status == 0 for _, status in results[-3:]):
            break
        time.sleep(0.1)
    failed = sum(1 for _, status in results if status != 200)
    times = sorted(s for s, _ in results)
    return (f"p50 {statistics.median(times) * 1000:.1f} ms, p95 {es.p95(times) * 1000:.1f} ms, "
            f"{failed} of {len(results)} failed or timed out (5 s)")


def slowloris(args, env: dict[str, str], tmp: Path) -> None:
    print(f"(b) /healthz before and during {args.attack} slow connections")
    gport, nport = es.free_port(), es.free_port()
    g = es.start_gunicorn(tmp / "var-b", gport, workers=2, threads=4, env=env)
    if es.nginx_binary() is None:
        print("  nginx is not installed (apt-get install nginx): the proxy half is left out")
        n = None
    else:
        n = es.start_nginx(tmp / "nginx", listen_port=nport, upstream_port=gport)
    try:
        for _ in range(4):
            es.get_latency(gport, timeout=30)
        targets = ([("nginx + gunicorn", nport)] if n else []) + [("gunicorn direct", gport)]
        for name, port in targets:
            print(f"  {name}: before: {healthz(port, 5)}")
            for kind in ("slowloris", "stalled POST"):
                with Attack(port, args.attack, kind="slowloris" if kind == "slowloris" else "post") as attack:
                    figures = healthz(port, args.seconds)
                print(f"  {name}: during {kind}: {figures} (attack connections reopened: {attack.reopened})")
            time.sleep(1)
    finally:
        if n:
            es.stop(n)
        es.stop(g)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--usernames", type=int, default=20)
    parser.add_argument("--attack", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=25.0,
                        help="how long /healthz is sampled during each attack (past nginx's 10 s header timeout)")
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temporary folder")
    parser.add_argument("--only", choices=["logins", "slowloris"], default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="edge-bench-") as name:
        tmp = Path(name)
        env = es.production_env(tmp, BEHIND_PROXY="1", PYTHONPATH=str(ROOT))
        if args.database_url:
            env["DATABASE_URL"] = args.database_url
        print(f"machine: {os.cpu_count()} CPUs; database {env['DATABASE_URL'].split('@')[-1]}")
        setup(env, users=400)
        if args.only in (None, "logins"):
            logins(args, env, tmp)
        if args.only in (None, "slowloris"):
            slowloris(args, env, tmp)
    print("goal: p95 of /healthz through nginx under 100 ms during the attack")


if __name__ == "__main__":
    main()

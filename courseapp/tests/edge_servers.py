"""Real servers for the edge tests and bench/edge.py: gunicorn (production settings) and nginx
from the Debian package with the repository's deploy/nginx/ceng501/edge.conf in front of it.

Everything listens on 127.0.0.1 on free ports and lives in a temporary folder; nginx runs as a
foreground process (no daemon, no master) so it ends with the test.
"""

from __future__ import annotations

import http.client
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EDGE_CONF = REPO / "deploy" / "nginx" / "ceng501" / "edge.conf"


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, *, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def production_env(var_dir: Path, **overrides: str) -> dict[str, str]:
    """DJANGO_ENV=production on a private SQLite file and an in-memory broker (no services)."""
    env = {key: value for key, value in os.environ.items() if key not in {"PYTEST_VERSION", "DATABASE_URL"}}
    env.update({
        "DJANGO_ENV": "production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": f"sqlite:///{var_dir / 'edge.sqlite3'}",
        "CELERY_BROKER_URL": "memory://",
        "VAR_DIR": str(var_dir),
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "LOG_LEVEL": "WARNING",
    })
    env.update(overrides)
    return env


def start_gunicorn(var_dir: Path, port: int, *, workers: int = 2, threads: int = 4,
                   env: dict[str, str] | None = None) -> subprocess.Popen:
    """gunicorn as the Dockerfile runs it (gthread), fewer workers; its log in var_dir/gunicorn.log."""
    var_dir.mkdir(parents=True, exist_ok=True)
    log = open(var_dir / "gunicorn.log", "ab")  # noqa: SIM115 (closed with the process)
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "courseapp.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", str(workers), "--threads", str(threads), "--worker-class", "gthread",
         "--timeout", "60", "--no-control-socket", "--access-logfile", str(var_dir / "gunicorn-access.log")],
        cwd=REPO, env=env or production_env(var_dir), stdout=log, stderr=subprocess.STDOUT,
    )
    wait_for_port(port, proc=proc)
    return proc


def nginx_conf(prefix: Path, *, listen_port: int, upstream_port: int) -> Path:
    """A whole nginx.conf: the repository's edge.conf inside a plain-HTTP server on 127.0.0.1."""
    for sub in ("logs", "body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(f"""
daemon off;
master_process off;
worker_processes 1;
error_log {prefix}/logs/error.log warn;
pid {prefix}/nginx.pid;
events {{ worker_connections 2048; }}
http {{
    access_log {prefix}/logs/access.log;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    upstream ceng501_app {{
        server 127.0.0.1:{upstream_port};
        keepalive 16;
    }}
    server {{
        listen 127.0.0.1:{listen_port};
        server_name 127.0.0.1;
        include {EDGE_CONF};
    }}
}}
""")
    return conf


def start_nginx(prefix: Path, *, listen_port: int, upstream_port: int) -> subprocess.Popen:
    binary = nginx_binary()
    if binary is None:
        raise FileNotFoundError("nginx")
    conf = nginx_conf(prefix, listen_port=listen_port, upstream_port=upstream_port)
    proc = subprocess.Popen([binary, "-e", "stderr", "-p", str(prefix), "-c", str(conf)],
                            stdout=subprocess.DEVNULL, stderr=open(prefix / "logs" / "stderr.log", "ab"))  # noqa: SIM115
    wait_for_port(listen_port, proc=proc)
    return proc


# --- clients ---------------------------------------------------------------------------------


def get_latency(port: int, path: str = "/healthz", *, timeout: float = 5.0) -> tuple[float, int]:
    """(seconds, status) of one GET on a fresh connection; (timeout, 0) when it did not answer."""
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Host": "127.0.0.1"})
        response = conn.getresponse()
        response.read()
        return time.perf_counter() - start, response.status
    except OSError:
        return timeout, 0
    finally:
        conn.close()


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def stalled_posts(port: int, count: int, *, path: str = "/api/auth/token/",
                  declared: int = 4096) -> list[socket.socket]:
    """``count`` connections that send a POST's headers and part of its body, then stall."""
    opened = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {declared}\r\n\r\nusername=e2380001&password=".encode()
        )
        opened.append(sock)
    return opened


def slowloris(port: int, count: int) -> list[socket.socket]:
    """``count`` connections that send part of a request's headers and stall (the classic attack)."""
    opened = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-a: b\r\n")
        opened.append(sock)
    return opened


def declared_upload(port: int, *, path: str, declared: int, timeout: float = 10.0,
                    send: int = 0) -> tuple[int, bytes, float]:
    """POST declaring ``declared`` bytes, sending only ``send`` of them; (status, body, seconds)."""
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n"
            f"Content-Length: {declared}\r\nConnection: close\r\n\r\n".encode()
        )
        chunk = b"\0" * 65536
        sent = 0
        try:
            while sent < send:
                sock.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass  # the server answered and closed while we were still sending
        response = http.client.HTTPResponse(sock)
        try:
            response.begin()
            body = response.read()  # by Content-Length or chunks: no wait for the server's close
        except OSError:
            return 0, b"", time.perf_counter() - start
    return response.status, body, time.perf_counter() - start

"""The site's edge with real servers: nginx (Debian's package, deploy/nginx/ceng501/edge.conf)
in front of gunicorn with production settings, both on 127.0.0.1.

Without nginx these tests are skipped (REQUIRE_SERVICES=1 fails them instead); the app-level
limits are also tested against gunicorn directly, and without sockets in test_body_limits.py.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path
from string import Template

import pytest
import yaml

from conftest import skip_or_fail
from courseapp.tests import edge_servers as es

pytestmark = pytest.mark.proxy
MB = 1024 * 1024
TEMPLATE = es.REPO / "deploy" / "nginx" / "templates" / "ceng501.conf.template"


@pytest.fixture(scope="module")
def gunicorn(tmp_path_factory):
    var_dir = tmp_path_factory.mktemp("edge-var")
    port = es.free_port()
    proc = es.start_gunicorn(var_dir, port, workers=1, threads=4)
    for _ in range(4):  # the first requests import the whole app
        es.get_latency(port, timeout=30)
    yield port, var_dir
    es.stop(proc)


@pytest.fixture(scope="module")
def proxy(gunicorn, tmp_path_factory):
    if es.nginx_binary() is None:
        skip_or_fail("nginx is not installed (apt-get install nginx)")
    prefix = tmp_path_factory.mktemp("edge-nginx")
    port = es.free_port()
    proc = es.start_nginx(prefix, listen_port=port, upstream_port=gunicorn[0])
    yield port
    es.stop(proc)


def reached_gunicorn(var_dir: Path, path: str, *, wait: float = 3.0) -> bool:
    """Whether gunicorn's access log has ``path`` (it writes the line after the response)."""
    deadline = time.monotonic() + wait
    while True:
        if f" {path} " in (var_dir / "gunicorn-access.log").read_text():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def never_reached_gunicorn(port: int, var_dir: Path, path: str) -> bool:
    """``path`` is not in the log although a request sent after it is."""
    marker = f"/healthz?after={time.monotonic_ns()}"
    es.get_latency(port, marker)
    assert reached_gunicorn(var_dir, marker)
    return not reached_gunicorn(var_dir, path, wait=0)


def test_nginx_refuses_a_60_mb_post_to_the_login_page_before_gunicorn_sees_it(proxy, gunicorn):
    status, body, seconds = es.declared_upload(proxy, path="/login/?big", declared=60 * MB, send=60 * MB)
    assert status == 413
    assert b"larger than this address accepts" in body
    assert seconds < 5
    assert never_reached_gunicorn(*gunicorn, "/login/?big")


def test_upload_routes_have_their_own_limit_at_the_proxy(proxy, gunicorn):
    submit = "/api/courses/ceng501-2024f/projects/final-code/submissions/"
    # 5 MB passes nginx on the submission route (its ceiling is 512 MB) and reaches the app,
    # which refuses an anonymous client above 1 MB by itself...
    status, body, _ = es.declared_upload(proxy, path=submit, declared=5 * MB, send=5 * MB)
    assert status == 413 and b"accepts at most 1 MB" in body
    assert reached_gunicorn(gunicorn[1], submit)
    # ...and an import route stops 11 MB at nginx (its ceiling is 10 MB).
    status, body, _ = es.declared_upload(proxy, path="/api/courses/ceng501-2024f/grades/import/preview/",
                                         declared=11 * MB)
    assert status == 413 and b"10 MB for imports" in body


@pytest.mark.parametrize("path", ["/api/auth/token/", "/login/"])
def test_stalled_anonymous_posts_do_not_take_healthz_down(proxy, gunicorn, path):
    stalled = es.stalled_posts(proxy, 30, path=path)
    try:
        time.sleep(0.3)
        results = [es.get_latency(proxy) for _ in range(40)]
        assert {status for _, status in results} == {200}
        assert es.p95([seconds for seconds, _ in results]) < 0.5
        # gunicorn's threads are all free: the stalled bodies are still with nginx.
        seconds, status = es.get_latency(gunicorn[0], timeout=2)
        assert status == 200 and seconds < 0.5
    finally:
        for sock in stalled:
            sock.close()


def test_a_slowloris_of_50_connections_does_not_take_healthz_down(proxy):
    attack = es.slowloris(proxy, 50)
    try:
        time.sleep(0.3)
        results = [es.get_latency(proxy) for _ in range(40)]
        assert {status for _, status in results} == {200}
        assert es.p95([seconds for seconds, _ in results]) < 0.5
    finally:
        for sock in attack:
            sock.close()


# --- the same limits without the proxy (gunicorn direct) -------------------------------------------


def test_the_app_refuses_a_declared_2_gb_body_that_is_never_sent(gunicorn):
    status, body, seconds = es.declared_upload(gunicorn[0], path="/login/", declared=2 * 1024**3)
    assert status == 413
    assert body.decode().startswith("The request body is 2048 MB; this address accepts at most 1 MB.")
    assert seconds < 2


def test_the_app_refuses_a_declared_2_gb_api_upload_with_json(gunicorn):
    status, body, _ = es.declared_upload(
        gunicorn[0], path="/api/courses/ceng501-2024f/projects/final-code/submissions/", declared=2 * 1024**3
    )
    assert status == 413 and b'"limit_bytes": 1048576' in body


# --- the production template ------------------------------------------------------------------------


def test_the_production_template_is_a_valid_nginx_configuration(tmp_path):
    binary = es.nginx_binary()
    if binary is None or shutil.which("openssl") is None:
        skip_or_fail("nginx or openssl is not installed")
    cert, key = tmp_path / "fullchain.pem", tmp_path / "privkey.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=ceng501.example.org", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    # What the nginx image's entrypoint does: substitute only the variables it is given.
    rendered = Template(TEMPLATE.read_text()).safe_substitute(
        SERVER_NAME="ceng501.example.org", APP_UPSTREAM="127.0.0.1:9",
        TLS_CERTIFICATE=str(cert), TLS_CERTIFICATE_KEY=str(key),
    ).replace("/etc/nginx/ceng501/edge.conf", str(es.EDGE_CONF))
    assert "${" not in rendered
    site = tmp_path / "ceng501.conf"
    site.write_text(rendered)
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"pid {tmp_path}/nginx.pid;\nevents {{}}\nhttp {{ include {site}; }}\n")
    result = subprocess.run([binary, "-t", "-e", "stderr", "-p", str(tmp_path), "-c", str(conf)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr


# --- docker-compose's health check of `web` (the proxy waits for it) ---------------------------------


def test_the_compose_health_check_of_web_passes_under_production_settings(tmp_path):
    compose = yaml.safe_load((es.REPO / "docker-compose.yml").read_text())
    command = compose["services"]["web"]["healthcheck"]["test"]
    assert command[:3] == ["CMD", "python", "-c"]
    port = es.free_port()
    # As in production: one allowed host name, and the HTTPS redirect on.
    env = es.production_env(tmp_path, DJANGO_ALLOWED_HOSTS="ceng501.example.org", DJANGO_SECURE_SSL_REDIRECT="1")
    proc = es.start_gunicorn(tmp_path, port, workers=1, threads=2, env=env)
    try:
        code = command[3].replace("127.0.0.1:8000", f"127.0.0.1:{port}")
        result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stderr
    finally:
        es.stop(proc)

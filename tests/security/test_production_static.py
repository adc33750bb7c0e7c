"""S16 (issue 15): in production mode gunicorn served no static files, so the viewer's
`viewer.js` was a 404 and the viewer did not work in the documented deployment. Started as
docker-compose starts it (collectstatic, then gunicorn on config.wsgi), the app now serves them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 10) -> tuple[int, bytes, str]:
    # As behind the compose proxy: TLS ends there and it says so (SECURE_PROXY_SSL_HEADER).
    request = urllib.request.Request(url, headers={"X-Forwarded-Proto": "https"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read(), response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers.get("Content-Type", "")


@pytest.fixture
def production_server(tmp_path):
    env = {
        "PATH": os.environ.get("PATH", ""), "READERBENCH_MODE": "production",
        "SECRET_KEY": "s" * 20 + "e" * 20 + "c" * 20, "READERBENCH_PSEUDONYM_KEY": "k" * 40,
        "ALLOWED_HOSTS": "127.0.0.1", "READERBENCH_DATA_DIR": str(tmp_path),
        "STATIC_ROOT": str(tmp_path / "static"),
    }
    subprocess.run([str(BIN / "python"), "manage.py", "collectstatic", "--no-input", "-v0"],
                   cwd=ROOT, env=env, check=True, timeout=300)
    port = _free_port()
    server = subprocess.Popen(
        [str(BIN / "gunicorn"), "config.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", "1", "--timeout", "120"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):  # until the worker has loaded the app and answers
            if server.poll() is not None:
                raise AssertionError(server.stderr.read().decode()[-2000:])
            try:
                if _get(f"{base}/health/", timeout=120)[0] == 200:
                    break
            except OSError:
                time.sleep(0.5)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_gunicorn_in_production_mode_serves_the_viewers_static_files(production_server):
    status, body, kind = _get(f"{production_server}/static/readers/viewer.js")
    assert status == 200 and "javascript" in kind
    assert body == (ROOT / "static" / "readers" / "viewer.js").read_bytes()
    status, _, kind = _get(f"{production_server}/static/readers/viewer.css")
    assert status == 200 and "css" in kind
    assert _get(f"{production_server}/static/readers/nothing.js")[0] == 404

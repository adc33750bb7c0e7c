"""gunicorn started as docker-compose.yml starts the web service, natively: production mode,
``collectstatic`` then ``gunicorn config.wsgi:application``, with the compose defaults
(``SECURE_SSL_REDIRECT=false``, no proxy header believed). Used by test_production_*.py."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, timeout: float = 10) -> tuple[int, bytes, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read(), response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers.get("Content-Type", "")


@contextlib.contextmanager
def production_server(data_dir: Path, **env_extra: str):
    """Yield the base URL of a production-mode gunicorn; ``env_extra`` adds to its environment
    (the database and media folder of a test, say)."""
    env = {
        "PATH": os.environ.get("PATH", ""), "READERBENCH_MODE": "production",
        "SECRET_KEY": "s" * 20 + "e" * 20 + "c" * 20, "READERBENCH_PSEUDONYM_KEY": "k" * 40,
        "ALLOWED_HOSTS": "127.0.0.1", "READERBENCH_DATA_DIR": str(data_dir),
        "STATIC_ROOT": str(data_dir / "static"), "SECURE_SSL_REDIRECT": "false",
        **env_extra,
    }
    subprocess.run([str(BIN / "python"), "manage.py", "collectstatic", "--no-input", "-v0"],
                   cwd=ROOT, env=env, check=True, timeout=300)
    port = _free_port()
    server = subprocess.Popen(
        # The compose file's settings (config/gunicorn_conf.py), one worker, on a free port.
        [str(BIN / "gunicorn"), "-c", "config/gunicorn_conf.py", "config.wsgi:application",
         "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):  # until the worker has loaded the app and answers
            if server.poll() is not None:
                raise AssertionError(server.stderr.read().decode()[-2000:])
            try:
                if get(f"{base}/health/", timeout=120)[0] in (200, 503):
                    break
            except OSError:
                time.sleep(0.5)
        else:
            raise AssertionError("gunicorn did not answer /health/ in time")
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)

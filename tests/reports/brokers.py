"""Real brokers that go down and come back, for the tests of outages (issue 15 R2, R4): point
this process's Celery app at another Redis URL (a port where nothing listens is a broker that
is down), and a Redis server of the test's own on a port of its own, stopped and started again
(never the shared one on 6379)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _reset_pools(app) -> None:
    # Forget the pools of the old URL (kombu keeps one per URL; closing it would break it for
    # good), as Celery does after a fork.
    app._pool = None
    if "amqp" in app.__dict__:
        app.amqp._producer_pool = None


@contextmanager
def broker_at(url: str) -> Iterator[object]:
    """This process's Celery app publishes to ``url`` (not eagerly) inside the block."""
    from config.celery import app

    before = (app.conf.broker_url, app.conf.task_always_eager)
    app.conf.broker_url, app.conf.task_always_eager = url, False
    _reset_pools(app)
    try:
        yield app
    finally:
        app.conf.broker_url, app.conf.task_always_eager = before
        _reset_pools(app)


def queued_messages(app, queue: str) -> list[dict]:
    """Take every message off ``queue``: [{"task": name, "kwargs": {...}}]."""
    out = []
    with app.connection_for_read() as conn:
        inbox = conn.SimpleQueue(queue)
        try:
            while True:
                try:
                    message = inbox.get(block=False)
                except inbox.Empty:
                    return out
                _, kwargs, _ = message.decode()
                out.append({"task": message.headers["task"], "kwargs": kwargs})
                message.ack()
        finally:
            inbox.close()


class RedisServer:
    """A redis-server of this test's own on ``port``, in memory only (no dump, no AOF)."""

    def __init__(self, port: int, directory: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        self.binary, self.port, self.directory = binary, port, directory
        self.process: subprocess.Popen | None = None
        self.url = f"redis://127.0.0.1:{port}/0"

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        pytest.fail(f"redis-server did not answer on port {self.port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)
        self.process = None

"""Real ``--pool solo`` Celery workers for the fault tests (the README's setup): started under
a given name on one queue, against the test database and Redis, killed with SIGKILL, stopped at
teardown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings as django_settings

from tests.inference.test_worker import Worker, _database_url


@contextmanager
def solo_workers(*, queue: str, tmp_path: Path, media_root, lease: int,
                 extra_env: dict | None = None) -> Iterator[Callable[..., Worker]]:
    """Yield ``start(name, *, lease=lease) -> Worker``: a worker on ``queue`` with a lease of
    ``lease`` seconds and a sweep every second; the queue is purged first."""
    from config.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = False
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(queue)
    workers: list[Worker] = []

    def start(name: str, *, lease: int = lease) -> Worker:
        env = {
            **os.environ,
            "DATABASE_URL": _database_url(),
            "MEDIA_ROOT": str(media_root),
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "PYTHONUNBUFFERED": "1",
            "READERBENCH_JOB_LEASE_SECONDS": str(lease),
            "READERBENCH_SWEEP_SECONDS": "1",
            **(extra_env or {}),
        }
        env.pop("READERBENCH_SQLITE_TEST_NAME", None)
        log = tmp_path / f"worker-{len(workers)}.log"
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", queue,
             "--pool", "solo", "--without-gossip", "--without-mingle", "--without-heartbeat",
             "-l", "INFO", "-n", name],
            cwd=django_settings.BASE_DIR, env=env, stdout=log.open("w"),
            stderr=subprocess.STDOUT, start_new_session=True,
        )
        worker = Worker(process, log)
        workers.append(worker)
        worker.wait_ready()
        return worker

    try:
        yield start
    finally:
        for worker in workers:
            worker.stop()
        app.conf.task_always_eager = before


def kill_9(worker: Worker) -> None:
    os.killpg(worker.process.pid, signal.SIGKILL)
    worker.process.wait(timeout=15)

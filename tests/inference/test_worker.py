"""Inference through a real Celery worker on the Redis broker, against the test database.

A ``celery -A config worker -Q gpu --pool prefork -c 1`` subprocess consumes the jobs. Checked:
a job runs to completion with correct counts; a worker child killed with SIGKILL in the middle
of a job has its message redelivered (``acks_late`` + ``reject_on_worker_lost``) and the job
still ends with exactly one prediction per case; a corrupt case fails the job with the error
visible. Needs REDIS_URL (CI sets it) and a database the worker can reach: PostgreSQL, or SQLite
with a file test database (``READERBENCH_SQLITE_TEST_NAME``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings as django_settings
from django.db import connection

from inference import services
from inference.models import InferenceJob, Prediction
from tests.inference import inference_fixtures
from tests.inference.inference_fixtures import register_tiny

array_study = inference_fixtures.array_study

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.environ.get("REDIS_URL"),
                       reason="REDIS_URL is not set: a real Celery worker needs the Redis broker"),
]

STARTUP_TIMEOUT = 90
JOB_TIMEOUT = 120


def _database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        name = str(db["NAME"])
        if not name or name == ":memory:" or name.startswith("file:memorydb"):
            pytest.skip("the SQLite test database is in memory, which a worker process cannot "
                        "open; set READERBENCH_SQLITE_TEST_NAME=/path/test.sqlite3 (or use "
                        "PostgreSQL via DATABASE_URL)")
        return "sqlite:///" + str(Path(name).resolve())
    auth = quote(db["USER"] or "", safe="")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"], safe="")
    host = db["HOST"] or "localhost"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{auth}@{host}{port}/{db['NAME']}"


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            out.append(int(entry.name))
    return out


class Worker:
    def __init__(self, process: subprocess.Popen, log: Path) -> None:
        self.process = process
        self.log = log

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if " ready." in self.text():
                return
            if self.process.poll() is not None:
                pytest.fail(f"the worker exited with {self.process.returncode}:\n{self.text()}")
            time.sleep(0.2)
        pytest.fail(f"the worker was not ready after {STARTUP_TIMEOUT} s:\n{self.text()[-3000:]}")

    def child_pids(self) -> list[int]:
        return _children(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=15)


@pytest.fixture
def start_worker(transactional_db, settings, tmp_path):
    """Start a real worker on the gpu queue (after emptying the queue); stopped at teardown."""
    from config.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = False
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge("gpu")
    workers: list[Worker] = []

    def start(**extra_env) -> Worker:
        env = {
            **os.environ,
            "DATABASE_URL": _database_url(),
            "MEDIA_ROOT": str(settings.MEDIA_ROOT),
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "PYTHONUNBUFFERED": "1",
            **extra_env,
        }
        env.pop("READERBENCH_SQLITE_TEST_NAME", None)  # the worker opens the test DB by name
        log = tmp_path / f"worker-{len(workers)}.log"
        fh = log.open("w")
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "gpu",
             "--pool", "prefork", "-c", "1", "--without-gossip", "--without-mingle",
             "--without-heartbeat", "-l", "INFO", "-n", f"test-{uuid.uuid4().hex[:8]}@%h"],
            cwd=django_settings.BASE_DIR, env=env, stdout=fh, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        worker = Worker(process, log)
        workers.append(worker)
        worker.wait_ready()
        return worker

    yield start
    for worker in workers:
        worker.stop()
    app.conf.task_always_eager = before


def wait_for(job: InferenceJob, worker: Worker, condition, what: str) -> InferenceJob:
    deadline = time.monotonic() + JOB_TIMEOUT
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if condition(job):
            return job
        time.sleep(0.05)
    pytest.fail(f"job #{job.pk} never got {what} (status {job.status}, {job.n_done}/"
                f"{job.n_total}):\n{worker.text()[-4000:]}")


def test_a_worker_runs_a_job_to_completion(start_worker, array_study, tmp_path):
    study, cases = array_study
    version = register_tiny(tmp_path / "w", study=study)
    worker = start_worker()
    job = services.inference_job_create(study=study, model_version=version, batch_size=2)
    job = wait_for(job, worker, lambda j: j.finished, "finished")
    assert job.status == "done", job.error
    assert (job.n_total, job.n_done, job.n_failed, job.attempts) == (5, 5, 0, 1)
    assert job.celery_task_id and job.timings["predict"] > 0
    reading = {c.pk for c in cases["test"] + cases["external"]}
    assert sorted(Prediction.objects.values_list("image_id", flat=True)) == sorted(reading)


def test_a_killed_worker_child_leaves_exactly_one_prediction_per_case(start_worker,
                                                                      array_study, tmp_path):
    study, cases = array_study
    version = register_tiny(tmp_path / "w", study=study)
    # One case per batch and a pause after each, so that the kill lands mid-job.
    worker = start_worker(READERBENCH_TEST_BATCH_DELAY="0.6")
    job = services.inference_job_create(study=study, model_version=version, batch_size=1)
    job = wait_for(job, worker, lambda j: 1 <= j.n_done < j.n_total, "part-way")
    children = worker.child_pids()
    assert len(children) == 1, children
    os.kill(children[0], signal.SIGKILL)
    killed_at = job.n_done
    job = wait_for(job, worker, lambda j: j.finished, "finished after the kill")
    assert job.status == "done", job.error
    assert job.attempts == 2 and killed_at < job.n_total
    assert (job.n_total, job.n_done, job.n_failed) == (5, 5, 0)
    ids = list(Prediction.objects.filter(model_version=version)
               .values_list("image_id", flat=True))
    assert sorted(ids) == sorted(c.pk for c in cases["test"] + cases["external"])
    assert "SIGKILL" in worker.text() or "signal 9" in worker.text()


def test_a_corrupt_case_fails_the_job_with_the_error_visible(start_worker, array_study,
                                                              tmp_path):
    study, cases = array_study
    bad = cases["external"][1]
    services.media_path(bad.array_file.name).write_bytes(b"corrupt")
    version = register_tiny(tmp_path / "w", study=study)
    worker = start_worker()
    job = services.inference_job_create(study=study, model_version=version, batch_size=5)
    job = wait_for(job, worker, lambda j: j.finished, "finished")
    assert job.status == "failed"
    assert (job.n_done, job.n_failed) == (4, 1)
    assert f"case {bad.pk}: cannot read its cached array" in job.error
    assert not Prediction.objects.filter(image=bad).exists()

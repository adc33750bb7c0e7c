"""Fault test (issue 15 R2): Redis down while a report is asked for, then up. Before, the API
answered 500 after 4-21 s with the report saved as ``queued``, and after Redis came back it
stayed queued for good with nothing in the queue. Now the API answers a JSON 503 at once, the
report is failed with a message and marked to be queued again, and once Redis is back the
worker's sweep queues it and the worker builds it: done without a second request.

Real processes: a redis-server of the test's own (port 6390, never the shared 6379), stopped
and started again, and ``celery -A config worker -Q default`` on it and the test database.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from django.conf import settings as django_settings
from django.urls import reverse
from knox.models import AuthToken

from reports.models import StudyReport
from reports.services import build
from tests.inference.test_worker import Worker, _database_url
from tests.reports.brokers import RedisServer, broker_at

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PORT = 6390


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(PORT, tmp_path / "redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def default_worker(redis_server, settings, tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "REDIS_URL": redis_server.url,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "PYTHONUNBUFFERED": "1",
        "READERBENCH_SWEEP_SECONDS": "1",
    }
    env.pop("READERBENCH_SQLITE_TEST_NAME", None)
    log = tmp_path / "worker.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "default",
         "--pool", "solo", "--without-gossip", "--without-mingle", "--without-heartbeat",
         "-l", "INFO", "-n", "reports-stuck@%h"],
        cwd=django_settings.BASE_DIR, env=env, stdout=log.open("w"),
        stderr=subprocess.STDOUT, start_new_session=True,
    )
    worker = Worker(process, log)
    worker.wait_ready()
    yield worker
    worker.stop()


def test_redis_down_while_a_report_is_asked_for_then_up_the_report_completes(
        client, built_study, redis_server, default_worker):
    token = AuthToken.objects.create(user=built_study.users["alice"])[1]
    # What the request costs before any queue is involved: the inputs and their hash.
    started = time.monotonic()
    build.study_report_inputs(study=built_study.study, seed=4, n_bootstrap=30)
    inputs = time.monotonic() - started
    redis_server.stop()
    with broker_at(redis_server.url):
        started = time.monotonic()
        response = client.post(reverse("api-v1:report-list"),
                               {"study": "onfh", "seed": 4, "n_bootstrap": 30},
                               content_type="application/json",
                               HTTP_AUTHORIZATION=f"Token {token}")
        answered = time.monotonic() - started
    assert response.status_code == 503, response.content
    assert "queued again by itself" in response.json()["detail"]
    # Not the 19 s of connection retries it took before (a loose bound: CI machines are busy).
    assert answered < inputs + 10, f"the 503 took {answered:.1f} s ({inputs:.1f} s of inputs)"
    report = StudyReport.objects.get()
    assert (report.status, report.requeue) == ("failed", True)

    # The worker's sweep (every second) claims the report and finds the broker down: for the
    # moment between its claim and the refusal the report reads queued, then it is failed and
    # marked again. So look until the mark is back, never longer than the deadline.
    time.sleep(2)
    marked_again = time.monotonic() + 30
    while time.monotonic() < marked_again:
        report.refresh_from_db()
        if report.requeue and report.status == "failed":
            break
        time.sleep(0.05)
    assert report.requeue and report.status == "failed", (report.status, report.requeue)

    redis_server.start()
    back = time.monotonic()
    deadline = back + 240
    while time.monotonic() < deadline:
        report.refresh_from_db()
        if report.status == "done":
            break
        time.sleep(0.2)
    assert report.status == "done", (report.status, report.error,
                                     default_worker.text()[-4000:])
    assert not report.requeue and report.error == ""
    assert StudyReport.objects.count() == 1
    print(f"\n503 in {answered:.2f} s ({inputs:.2f} s of it the inputs); report done "
          f"{time.monotonic() - back:.1f} s after Redis came back, with no second request")

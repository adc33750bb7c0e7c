"""Fault test (issue 15 R1): ``kill -9`` of a ``--pool solo`` GPU worker in the middle of an
inference job, the README's setup. Before the lease, the job stayed ``running`` for good (the
message waits for the broker's 6 h visibility timeout, and Retry was offered only for failed
jobs). Now:

- the worker started again under its name takes the job back as it starts, and the job
  completes with exactly one prediction per case;
- with no restart, another worker's sweep finds the job silent for a whole lease, queues it
  again, and runs it to completion, within seconds of the lease.

Real processes: ``celery -A config worker -Q gpu --pool solo`` on the test Redis and database.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest

from inference import services
from inference.models import InferenceJob, Prediction
from tests.inference import inference_fixtures
from tests.inference.inference_fixtures import register_tiny
from tests.security.solo_workers import kill_9, solo_workers

array_study = inference_fixtures.array_study

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.environ.get("REDIS_URL"),
                       reason="REDIS_URL is not set: a real Celery worker needs the Redis broker"),
]

LEASE = 4  # seconds: a heartbeat every second, a sweep every second
DEADLINE = 300  # the bar: completed (or failed and retried) within 5 minutes


@pytest.fixture
def solo_worker(settings, tmp_path):
    """Start a ``--pool solo`` worker on the gpu queue under a given name; stopped at teardown."""
    slow = {"READERBENCH_TEST_BATCH_DELAY": "0.8"}  # so the kill lands mid-job
    with solo_workers(queue="gpu", tmp_path=tmp_path, media_root=settings.MEDIA_ROOT,
                      lease=LEASE, extra_env=slow) as start:
        yield start


def wait_for(job: InferenceJob, condition, what: str, logs: list[Path],
             timeout: float = DEADLINE) -> float:
    """Seconds until ``condition(job)`` holds (fails after ``timeout``)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        job.refresh_from_db()
        if condition(job):
            return time.monotonic() - started
        time.sleep(0.1)
    text = "\n".join(p.read_text(errors="replace")[-3000:] for p in logs if p.exists())
    pytest.fail(f"job #{job.pk} never got {what} (status {job.status}, {job.n_done}/"
                f"{job.n_total}, error {job.error!r}):\n{text}")


def one_prediction_per_case(job: InferenceJob) -> None:
    ids = list(Prediction.objects.filter(model_version_id=job.model_version_id)
               .values_list("image_id", flat=True))
    assert sorted(ids) == sorted(job.case_ids)


def test_a_solo_worker_killed_mid_job_and_restarted_takes_its_job_back(
        solo_worker, array_study, tmp_path):
    study, _ = array_study
    version = register_tiny(tmp_path / "w", study=study)
    name = f"gpu-{uuid.uuid4().hex[:8]}@%h"
    # A lease of 10 minutes: only the restart itself can give the job back within the test.
    first = solo_worker(name, lease=600)
    job = services.inference_job_create(study=study, model_version=version, batch_size=1)
    wait_for(job, lambda j: 1 <= j.n_done < j.n_total, "part-way", [first.log])
    kill_9(first)
    killed_at = job.n_done
    time.sleep(1.5)
    job.refresh_from_db()
    assert job.status == "running" and job.n_done < job.n_total  # what used to last for good

    second = solo_worker(name, lease=600)
    took = wait_for(job, lambda j: j.finished, "finished after the restart",
                    [first.log, second.log], timeout=120)
    assert job.status == "done", job.error
    assert (job.n_total, job.n_done, job.n_failed) == (5, 5, 0)
    assert (job.attempts, job.redeliveries) == (2, 1) and killed_at < job.n_total
    assert job.worker.startswith("gpu-")
    one_prediction_per_case(job)
    print(f"\nrestart under the same name: done {took:.1f} s after the worker was ready")


def test_a_solo_worker_killed_mid_job_loses_it_to_another_worker_after_the_lease(
        solo_worker, array_study, tmp_path):
    study, _ = array_study
    version = register_tiny(tmp_path / "w", study=study)
    first = solo_worker(f"gpu-a-{uuid.uuid4().hex[:8]}@%h")
    other = solo_worker(f"gpu-b-{uuid.uuid4().hex[:8]}@%h")
    # The other worker is busy with nothing; the job may start on either, so kill its holder.
    job = services.inference_job_create(study=study, model_version=version, batch_size=1)
    wait_for(job, lambda j: 1 <= j.n_done < j.n_total, "part-way", [first.log, other.log])
    holder, survivor = ((first, other) if job.worker.startswith("gpu-a-") else (other, first))
    kill_9(holder)
    killed = time.monotonic()
    requeued = wait_for(job, lambda j: j.redeliveries == 1, "queued again",
                        [first.log, other.log])
    assert requeued < LEASE + 5, f"the lost job was found after {requeued:.1f} s"
    wait_for(job, lambda j: j.finished, "finished on the other worker", [first.log, other.log])
    total = time.monotonic() - killed
    assert job.status == "done", job.error
    assert (job.n_done, job.n_failed, job.attempts) == (5, 0, 2)
    assert job.worker.split("@")[0] in survivor.text()
    one_prediction_per_case(job)
    print(f"\nanother worker: the lost job queued again {requeued:.1f} s after the kill "
          f"(lease {LEASE} s), done {total:.1f} s after it")

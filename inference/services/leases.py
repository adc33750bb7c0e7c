"""The lease of a running inference job (issue 15 R1): who runs it, and a heartbeat that says
the worker is alive.

A task renews the job's ``heartbeat_at`` from a daemon thread every quarter lease, whatever the
main thread is doing (a long batch, a model load). A job whose worker was killed (``kill -9`` of
a ``--pool solo`` GPU worker keeps its message unacknowledged for the broker's 6 h visibility
timeout) stops beating, and :func:`inference.services.jobs.inference_jobs_sweep` queues it again
or fails it once a whole lease has passed, or at once when a worker of the same name starts.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from inference.models import InferenceJob

logger = logging.getLogger(__name__)


def lease_seconds() -> int:
    return settings.READERBENCH_JOB_LEASE_SECONDS


def lease_alive(job: InferenceJob, *, now=None) -> bool:
    """Whether ``job`` is running under a lease that has not expired."""
    if job.status != InferenceJob.Status.RUNNING:
        return False
    last = job.heartbeat_at or job.started_at
    now = now or timezone.now()
    return last is not None and now - last < timedelta(seconds=lease_seconds())


def inline_worker_name() -> str:
    """The name a job run outside a Celery worker (eager mode, a command) is recorded under."""
    return f"inline@{socket.gethostname()}:{os.getpid()}"


@contextmanager
def heartbeat(*, job_id: int, worker: str) -> Iterator[None]:
    """Renew job ``job_id``'s lease every quarter lease while the block runs.

    The renewal is one conditional UPDATE (still ours, still queued or running), so it never
    resurrects a job that finished, and a job the sweep queued again while this worker was only
    slow is taken back (status running) rather than run twice."""
    stop = threading.Event()
    interval = lease_seconds() / 4

    def beat() -> None:
        try:
            while not stop.wait(interval):
                try:
                    InferenceJob.objects.filter(
                        pk=job_id, worker=worker,
                        status__in=[InferenceJob.Status.QUEUED, InferenceJob.Status.RUNNING],
                    ).update(heartbeat_at=timezone.now(), status=InferenceJob.Status.RUNNING)
                except Exception:  # noqa: BLE001 - a database blip: the next beat tries again
                    logger.warning("job %s: heartbeat failed", job_id, exc_info=True)
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=beat, name=f"heartbeat-job-{job_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)

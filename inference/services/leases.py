"""The leases of inference jobs and training runs (issue 15 R1, item 8): the generic lease
(:mod:`config.leases`, shared with study reports) bound to this app's models.

:func:`inference.services.jobs.inference_jobs_sweep` and
:func:`inference.services.training.training_runs_sweep` queue again (or fail) the work whose
worker stopped beating.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from config import leases
from config.leases import inline_worker_name, lease_alive, lease_seconds
from inference.models import InferenceJob, TrainingRun

__all__ = ["heartbeat", "inline_worker_name", "lease_alive", "lease_seconds",
           "training_heartbeat"]


@contextmanager
def heartbeat(*, job_id: int, worker: str) -> Iterator[None]:
    """Renew inference job ``job_id``'s lease while the block runs."""
    with leases.heartbeat(InferenceJob, pk=job_id, worker=worker):
        yield


@contextmanager
def training_heartbeat(*, run_id: int, worker: str) -> Iterator[None]:
    """Renew training run ``run_id``'s lease while the block runs."""
    with leases.heartbeat(TrainingRun, pk=run_id, worker=worker):
        yield

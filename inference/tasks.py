"""Celery tasks of the inference app: five lines of glue around a service each.

Both are routed to the ``gpu`` queue (``task_routes`` in config/celery.py), are acknowledged
late (a worker killed mid-task gets its message redelivered, ``reject_on_worker_lost``) and
take primary keys only; the services they call are idempotent, so a redelivery finishes the
work instead of repeating it.

A ``--pool solo`` worker killed with ``kill -9`` leaves its message unacknowledged until the
broker's visibility timeout (hours), so every worker also sweeps for jobs whose lease expired:
once as it starts (a job last run by a worker of its own name is dead for sure) and then every
``READERBENCH_SWEEP_SECONDS`` in a thread (:func:`config.celery.run_every`), with no beat.
Training runs hold the same lease (:mod:`config.leases`) and are swept alongside.
"""

from __future__ import annotations

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings

from config.celery import run_every
from inference import services
from inference.services.training import training_runs_sweep


@shared_task(name="inference.run_inference_job", acks_late=True, reject_on_worker_lost=True,
             bind=True)
def run_inference_job(self, *, job_id: int) -> str | None:
    worker = "" if self.request.is_eager else self.request.hostname or ""
    job = services.inference_job_run(job_id=job_id, worker=worker)
    return None if job is None else job.status


@shared_task(name="inference.train_model", acks_late=True, reject_on_worker_lost=True,
             bind=True)
def train_model(self, *, run_id: int) -> str | None:
    worker = "" if self.request.is_eager else self.request.hostname or ""
    run = services.training_run_execute(run_id=run_id, worker=worker)
    return None if run is None else run.status


def _sweep_lost_work() -> None:
    services.inference_jobs_sweep()
    training_runs_sweep()


@worker_ready.connect
def sweep_lost_jobs(sender, **kwargs) -> None:
    restarted = getattr(sender, "hostname", "") or ""
    services.inference_jobs_sweep(restarted_worker=restarted)
    training_runs_sweep(restarted_worker=restarted)
    run_every(settings.READERBENCH_SWEEP_SECONDS, _sweep_lost_work, name="sweep-inference-jobs")

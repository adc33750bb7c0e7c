"""Celery tasks of the inference app: five lines of glue around a service each.

Both are routed to the ``gpu`` queue (``task_routes`` in config/celery.py), are acknowledged
late (a worker killed mid-task gets its message redelivered, ``reject_on_worker_lost``) and
take primary keys only; the services they call are idempotent, so a redelivery finishes the
work instead of repeating it.
"""

from __future__ import annotations

from celery import shared_task

from inference import services


@shared_task(name="inference.run_inference_job", acks_late=True, reject_on_worker_lost=True)
def run_inference_job(*, job_id: int) -> str | None:
    job = services.inference_job_run(job_id=job_id)
    return None if job is None else job.status


@shared_task(name="inference.train_model", acks_late=True, reject_on_worker_lost=True)
def train_model(*, run_id: int) -> str | None:
    run = services.training_run_execute(run_id=run_id)
    return None if run is None else run.status

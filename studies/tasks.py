"""Celery task of the studies app: the import of a browser upload, five lines of glue around
:func:`studies.services.uploads.upload_import_run`.

On the ``default`` (CPU) queue, acknowledged late and taking the upload's primary key only;
the service leaves a finished upload as it is, so a redelivery is harmless. Without
``REDIS_URL`` it runs inline, in the request that finished the upload.

A ``--pool solo`` worker killed with ``kill -9`` leaves its message unacknowledged for hours;
the import holds a lease (:mod:`config.leases`), so every worker's sweep (as it starts, then
every ``READERBENCH_SWEEP_SECONDS``) queues an upload whose worker stopped beating again, or
fails it after ``READERBENCH_JOB_MAX_REDELIVERIES`` with a message saying so.
"""

from __future__ import annotations

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings

from config.celery import run_every
from studies.services import uploads


# No route: it goes to CELERY_TASK_DEFAULT_QUEUE ("default", the CPU workers).
@shared_task(name="studies.import_upload", acks_late=True, reject_on_worker_lost=True,
             bind=True)
def import_upload(self, *, upload_id: int) -> str | None:
    worker = "" if self.request.is_eager else self.request.hostname or ""
    upload = uploads.upload_import_run(upload_id=upload_id, worker=worker)
    return None if upload is None else upload.status


@worker_ready.connect
def sweep_lost_uploads(sender, **kwargs) -> None:
    uploads.uploads_sweep(restarted_worker=getattr(sender, "hostname", "") or "")
    run_every(settings.READERBENCH_SWEEP_SECONDS, uploads.uploads_sweep, name="sweep-uploads")

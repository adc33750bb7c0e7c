"""Celery task of the reports app: five lines of glue around a service each.

Reports run on the ``default`` (CPU) queue, are acknowledged late (a worker killed mid-task gets
its message redelivered) and take primary keys only; the service skips a report already done,
so a redelivery is harmless.

A report the broker refused (Redis down when it was asked for) is failed and marked
``requeue``; every worker queues such reports again as it starts and then every
``READERBENCH_SWEEP_SECONDS`` (:func:`config.celery.run_every`), so it completes once Redis is
back without anyone asking again.

A ``--pool solo`` worker killed with ``kill -9`` mid-build leaves its message unacknowledged
until the broker's visibility timeout (hours); the build holds a lease (:mod:`config.leases`),
so the same sweep queues a build whose worker stopped beating again (or fails it after
``READERBENCH_JOB_MAX_REDELIVERIES``), and a worker restarted under the same name takes its
builds back as it starts.
"""

from __future__ import annotations

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings

from config.celery import run_every
from reports.services import build


# No route: it goes to CELERY_TASK_DEFAULT_QUEUE ("default", the CPU workers).
@shared_task(name="reports.build_study_report", acks_late=True, reject_on_worker_lost=True,
             bind=True)
def build_study_report(self, *, report_id: int) -> str | None:
    worker = "" if self.request.is_eager else self.request.hostname or ""
    report = build.study_report_run(report_id=report_id, worker=worker)
    return None if report is None else report.status


def _sweep_reports() -> None:
    build.study_reports_requeue()
    build.study_reports_sweep()


@worker_ready.connect
def sweep_stuck_reports(sender, **kwargs) -> None:
    build.study_reports_requeue()
    build.study_reports_sweep(restarted_worker=getattr(sender, "hostname", "") or "")
    run_every(settings.READERBENCH_SWEEP_SECONDS, _sweep_reports, name="sweep-reports")

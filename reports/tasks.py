"""Celery task of the reports app: five lines of glue around a service each.

Reports run on the ``default`` (CPU) queue, are acknowledged late (a worker killed mid-task gets
its message redelivered) and take primary keys only; the service skips a report already done,
so a redelivery is harmless.

A report the broker refused (Redis down when it was asked for) is failed and marked
``requeue``; every worker queues such reports again as it starts and then every
``READERBENCH_SWEEP_SECONDS`` (:func:`config.celery.run_every`), so it completes once Redis is
back without anyone asking again.
"""

from __future__ import annotations

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings

from config.celery import run_every
from reports.services import build


# No route: it goes to CELERY_TASK_DEFAULT_QUEUE ("default", the CPU workers).
@shared_task(name="reports.build_study_report", acks_late=True, reject_on_worker_lost=True)
def build_study_report(*, report_id: int) -> str | None:
    report = build.study_report_run(report_id=report_id)
    return None if report is None else report.status


@worker_ready.connect
def requeue_refused_reports(sender, **kwargs) -> None:
    build.study_reports_requeue()
    run_every(settings.READERBENCH_SWEEP_SECONDS, build.study_reports_requeue,
              name="sweep-refused-reports")

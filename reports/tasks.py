"""Celery task of the reports app: five lines of glue around a service each.

Reports run on the ``default`` (CPU) queue, are acknowledged late (a worker killed mid-task gets
its message redelivered) and take primary keys only; the service skips a report already done,
so a redelivery is harmless.
"""

from __future__ import annotations

from celery import shared_task

from reports.services import build


# No route: it goes to CELERY_TASK_DEFAULT_QUEUE ("default", the CPU workers).
@shared_task(name="reports.build_study_report", acks_late=True, reject_on_worker_lost=True)
def build_study_report(*, report_id: int) -> str | None:
    report = build.study_report_run(report_id=report_id)
    return None if report is None else report.status

"""Leases of long-running work (issue 15 item 8): who runs a row's task, and a heartbeat that
says the worker is alive. Inference jobs, training runs and study reports all use it.

A row under lease has ``status`` (``queued``/``running``/``done``/``failed``), ``worker``,
``heartbeat_at``, ``started_at`` and ``redeliveries``. A task renews ``heartbeat_at`` from a
daemon thread every quarter lease, whatever the main thread is doing. A row whose worker was
killed (``kill -9`` of a ``--pool solo`` worker keeps its message unacknowledged for the
broker's hours-long visibility timeout) stops beating; :func:`leases_sweep` queues it again, or
fails it after ``READERBENCH_JOB_MAX_REDELIVERIES``, once a whole lease has passed, or at once
when a worker of the same name starts. No app is imported here: each app passes its model.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import connection, models
from django.db.models import F, Q
from django.utils import timezone

logger = logging.getLogger(__name__)

QUEUED, RUNNING, FAILED = "queued", "running", "failed"


class Leased(models.Model):
    """The lease fields of work a worker runs (abstract): the running task renews
    ``heartbeat_at``; a row silent for a whole ``READERBENCH_JOB_LEASE_SECONDS`` lost its worker
    and is queued again or failed by the sweep. The concrete model has ``status``,
    ``started_at``, ``finished_at`` and ``error``."""

    worker = models.CharField(
        max_length=255, blank=True, help_text="The Celery worker running (or last to run) it."
    )
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="Last time the running task said it was alive."
    )
    redeliveries = models.PositiveSmallIntegerField(
        default=0, help_text="Times the sweep queued it again after its worker was lost "
        "(back to 0 when its owner retries it).",
    )

    class Meta:
        abstract = True


def lease_seconds() -> int:
    return settings.READERBENCH_JOB_LEASE_SECONDS


def lease_alive(row: models.Model, *, now=None) -> bool:
    """Whether ``row`` is running under a lease that has not expired."""
    if row.status != RUNNING:
        return False
    last = row.heartbeat_at or row.started_at
    now = now or timezone.now()
    return last is not None and now - last < timedelta(seconds=lease_seconds())


def lease_refusal(row: models.Model, *, what: str) -> str:
    """The message that refuses to run ``row`` again while a live worker holds it."""
    last = row.heartbeat_at or row.started_at
    return (f"{what} #{row.pk} is running on {row.worker or 'a worker'} (last heartbeat "
            f"{int((timezone.now() - last).total_seconds())} s ago); try again once it stops, "
            f"or after {lease_seconds()} s without a heartbeat")


def inline_worker_name() -> str:
    """The name work run outside a Celery worker (eager mode, a command) is recorded under."""
    return f"inline@{socket.gethostname()}:{os.getpid()}"


@contextmanager
def heartbeat(model: type[models.Model], *, pk: int, worker: str) -> Iterator[None]:
    """Renew the lease of ``model`` row ``pk`` every quarter lease while the block runs.

    The renewal is one conditional UPDATE (still ours, still queued or running), so it never
    resurrects a row that finished, and a row the sweep queued again while this worker was only
    slow is taken back (status running) rather than run twice."""
    stop = threading.Event()
    interval = lease_seconds() / 4

    def beat() -> None:
        try:
            while not stop.wait(interval):
                try:
                    model.objects.filter(pk=pk, worker=worker,
                                         status__in=[QUEUED, RUNNING]).update(
                        heartbeat_at=timezone.now(), status=RUNNING)
                except Exception:  # noqa: BLE001 - a database blip: the next beat tries again
                    logger.warning("%s %s: heartbeat failed", model.__name__, pk, exc_info=True)
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=beat, name=f"heartbeat-{model.__name__}-{pk}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def lease_take(row: models.Model, *, worker: str) -> None:
    """Mark ``row`` (locked by the caller's ``select_for_update``) running on ``worker`` with a
    fresh heartbeat; saves only the lease fields (and ``attempts`` where the model has it)."""
    now = timezone.now()
    row.status, row.worker, row.heartbeat_at = RUNNING, worker[:255], now
    row.started_at = row.started_at or now
    fields = ["status", "worker", "heartbeat_at", "started_at"]
    if hasattr(row, "attempts"):
        row.attempts += 1
        fields.append("attempts")
    row.save(update_fields=fields)


def lease_claim(model: type[models.Model], *, pk: int, worker: str,
                finished: Callable[[models.Model], bool],
                what: str) -> tuple[models.Model | None, bool]:
    """In the caller's transaction, lock row ``pk`` of ``model`` and take its lease for
    ``worker``: ``(row, True)``. Nothing is taken from a row that is gone ``(None, False)``,
    ``finished`` or held by another worker whose lease is alive ``(row, False)``: a late or
    duplicate copy of a task leaves it as it is."""
    row = model._default_manager.select_for_update().filter(pk=pk).first()
    if row is None:
        logger.warning("%s %s does not exist (deleted?); nothing to do", what, pk)
        return None, False
    if finished(row):
        return row, False
    if row.worker and row.worker != worker and lease_alive(row):
        logger.info("%s %s is running on %s; this copy of the task stops", what, pk, row.worker)
        return row, False
    lease_take(row, worker=worker)
    return row, True


def leases_sweep(queryset: models.QuerySet, *, restarted_worker: str = "",
                 **recover) -> list[int]:
    """Find rows of ``queryset`` running under a lost lease and recover each
    (:func:`lease_recover`, which gets ``recover``); the primary keys handled.

    Lost: no heartbeat for a whole lease, or (``restarted_worker``, given by a worker as it
    starts) last run by a worker of this very name, which cannot still be running it."""
    now = timezone.now()
    expired = now - timedelta(seconds=lease_seconds())
    stale = Q(heartbeat_at__lt=expired) | Q(heartbeat_at__isnull=True, started_at__lt=expired)
    if restarted_worker:
        stale |= Q(worker=restarted_worker)
    return [row.pk for row in queryset.filter(stale, status=RUNNING)
            if lease_recover(row, now=now, **recover)]


def lease_recover(row: models.Model, *, now, requeue: Callable[[int], None], what: str,
                  retry_hint: str,
                  fail_fields: Callable[[models.Model], dict] | None = None) -> bool:
    """Queue ``row`` (whose lease was lost) again, calling ``requeue`` with its primary key, or
    fail it once it was queued again ``READERBENCH_JOB_MAX_REDELIVERIES`` times; whether this
    call did it.

    The change is a compare-and-set on the heartbeat seen, so two sweepers (every worker
    sweeps) never both act on a row, and a worker that beats again meanwhile keeps it.
    ``what`` names the row in logs; ``retry_hint`` ends a failure's message;
    ``fail_fields(row)`` adds fields to the failing update."""
    model = type(row)
    last = row.heartbeat_at or row.started_at
    seen = (Q(heartbeat_at=row.heartbeat_at) if row.heartbeat_at is not None
            else Q(heartbeat_at__isnull=True))
    claim = model.objects.filter(seen, pk=row.pk, status=RUNNING)
    lost = (f"its worker {row.worker or '(unknown)'} stopped answering (last heartbeat "
            f"{last:%Y-%m-%d %H:%M:%S} UTC)" if last else "its worker never started it")
    if row.redeliveries >= settings.READERBENCH_JOB_MAX_REDELIVERIES:
        extra = fail_fields(row) if fail_fields is not None else {}
        changed = claim.update(status=FAILED, finished_at=now, **extra,
                               error=f"{lost}, and it was already queued again "
                                     f"{row.redeliveries} time(s); {retry_hint}")
        if changed:
            logger.error("%s %s failed: %s", what, row.pk, lost)
        return bool(changed)
    changed = claim.update(status=QUEUED, redeliveries=F("redeliveries") + 1,
                           error=f"{lost}; queued again automatically")
    if changed:
        logger.warning("%s %s: %s; queued again", what, row.pk, lost)
        requeue(row.pk)
    return bool(changed)

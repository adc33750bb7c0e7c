"""The Celery app. Two queues: ``default`` (CPU) and ``gpu`` (one process per GPU).

Services enqueue tasks by name through :func:`enqueue_on_commit`, never by importing a tasks
module: tasks call services, services never import tasks, so the arrow runs one way.
"""

import logging
import os
import threading
from collections.abc import Callable

from celery import Celery
from celery.result import AsyncResult
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("readerbench")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = (Queue("default"), Queue("gpu"))
# Model work goes to the GPU workers; everything else stays on the default (CPU) queue.
app.conf.task_routes = {"inference.*": {"queue": "gpu"}}
app.autodiscover_tasks()

logger = logging.getLogger(__name__)

# A request that enqueues while the broker is down fails within about a second (then the row
# says so) instead of retrying for 20 s: two quick retries ride out a blip, no more.
PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.25,
                        "interval_max": 0.5}


class QueueUnavailableError(Exception):
    """The broker refused a task. The work it was for is saved and marked so (failed with this
    message, queued again when the broker answers); views answer 503, never 500."""


def enqueue(name: str, /, **kwargs) -> AsyncResult:
    """Send the task registered as ``name`` with keyword arguments (primary keys only).

    ``apply_async``, so the embedded default (no Redis: eager mode) runs it here and now. No
    result is kept (``ignore_result``): every task records its status on its own row, and
    subscribing to a result on a Redis that is down retries for 20 s before failing."""
    if name not in app.tasks:
        app.autodiscover_tasks(force=True)  # imports every installed app's tasks module
    return app.tasks[name].apply_async(kwargs=kwargs, ignore_result=True,
                                       retry_policy=PUBLISH_RETRY_POLICY)


def enqueue_on_commit(name: str, /, *, on_sent: Callable[[AsyncResult], None] | None = None,
                      on_error: Callable[[Exception], None] | None = None, **kwargs) -> None:
    """Send task ``name`` once the current transaction commits (a worker must find the rows
    it is given); ``on_sent`` gets the result (e.g. to store the task id), ``on_error`` the
    exception of a broker that refused it (without it, the exception propagates)."""
    from django.db import transaction

    def send() -> None:
        try:
            result = enqueue(name, **kwargs)
        except Exception as exc:
            if on_error is None:
                raise
            on_error(exc)
            return
        if on_sent is not None:
            on_sent(result)

    transaction.on_commit(send)


def run_every(seconds: float, work: Callable[[], object], *, name: str) -> threading.Thread:
    """Call ``work()`` every ``seconds`` in a daemon thread of this process, for good.

    The sweeps that keep work from getting stuck run this way in every worker, so that no Celery
    beat is needed. A failing call is logged and tried again next time; the thread's database
    connection is closed after each call (a database that went away is reopened next time)."""
    from django.db import connection

    def loop() -> None:
        stop = threading.Event()
        while not stop.wait(seconds):
            try:
                work()
            except Exception:  # noqa: BLE001 - a sweep must outlive a database or broker outage
                logger.exception("%s failed; trying again in %s s", name, seconds)
            finally:
                connection.close()

    thread = threading.Thread(target=loop, name=name, daemon=True)
    thread.start()
    return thread

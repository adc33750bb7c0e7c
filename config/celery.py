"""The Celery app. Two queues: ``default`` (CPU) and ``gpu`` (one process per GPU).

Services enqueue tasks by name through :func:`enqueue_on_commit`, never by importing a tasks
module: tasks call services, services never import tasks, so the arrow runs one way.
"""

import os
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


def enqueue(name: str, /, **kwargs) -> AsyncResult:
    """Send the task registered as ``name`` with keyword arguments (primary keys only).

    ``apply_async``, so the embedded default (no Redis: eager mode) runs it here and now."""
    if name not in app.tasks:
        app.autodiscover_tasks(force=True)  # imports every installed app's tasks module
    return app.tasks[name].apply_async(kwargs=kwargs)


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

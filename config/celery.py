"""The Celery app. Two queues: ``default`` (CPU) and ``gpu`` (one process per GPU)."""

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("readerbench")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = (Queue("default"), Queue("gpu"))
# Model work goes to the GPU workers; everything else stays on the default (CPU) queue.
app.conf.task_routes = {"inference.*": {"queue": "gpu"}}
app.autodiscover_tasks()

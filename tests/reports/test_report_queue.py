"""A report asked for while the broker is down is never stuck (issue 15 R2): the API answers a
JSON 503 within a second or two, the report is failed with a message and marked to be queued
again, the sweep every worker runs queues it once the broker answers, and a later request
queues it too. The page shows the message. The broker that is down is a real Redis URL where
nothing listens; the one that is up is the test Redis (REDIS_URL). The whole story with a real
worker and a Redis stopped and started: tests/security/test_stuck_report.py."""

from __future__ import annotations

import os
import time

import pytest
from django.conf import settings
from django.urls import reverse
from knox.models import AuthToken

from reports.models import StudyReport
from reports.services import build
from tests.reports.brokers import broker_at, free_port, queued_messages

pytestmark = [
    pytest.mark.django_db(transaction=True),  # on_commit runs as it does in a request
    pytest.mark.skipif(not os.environ.get("REDIS_URL"),
                       reason="REDIS_URL is not set: the broker that comes back is Redis"),
]
ASK = {"study": "onfh", "seed": 4, "n_bootstrap": 30}


def _token(user) -> dict:
    return {"HTTP_AUTHORIZATION": f"Token {AuthToken.objects.create(user=user)[1]}"}


def test_a_report_asked_for_while_the_broker_is_down_is_a_503_then_queued_by_the_sweep(
        client, built_study):
    auth = _token(built_study.users["alice"])
    url = reverse("api-v1:report-list")
    with broker_at(f"redis://127.0.0.1:{free_port()}/0"):
        started = time.monotonic()
        response = client.post(url, ASK, content_type="application/json", **auth)
        elapsed = time.monotonic() - started
    assert response.status_code == 503, response.content
    assert response["Content-Type"] == "application/json" and response["Retry-After"] == "30"
    detail = response.json()["detail"]
    assert "task queue (Redis) is unavailable" in detail and "queued again by itself" in detail
    assert elapsed < 5, f"the 503 took {elapsed:.1f} s"
    report = StudyReport.objects.get()
    assert (report.status, report.requeue) == ("failed", True)
    assert report.error == detail

    # While the broker is still down, the sweep tries, fails and leaves it marked.
    with broker_at(f"redis://127.0.0.1:{free_port()}/0"):
        assert build.study_reports_requeue() == []
    report.refresh_from_db()
    assert (report.status, report.requeue) == ("failed", True)

    # The broker answers: the sweep queues the build once, however often it runs.
    with broker_at(settings.CELERY_BROKER_URL) as app:
        queued_messages(app, "default")
        assert build.study_reports_requeue() == [report.pk]
        assert build.study_reports_requeue() == []
        assert queued_messages(app, "default") == [
            {"task": "reports.build_study_report", "kwargs": {"report_id": report.pk}}]
    report.refresh_from_db()
    assert (report.status, report.requeue, report.error) == ("queued", False, "")


def test_a_later_request_queues_a_report_the_broker_refused(client, built_study):
    auth = _token(built_study.users["alice"])
    url = reverse("api-v1:report-list")
    with broker_at(f"redis://127.0.0.1:{free_port()}/0"):
        assert client.post(url, ASK, content_type="application/json",
                           **auth).status_code == 503
    with broker_at(settings.CELERY_BROKER_URL) as app:
        queued_messages(app, "default")
        response = client.post(url, ASK, content_type="application/json", **auth)
        assert response.status_code == 202 and response.json()["status"] == "queued"
        [message] = queued_messages(app, "default")
    report = StudyReport.objects.get()
    assert message["kwargs"] == {"report_id": report.pk}
    assert (report.status, report.requeue, report.error) == ("queued", False, "")


def test_the_build_button_says_the_queue_is_down_and_keeps_the_report(client, built_study):
    client.force_login(built_study.users["alice"])
    with broker_at(f"redis://127.0.0.1:{free_port()}/0"):
        response = client.post(reverse("reports:build", args=["onfh"]), follow=True)
    assert response.status_code == 200
    page = response.content.decode()
    report = StudyReport.objects.get()
    assert report.status == "failed" and report.requeue
    assert "queued again by itself" in page

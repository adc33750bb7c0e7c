"""Outages answer 503 in each API's JSON shape, never Django's HTML 500, and ``/health/`` says
which dependency is down (issue 15 R4).

The outages are real: the database connection pointed at a port where no server listens (or,
on SQLite, a file that cannot be opened), the cache and the broker at a Redis port where none
listens, the file storage at a folder that does not exist. The cast: alice (researcher), bob
(reader) of the small reading study.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

import pytest
from django.db import connection
from django.test import Client
from knox.models import AuthToken

from tests.reports.brokers import broker_at, free_port

pytestmark = pytest.mark.django_db(transaction=True)


@contextmanager
def database_down():
    """This process's database connection goes to a server that is not there."""
    saved = dict(connection.settings_dict)
    connection.close()
    if connection.vendor == "sqlite":
        connection.settings_dict["NAME"] = "/nonexistent-readerbench/db.sqlite3"
    else:
        connection.settings_dict.update(HOST="127.0.0.1", PORT=str(free_port()))
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)


def test_health_reports_each_dependency(client):
    response = client.get("/health/")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "cache", "broker", "storage"}
    assert all(check["ok"] for check in body["checks"].values())


def test_health_makes_a_missing_media_folder_as_the_first_import_would(client, settings,
                                                                       tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "fresh" / "media")
    response = client.get("/health/")
    assert response.status_code == 200 and response.json()["checks"]["storage"]["ok"]
    assert list((tmp_path / "fresh" / "media").iterdir()) == []  # its probe file is gone


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis as the broker")
def test_health_is_503_naming_the_broker_when_the_broker_is_down(client):
    with broker_at(f"redis://127.0.0.1:{free_port()}/0"):
        response = client.get("/health/")
    body = response.json()
    assert response.status_code == 503 and body["status"] == "unavailable"
    assert body["checks"]["broker"] == {"ok": False, "detail": "unavailable (OperationalError)"}
    assert all(body["checks"][name]["ok"] for name in ("database", "cache", "storage"))


def test_health_is_503_naming_the_cache_when_redis_is_down(client, settings):
    settings.CACHES = {"default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": f"redis://127.0.0.1:{free_port()}/0"}}
    response = client.get("/health/")
    body = response.json()
    assert response.status_code == 503
    assert body["checks"]["cache"]["ok"] is False and body["checks"]["database"]["ok"]


def test_health_is_503_naming_the_storage_when_it_cannot_be_written(client, settings, tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    settings.MEDIA_ROOT = str(tmp_path / "a-file" / "media")
    response = client.get("/health/")
    body = response.json()
    assert response.status_code == 503 and body["checks"]["storage"]["ok"] is False


def test_a_database_outage_is_a_json_503_on_each_api_and_on_health(small_reading_study):
    alice = small_reading_study.users["alice"]
    token = AuthToken.objects.create(user=alice)[1]
    # As a server does: what a request raises is answered, not raised into the test.
    client = Client(raise_request_exception=False)
    client.force_login(small_reading_study.users["bob"])
    with database_down():
        rest = client.get("/api/v1/studies/", HTTP_AUTHORIZATION=f"Token {token}")
        reading = client.get("/api/reading/sessions/")
        health = Client().get("/health/")  # as a load balancer asks: no session
        health_logged_in = client.get("/health/")
        page = client.get("/read/")
    assert rest.status_code == 503 and rest["Content-Type"] == "application/json"
    assert rest.json() == {"detail": "The database is unavailable; nothing was saved. "
                                     "Try again in a minute."}
    assert rest["Retry-After"] == "30"
    assert reading.status_code == 503 and reading["Content-Type"] == "application/json"
    assert reading.json()["error"]["code"] == "unavailable"
    assert "database is unavailable" in reading.json()["error"]["message"]
    assert health.status_code == 503
    assert health.json()["checks"]["database"] == {"ok": False,
                                                   "detail": "unavailable (OperationalError)"}
    assert health_logged_in.status_code == 503
    assert health_logged_in.json()["status"] == "unavailable"
    assert page.status_code == 503 and b"Service unavailable" in page.content
    # Back up: the same requests work again.
    assert client.get("/api/v1/studies/", HTTP_AUTHORIZATION=f"Token {token}").status_code == 200
    assert client.get("/api/reading/sessions/").status_code == 200
    assert client.get("/health/").status_code == 200

"""The deployment files stay consistent with the code: compose services, health checks, queues,
and the infrastructure the tests run against."""

from pathlib import Path

import pytest
import yaml
from django.conf import settings

from config.celery import app as celery_app

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_runs_the_whole_stack_with_health_checks(compose):
    services = compose["services"]
    assert {"postgres", "redis", "web", "worker", "worker-gpu"} <= set(services)
    for name in ["postgres", "redis", "web", "worker", "worker-gpu"]:
        assert "healthcheck" in services[name], name
    assert {"pgdata", "media"} <= set(compose["volumes"])


def test_the_gpu_worker_reserves_an_nvidia_device_and_runs_one_process(compose):
    gpu = compose["services"]["worker-gpu"]
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    command = gpu["command"]
    assert command[command.index("-Q") + 1] == "gpu"
    assert command[command.index("--pool") + 1] == "solo"


def test_the_web_and_workers_use_the_real_entry_points(compose):
    app_env = compose["services"]["web"]["environment"]
    assert app_env["READERBENCH_MODE"] == "production"
    assert app_env["DATABASE_URL"].startswith("postgres://")
    assert app_env["REDIS_URL"].startswith("redis://")
    assert "config.wsgi:application" in compose["services"]["web"]["command"]
    assert (ROOT / "config" / "wsgi.py").exists()
    worker = compose["services"]["worker"]["command"]
    assert worker[worker.index("-Q") + 1] == "default"


def test_celery_has_the_two_queues_and_safe_delivery_settings():
    assert {q.name for q in celery_app.conf.task_queues} == {"default", "gpu"}
    assert celery_app.conf.task_acks_late is True
    assert celery_app.conf.task_reject_on_worker_lost is True
    assert celery_app.conf.worker_prefetch_multiplier == 1
    assert celery_app.conf.broker_transport_options["visibility_timeout"] >= 3600


def test_model_work_is_routed_to_the_gpu_queue():
    import inference.tasks  # noqa: F401  (registers the tasks)

    router = celery_app.amqp.router
    for name in ["inference.run_inference_job", "inference.train_model"]:
        assert router.route({}, name)["queue"].name == "gpu", name


@pytest.mark.django_db
def test_the_health_check_reaches_the_database_and_the_cache(client):
    response = client.get("/health/")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    # CI sets DATABASE_URL and REDIS_URL: then this is a real PostgreSQL and Redis round trip.
    expected = "postgresql" if "postgresql" in settings.DATABASES["default"]["ENGINE"] else "sqlite"
    assert body["database"] == expected


@pytest.mark.django_db
def test_the_home_page_needs_a_login(client, django_user_model, study):
    assert client.get("/").status_code == 302
    alice = django_user_model.objects.create_user("alice", password="pw-alice-123")
    client.force_login(alice)
    response = client.get("/")
    assert response.status_code == 200
    assert b"not a member of any study" in response.content

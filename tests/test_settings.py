"""Settings come from the environment: the embedded default, PostgreSQL and Redis switches, and
a production mode that refuses to start half-configured."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, parse_database_url

ROOT = Path(__file__).resolve().parent.parent
PROD_SECRET = "s" * 20 + "0123456789abcdefghijklmnopqrstuvwxyz"


def _manage(*args, **env):
    clean = {
        k: v for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "READERBENCH_MODE", "DEBUG"}
    }
    clean.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=clean, capture_output=True,
        text=True, timeout=120,
    )


def _print_setting(expr, **env):
    return _manage("shell", "-c", f"from django.conf import settings; print(repr(({expr})))", **env)


def test_with_nothing_set_it_runs_on_sqlite_without_redis_in_debug():
    out = _print_setting(
        "settings.DATABASES['default']['ENGINE'], settings.DEBUG,"
        " settings.CELERY_TASK_ALWAYS_EAGER, settings.CACHES['default']['BACKEND']"
    )
    assert out.returncode == 0, out.stderr
    assert "sqlite3" in out.stdout and "True, True" in out.stdout and "locmem" in out.stdout


def test_database_url_switches_to_postgresql_and_redis_url_to_redis():
    out = _print_setting(
        "settings.DATABASES['default']['ENGINE'], settings.DATABASES['default']['NAME'],"
        " settings.CELERY_BROKER_URL, settings.CELERY_TASK_ALWAYS_EAGER,"
        " settings.CACHES['default']['BACKEND']",
        DATABASE_URL="postgres://rb:pw@db.example:5433/readerbench",
        REDIS_URL="redis://cache.example:6379/2",
    )
    assert out.returncode == 0, out.stderr
    assert "postgresql" in out.stdout and "'readerbench'" in out.stdout
    assert "redis://cache.example:6379/2" in out.stdout and "False" in out.stdout
    assert "RedisCache" in out.stdout


def test_production_refuses_to_start_without_a_secret_key():
    out = _manage("check", READERBENCH_MODE="production", ALLOWED_HOSTS="rb.example.org")
    assert out.returncode != 0
    assert "needs SECRET_KEY" in out.stderr


def test_production_passes_the_deployment_checks():
    out = _manage(
        "check", "--deploy", "--fail-level", "WARNING",
        READERBENCH_MODE="production", SECRET_KEY=PROD_SECRET,
        READERBENCH_PSEUDONYM_KEY="k" * 40, ALLOWED_HOSTS="rb.example.org",
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_a_malformed_value_is_refused_with_its_name(monkeypatch):
    monkeypatch.setenv("DEBUG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="DEBUG='maybe'"):
        env_bool("DEBUG", True)
    monkeypatch.setenv("WORKERS", "four")
    with pytest.raises(ImproperlyConfigured, match="WORKERS='four' is not an integer"):
        env_int("WORKERS", 1)
    with pytest.raises(ImproperlyConfigured, match="unsupported scheme 'mysql'"):
        parse_database_url("mysql://x/y")
    with pytest.raises(ImproperlyConfigured, match="names no database"):
        parse_database_url("postgres://host:5432/")


def test_database_urls_parse_user_password_port_and_options():
    cfg = parse_database_url("postgresql://u%40x:p%3Aw@h:6543/db?sslmode=require")
    assert (cfg["USER"], cfg["PASSWORD"], cfg["HOST"], cfg["PORT"], cfg["NAME"]) == (
        "u@x", "p:w", "h", "6543", "db"
    )
    assert cfg["OPTIONS"] == {"sslmode": "require"}
    assert parse_database_url("sqlite:////tmp/x.db")["NAME"] == "/tmp/x.db"

"""S16 (issue 15): no Content-Security-Policy or Permissions-Policy, two-week login sessions, and
X-Forwarded-Proto believed from anyone. Now: every page carries a CSP that allows scripts and
styles from our own origin only (an inline <style> only with the request's nonce), and a
Permissions-Policy that denies devices and sensors; a login session ends after
READERBENCH_SESSION_IDLE_MINUTES without a request; the proxy header is believed only when the
operator names it. (The viewer under this CSP in Chromium, in production mode:
test_production_browser.py.)"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def rs(small_reading_study):
    return small_reading_study


def _policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {
        d.split()[0]: d.split()[1:] for d in (part.strip() for part in header.split(";")) if d
    }


def _pages(rs) -> dict[str, str]:
    session = rs.session("alice")
    case = session.items.order_by("position").first()
    return {
        "home": reverse("home"),
        "worklist": reverse("reading:worklist"),
        "viewer": reverse("reading:case", args=[session.token, case.token]),
        "tokens": reverse("api-tokens"),
        "API docs": reverse("api-v1:docs"),
    }


def test_every_page_forbids_inline_and_outside_scripts(client, rs):
    client.force_login(rs.users["alice"])
    for name, url in _pages(rs).items():
        response = client.get(url, HTTP_ACCEPT="text/html")
        assert response.status_code == 200, (name, response.status_code)
        policy = _policy(response)
        assert policy["script-src"] == ["'self'"], name
        assert policy["default-src"] == ["'self'"] and policy["object-src"] == ["'none'"]
        assert policy["frame-ancestors"] == ["'none'"] and policy["base-uri"] == ["'none'"]
        assert policy["form-action"] == ["'self'"], name
        assert not any("unsafe" in v or v == "*" for values in policy.values() for v in values)


def test_an_inline_style_runs_only_with_this_requests_nonce(client, rs):
    client.force_login(rs.users["alice"])
    nonces = []
    for _ in range(2):
        response = client.get(reverse("reading:worklist"))
        html = response.content.decode()
        nonce = re.search(r'<style nonce="([^"]+)">', html).group(1)
        assert _policy(response)["style-src"] == ["'self'", f"'nonce-{nonce}'"]
        assert len(nonce) >= 16
        nonces.append(nonce)
    assert nonces[0] != nonces[1]  # a fresh one per request: an injected <style> cannot guess


def test_no_page_has_an_inline_script_or_a_style_without_the_nonce(client, rs):
    """What the policy would block in a browser, found in the HTML: an executable inline script
    (JSON data blocks are not run), an event handler attribute, a <style> without the nonce."""
    client.force_login(rs.users["alice"])
    for name, url in _pages(rs).items():
        html = client.get(url, HTTP_ACCEPT="text/html").content.decode()
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert "src=" in tag or 'type="application/json"' in tag, (name, tag)
        assert not re.search(r"\son[a-z]+\s*=", html), name
        for tag in re.findall(r"<style\b[^>]*>", html):
            assert "nonce=" in tag, (name, tag)


def test_the_admin_pages_need_no_inline_script_or_style(client, rs, django_user_model):
    root = django_user_model.objects.create_superuser("root", password="pw-root-sees-all")
    client.force_login(root)
    session = rs.session("alice")
    for url in [
        reverse("admin:index"), reverse("admin:studies_image_changelist"),
        reverse("admin:studies_image_change", args=[rs.study.images.first().pk]),
        reverse("admin:studies_study_change", args=[rs.study.pk]),
        reverse("admin:readers_readingsession_add"),
        reverse("admin:readers_readingsession_reset", args=[session.pk]),
        reverse("admin:readers_readingsession_progress"),
    ]:
        response = client.get(url)
        assert response.status_code == 200 and _policy(response)["script-src"] == ["'self'"]
        html = response.content.decode()
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert "src=" in tag or 'type="application/json"' in tag, (url, tag)
        assert not re.search(r"\son[a-z]+\s*=|\sstyle=\"", html), url
        assert all("nonce=" in tag for tag in re.findall(r"<style\b[^>]*>", html)), url


def test_permissions_policy_denies_devices_and_sensors(client, rs):
    response = client.get(reverse("login"))
    policy = dict(
        part.strip().split("=", 1) for part in response["Permissions-Policy"].split(",")
    )
    for feature in ("camera", "microphone", "geolocation", "usb", "payment"):
        assert policy[feature] == "()", feature


def test_a_login_session_ends_after_the_idle_limit(client, rs, settings):
    assert settings.SESSION_COOKIE_AGE == 30 * 60  # the default, not Django's two weeks
    client.force_login(rs.users["alice"])
    worklist = reverse("reading:worklist")
    start = timezone.now()
    with time_machine.travel(start + timedelta(minutes=20), tick=False):
        assert client.get(worklist).status_code == 200  # in use: the expiry moves on
    with time_machine.travel(start + timedelta(minutes=45), tick=False):
        assert client.get(worklist).status_code == 200  # 25 minutes after the last request
    with time_machine.travel(start + timedelta(minutes=76), tick=False):
        response = client.get(worklist)  # 31 minutes idle
        assert response.status_code == 302 and response["Location"].startswith(
            reverse("login"))


def test_the_session_cookie_says_when_it_expires(client, rs):
    client.post(reverse("login"), {"username": "alice", "password": "pw-alice-reads-1"})
    cookie = client.cookies["sessionid"]
    assert cookie["max-age"] == 30 * 60 and cookie["httponly"]


def _setting(expr: str, **env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items()
             if k not in {"SECURE_PROXY_SSL_HEADER", "READERBENCH_MODE", "DEBUG"}}
    clean.update({
        "READERBENCH_MODE": "production", "SECRET_KEY": "s" * 20 + "0123456789" * 4,
        "READERBENCH_PSEUDONYM_KEY": "k" * 40, "ALLOWED_HOSTS": "rb.example.org", **env,
    })
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "-c",
         f"from django.conf import settings; print(repr({expr}))"],
        cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120,
    )


def test_the_proxy_header_is_believed_only_when_the_operator_names_it():
    expr = "getattr(settings, 'SECURE_PROXY_SSL_HEADER', None)"
    out = _setting(expr)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "None"
    out = _setting(expr, SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto")
    assert out.stdout.strip().splitlines()[-1] == "('HTTP_X_FORWARDED_PROTO', 'https')", out.stderr
    out = _setting(expr, SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto: https")
    assert out.returncode != 0 and "SECURE_PROXY_SSL_HEADER" in out.stderr


def test_an_untrusted_forwarded_proto_does_not_make_a_request_secure(client, settings):
    settings.SECURE_PROXY_SSL_HEADER = None
    settings.SECURE_SSL_REDIRECT = True
    response = client.get(reverse("login"), HTTP_X_FORWARDED_PROTO="https")
    assert response.status_code == 301 and response["Location"].startswith("https://")
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert client.get(reverse("login"), HTTP_X_FORWARDED_PROTO="https").status_code == 200


def test_production_with_the_documented_env_passes_the_deployment_checks():
    """README, "Deploying": behind a TLS proxy that sets X-Forwarded-Proto."""
    clean = {k: v for k, v in os.environ.items() if k not in {"DEBUG"}}
    clean.update({
        "READERBENCH_MODE": "production", "SECRET_KEY": "s" * 20 + "0123456789" * 4,
        "READERBENCH_PSEUDONYM_KEY": "k" * 40, "ALLOWED_HOSTS": "rb.example.org",
        "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto", "SECURE_SSL_REDIRECT": "true",
    })
    check = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120,
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_compose_publishes_gunicorn_on_the_loopback_only():
    compose = (ROOT / "docker-compose.yml").read_text()
    ports = re.findall(r'^\s+- "([^"]+:8000)"$', compose, flags=re.M)
    assert ports and all(p.startswith("127.0.0.1:") for p in ports), ports
    assert "SECURE_PROXY_SSL_HEADER: ${SECURE_PROXY_SSL_HEADER:-}" in compose

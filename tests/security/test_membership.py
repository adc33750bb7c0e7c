"""S8 (issue 15): membership is the one source of access. A reader whose membership is removed,
or whose role changes, loses reading at once: sessions, case pages, pixels, submits and the
REST API all answer 404, even with the tokens the reader already holds."""

from __future__ import annotations

import json
import uuid

import pytest
from django.urls import reverse

from studies.models import Membership

pytestmark = pytest.mark.django_db


@pytest.fixture
def rs(small_reading_study):
    return small_reading_study


def _urls(rs):
    session = rs.session("alice")
    case = session.items.order_by("position").first()
    args = [session.token, case.token]
    return {
        "worklist page": ("get", reverse("reading:worklist"), None),
        "session page": ("get", reverse("reading:session", args=[session.token]), None),
        "case page": ("get", reverse("reading:case", args=args), None),
        "case JSON": ("get", reverse("reading:api-case", args=args), None),
        "pixels": ("get", reverse("reading:api-pixels", args=args), None),
        "next case": ("get", reverse("reading:api-next", args=[session.token]), None),
        "submit": ("post", reverse("reading:api-read", args=args), json.dumps({
            "stage": "unaided", "label": "A", "confidence": 10, "time_ms": 100,
            "request_id": str(uuid.uuid4())})),
        "REST session": ("get", reverse("api-v1:session-detail", args=[session.token]), None),
    }


def _status(client, method, url, body):
    if method == "post":
        return client.post(url, body, content_type="application/json").status_code
    return client.get(url).status_code


def test_a_member_reader_reaches_their_session(client, rs):
    client.force_login(rs.users["alice"])
    for name, (method, url, body) in _urls(rs).items():
        assert _status(client, method, url, body) in (200, 201, 302), name  # 302: to the case


@pytest.mark.parametrize("change", ["removed", "made researcher"])
def test_a_reader_whose_membership_changes_loses_reading_at_once(client, rs, change):
    client.force_login(rs.users["alice"])
    urls = _urls(rs)  # the tokens alice already holds
    membership = Membership.objects.get(study=rs.study, user=rs.users["alice"])
    if change == "removed":
        membership.delete()
    else:
        membership.role = Membership.Role.RESEARCHER
        membership.save(update_fields=["role"])
    for name, (method, url, body) in urls.items():
        status = _status(client, method, url, body)
        if name == "worklist page":
            assert status == 200, name
            assert rs.session("alice").token not in client.get(url).content.decode()
        elif name == "REST session" and change == "made researcher":
            assert status == 200  # as a researcher she sees the study's sessions, not to read
        else:
            assert status == 404, (name, status)
    assert not rs.session("alice").items.filter(reads__isnull=False).exists()

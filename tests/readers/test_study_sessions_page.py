"""The coordinator's sessions page (issue 12 item 4, the checklist's sessions step): one round
of sessions for chosen readers, all or none, audited; a round planned ahead waits; anyone but
the study's admins gets a 404."""

from __future__ import annotations

import pytest
from django.urls import reverse

from readers.models import AuditEvent, ReadingSession
from studies.models import Image, Membership

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(small_reading_study):
    rs = small_reading_study
    ReadingSession.objects.filter(study=rs.study).delete()
    admin = rs.users["rachel"]
    Membership.objects.filter(study=rs.study, user=admin).update(role="admin")
    return rs, admin


def url(rs):
    return reverse("reading:study-sessions", args=[rs.study.slug])


def test_the_admin_creates_a_round_for_two_readers(client, setup):
    rs, admin = setup
    client.force_login(admin)
    page = client.get(url(rs)).content.decode()
    assert 'value="alice"' in page and 'value="bob"' in page and "No sessions yet." in page
    response = client.post(url(rs), {
        "name": "Round 1", "condition": "unaided", "round": 1, "readers": ["alice", "bob"],
        "partitions": ["test", "external"],
    }, follow=True)
    assert "Created 2 sessions “Round 1” (round 1)." in response.content.decode()
    sessions = ReadingSession.objects.filter(study=rs.study)
    assert sorted(s.reader.username for s in sessions) == ["alice", "bob"]
    n_cases = Image.objects.filter(study=rs.study, partition__in=["test", "external"]).count()
    assert all(s.items.count() == n_cases for s in sessions)
    event = AuditEvent.objects.get(action=AuditEvent.Action.SESSIONS_CREATE)
    assert event.actor == admin and event.details["round"] == 1

    # round 2 planned ahead: created now, waiting for round 1 to be finished
    client.post(url(rs), {"name": "Round 2", "condition": "unaided", "round": 2,
                          "readers": ["alice"], "partitions": ["test", "external"]})
    page = client.get(url(rs)).content.decode()
    assert page.count('data-reader="alice"') == 2 and "waiting" in page


def test_an_ai_round_without_a_model_is_refused_by_field(client, setup):
    rs, admin = setup
    client.force_login(admin)
    response = client.post(url(rs), {"name": "AI", "condition": "ai_aided", "round": 1,
                                      "readers": ["alice"], "partitions": ["test"]})
    assert response.status_code == 200
    assert "An AI-aided or sequential session needs a model." in response.content.decode()
    assert not ReadingSession.objects.filter(study=rs.study).exists()


@pytest.mark.parametrize("who", ["alice", "charlie"])
def test_anyone_but_an_admin_gets_404(client, small_reading_study, who):
    rs = small_reading_study
    client.force_login(rs.users[who])
    assert client.get(url(rs)).status_code == 404
    assert client.post(url(rs), {"name": "x"}).status_code == 404

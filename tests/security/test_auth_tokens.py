"""S9 (issue 15): API tokens were stored in plaintext, visible in the admin, never expired, and
could be rotated only by the CLI. Now (django-rest-knox): only a hash is stored, the token is
shown once, each one expires, a user makes and revokes their own (the JSON endpoint and the
page), a token cannot mint its successor, and removing a membership removes API access."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from knox.models import AuthToken

from studies.models import Membership

pytestmark = pytest.mark.django_db

TOKENS = reverse("api-v1:token-list")
SESSIONS = reverse("api-v1:session-list")


@pytest.fixture
def rs(small_reading_study):
    return small_reading_study


def _auth(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Token {token}"}


def _make(client, user, **body) -> dict:
    client.force_login(user)
    response = client.post(TOKENS, body, content_type="application/json")
    client.logout()
    assert response.status_code == 201, response.content
    return response.json()


def _every_stored_text() -> str:
    """Everything in the token table, as text: what a database dump would show."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {AuthToken._meta.db_table}")
        return repr(cursor.fetchall())


def test_a_token_is_shown_once_and_stored_only_as_a_hash(client, rs, settings):
    made = _make(client, rs.users["alice"])
    token = made["token"]
    assert len(token) == 64 and token.startswith(made["prefix"])
    assert token not in _every_stored_text()
    row = AuthToken.objects.get(user=rs.users["alice"])
    assert row.digest != token and len(row.digest) == 128  # SHA-512
    # Default expiry: READERBENCH_API_TOKEN_DAYS from now.
    expected = timezone.now() + timedelta(days=settings.READERBENCH_API_TOKEN_DAYS)
    assert abs((row.expiry - expected).total_seconds()) < 60
    # Never again: not in the list, not in the admin (not even its hash).
    client.force_login(rs.users["alice"])
    listed = client.get(TOKENS).content.decode()
    assert made["prefix"] in listed and token not in listed and row.digest not in listed
    page = client.get(reverse("api-tokens")).content.decode()
    assert made["prefix"] in page and token not in page
    admin = rs.users["charlie"]
    admin.is_staff = admin.is_superuser = True
    admin.save()
    client.force_login(admin)
    changelist = client.get(reverse("admin:knox_authtoken_changelist"))
    assert changelist.status_code == 200 and "alice" in changelist.content.decode()
    assert token not in changelist.content.decode()
    assert row.digest not in changelist.content.decode()
    assert client.get(reverse("admin:knox_authtoken_add")).status_code == 403


def test_the_token_works_until_it_expires(client, rs):
    token = _make(client, rs.users["alice"], days=2)["token"]
    row = AuthToken.objects.get(user=rs.users["alice"])
    assert timezone.now() + timedelta(days=1) < row.expiry < timezone.now() + timedelta(days=3)
    response = client.get(SESSIONS, **_auth(token))
    assert response.status_code == 200
    assert [s["token"] for s in response.json()["results"]] == [rs.session("alice").token]
    AuthToken.objects.filter(pk=row.pk).update(expiry=timezone.now() - timedelta(seconds=1))
    assert client.get(SESSIONS, **_auth(token)).status_code == 401
    assert not AuthToken.objects.filter(pk=row.pk).exists()  # and it is gone


def test_a_token_cannot_be_asked_to_live_longer_than_the_limit(client, rs, settings):
    client.force_login(rs.users["alice"])
    for days in (settings.READERBENCH_API_TOKEN_DAYS + 1, 0, "soon"):
        response = client.post(TOKENS, {"days": days}, content_type="application/json")
        assert response.status_code == 400 and "days" in response.content.decode(), days
    assert not AuthToken.objects.exists()


def test_a_user_rotates_their_own_token(client, rs):
    old = _make(client, rs.users["alice"])
    new = _make(client, rs.users["alice"])
    assert old["token"] != new["token"]
    # A script revokes the old token with the new one.
    revoke = reverse("api-v1:token-detail", args=[old["prefix"]])
    assert client.delete(revoke, **_auth(new["token"])).status_code == 204
    assert client.get(SESSIONS, **_auth(old["token"])).status_code == 401
    assert client.get(SESSIONS, **_auth(new["token"])).status_code == 200
    listed = client.get(TOKENS, **_auth(new["token"])).json()
    assert [t["prefix"] for t in listed] == [new["prefix"]]
    # Revoke all: the token used for it included.
    assert client.delete(TOKENS, **_auth(new["token"])).status_code == 204
    assert client.get(SESSIONS, **_auth(new["token"])).status_code == 401


def test_nobody_revokes_or_lists_another_users_token(client, rs):
    alices = _make(client, rs.users["alice"])
    bobs = _make(client, rs.users["bob"])
    revoke = reverse("api-v1:token-detail", args=[alices["prefix"]])
    assert client.delete(revoke, **_auth(bobs["token"])).status_code == 404
    assert [t["prefix"] for t in client.get(TOKENS, **_auth(bobs["token"])).json()] == [
        bobs["prefix"]
    ]
    assert client.get(SESSIONS, **_auth(alices["token"])).status_code == 200


def test_a_token_cannot_mint_its_successor(client, rs):
    token = _make(client, rs.users["alice"])["token"]
    response = client.post(TOKENS, {}, content_type="application/json", **_auth(token))
    assert response.status_code == 403 and "login session" in response.json()["detail"]
    assert AuthToken.objects.filter(user=rs.users["alice"]).count() == 1


def test_anonymous_and_made_up_tokens_get_nothing(client, rs):
    assert client.get(TOKENS).status_code == 401
    assert client.post(TOKENS, {}, content_type="application/json").status_code == 401
    assert client.get(TOKENS, **_auth("0" * 64)).status_code == 401
    assert client.get(reverse("api-tokens")).status_code == 302  # to the login page


def test_a_user_holds_at_most_the_limit_of_tokens(client, rs, settings):
    settings.READERBENCH_API_TOKENS_PER_USER = 2
    _make(client, rs.users["alice"])
    _make(client, rs.users["alice"])
    client.force_login(rs.users["alice"])
    response = client.post(TOKENS, {}, content_type="application/json")
    assert response.status_code == 400 and "revoke one" in response.json()["detail"]


def test_removing_the_membership_removes_the_tokens_access(client, rs):
    token = _make(client, rs.users["alice"])["token"]
    detail = reverse("api-v1:session-detail", args=[rs.session("alice").token])
    assert client.get(detail, **_auth(token)).status_code == 200
    Membership.objects.filter(study=rs.study, user=rs.users["alice"]).delete()
    assert client.get(detail, **_auth(token)).status_code == 404
    assert client.get(SESSIONS, **_auth(token)).json()["results"] == []


def test_the_page_makes_a_token_once_and_revokes_it(client, rs):
    client.force_login(rs.users["bob"])
    page = reverse("api-tokens")
    made = client.post(page, {"days": "3"})
    assert made.status_code == 200 and made["Cache-Control"] == "no-store"
    token = made.context["new_token"]
    assert token in made.content.decode() and "will not be shown again" in made.content.decode()
    again = client.get(page).content.decode()
    assert token not in again and token[:15] in again
    bad = client.post(page, {"days": "<b>x</b>"})
    assert bad.status_code == 400 and "&lt;b&gt;x&lt;/b&gt;" in bad.content.decode()
    client.post(page, {"revoke": token[:15]})
    client.logout()
    assert client.get(SESSIONS, **_auth(token)).status_code == 401


def test_the_command_prints_a_working_token_once(client, rs):
    out, err = StringIO(), StringIO()
    call_command("create_api_token", "rachel", "--days", "5", stdout=out, stderr=err)
    token = out.getvalue().strip()
    assert "expires" in err.getvalue() and token not in err.getvalue()
    assert client.get(SESSIONS, **_auth(token)).status_code == 200
    with pytest.raises(CommandError, match="no active user"):
        call_command("create_api_token", "nobody", stdout=out, stderr=err)
    with pytest.raises(CommandError, match="days"):
        call_command("create_api_token", "rachel", "--days", "9999", stdout=out, stderr=err)

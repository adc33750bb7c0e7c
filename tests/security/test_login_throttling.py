"""S5 (issue 15): login throttling. 150 wrong passwords used to be answered one by one and then
the right one worked; now a username is locked out from an address after the failure limit,
the right password included, until the lock expires or a coordinator resets it."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.urls import reverse

pytestmark = pytest.mark.django_db

PASSWORD = "pw-alice-reads-1"


@pytest.fixture
def alice(django_user_model, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.AXES_FAILURE_LIMIT = 5
    return django_user_model.objects.create_user("alice", password=PASSWORD)


def login(client, username, password, address="10.0.0.7"):
    return client.post(reverse("login"), {"username": username, "password": password},
                       REMOTE_ADDR=address)


def test_guessing_locks_the_account_from_that_address_even_for_the_right_password(client,
                                                                                  alice):
    for n in range(5):
        response = login(client, "alice", f"guess-{n}")
        assert response.status_code in (200, 429)  # the form again, then the lock
    response = login(client, "alice", PASSWORD)
    assert response.status_code == 429
    body = response.content.decode()
    assert "Login locked for now" in body and "0:15:00" in body
    assert "_auth_user_id" not in client.session
    # 150 more guesses change nothing and are all refused
    assert {login(client, "alice", f"again-{n}").status_code for n in range(150)} == {429}


def test_the_lock_holds_for_that_address_only(client, alice):
    for n in range(5):
        login(client, "alice", f"guess-{n}")
    assert login(client, "alice", PASSWORD, address="10.0.0.8").status_code == 302


def test_a_right_password_resets_the_count(client, alice):
    for n in range(4):
        login(client, "alice", f"guess-{n}")
    assert login(client, "alice", PASSWORD).status_code == 302
    client.logout()
    for n in range(4):
        login(client, "alice", f"guess-{n}")
    assert login(client, "alice", PASSWORD).status_code == 302


def test_a_coordinator_unlocks_the_account(client, alice):
    for n in range(6):
        login(client, "alice", f"guess-{n}")
    assert login(client, "alice", PASSWORD).status_code == 429
    call_command("axes_reset_username", "alice")
    assert login(client, "alice", PASSWORD).status_code == 302

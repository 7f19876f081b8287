"""Repeated failed logins lock the user name and the address for a cool-off (django-axes)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.db.models import F
from django.test import Client

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"
LOGIN = "/accounts/login/"
LOCKED_TEXT = "Too many failed logins"


@pytest.fixture(autouse=True)
def _limit(settings) -> None:
    settings.AXES_FAILURE_LIMIT = 3
    settings.GENPACK_BEHIND_PROXY = False


@pytest.fixture
def pam(seeded: None):
    user = UserFactory(username="pam")
    user.set_password(PASSWORD)
    user.save()
    return user


def _login(client: Client, username: str, password: str, **headers: str):
    return client.post(LOGIN, {"username": username, "password": password}, **headers)


def _end_the_cool_off() -> None:
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=16))


def test_bad_passwords_lock_the_account_and_the_right_one_waits_for_the_cool_off(pam) -> None:
    client = Client(REMOTE_ADDR="203.0.113.7")
    for _ in range(2):
        assert _login(client, "pam", "wrong").status_code == 200  # the form says: wrong
    locked = _login(client, "pam", "wrong")
    assert locked.status_code == 429
    assert LOCKED_TEXT in locked.content.decode()
    # The right password, even from another address, is refused until the cool-off ends.
    elsewhere = Client(REMOTE_ADDR="198.51.100.9")
    refused = _login(elsewhere, "pam", PASSWORD)
    assert refused.status_code == 429 and LOCKED_TEXT in refused.content.decode()
    assert "_auth_user_id" not in elsewhere.session
    _end_the_cool_off()
    assert _login(elsewhere, "pam", PASSWORD).status_code == 302
    assert "_auth_user_id" in elsewhere.session


def test_failures_from_one_address_lock_that_address_for_every_user(pam) -> None:
    attacker = Client(REMOTE_ADDR="203.0.113.7")
    for name in ("alice", "bob", "carol"):  # one try per name: no account reaches the limit
        _login(attacker, name, "guess")
    assert _login(attacker, "pam", PASSWORD).status_code == 429
    assert _login(Client(REMOTE_ADDR="198.51.100.9"), "pam", PASSWORD).status_code == 302


def test_a_made_up_x_forwarded_for_does_not_escape_the_address_lock(pam) -> None:
    attacker = Client(REMOTE_ADDR="203.0.113.7")
    for number, name in enumerate(("alice", "bob", "carol", "dave")):
        _login(attacker, name, "guess", HTTP_X_FORWARDED_FOR=f"192.0.2.{number}")
    refused = _login(attacker, "pam", PASSWORD, HTTP_X_FORWARDED_FOR="192.0.2.200")
    assert refused.status_code == 429


def test_behind_the_proxy_the_address_nginx_saw_is_the_one_counted(pam, settings) -> None:
    settings.GENPACK_BEHIND_PROXY = True
    proxy = "127.0.0.1"  # every request reaches Django from nginx
    attacker = Client(REMOTE_ADDR=proxy)
    for number, name in enumerate(("alice", "bob", "carol")):
        # The client forged the left entry; nginx appended the real address on the right.
        _login(attacker, name, "guess", HTTP_X_FORWARDED_FOR=f"192.0.2.{number}, 203.0.113.7")
    forged = _login(attacker, "pam", PASSWORD, HTTP_X_FORWARDED_FOR="192.0.2.99, 203.0.113.7")
    assert forged.status_code == 429
    colleague = Client(REMOTE_ADDR=proxy)
    ok = _login(colleague, "pam", PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.9")
    assert ok.status_code == 302  # the same proxy, another client: not locked

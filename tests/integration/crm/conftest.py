"""Fixtures of the CRM's own tests: users alice (ADMIN), bob (CSR), charlie (inactive), and a
helper that signs a browser in through the real login form and TOTP step.

Tests run on the CRM's configured database: SQLite by default, MariaDB when MICROBSS_CRM_DB_URL
points to one (pytest-django creates and drops the test database itself).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from microbss.crm.accounts import totp
from microbss.crm.accounts.models import CsrUser, Role

PASSWORD = "plum-orchard-telescope-42"


def make_user(
    username: str,
    *,
    role: str = Role.CSR,
    enrolled: bool = True,
    active: bool = True,
    must_change_password: bool = False,
) -> CsrUser:
    return CsrUser.objects.create_user(
        username,
        PASSWORD,
        role=role,
        display_name=username.title(),
        email=f"{username}@example.net",
        is_active=active,
        totp_secret=totp.new_secret() if enrolled else "",
        totp_enrolled=enrolled,
        must_change_password=must_change_password,
    )


def next_code(user: CsrUser, at: datetime | None = None) -> str:
    """A code the user's authenticator would show that the replay guard has not seen yet.

    The current step's code if unused, else the next step's (accepted as clock drift); this lets
    a test sign the same user in a few times within one 30-second step.
    """
    user.refresh_from_db()
    current = totp.step_at(at or timezone.now())
    for step in (current - 1, current, current + 1):
        if step > user.totp_last_step:
            return totp.code_for_step(user.totp_secret, step)
    raise AssertionError("no unused TOTP step left in the drift window for this test")


def csrf_token(client: Client) -> str:
    """The CSRF token a real browser would send with its forms (empty before any page)."""
    cookie = client.cookies.get(settings.CSRF_COOKIE_NAME)
    return cookie.value if cookie is not None else ""


def submit_password(client: Client, username: str, password: str = PASSWORD, **extra: str):  # type: ignore[no-untyped-def]
    """Open the login page and submit it, as a browser does (with its CSRF token)."""
    client.get(reverse("accounts:login"))
    form = {"username": username, "password": password, **extra}
    return client.post(
        reverse("accounts:login"), {**form, "csrfmiddlewaretoken": csrf_token(client)}
    )


def sign_in(client: Client, user: CsrUser, password: str = PASSWORD) -> Client:
    """Sign ``client`` in as ``user`` through the password form and the TOTP form."""
    response = submit_password(client, user.username, password)
    assert response.status_code == 302, response.content[:500]
    if user.totp_enrolled:
        assert response["Location"] == reverse("accounts:login_code")
        response = client.post(
            reverse("accounts:login_code"),
            {"code": next_code(user), "csrfmiddlewaretoken": csrf_token(client)},
        )
        assert response.status_code == 302, response.content[:500]
    return client


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: Any) -> None:
    """Argon2 is deliberately slow; these tests exercise the flows, not the hash (see
    test_security.py for the production hasher)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def back_to_the_default_language() -> Iterator[None]:
    """A Spanish-speaking user's request leaves Spanish active in the thread; later tests (the
    unit tests too, in one run) expect the default language."""
    yield
    translation.deactivate()


@pytest.fixture
def alice(db: None) -> CsrUser:
    return make_user("alice", role=Role.ADMIN)


@pytest.fixture
def bob(db: None) -> CsrUser:
    return make_user("bob")


@pytest.fixture
def charlie(db: None) -> CsrUser:
    return make_user("charlie", active=False)


@pytest.fixture
def signed_in() -> Callable[[CsrUser], Client]:
    """``signed_in(user)``: a new browser signed in as ``user`` through the real login flow."""

    def open_browser(user: CsrUser, enforce_csrf: bool = False) -> Client:
        return sign_in(Client(enforce_csrf_checks=enforce_csrf), user)

    return open_browser

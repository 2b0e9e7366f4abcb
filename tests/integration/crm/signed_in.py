"""Browsers signed in as the conftest's alice (ADMIN) and bob (CSR), for the engine-facing pages.

They are signed in with ``force_login``: the login flow itself (password, TOTP, throttling) is
tested with the accounts app, and these tests are about the pages behind it.
"""

from __future__ import annotations

import pytest
from django.test import Client

from microbss.crm.accounts.models import CsrUser


def _browser(user: CsrUser, *, enforce_csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=enforce_csrf)
    client.force_login(user)
    return client


@pytest.fixture(name="alice_client")
def alice_client_fixture(alice: CsrUser) -> Client:
    return _browser(alice)


@pytest.fixture(name="bob_client")
def bob_client_fixture(bob: CsrUser) -> Client:
    return _browser(bob)


@pytest.fixture(name="bob_client_with_csrf")
def bob_client_with_csrf_fixture(bob: CsrUser) -> Client:
    """bob in a browser whose posts are checked for the CSRF token, as a real one's are."""
    return _browser(bob, enforce_csrf=True)

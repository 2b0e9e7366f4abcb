"""Signed-in browsers for the CRM's engine-facing pages: alice (ADMIN) and bob (CSR).

Both have finished every login step (MFA enrolled, no pending password change), so the pages
under test are reached directly; the login flow itself is tested with the accounts app.
"""

from __future__ import annotations

import pytest
from django.test import Client

from microbss.crm.accounts.models import CsrUser, Role

PASSWORD = "correct horse battery staple"


def _signed_in(username: str, role: str) -> Client:
    user = CsrUser.objects.create_user(
        username, PASSWORD, role=role, totp_enrolled=True, display_name=username.title()
    )
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture(name="alice_client")
def alice_client_fixture(db: None) -> Client:
    return _signed_in("alice", Role.ADMIN)


@pytest.fixture(name="bob_client")
def bob_client_fixture(db: None) -> Client:
    return _signed_in("bob", Role.CSR)


@pytest.fixture(name="bob_client_with_csrf")
def bob_client_with_csrf_fixture(db: None) -> Client:
    """bob in a browser whose posts are checked for the CSRF token, as a real one's are."""
    user = CsrUser.objects.create_user("bob", PASSWORD, role=Role.CSR, totp_enrolled=True)
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client

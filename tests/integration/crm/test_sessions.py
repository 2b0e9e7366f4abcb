"""Deactivating a user or rotating their password ends their open sessions at the next request."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse

from microbss.crm.accounts.models import CsrUser

pytestmark = pytest.mark.django_db


def _is_signed_in(client: Client) -> bool:
    return client.get(reverse("core:home")).status_code == 200


def test_deactivating_a_user_ends_their_open_session(
    alice: CsrUser, bob: CsrUser, signed_in: Callable[[CsrUser], Client]
) -> None:
    bobs_browser = signed_in(bob)
    assert _is_signed_in(bobs_browser)
    signed_in(alice).post(reverse("users:set_active", args=[bob.pk]), {"active": "0"})
    response = bobs_browser.get(reverse("core:home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_rotating_a_password_ends_the_users_open_session(
    alice: CsrUser, bob: CsrUser, signed_in: Callable[[CsrUser], Client]
) -> None:
    bobs_browser = signed_in(bob)
    signed_in(alice).post(reverse("users:rotate_password", args=[bob.pk]))
    assert not _is_signed_in(bobs_browser)


def test_changing_ones_own_password_keeps_this_session_and_ends_the_others(
    bob: CsrUser, signed_in: Callable[[CsrUser], Client]
) -> None:
    from tests.integration.crm.conftest import PASSWORD

    here, elsewhere = signed_in(bob), signed_in(bob)
    new = "violet-harbour-compass-77"
    response = here.post(
        reverse("accounts:password_change"),
        {"old_password": PASSWORD, "new_password1": new, "new_password2": new},
    )
    assert response.status_code == 302
    assert _is_signed_in(here)
    assert not _is_signed_in(elsewhere)


def test_a_reactivated_user_can_sign_in_again(
    alice: CsrUser, bob: CsrUser, signed_in: Callable[[CsrUser], Client]
) -> None:
    admin = signed_in(alice)
    admin.post(reverse("users:set_active", args=[bob.pk]), {"active": "0"})
    admin.post(reverse("users:set_active", args=[bob.pk]), {"active": "1"})
    assert _is_signed_in(signed_in(bob))

"""Who may open what: anonymous users go to login, CSRs get 403 on admin pages, state changes
are POST-only and CSRF-checked."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse

from microbss.crm.accounts.models import CsrUser
from microbss.crm.vat.models import VatConfig

pytestmark = pytest.mark.django_db

# Pages of this app that every signed-in user may open.
WORKSPACE_PAGES = ["core:home", "accounts:profile"]
# Admin pages of this app (read with GET).
ADMIN_PAGES = ["users:list", "users:new", "vat:page", "audit:log"]
# Endpoints that change state: POST only.
POST_ONLY = [
    ("accounts:logout", {}),
    ("vat:add", {}),
    ("users:rotate_password", {"user_id": 1}),
    ("users:set_active", {"user_id": 1}),
    ("users:reset_mfa", {"user_id": 1}),
]


@pytest.mark.parametrize("name", WORKSPACE_PAGES + ADMIN_PAGES + ["users:detail"])
def test_an_anonymous_visitor_is_sent_to_the_login_page(name: str) -> None:
    kwargs = {"user_id": 1} if name == "users:detail" else {}
    url = reverse(name, kwargs=kwargs)
    response = Client().get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('accounts:login')}?next={url}"


@pytest.mark.parametrize("name", WORKSPACE_PAGES)
def test_a_csr_opens_the_workspace_pages(
    name: str, bob: CsrUser, signed_in: Callable[[CsrUser], Client]
) -> None:
    assert signed_in(bob).get(reverse(name)).status_code == 200


@pytest.mark.parametrize("name", ADMIN_PAGES)
def test_a_csr_gets_403_on_admin_pages(
    name: str, bob: CsrUser, signed_in: Callable[[CsrUser], Client]
) -> None:
    response = signed_in(bob).get(reverse(name))
    assert response.status_code == 403
    assert "Access denied" in response.content.decode()


def test_a_csr_gets_403_on_a_user_page_and_on_admin_posts(
    bob: CsrUser, alice: CsrUser, signed_in: Callable[[CsrUser], Client]
) -> None:
    client = signed_in(bob)
    assert client.get(reverse("users:detail", args=[alice.pk])).status_code == 403
    assert (
        client.post(reverse("vat:add"), {"rate": "5", "effective_from": "2026-01-01"}).status_code
        == 403
    )
    assert (
        client.post(reverse("users:set_active", args=[alice.pk]), {"active": "0"}).status_code
        == 403
    )
    assert not VatConfig.objects.exists()
    alice.refresh_from_db()
    assert alice.is_active


@pytest.mark.parametrize("name", ADMIN_PAGES)
def test_an_admin_opens_the_admin_pages(
    name: str, alice: CsrUser, signed_in: Callable[[CsrUser], Client]
) -> None:
    assert signed_in(alice).get(reverse(name)).status_code == 200


def test_an_admin_who_has_not_enrolled_mfa_is_sent_to_set_it_up(db: None) -> None:
    from tests.integration.crm.conftest import make_user, submit_password

    make_user("newadmin", role="ADMIN", enrolled=False)
    client = Client()
    submit_password(client, "newadmin")
    response = client.get(reverse("users:list"))
    assert response.status_code == 302 and response["Location"] == reverse("accounts:mfa_setup")


@pytest.mark.parametrize(("name", "kwargs"), POST_ONLY)
def test_state_changing_endpoints_refuse_get_with_405(
    name: str, kwargs: dict[str, int], alice: CsrUser, signed_in: Callable[[CsrUser], Client]
) -> None:
    kwargs = {key: alice.pk for key in kwargs}
    assert signed_in(alice).get(reverse(name, kwargs=kwargs)).status_code == 405


def test_a_post_without_the_csrf_token_is_refused_with_403_and_changes_nothing(
    alice: CsrUser, bob: CsrUser, signed_in: Callable[..., Client]
) -> None:
    client = signed_in(alice, enforce_csrf=True)
    forged = [
        client.post(reverse("vat:add"), {"rate": "21", "effective_from": "2026-01-01"}),
        client.post(reverse("users:set_active", args=[bob.pk]), {"active": "0"}),
        client.post(reverse("users:rotate_password", args=[bob.pk])),
        client.post(reverse("accounts:profile"), {"theme": "dark", "language": "es"}),
    ]
    assert {response.status_code for response in forged} == {403}
    assert "This form has expired" in forged[0].content.decode()
    assert not VatConfig.objects.exists()
    bob.refresh_from_db()
    alice.refresh_from_db()
    assert bob.is_active and alice.theme == "light"


def test_the_login_form_itself_requires_the_csrf_token(bob: CsrUser) -> None:
    from tests.integration.crm.conftest import PASSWORD

    response = Client(enforce_csrf_checks=True).post(
        reverse("accounts:login"), {"username": "bob", "password": PASSWORD}
    )
    assert response.status_code == 403


def test_pages_carry_the_csrf_token_for_htmx_posts(
    bob: CsrUser, signed_in: Callable[[CsrUser], Client]
) -> None:
    page = signed_in(bob).get(reverse("core:home")).content.decode()
    assert 'hx-headers=\'{"X-CSRFToken": "' in page


@pytest.mark.parametrize(
    "path",
    [
        "/subscribers/99999999999999999999999/",
        "/subscribers/1/bills/99999999999999999999999/invoice.pdf",
        "/admin/users/99999999999999999999999/",
        "/admin/catalog/price-plans/99999999999999999999999/",
    ],
)
def test_an_id_too_large_for_64_bits_is_not_found_instead_of_a_server_error(
    path: str, alice: CsrUser, signed_in: Callable[[CsrUser], Client]
) -> None:
    assert signed_in(alice).get(path).status_code == 404

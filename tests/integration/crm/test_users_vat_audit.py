"""Admin users pages, VAT rates and the audit log (rows written, searchable, no secrets)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from microbss.crm.accounts.models import CsrUser, Role
from microbss.crm.audit.actions import record
from microbss.crm.audit.models import AuditEvent
from microbss.crm.vat import current_vat_rate
from microbss.crm.vat.models import VatConfig
from tests.integration.crm.conftest import PASSWORD, next_code, submit_password

pytestmark = pytest.mark.django_db


def _create(admin: Client, username: str = "frank", role: str = "CSR"):  # type: ignore[no-untyped-def]
    return admin.post(
        reverse("users:new"),
        {"username": username, "display_name": "Frank", "email": "frank@example.net", "role": role},
    )


def test_creating_a_user_shows_the_temporary_password_exactly_once(
    alice: CsrUser, signed_in: Callable[[CsrUser], Client]
) -> None:
    admin = signed_in(alice)
    response = _create(admin)
    frank = CsrUser.objects.get(username="frank")
    assert response["Location"] == reverse("users:detail", args=[frank.pk])
    first = admin.get(response["Location"])
    password = first.context["temporary_password"]
    assert password and password in first.content.decode()
    assert frank.check_password(password) and frank.must_change_password
    again = admin.get(response["Location"])
    assert again.context["temporary_password"] == ""
    assert password not in again.content.decode()


def test_the_new_user_signs_in_with_the_temporary_password_and_must_change_it(
    alice: CsrUser, signed_in: Callable[[CsrUser], Client]
) -> None:
    admin = signed_in(alice)
    detail = admin.get(_create(admin)["Location"])
    password = detail.context["temporary_password"]
    response = submit_password(Client(), "frank", password)
    assert response["Location"] == reverse("accounts:password_change")


def test_a_duplicate_or_malformed_username_is_refused_on_its_field(
    alice: CsrUser, signed_in: Callable[[CsrUser], Client]
) -> None:
    admin = signed_in(alice)
    for bad in ("ALICE", "has space", ""):
        response = _create(admin, username=bad)
        assert response.status_code == 200
        assert "username" in response.context["form"].errors
    assert CsrUser.objects.count() == 1


def test_an_admin_edits_role_display_name_and_email(
    alice: CsrUser, bob: CsrUser, signed_in: Callable[[CsrUser], Client]
) -> None:
    signed_in(alice).post(
        reverse("users:detail", args=[bob.pk]),
        {"display_name": "Robert", "email": "robert@example.net", "role": "ADMIN"},
    )
    bob.refresh_from_db()
    assert (bob.display_name, bob.email, bob.role) == ("Robert", "robert@example.net", Role.ADMIN)


def test_an_admin_cannot_demote_or_deactivate_themself(
    alice: CsrUser, signed_in: Callable[[CsrUser], Client]
) -> None:
    admin = signed_in(alice)
    demote = admin.post(
        reverse("users:detail", args=[alice.pk]),
        {"display_name": "Alice", "email": "alice@example.net", "role": "CSR"},
    )
    assert "You cannot remove your own administrator role." in demote.content.decode()
    admin.post(reverse("users:set_active", args=[alice.pk]), {"active": "0"})
    alice.refresh_from_db()
    assert alice.is_admin and alice.is_active


def test_the_user_list_filters_by_text_role_and_state(
    alice: CsrUser, bob: CsrUser, charlie: CsrUser, signed_in: Callable[[CsrUser], Client]
) -> None:
    admin = signed_in(alice)

    def names(**query: str) -> list[str]:
        page = admin.get(reverse("users:list"), query).context["page"]
        return [user.username for user in page]

    assert names() == ["alice", "bob", "charlie"]
    assert names(q="char") == ["charlie"]
    assert names(role="ADMIN") == ["alice"]
    assert names(state="inactive") == ["charlie"]


def test_an_unknown_user_id_is_a_404_page_without_a_traceback(
    alice: CsrUser, signed_in: Callable[[CsrUser], Client]
) -> None:
    response = signed_in(alice).get(reverse("users:detail", args=[99999]))
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()
    assert "Traceback" not in response.content.decode()


def test_an_admin_adds_vat_rates_and_the_rate_in_force_follows_the_dates(
    alice: CsrUser, signed_in: Callable[[CsrUser], Client]
) -> None:
    admin = signed_in(alice)
    admin.post(reverse("vat:add"), {"rate": "21", "effective_from": "2020-01-01"})
    admin.post(reverse("vat:add"), {"rate": "10.50", "effective_from": "2030-01-01"})
    assert VatConfig.objects.count() == 2
    assert current_vat_rate(datetime(2026, 6, 1, tzinfo=UTC)) == Decimal("21.00")
    assert current_vat_rate(datetime(2030, 1, 1, 12, tzinfo=UTC)) == Decimal("10.50")
    assert current_vat_rate(datetime(2019, 12, 31, tzinfo=UTC)) == Decimal("0.00")
    page = admin.get(reverse("vat:page")).content.decode()
    assert "21.00" in page and "10.50" in page


def test_the_day_of_a_vat_change_is_the_operators_day(alice: CsrUser) -> None:
    VatConfig.objects.create(rate=Decimal("21"), effective_from=date(2026, 1, 1), created_by=alice)
    # 23:30 UTC on 31 December is already 1 January in Madrid.
    assert current_vat_rate(datetime(2025, 12, 31, 23, 30, tzinfo=UTC)) == Decimal("21.00")
    assert current_vat_rate(datetime(2025, 12, 31, 22, 30)) == Decimal("0.00")


@pytest.mark.parametrize(
    "form",
    [
        {"rate": "100.01", "effective_from": "2026-01-01"},
        {"rate": "-1", "effective_from": "2026-01-01"},
        {"rate": "abc", "effective_from": "2026-01-01"},
        {"rate": "21", "effective_from": "2026-13-01"},
    ],
)
def test_a_bad_vat_rate_or_date_is_refused_and_nothing_is_stored(
    form: dict[str, str], alice: CsrUser, signed_in: Callable[[CsrUser], Client]
) -> None:
    response = signed_in(alice).post(reverse("vat:add"), form)
    assert response.status_code == 400
    assert response.context["form"].errors
    assert not VatConfig.objects.exists()


def test_every_write_leaves_an_audit_row_with_who_what_and_where(
    alice: CsrUser, bob: CsrUser, signed_in: Callable[[CsrUser], Client]
) -> None:
    admin = signed_in(alice)
    submit_password(Client(), "bob", "wrong-password-xyz")
    _create(admin)
    admin.post(reverse("users:rotate_password", args=[bob.pk]))
    admin.post(reverse("users:reset_mfa", args=[bob.pk]))
    admin.post(reverse("users:set_active", args=[bob.pk]), {"active": "0"})
    admin.post(reverse("vat:add"), {"rate": "21", "effective_from": "2026-01-01"})
    admin.post(reverse("accounts:profile"), {"theme": "dark", "language": "en"})
    admin.post(reverse("accounts:logout"))
    actions = list(AuditEvent.objects.order_by("id").values_list("action", "result", "actor"))
    assert actions == [
        ("auth.login", "OK", "alice"),
        ("auth.login", "DENIED", "-"),
        ("user.create", "OK", "alice"),
        ("user.password_rotate", "OK", "alice"),
        ("user.mfa_reset", "OK", "alice"),
        ("user.deactivate", "OK", "alice"),
        ("vat.add", "OK", "alice"),
        ("profile.update", "OK", "alice"),
        ("auth.logout", "OK", "alice"),
    ]
    assert set(AuditEvent.objects.values_list("client_address", flat=True)) == {"127.0.0.1"}


def test_no_password_secret_or_code_ever_reaches_the_audit_trail(
    alice: CsrUser, bob: CsrUser, signed_in: Callable[[CsrUser], Client]
) -> None:
    admin = signed_in(alice)
    detail = admin.get(_create(admin)["Location"])
    temporary = detail.context["temporary_password"]
    admin.post(reverse("users:rotate_password", args=[bob.pk]))
    code = next_code(alice)
    browser = Client()
    submit_password(browser, "alice", PASSWORD)
    browser.post(reverse("accounts:login_code"), {"code": code})
    submit_password(Client(), "alice", "my-wrong-guess-123")
    trail = json.dumps(
        [
            list(row)
            for row in AuditEvent.objects.values_list("actor", "action", "target", "details")
        ]
    )
    for secret in (
        PASSWORD,
        temporary,
        "my-wrong-guess-123",
        alice.totp_secret,
        bob.totp_secret,
        code,
    ):
        assert secret not in trail


def test_record_refuses_details_that_name_a_secret(alice: CsrUser) -> None:
    for key in ("password", "new_password", "totp_code", "pin", "secret"):
        with pytest.raises(ValueError, match="secrets"):
            record(alice, "test.action", details={key: "x"})
    assert not AuditEvent.objects.exists()


def test_the_audit_log_searches_by_user_action_target_and_dates(
    alice: CsrUser, signed_in: Callable[[CsrUser], Client]
) -> None:
    admin = signed_in(alice)
    record("bob", "subscriber.create", "msisdn:34600000001")
    record("carol", "voucher.redeem", "subscriber:7")

    def rows(**query: str) -> list[str]:
        response = admin.get(reverse("audit:log"), query)
        assert response.status_code == 200
        return [event.action for event in response.context["page"]]

    assert rows(actor="bob") == ["subscriber.create"]
    assert rows(action="voucher") == ["voucher.redeem"]
    assert rows(target="34600000001") == ["subscriber.create"]
    # The log's days are the operator's (Madrid): from 23:00 UTC in winter, today is tomorrow.
    today = timezone.localdate().isoformat()
    assert set(rows(date_from=today, date_to=today)) >= {"subscriber.create", "voucher.redeem"}
    assert rows(date_from="2000-01-01", date_to="2000-01-02") == []
    assert rows(date_from="2026-02-01", date_to="2026-01-01") == []  # reversed range: error

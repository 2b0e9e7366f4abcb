"""Audit actions in words, and one date convention per language in the operator's time zone."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation
from google.protobuf.timestamp_pb2 import Timestamp

from microbss.crm.accounts.models import CsrUser
from microbss.crm.audit.actions import record
from microbss.crm.audit.models import Result
from microbss.crm.audit.wording import ACTIONS, action_label, details_lines, target_wording
from microbss.crm.core.templatetags.money import operator_date, operator_period, operator_time
from microbss.v1 import types_pb2
from tests.integration.crm.fake_engine import (  # noqa: F401 - fixtures
    POSTPAID_ID,
    fake_engine_fixture,
    running_engine_fixture,
)
from tests.integration.crm.signed_in import bob_client_fixture  # noqa: F401 - fixture
from tests.integration.crm.test_subscribers_views import _new_subscriber_form

pytestmark = pytest.mark.django_db

# 18:34 UTC on 27 November 2026 is 19:34 in Madrid (CET, UTC+1).
EVENING = datetime(2026, 11, 27, 18, 34, tzinfo=UTC)


def _ts(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


# ---- action and target words ------------------------------------------------------------------


def test_every_action_the_crm_records_has_words_in_english_and_spanish() -> None:
    for code in ACTIONS:
        with translation.override("en"):
            english = action_label(code)
        with translation.override("es"):
            spanish = action_label(code)
        assert english != code and "." not in english
        assert spanish != english, f"{code} has no Spanish words"


def test_an_action_reads_as_a_sentence_and_a_refusal_says_so() -> None:
    with translation.override("en"):
        assert action_label("auth.login") == "Signed in"
        assert action_label("auth.login", Result.DENIED) == "Sign-in refused"
        assert action_label("voucher.redeem") == "Redeemed a voucher"
        assert action_label("voucher.redeem", Result.DENIED) == "Redeemed a voucher"
    with translation.override("es"):
        assert action_label("auth.login") == "Inició sesión"


def test_an_unknown_action_code_is_shown_as_it_is() -> None:
    assert action_label("report.export") == "report.export"


def test_a_subscriber_target_links_to_the_subscriber_page() -> None:
    with translation.override("en"):
        target = target_wording("subscriber:1")
    assert target is not None
    assert (target.text, target.url) == ("Subscriber #1", reverse("subscribers:detail", args=[1]))


def test_a_voucher_target_links_to_the_voucher_list_filtered_to_it() -> None:
    target = target_wording("serial:000000000003")
    assert target is not None and target.url == reverse("vouchers:list") + "?serial=000000000003"
    assert target_wording("") is None
    odd = target_wording("something-else")
    assert odd is not None and (odd.text, odd.url) == ("something-else", "")


def test_the_home_page_shows_recent_activity_in_words_with_links(
    alice: CsrUser, signed_in: Callable[[CsrUser], Client]
) -> None:
    record("bob", "voucher.redeem", "subscriber:1")
    record(None, "auth.login", "user:nobody", Result.DENIED)
    page = signed_in(alice).get(reverse("core:home")).content.decode()
    assert "Redeemed a voucher" in page and "Sign-in refused" in page
    assert f'href="{reverse("subscribers:detail", args=[1])}"' in page
    assert ">Subscriber #1<" in page.replace('aria-hidden="true"></i>', ">")
    assert "<code>voucher.redeem</code>" not in page
    assert 'title="voucher.redeem"' in page  # the raw code stays as the tooltip
    assert "not signed in" in page


def test_the_audit_log_shows_words_and_filters_by_the_code_chosen_in_the_list(
    alice: CsrUser, signed_in: Callable[[CsrUser], Client]
) -> None:
    admin = signed_in(alice)
    record("bob", "voucher.redeem", "subscriber:7")
    record("bob", "vat.add", "vat:3")
    response = admin.get(reverse("audit:log"), {"action": "voucher.redeem"})
    page = response.content.decode()
    assert [e.action for e in response.context["page"]] == ["voucher.redeem"]
    assert '<option value="voucher.redeem" selected>Redeemed a voucher</option>' in page
    assert f'href="{reverse("subscribers:detail", args=[7])}"' in page


def test_the_audit_log_is_in_spanish_for_a_spanish_speaking_admin(
    alice: CsrUser, signed_in: Callable[[CsrUser], Client]
) -> None:
    alice.language = "es"
    alice.save(update_fields=["language"])
    record("bob", "voucher.redeem", "subscriber:7")
    page = signed_in(alice).get(reverse("audit:log")).content.decode()
    assert "Canjeó un bono" in page and "Abonado n.º 7" in page


# ---- dates and times --------------------------------------------------------------------------


def test_english_pages_write_times_iso_like_in_the_operators_zone() -> None:
    with translation.override("en"):
        assert operator_time(EVENING) == "2026-11-27 19:34"
        assert operator_date(EVENING) == "2026-11-27"
        assert operator_date(date(1990, 3, 14)) == "1990-03-14"


def test_spanish_pages_write_day_month_year() -> None:
    with translation.override("es"):
        assert operator_time(EVENING) == "27/11/2026 19:34"
        assert operator_date(date(1990, 3, 14)) == "14/03/1990"


def test_a_bill_period_ends_on_the_last_day_it_covers_not_the_next_midnight() -> None:
    # 1 October 00:00 Madrid (CEST) to 1 November 00:00 Madrid (CET), end exclusive.
    start = datetime(2026, 9, 30, 22, 0, tzinfo=UTC)
    end = datetime(2026, 10, 31, 23, 0, tzinfo=UTC)
    with translation.override("en"):
        assert operator_period(start, end) == "2026-10-01\u00a0\u2013\u00a02026-10-31"
    with translation.override("es"):
        assert operator_period(start, end) == "01/10/2026\u00a0\u2013\u00a031/10/2026"
    on_demand_end = datetime(2026, 11, 27, 18, 34, tzinfo=UTC)
    with translation.override("en"):
        assert operator_period(end, on_demand_end).endswith("2026-11-27")


def test_the_bills_tab_shows_status_inclusive_period_and_no_midnight(
    bob_client: Client, fake_engine
) -> None:
    fake_engine.bills[POSTPAID_ID].insert(
        0,
        types_pb2.Bill(
            id=900,
            invoice_number="INV-2026-000900",
            subscriber_id=POSTPAID_ID,
            period_start=_ts(datetime(2026, 9, 30, 22, 0, tzinfo=UTC)),
            period_end=_ts(datetime(2026, 10, 31, 23, 0, tzinfo=UTC)),
            issued_at=_ts(datetime(2026, 10, 31, 23, 0, tzinfo=UTC)),
            status=types_pb2.ISSUED,
            kind=types_pb2.MONTHLY,
        ),
    )
    page = bob_client.get(reverse("subscribers:bills", args=[POSTPAID_ID])).content.decode()
    assert "2026-10-01\u00a0\u2013\u00a02026-10-31" in page
    assert "2026-11-01 00:00" in page
    assert "midnight" not in page and "a.m." not in page and "p.m." not in page
    assert "Issued</span>" in page


def test_a_spanish_rep_types_the_date_of_birth_day_first(
    bob: CsrUser, bob_client: Client, fake_engine
) -> None:
    bob.language = "es"
    bob.save(update_fields=["language"])
    form = bob_client.get(reverse("subscribers:new")).content.decode()
    assert 'placeholder="DD/MM/AAAA"' in form
    response = bob_client.post(
        reverse("subscribers:new"), _new_subscriber_form(date_of_birth="17/05/1990")
    )
    assert response.status_code == 302
    created = max(fake_engine.subscribers.values(), key=lambda s: s.id)
    born = created.date_of_birth
    assert (born.year, born.month, born.day) == (1990, 5, 17)


def test_audit_details_read_as_lines_and_a_change_as_from_and_to() -> None:
    with translation.override("en"):
        lines = details_lines({"theme": {"from": "light", "to": "dark"}, "updated_count": 3})
    assert lines == [("Theme", "Light \u2192 Dark"), ("Vouchers changed", "3")]


def test_a_credited_amount_reads_with_its_currency_not_as_stored_minor_units() -> None:
    details = {"serial": "000000000004", "credited_minor": 1000, "currency": "EUR"}
    with translation.override("en"):
        assert details_lines(details) == [("Credited", "€10.00"), ("Voucher", "000000000004")]
    with translation.override("es"):
        assert details_lines(details) == [
            ("Saldo añadido", "10,00\u00a0€"),
            ("Bono", "000000000004"),
        ]


def test_audit_codes_in_details_are_words_in_the_pages_language() -> None:
    refused = {"reason": "wrong_password_or_unknown_user", "locked": False}
    with translation.override("en"):
        assert details_lines(refused) == [
            ("Reason", "wrong password or unknown user"),
            ("Locked out", "no"),
        ]
        assert details_lines({"code": "NOT_FOUND", "error": "EngineUnavailable"}) == [
            ("Engine answer", "not found"),
            ("Error", "the charging engine did not answer"),
        ]
    with translation.override("es"):
        assert details_lines({"rate_percent": "21.00", "effective_from": "2025-01-01"}) == [
            ("Tipo", "21,00\u00a0%"),
            ("En vigor desde", "01/01/2025"),
        ]
        assert details_lines({"payment_type": "POSTPAID", "role": "ADMIN"}) == [
            ("Rol", "Administrador"),
            ("Modalidad de pago", "Pospago"),
        ]


def test_a_free_text_reason_and_an_unknown_key_are_shown_as_stored() -> None:
    with translation.override("en"):
        lines = details_lines({"reason": "stolen batch", "batch_size": 20})
    assert lines == [("Reason", "stolen batch"), ("batch size", "20")]


def test_the_audit_log_shows_a_redemption_with_its_amount_in_spanish(
    alice: CsrUser, signed_in: Callable[[CsrUser], Client]
) -> None:
    alice.language = "es"
    alice.save(update_fields=["language"])
    record("bob", "voucher.redeem", "subscriber:7", details={
        "serial": "000000000004", "credited_minor": 1000, "currency": "EUR",
    })  # fmt: skip
    page = signed_in(alice).get(reverse("audit:log")).content.decode()
    assert "Saldo añadido" in page and "10,00\u00a0€" in page
    assert "credited minor" not in page


def test_every_message_of_the_crm_has_a_finished_spanish_translation() -> None:
    import gettext
    from pathlib import Path

    import microbss.crm

    po = Path(microbss.crm.__file__).parent / "locale/es/LC_MESSAGES/django.po"
    entries = po.read_text(encoding="utf-8").split("\n\n")[1:]  # the first is the header
    live = [e for e in entries if "\nmsgid " in "\n" + e and not e.lstrip().startswith("#~")]
    fuzzy = [e for e in live if "#, fuzzy" in e]
    untranslated = [e for e in live if e.rstrip().endswith('msgstr ""')]
    assert not fuzzy and not untranslated, (fuzzy + untranslated)[:3]
    with po.with_suffix(".mo").open("rb") as compiled:
        catalog = gettext.GNUTranslations(compiled)._catalog  # type: ignore[attr-defined]
    assert len(catalog) > len(live), "the .mo is older than the .po: run compilemessages"

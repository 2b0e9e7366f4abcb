"""The subscriber workspace as a CSR uses it, against the fake engine."""

from __future__ import annotations

import re

import grpc
import pytest
from django.test import Client
from django.urls import reverse

from microbss.crm.audit.models import AuditEvent
from tests.integration.crm.fake_engine import (  # noqa: F401 - fixtures
    POSTPAID_ID,
    POSTPAID_PLAN_ID,
    PREPAID_ID,
    PREPAID_PLAN_ID,
    USED_PIN,
    VALID_PIN,
    FakeEngine,
    fake_engine_fixture,
    running_engine_fixture,
    stopped_engine_fixture,
)
from tests.integration.crm.signed_in import (  # noqa: F401 - fixtures
    alice_client_fixture,
    bob_client_fixture,
    bob_client_with_csrf_fixture,
)

HTMX = {"HTTP_HX_REQUEST": "true"}


def _new_subscriber_form(**overrides: str) -> dict[str, str]:
    data = {
        "msisdn": "34600000003",
        "imsi": "214010000000003",
        "handset_imei": "",
        "identity_number": "12345678Z",
        "first_name": "Carla",
        "last_name": "Ruiz",
        "date_of_birth": "1990-05-17",
        "street": "Calle Sol 3",
        "city": "Sevilla",
        "postal_code": "41001",
        "country": "ES",
        "email": "carla@example.com",
        "contact_phone": "+34955000000",
        "payment_type": "PREPAID",
        "price_plan": str(PREPAID_PLAN_ID),
        "bill_cycle": "",
        "payment_method": "CASH",
    }
    data.update(overrides)
    return data


# ---- permissions --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        reverse("subscribers:search"),
        reverse("subscribers:new"),
        reverse("subscribers:detail", args=[PREPAID_ID]),
        reverse("subscribers:usage", args=[PREPAID_ID]),
        reverse("subscribers:bills", args=[POSTPAID_ID]),
        reverse("subscribers:terminate", args=[PREPAID_ID]),
        reverse("subscribers:resources", args=["msisdn"]),
    ],
)
def test_an_anonymous_visitor_is_sent_to_the_login_page(url: str, db):
    response = Client().get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


@pytest.mark.parametrize("name", ["redeem", "execute_billing"])
def test_state_changing_endpoints_refuse_get(bob_client: Client, fake_engine, name: str):
    response = bob_client.get(reverse(f"subscribers:{name}", args=[PREPAID_ID]))
    assert response.status_code == 405


def test_a_post_without_the_csrf_token_is_refused(bob_client_with_csrf: Client, fake_engine):
    response = bob_client_with_csrf.post(
        reverse("subscribers:redeem", args=[PREPAID_ID]), {"pin": VALID_PIN}
    )
    assert response.status_code == 403
    assert not fake_engine.calls_to("RedeemVoucher")


# ---- search -------------------------------------------------------------------------------


def test_search_by_name_lists_matching_subscribers_with_their_plan(bob_client, fake_engine):
    response = bob_client.get(reverse("subscribers:search"), {"name": "garcía"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "34699000001" in page and "Prepaid Basic" in page
    assert "34699000002" not in page
    assert fake_engine.calls_to("SearchSubscribers")[0].metadata["x-actor"] == "bob"


def test_search_by_last_identity_digits_is_validated_before_asking_the_engine(
    bob_client, fake_engine
):
    response = bob_client.get(reverse("subscribers:search"), {"identity_last_digits": "1"})
    assert "Enter the last 2 to 4 characters." in response.content.decode()
    assert not fake_engine.calls_to("SearchSubscribers")


def test_search_without_a_match_says_so(bob_client, fake_engine):
    response = bob_client.get(reverse("subscribers:search"), {"msisdn": "349"})
    assert "No subscriber matches these criteria." in response.content.decode()


# ---- new subscriber -----------------------------------------------------------------------


def test_the_new_subscriber_form_offers_free_inventory_and_plans_by_payment_type(
    bob_client, fake_engine
):
    response = bob_client.get(reverse("subscribers:new"))
    page = response.content.decode()
    assert response.status_code == 200
    assert '<option value="34600000001">' in page
    assert '<option value="214010000000001">' in page
    assert f'value="{PREPAID_PLAN_ID}" data-payment-type="PREPAID"' in page
    assert f'value="{POSTPAID_PLAN_ID}" data-payment-type="POSTPAID"' in page
    assert "subscribers/subscribers.js" in page


def test_type_ahead_returns_free_values_with_the_typed_prefix(bob_client, fake_engine):
    response = bob_client.get(
        reverse("subscribers:resources", args=["msisdn"]), {"prefix": "346000000 1"}
    )
    values = [o["value"] for o in response.json()["options"]]
    assert values and all(v.startswith("3460000001") for v in values)
    assert fake_engine.calls_to("GetAvailableResources")[-1].request.prefix == "3460000001"


def test_creating_a_subscriber_opens_their_page_and_is_audited(bob_client, fake_engine):
    response = bob_client.post(reverse("subscribers:new"), _new_subscriber_form())
    assert response.status_code == 302
    new_id = int(re.search(r"/subscribers/(\d+)/", response["Location"]).group(1))
    assert fake_engine.subscribers[new_id].first_name == "Carla"
    event = AuditEvent.objects.get(action="subscriber.create")
    assert (event.actor, event.result, event.details["subscriber_id"]) == ("bob", "OK", new_id)
    assert "12345678Z" not in str(event.details)


def test_bad_input_shows_field_errors_keeps_what_was_typed_and_calls_no_engine(
    bob_client, fake_engine
):
    form = _new_subscriber_form(msisdn="12ab", payment_type="POSTPAID", iban="")
    response = bob_client.post(reverse("subscribers:new"), form)
    page = response.content.decode()
    assert response.status_code == 400
    assert "Enter an MSISDN of 8 to 15 digits, country code first" in page
    assert "A postpaid line needs a bill cycle." in page
    assert "Prepaid Basic is not a postpaid plan." in page
    assert 'value="Carla"' in page and 'value="12ab"' in page
    assert not fake_engine.calls_to("CreateSubscriber")


def test_direct_debit_needs_a_valid_iban(bob_client, fake_engine):
    form = _new_subscriber_form(
        payment_method="DIRECT_DEBIT", iban="ES00 0000 0000 0000 0000 0000", account_holder="C"
    )
    response = bob_client.post(reverse("subscribers:new"), form)
    assert "check digits are wrong. Check it with the customer." in response.content.decode()


def test_an_msisdn_taken_meanwhile_is_explained_next_to_the_msisdn(bob_client, fake_engine):
    fake_engine.msisdns.remove("34600000003")  # a colleague took it a moment ago
    response = bob_client.post(reverse("subscribers:new"), _new_subscriber_form())
    page = response.content.decode()
    assert response.status_code == 409
    assert re.search(
        r'id="id_msisdn"[^>]*>\s*<div class="invalid-feedback d-block">'
        r"This MSISDN was just given to another subscriber. Choose another one.",
        page,
    )
    assert 'value="Carla"' in page
    assert AuditEvent.objects.get(action="subscriber.create").result == "DENIED"


def test_an_unreachable_engine_keeps_the_form_with_a_banner(bob_client, fake_engine):
    bob_client.get(reverse("subscribers:new"))  # reference data is now cached
    fake_engine.fail["CreateSubscriber"] = (grpc.StatusCode.UNAVAILABLE, "down")
    response = bob_client.post(reverse("subscribers:new"), _new_subscriber_form())
    page = response.content.decode()
    assert response.status_code == 503
    assert "The charging engine is not reachable; try again in a minute." in page
    assert 'value="Carla"' in page and 'value="12345678Z"' in page
    assert AuditEvent.objects.get(action="subscriber.create").result == "FAILED"


# ---- subscriber page ----------------------------------------------------------------------


def test_the_profile_of_a_prepaid_line_shows_balance_allowances_and_masked_identity(
    bob_client, fake_engine
):
    page = bob_client.get(reverse("subscribers:detail", args=[PREPAID_ID])).content.decode()
    assert "Ana García" in page and "****678Z" in page
    assert "€12.50" in page
    assert "Mobile data" in page and "256 MB</strong> of 1 GB used" in page
    assert 'value="25"' in page and "768 MB left" in page  # the bar at 25 %
    assert "Redeem voucher" in page
    assert "Bill now" not in page


def test_the_profile_of_a_postpaid_line_shows_bill_cycle_unbilled_and_masked_iban(
    bob_client, fake_engine
):
    page = bob_client.get(reverse("subscribers:detail", args=[POSTPAID_ID])).content.decode()
    assert "1st of the month" in page and "€43.21" in page
    assert "ES** **** **** **** **** 1332" in page
    assert "Redeem voucher" not in page


def test_an_unknown_subscriber_is_not_found(bob_client, fake_engine):
    assert bob_client.get(reverse("subscribers:detail", args=[424242])).status_code == 404


def test_usage_is_paged_with_net_vat_and_gross(bob_client, fake_engine):
    from microbss.crm.accounts.models import CsrUser
    from microbss.crm.vat.models import VatConfig

    admin = CsrUser.objects.get(username="bob")
    VatConfig.objects.create(rate="21.00", effective_from="2000-01-01", created_by=admin)
    page = bob_client.get(reverse("subscribers:usage", args=[PREPAID_ID])).content.decode()
    assert "Rows 1\u201350" in page and "Older" in page and "Newer" not in page
    # the newest CDR costs 100 minor net: 21 VAT, 121 gross
    assert "€1.00" in page and "€0.21" in page and "€1.21" in page
    assert "1 min 1 s" in page
    second = bob_client.get(reverse("subscribers:usage", args=[PREPAID_ID]), {"page": 3})
    assert "Rows 101\u2013120" in second.content.decode()
    assert "Older" not in second.content.decode()


def test_bills_show_vat_columns_and_an_invoice_link_each(bob_client, fake_engine):
    page = bob_client.get(reverse("subscribers:bills", args=[POSTPAID_ID])).content.decode()
    for bill in fake_engine.bills[POSTPAID_ID]:
        assert bill.invoice_number in page
        assert reverse("subscribers:invoice", args=[POSTPAID_ID, bill.id]) in page
    assert "Bill now" in page


# ---- redeem -------------------------------------------------------------------------------


def test_redeeming_in_place_shows_the_credit_and_refreshes_the_balance(bob_client, fake_engine):
    response = bob_client.post(
        reverse("subscribers:redeem", args=[PREPAID_ID]), {"pin": VALID_PIN.lower()}, **HTMX
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "Voucher V000001 redeemed: €10.00 credited." in page
    assert 'id="balance-card" hx-swap-oob="true"' in page and "€22.50" in page


def test_a_refused_pin_is_explained_in_place(bob_client, fake_engine):
    response = bob_client.post(
        reverse("subscribers:redeem", args=[PREPAID_ID]), {"pin": USED_PIN}, **HTMX
    )
    assert response.status_code == 422
    page = response.content.decode()
    assert "this voucher was already used" in page and "pin:" not in page


def test_an_unknown_pin_is_explained_in_the_reps_language(bob, bob_client, fake_engine):
    bob.language = "es"
    bob.save(update_fields=["language"])
    response = bob_client.post(
        reverse("subscribers:redeem", args=[PREPAID_ID]), {"pin": "AAAA-BBBB-CCCC-DDDD"}, **HTMX
    )
    assert response.status_code == 422
    assert "Ningún bono tiene este PIN" in response.content.decode()


def test_no_pin_ever_reaches_the_audit_trail(bob_client, fake_engine):
    for pin in (VALID_PIN, USED_PIN):
        bob_client.post(reverse("subscribers:redeem", args=[PREPAID_ID]), {"pin": pin}, **HTMX)
    events = list(AuditEvent.objects.filter(action="voucher.redeem").order_by("id"))
    assert [e.result for e in events] == ["OK", "DENIED"]
    for event in events:
        text = f"{event.target} {event.details}".upper()
        assert VALID_PIN not in text and USED_PIN not in text
        assert VALID_PIN[-4:] not in text.replace("V000001", "")


def test_redeeming_without_htmx_falls_back_to_a_redirect(bob_client, fake_engine):
    response = bob_client.post(
        reverse("subscribers:redeem", args=[PREPAID_ID]), {"pin": VALID_PIN}, follow=True
    )
    assert "Voucher V000001 redeemed." in response.content.decode()


# ---- on-demand billing ----------------------------------------------------------------------


def test_billing_now_sends_the_page_to_the_bills_tab_showing_the_new_bill(bob_client, fake_engine):
    response = bob_client.post(reverse("subscribers:execute_billing", args=[POSTPAID_ID]), **HTMX)
    assert response.status_code == 204
    new_bill = fake_engine.bills[POSTPAID_ID][0]
    assert response["HX-Redirect"].endswith(f"?new_bill={new_bill.id}")
    page = bob_client.get(response["HX-Redirect"]).content.decode()
    assert f"Bill {new_bill.invoice_number} created." in page
    assert 'class="table-success" data-new-bill' in page
    assert AuditEvent.objects.get(action="billing.execute").result == "OK"


def test_billing_a_prepaid_line_is_refused_in_words(bob_client, fake_engine):
    response = bob_client.post(reverse("subscribers:execute_billing", args=[PREPAID_ID]), **HTMX)
    assert response.status_code == 409
    assert "on-demand billing is for postpaid lines" in response.content.decode()


# ---- termination --------------------------------------------------------------------------


def test_termination_asks_for_a_reason_first(bob_client, fake_engine):
    url = reverse("subscribers:terminate", args=[POSTPAID_ID])
    assert "Terminate this line" in bob_client.get(url).content.decode()
    response = bob_client.post(url, {"reason": "  "})
    assert response.status_code == 400
    assert not fake_engine.calls_to("TerminateSubscriber")


def test_terminating_issues_the_final_bill_and_hides_every_action(bob_client, fake_engine):
    url = reverse("subscribers:terminate", args=[POSTPAID_ID])
    response = bob_client.post(url, {"reason": "moving abroad"}, follow=True)
    page = response.content.decode()
    final = fake_engine.bills[POSTPAID_ID][0]
    assert f"Line terminated. Final bill {final.invoice_number} issued." in page
    assert "Terminated" in page and "This line was terminated on" in page
    assert "Terminate line" not in page
    bills = bob_client.get(reverse("subscribers:bills", args=[POSTPAID_ID])).content.decode()
    assert "Bill now" not in bills and final.invoice_number in bills
    event = AuditEvent.objects.get(action="subscriber.terminate")
    assert event.details["reason"] == "moving abroad"


# ---- engine down --------------------------------------------------------------------------


def test_a_stopped_engine_gives_a_503_page_with_a_banner_and_no_traceback(
    bob_client, stopped_engine
):
    response = bob_client.get(reverse("subscribers:detail", args=[PREPAID_ID]))
    page = response.content.decode()
    assert response.status_code == 503
    assert "The charging engine is not reachable; try again in a minute." in page
    assert "Traceback" not in page and "grpc" not in page.lower()


def test_a_slow_engine_gives_a_503_page(bob_client, fake_engine, settings):
    settings.MICROBSS_ENGINE_TIMEOUT_SECONDS = 0.3
    fake_engine.hang.add("GetSubscriber")
    response = bob_client.get(reverse("subscribers:detail", args=[PREPAID_ID]))
    assert response.status_code == 503
    assert "not reachable" in response.content.decode()


def test_pages_that_need_no_engine_keep_working_while_it_is_down(bob_client, stopped_engine):
    assert bob_client.get(reverse("accounts:profile")).status_code == 200

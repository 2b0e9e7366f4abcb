"""The CRM's pages against the real engine (gRPC on port 0 over a fresh database).

One CSR's day: create a prepaid line and redeem a voucher on it; create a postpaid line, bill it
now, download the invoice, and terminate it. Each step goes through the CRM's views, so what is
checked is what the CSR sees, and what the engine recorded.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from sqlalchemy import select

from microbss.crm import engine_client
from microbss.crm.audit.models import AuditEvent
from microbss.engine.api.server import create_server
from microbss.engine.deps import Deps
from microbss.engine.storage.tables import audit_events
from tests.integration.conftest import (
    BILL_CYCLE_ID,
    POSTPAID_PLAN_ID,
    PREPAID_PLAN_ID,
    Inventory,
    add_vouchers,
)
from tests.integration.crm.signed_in import bob_client_fixture  # noqa: F401 - fixture

PIN = "QWER7YUI0PAS9DFG"
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def real_engine(deps: Deps, inventory: Inventory, settings: Any) -> Iterator[Deps]:
    """The engine serving ``deps`` (test catalog, five free lines, one voucher) to the CRM."""
    add_vouchers(deps, "CRM", [PIN], value=1000)
    server, port = create_server("127.0.0.1:0", deps)
    server.start()
    settings.MICROBSS_ENGINE_ADDRESS = f"127.0.0.1:{port}"
    settings.MICROBSS_ENGINE_TOKEN = ""
    settings.MICROBSS_ENGINE_TIMEOUT_SECONDS = 10
    engine_client.close_channel()
    yield deps
    engine_client.close_channel()
    server.stop(grace=None).wait()


def _form(stock: Inventory, i: int, **changes: str) -> dict[str, str]:
    data = {
        "msisdn": stock.msisdns[i],
        "imsi": stock.imsis[i],
        "handset_imei": stock.imeis[i],
        "identity_number": f"1234567{i}Z",
        "first_name": "Carla",
        "last_name": ("Ruiz", "Soto", "Vega", "Mora", "Gil")[i],
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
    data.update(changes)
    return data


def _create(client: Client, form: dict[str, str]) -> int:
    response = client.post(reverse("subscribers:new"), form)
    assert response.status_code == 302, re.findall(
        r"(?:invalid-feedback[^>]*>|alert-danger[^>]*>)([^<]+)", response.content.decode()
    )
    return int(re.search(r"/subscribers/(\d+)/", response["Location"]).group(1))


def test_a_prepaid_line_is_created_and_topped_up_with_a_voucher(
    bob_client: Client, real_engine: Deps, inventory: Inventory
):
    new_form = bob_client.get(reverse("subscribers:new")).content.decode()
    assert f'<option value="{inventory.msisdns[0]}">' in new_form
    subscriber_id = _create(bob_client, _form(inventory, 0))
    profile = bob_client.get(reverse("subscribers:detail", args=[subscriber_id])).content.decode()
    assert "Carla Ruiz" in profile and "****670Z" in profile and "€5.00" in profile

    redeemed = bob_client.post(
        reverse("subscribers:redeem", args=[subscriber_id]), {"pin": PIN}, **HTMX
    ).content.decode()
    assert "€10.00 credited" in redeemed and "€15.00" in redeemed
    again = bob_client.post(
        reverse("subscribers:redeem", args=[subscriber_id]), {"pin": PIN}, **HTMX
    )
    assert again.status_code == 422

    with real_engine.db.connect() as conn:
        actors = set(conn.execute(select(audit_events.c.actor)).scalars())
    assert "bob" in actors
    assert [e.result for e in AuditEvent.objects.filter(action="voucher.redeem")] == [
        "DENIED",
        "OK",
    ]


def test_a_postpaid_line_is_billed_now_its_invoice_downloaded_and_then_terminated(
    bob_client: Client, real_engine: Deps, inventory: Inventory
):
    form = _form(
        inventory,
        1,
        payment_type="POSTPAID",
        price_plan=str(POSTPAID_PLAN_ID),
        bill_cycle=str(BILL_CYCLE_ID),
        payment_method="DIRECT_DEBIT",
        iban="ES91 2100 0418 4502 0005 1332",
        account_holder="Carla Ruiz",
    )
    subscriber_id = _create(bob_client, form)
    profile = bob_client.get(reverse("subscribers:detail", args=[subscriber_id])).content.decode()
    assert "Postpaid test" in profile and "1332" in profile and "ES91 2100" not in profile

    billed = bob_client.post(reverse("subscribers:execute_billing", args=[subscriber_id]), **HTMX)
    assert billed.status_code == 204, billed.content.decode()
    bills_page = bob_client.get(billed["HX-Redirect"]).content.decode()
    bill_id = int(billed["HX-Redirect"].rsplit("=", 1)[1])
    invoice_url = reverse("subscribers:invoice", args=[subscriber_id, bill_id])
    assert invoice_url in bills_page and "data-new-bill" in bills_page

    pdf = bob_client.get(invoice_url)
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert b"".join(pdf.streaming_content).startswith(b"%PDF-")

    ended = bob_client.post(
        reverse("subscribers:terminate", args=[subscriber_id]),
        {"reason": "customer moved abroad"},
        follow=True,
    ).content.decode()
    assert "Line terminated." in ended and "This line was terminated on" in ended
    assert (
        "Bill now"
        not in bob_client.get(reverse("subscribers:bills", args=[subscriber_id])).content.decode()
    )


def test_the_engines_refusal_of_a_taken_msisdn_lands_next_to_the_msisdn(
    bob_client: Client, real_engine: Deps, inventory: Inventory
):
    _create(bob_client, _form(inventory, 2))
    response = bob_client.post(
        reverse("subscribers:new"), _form(inventory, 2, imsi=inventory.imsis[3])
    )
    page = response.content.decode()
    assert response.status_code in (400, 409)
    assert re.search(r'id="id_msisdn"[^>]*>\s*<div class="invalid-feedback d-block">', page)
    assert 'value="Vega"' in page


# ---- the engine's own wording, as the CRM recognises it ---------------------------------------


@pytest.fixture
def spanish_bob(bob: Any) -> None:
    bob.language = "es"
    bob.save(update_fields=["language"])


def test_a_spanish_csr_reads_the_real_engines_refusal_of_a_taken_msisdn_in_spanish(
    bob_client: Client, real_engine: Deps, inventory: Inventory, spanish_bob: None
):
    _create(bob_client, _form(inventory, 2))
    page = bob_client.post(
        reverse("subscribers:new"), _form(inventory, 2, imsi=inventory.imsis[3])
    ).content.decode()
    assert re.search(
        r'id="id_msisdn"[^>]*>\s*<div class="invalid-feedback d-block">'
        r"Este MSISDN se acaba de asignar a otro abonado. Elija otro.</div>",
        page,
    )


def test_a_spanish_csr_reads_the_real_engines_billing_and_redeem_refusals_in_spanish(
    bob_client: Client, real_engine: Deps, inventory: Inventory, spanish_bob: None
):
    postpaid = _create(
        bob_client,
        _form(
            inventory,
            4,
            payment_type="POSTPAID",
            price_plan=str(POSTPAID_PLAN_ID),
            bill_cycle=str(BILL_CYCLE_ID),
        ),
    )
    bill_now = reverse("subscribers:execute_billing", args=[postpaid])
    assert bob_client.post(bill_now, **HTMX).status_code == 204
    again = bob_client.post(bill_now, **HTMX)
    assert again.status_code == 409
    assert "No hay nada que facturar" in again.content.decode()

    prepaid = _create(bob_client, _form(inventory, 3))
    redeem = reverse("subscribers:redeem", args=[prepaid])
    bob_client.post(redeem, {"pin": PIN}, **HTMX)
    used = bob_client.post(redeem, {"pin": PIN}, **HTMX).content.decode()
    assert "Este bono no se puede canjear" in used
    not_postpaid = bob_client.post(
        reverse("subscribers:redeem", args=[postpaid]), {"pin": PIN}, **HTMX
    ).content.decode()
    assert "Los bonos solo recargan líneas de prepago" in not_postpaid

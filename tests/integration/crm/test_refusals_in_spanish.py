"""A Spanish-speaking CSR reads the engine's refusals in Spanish, next to the field concerned,
with what they typed still in the form; a refusal the CRM does not know keeps the engine's words."""

from __future__ import annotations

import re

import grpc
import pytest
from django.test import Client
from django.urls import reverse

from microbss.crm.accounts.models import CsrUser
from tests.integration.crm.fake_engine import (  # noqa: F401 - fixtures
    POSTPAID_ID,
    POSTPAID_PLAN_ID,
    PREPAID_ID,
    FakeEngine,
    fake_engine_fixture,
    running_engine_fixture,
)
from tests.integration.crm.signed_in import (  # noqa: F401 - fixtures
    alice_client_fixture,
    bob_client_fixture,
)
from tests.integration.crm.test_subscribers_views import HTMX, _new_subscriber_form

pytestmark = pytest.mark.django_db

# What the engine writes when a create races another for the same line (no field named).
RACE_LOST = "MSISDN 34600000003, IMSI 214010000000003 or the handset is already assigned"


@pytest.fixture(autouse=True)
def everyone_speaks_spanish(alice: CsrUser, bob: CsrUser) -> None:
    for user in (alice, bob):
        user.language = "es"
        user.save(update_fields=["language"])


def _error_after(field_id: str, message: str, page: str) -> bool:
    """True when ``message`` is the first error shown right after the field ``field_id``."""
    pattern = (
        rf'id="{field_id}"[^>]*>(?:[\s\S]*?</(?:select|textarea)>)?\s*'
        rf'<div class="invalid-feedback[^"]*">{re.escape(message)}</div>'
    )
    return re.search(pattern, page) is not None


def _alert(page: str) -> str:
    found = re.search(r'<div class="alert alert-danger" role="alert">([\s\S]*?)</div>\s*<', page)
    return found.group(1) if found else ""


# ---- new subscriber ---------------------------------------------------------------------------


def test_an_msisdn_a_colleague_just_took_is_explained_in_spanish_next_to_the_msisdn(
    bob_client: Client, fake_engine: FakeEngine
):
    fake_engine.msisdns.remove("34600000003")
    response = bob_client.post(reverse("subscribers:new"), _new_subscriber_form())
    page = response.content.decode()
    assert response.status_code == 409
    assert _error_after(
        "id_msisdn", "Este MSISDN se acaba de asignar a otro abonado. Elija otro.", page
    )
    assert 'value="34600000003"' in page and 'value="Carla"' in page
    assert 'value="12345678Z"' in page and 'value="carla@example.com"' in page


def test_an_imsi_a_colleague_just_took_is_explained_in_spanish_next_to_the_imsi(
    bob_client: Client, fake_engine: FakeEngine
):
    fake_engine.imsis.remove("214010000000003")
    page = bob_client.post(reverse("subscribers:new"), _new_subscriber_form()).content.decode()
    assert _error_after(
        "id_imsi",
        "Este IMSI se acaba de asignar a otro abonado. Elija otra tarjeta SIM.",
        page,
    )
    assert 'value="214010000000003"' in page


def test_a_create_that_lost_a_race_says_so_in_spanish_above_the_form(
    bob_client: Client, fake_engine: FakeEngine
):
    fake_engine.fail["CreateSubscriber"] = (grpc.StatusCode.ALREADY_EXISTS, RACE_LOST)
    response = bob_client.post(reverse("subscribers:new"), _new_subscriber_form())
    page = response.content.decode()
    assert response.status_code == 409
    assert "El MSISDN, el IMSI o el terminal se acaba de asignar a otro abonado." in _alert(page)
    assert RACE_LOST not in page
    assert 'value="Carla"' in page


def test_the_engines_plan_and_iban_refusals_show_in_spanish_each_next_to_its_field(
    bob_client: Client, fake_engine: FakeEngine
):
    fake_engine.fail["CreateSubscriber"] = (
        grpc.StatusCode.INVALID_ARGUMENT,
        "price_plan_id: price plan PRE-BASIC is PREPAID, not POSTPAID; "
        "payment.iban: a ES IBAN has 24 characters, got 23",
    )
    form = _new_subscriber_form(
        payment_type="POSTPAID",
        price_plan=str(POSTPAID_PLAN_ID),
        bill_cycle="1",
        payment_method="DIRECT_DEBIT",
        iban="ES9121000418450200051332",
        account_holder="Carla Ruiz",
    )
    response = bob_client.post(reverse("subscribers:new"), form)
    page = response.content.decode()
    assert response.status_code == 400
    assert _error_after(
        "id_price_plan",
        "Esta tarifa no corresponde a la modalidad de pago elegida. Elija otra.",
        page,
    )
    assert _error_after("id_iban", "Un IBAN ES tiene 24 caracteres; este tiene 23.", page)
    assert 'value="ES9121000418450200051332"' in page and 'value="Carla Ruiz"' in page


def test_a_wrong_iban_is_refused_in_spanish_before_the_engine_is_called(
    bob_client: Client, fake_engine: FakeEngine
):
    form = _new_subscriber_form(
        payment_method="DIRECT_DEBIT", iban="ES00 0000 0000 0000 0000 0000", account_holder="C"
    )
    page = bob_client.post(reverse("subscribers:new"), form).content.decode()
    assert _error_after(
        "id_iban",
        "Los dígitos de control de este IBAN no son correctos. Compruébelo con el cliente.",
        page,
    )
    assert 'value="ES00 0000 0000 0000 0000 0000"' in page
    assert not fake_engine.calls_to("CreateSubscriber")


def test_a_refusal_the_crm_does_not_know_keeps_the_engines_words_next_to_the_field(
    bob_client: Client, fake_engine: FakeEngine
):
    fake_engine.fail["CreateSubscriber"] = (
        grpc.StatusCode.INVALID_ARGUMENT,
        "last_name: is on the sanctions list",
    )
    page = bob_client.post(reverse("subscribers:new"), _new_subscriber_form()).content.decode()
    assert _error_after("id_last_name", "is on the sanctions list", page)
    assert 'value="Ruiz"' in page


# ---- terminate --------------------------------------------------------------------------------


def test_a_termination_refused_during_a_bill_run_is_explained_in_spanish_and_keeps_the_reason(
    bob_client: Client, fake_engine: FakeEngine
):
    fake_engine.fail["TerminateSubscriber"] = (
        grpc.StatusCode.FAILED_PRECONDITION,
        f"subscriber_id: subscriber {POSTPAID_ID} is being billed right now; try again",
    )
    response = bob_client.post(
        reverse("subscribers:terminate", args=[POSTPAID_ID]), {"reason": "se muda al extranjero"}
    )
    page = response.content.decode()
    assert response.status_code == 400
    assert "Esta línea se está facturando en este momento." in _alert(page)
    assert ">se muda al extranjero</textarea>" in page


def test_a_reason_the_engine_refuses_is_explained_in_spanish_under_the_reason(
    bob_client: Client, fake_engine: FakeEngine
):
    fake_engine.fail["TerminateSubscriber"] = (
        grpc.StatusCode.INVALID_ARGUMENT,
        "reason: say why the line is terminated",
    )
    page = bob_client.post(
        reverse("subscribers:terminate", args=[PREPAID_ID]), {"reason": "x"}
    ).content.decode()
    assert _error_after("id_reason", "Indique un motivo.", page)


# ---- bill now ---------------------------------------------------------------------------------

NOTHING_TO_BILL = (
    f"subscriber_id: nothing to bill for subscriber {POSTPAID_ID}: no unbilled usage and no "
    "monthly fee due since 2026-05-01 00:00 (operator time)"
)
SPANISH_NOTHING_TO_BILL = (
    "No hay nada que facturar: ni consumo pendiente ni cuota mensual vencida desde el "
    "01/05/2026 00:00."
)


def test_nothing_to_bill_is_said_in_spanish_on_the_bills_tab(
    bob_client: Client, fake_engine: FakeEngine
):
    fake_engine.fail["ExecuteBilling"] = (grpc.StatusCode.FAILED_PRECONDITION, NOTHING_TO_BILL)
    response = bob_client.post(
        reverse("subscribers:execute_billing", args=[POSTPAID_ID]), follow=True
    )
    page = response.content.decode()
    assert SPANISH_NOTHING_TO_BILL in page
    assert "nothing to bill" not in page


def test_nothing_to_bill_is_said_in_spanish_in_place_for_htmx(
    bob_client: Client, fake_engine: FakeEngine
):
    fake_engine.fail["ExecuteBilling"] = (grpc.StatusCode.FAILED_PRECONDITION, NOTHING_TO_BILL)
    response = bob_client.post(reverse("subscribers:execute_billing", args=[POSTPAID_ID]), **HTMX)
    assert response.status_code == 409
    assert SPANISH_NOTHING_TO_BILL in response.content.decode()


def test_a_line_billed_a_moment_ago_is_explained_in_spanish(
    bob_client: Client, fake_engine: FakeEngine
):
    fake_engine.fail["ExecuteBilling"] = (
        grpc.StatusCode.FAILED_PRECONDITION,
        f"subscriber_id: subscriber {POSTPAID_ID} was billed by another process just now; "
        "try again",
    )
    response = bob_client.post(
        reverse("subscribers:execute_billing", args=[POSTPAID_ID]), follow=True
    )
    assert "Esta línea se acaba de facturar" in response.content.decode()


# ---- vouchers ---------------------------------------------------------------------------------


def test_withdrawing_a_used_voucher_is_refused_in_spanish_and_keeps_the_reason(
    alice_client: Client, fake_engine: FakeEngine
):
    form = {"new_state": "ERROR", "serial": "V000002", "batch": "", "reason": "lote mal impreso"}
    response = alice_client.post(reverse("vouchers:update"), form)
    page = response.content.decode()
    assert response.status_code == 409
    assert "El bono V000002 está usado: los bonos usados nunca cambian." in _alert(page)
    assert ">lote mal impreso</textarea>" in page

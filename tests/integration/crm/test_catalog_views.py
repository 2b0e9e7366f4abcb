"""Read-only price plan pages from GetRefData: admins only, prices in words."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from microbss.crm.accounts.models import CsrUser
from tests.integration.crm.fake_engine import (  # noqa: F401 - fixtures
    POSTPAID_PLAN_ID,
    PREPAID_PLAN_ID,
    FakeEngine,
    fake_engine_fixture,
    running_engine_fixture,
)
from tests.integration.crm.signed_in import (  # noqa: F401 - fixtures
    alice_client_fixture,
    bob_client_fixture,
)

PAGES = [
    reverse("catalog:price_plans"),
    reverse("catalog:price_plan", args=[PREPAID_PLAN_ID]),
    reverse("catalog:services"),
    reverse("catalog:bill_cycles"),
]


@pytest.mark.parametrize("url", PAGES)
def test_a_csr_may_not_open_the_price_plan_pages(bob_client: Client, fake_engine, url: str):
    assert bob_client.get(url).status_code == 403


@pytest.mark.parametrize("url", PAGES)
def test_an_anonymous_visitor_is_sent_to_login(db, fake_engine, url: str):
    assert Client().get(url).status_code == 302


def test_the_plan_list_shows_every_plan_with_fee_and_payment_type(
    alice_client: Client, fake_engine
):
    page = alice_client.get(reverse("catalog:price_plans")).content.decode()
    assert "Prepaid Basic" in page and "Postpaid Plus" in page
    assert "€19.99" in page and "Mon-Fri 08:00-20:00" in page


def test_a_plan_shows_tariffs_in_words_and_its_allowances(alice_client: Client, fake_engine):
    page = alice_client.get(reverse("catalog:price_plan", args=[POSTPAID_PLAN_ID])).content.decode()
    assert "€0.09 per minute" in page and "per-second billing" in page and "1 min" in page
    assert "€0.02 per MB" in page and "in steps of 1 KB" in page
    assert "€0.05 per event" in page
    assert "Voice calls" in page and "100 min" in page and "(National)" in page
    assert "Europe/Madrid" in page


def test_an_unknown_plan_is_not_found(alice_client: Client, fake_engine):
    assert alice_client.get(reverse("catalog:price_plan", args=[999])).status_code == 404


def test_services_and_bill_cycles_are_listed(alice_client: Client, fake_engine):
    services = alice_client.get(reverse("catalog:services")).content.decode()
    assert "Mobile data" in services and "bytes" in services
    cycles = alice_client.get(reverse("catalog:bill_cycles")).content.decode()
    assert "1st of the month" in cycles and "15th of the month" in cycles


def test_a_spanish_admin_reads_services_and_bill_cycles_in_spanish(
    alice: CsrUser, alice_client: Client, fake_engine
):
    alice.language = "es"
    alice.save(update_fields=["language"])
    services = alice_client.get(reverse("catalog:services")).content.decode()
    assert "Datos móviles" in services and "Llamadas de voz" in services
    assert "Mobile data" not in services
    cycles = alice_client.get(reverse("catalog:bill_cycles")).content.decode()
    assert "Día 1 de cada mes" in cycles and "Día 15 de cada mes" in cycles
    assert "Cycle 15" not in cycles


def test_reference_data_is_asked_once_for_several_pages(alice_client: Client, fake_engine):
    for url in PAGES:
        alice_client.get(url)
    assert len(fake_engine.calls_to("GetRefData")) == 1

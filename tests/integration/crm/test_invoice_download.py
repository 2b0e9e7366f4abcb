"""Invoice PDF download: streamed from the engine, fixed name, no IDOR, no path from the request."""

from __future__ import annotations

from django.test import Client
from django.urls import reverse

from microbss.crm.subscribers.invoices import invoice_file_name
from tests.integration.crm.fake_engine import (  # noqa: F401 - fixtures
    POSTPAID_ID,
    PREPAID_ID,
    FakeEngine,
    fake_engine_fixture,
    running_engine_fixture,
    stopped_engine_fixture,
)
from tests.integration.crm.signed_in import bob_client_fixture  # noqa: F401 - fixture


def _invoice_url(subscriber_id: int, bill_id: int) -> str:
    return reverse("subscribers:invoice", args=[subscriber_id, bill_id])


def test_a_bill_downloads_as_a_pdf_attachment_with_its_invoice_number(
    bob_client: Client, fake_engine: FakeEngine
):
    bill = fake_engine.bills[POSTPAID_ID][0]
    response = bob_client.get(_invoice_url(POSTPAID_ID, bill.id))
    body = b"".join(response.streaming_content)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"] == (f'attachment; filename="{bill.invoice_number}.pdf"')
    assert "no-store" in response["Cache-Control"]
    assert body.startswith(b"%PDF-") and body.rstrip().endswith(b"%%EOF")
    assert fake_engine.calls_to("GetInvoice")[0].metadata["x-actor"] == "bob"


def test_another_subscribers_bill_is_not_found(bob_client: Client, fake_engine: FakeEngine):
    someone_elses = fake_engine.bills[POSTPAID_ID][0]
    response = bob_client.get(_invoice_url(PREPAID_ID, someone_elses.id))
    assert response.status_code == 404
    assert not fake_engine.calls_to("GetInvoice")


def test_an_unknown_bill_is_not_found(bob_client: Client, fake_engine: FakeEngine):
    assert bob_client.get(_invoice_url(POSTPAID_ID, 999_999)).status_code == 404


def test_an_unknown_subscriber_is_not_found(bob_client: Client, fake_engine: FakeEngine):
    assert bob_client.get(_invoice_url(424_242, 1000)).status_code == 404


def test_an_anonymous_visitor_gets_the_login_page_not_the_pdf(db, fake_engine: FakeEngine):
    bill = fake_engine.bills[POSTPAID_ID][0]
    response = Client().get(_invoice_url(POSTPAID_ID, bill.id))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))
    assert not fake_engine.calls_to("GetInvoice")


def test_a_path_in_the_url_never_reaches_the_engine(bob_client: Client, fake_engine: FakeEngine):
    url = f"/subscribers/{POSTPAID_ID}/bills/..%2F..%2Fetc%2Fpasswd/invoice.pdf"
    assert bob_client.get(url).status_code == 404
    assert not fake_engine.calls_to("GetInvoice")


def test_the_file_name_keeps_only_letters_digits_and_dashes():
    assert invoice_file_name("INV-2026-000123", 7) == "INV-2026-000123.pdf"
    assert invoice_file_name('../"evil"\r\nX: y', 7) == "evilXy.pdf"
    assert invoice_file_name("", 7) == "invoice-7.pdf"


def test_a_stopped_engine_gives_503_instead_of_a_broken_file(bob_client: Client, stopped_engine):
    response = bob_client.get(_invoice_url(POSTPAID_ID, 1000))
    assert response.status_code == 503
    assert "The charging engine is not reachable" in response.content.decode()

"""CSR and admin flows in a real browser, against a live engine and CRM: log in, enrol MFA with a
standard TOTP computation, redeem a demo voucher in place, and end a deactivated user's session."""

from __future__ import annotations

import csv
import re

import pyotp
import pytest
from grpc import insecure_channel
from playwright.sync_api import expect

from microbss.v1 import engine_pb2, engine_pb2_grpc, types_pb2

pytestmark = pytest.mark.e2e


def _first_prepaid_subscriber_id(stack) -> int:  # type: ignore[no-untyped-def]
    metadata = [("authorization", f"Bearer {stack.engine_token}")]
    with insecure_channel(stack.engine_addr) as channel:
        stub = engine_pb2_grpc.EngineStub(channel)
        reply = stub.SearchSubscribers(engine_pb2.SearchSubscribersRequest(), metadata=metadata)
    return next(s.id for s in reply.subscribers if s.payment_type == types_pb2.PREPAID)


def _demo_pin(stack) -> str:  # type: ignore[no-untyped-def]
    with (stack.data_dir / "demo-vouchers.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    return rows[0]["pin"]


def _first_sign_in(browser, stack, username: str, password: str):  # type: ignore[no-untyped-def]
    """Log in for the first time and enrol MFA from the secret the page shows."""
    page = browser.new_context().new_page()
    page.goto(f"{stack.crm_url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_selector("#totp-secret")
    secret = page.inner_text("#totp-secret").replace(" ", "")
    page.fill("input[name=code]", pyotp.TOTP(secret).now())
    page.click('form[action$="/mfa/"] button[type=submit]')
    page.wait_for_load_state()
    assert "/mfa/" not in page.url
    assert "/login/" not in page.url
    return page


def test_admin_enrols_mfa_and_redeems_a_voucher_in_place(live_stack, browser) -> None:  # type: ignore[no-untyped-def]
    page = _first_sign_in(browser, live_stack, live_stack.admin_username, live_stack.admin_password)
    context = page.context

    subscriber_id = _first_prepaid_subscriber_id(live_stack)
    page.goto(f"{live_stack.crm_url}/subscribers/{subscriber_id}/")
    before = page.inner_text("#balance-card")
    page.fill("#id_pin", _demo_pin(live_stack))
    page.click("#redeem-card button[type=submit]")
    # Playwright's expect polls without eval(), which the CRM's CSP (script-src 'self') forbids.
    expect(page.locator("#redeem-result")).to_contain_text(re.compile(r"10[.,]00"))
    assert page.inner_text("#balance-card") != before
    context.close()


def test_a_deactivated_users_open_session_ends_at_their_next_click(live_stack, browser) -> None:  # type: ignore[no-untyped-def]
    users = {"e2e-boss": "boss-" + "x" * 16, "e2e-colleague": "colleague-" + "y" * 16}
    for username, password in users.items():
        live_stack.cli(
            "crm",
            "createadmin",
            "--username",
            username,
            "--email",
            f"{username}@example.com",
            "--password-stdin",
            stdin=password,
        )
    colleague = _first_sign_in(browser, live_stack, "e2e-colleague", users["e2e-colleague"])
    boss = _first_sign_in(browser, live_stack, "e2e-boss", users["e2e-boss"])
    colleague.goto(f"{live_stack.crm_url}/subscribers/")
    assert "/accounts/login/" not in colleague.url  # signed in before the deactivation

    boss.goto(f"{live_stack.crm_url}/admin/users/")
    boss.click("a:has-text('e2e-colleague')")
    boss.on("dialog", lambda dialog: dialog.accept())
    boss.click("button:has-text('Deactivate')")
    boss.wait_for_load_state()
    assert "e2e-colleague" in boss.content()

    colleague.goto(f"{live_stack.crm_url}/subscribers/")
    assert "/accounts/login/" in colleague.url


def _free(stack, kind: int) -> str:  # type: ignore[no-untyped-def]
    metadata = [("authorization", f"Bearer {stack.engine_token}")]
    with insecure_channel(stack.engine_addr) as channel:
        reply = engine_pb2_grpc.EngineStub(channel).GetAvailableResources(
            engine_pb2.GetAvailableResourcesRequest(type=kind), metadata=metadata
        )
    return str(reply.resources[0].value)


def test_csr_signs_up_a_postpaid_line_bills_it_now_and_downloads_the_pdf(
    live_stack, browser
) -> None:  # type: ignore[no-untyped-def]
    password = "clerk-" + "z" * 16
    live_stack.cli(
        "crm",
        "createadmin",
        "--username",
        "e2e-clerk",
        "--email",
        "clerk@example.com",
        "--password-stdin",
        stdin=password,
    )
    page = _first_sign_in(browser, live_stack, "e2e-clerk", password)

    msisdn = _free(live_stack, types_pb2.MSISDN)
    page.goto(f"{live_stack.crm_url}/subscribers/new/")
    page.fill("input[name=msisdn]", msisdn)
    page.fill("input[name=imsi]", _free(live_stack, types_pb2.IMSI))
    page.fill("input[name=identity_number]", "12345678Z")
    page.fill("input[name=first_name]", "Lucía")
    page.fill("input[name=last_name]", "Fernández")
    page.fill("input[name=date_of_birth]", "1985-04-12")
    page.fill("input[name=street]", "Calle de Alcalá 42")
    page.fill("input[name=city]", "Madrid")
    page.fill("input[name=postal_code]", "28014")
    page.fill("input[name=country]", "ES")
    page.fill("input[name=email]", "lucia@example.com")
    page.fill("input[name=contact_phone]", "+34600111222")
    page.select_option("select[name=payment_type]", "POSTPAID")
    page.select_option("select[name=price_plan]", "201")
    page.select_option("select[name=bill_cycle]", "1")
    page.select_option("select[name=payment_method]", "CASH")
    page.click("button:has-text('Create subscriber')")
    page.wait_for_url(re.compile(r"/subscribers/\d+/$"))
    assert msisdn in page.content()

    page.goto(page.url + "bills/")
    page.click("#bill-now")
    page.wait_for_selector("a:has-text('PDF')")
    invoice_number = page.inner_text("td.font-monospace")
    with page.expect_download() as download_info:
        page.click("a:has-text('PDF')")
    pdf = download_info.value.path().read_bytes()
    assert pdf.startswith(b"%PDF-")
    assert invoice_number.startswith("INV-")

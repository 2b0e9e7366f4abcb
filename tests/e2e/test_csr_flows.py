"""A new admin's first session in a real browser, against a live engine and CRM:
log in, enrol MFA with a standard TOTP computation, redeem a demo voucher in place."""

from __future__ import annotations

import csv
import re

import pyotp
import pytest
from grpc import insecure_channel

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


def test_admin_enrols_mfa_and_redeems_a_voucher_in_place(live_stack, browser) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{live_stack.crm_url}/accounts/login/")
    page.fill("input[name=username]", live_stack.admin_username)
    page.fill("input[name=password]", live_stack.admin_password)
    page.click("button[type=submit]")

    # First login of an unenrolled user lands on MFA setup: read the secret as a user would.
    page.wait_for_selector("#totp-secret")
    secret = page.inner_text("#totp-secret").replace(" ", "")
    page.fill("input[name=code]", pyotp.TOTP(secret).now())
    page.click('form[action$="/mfa/"] button[type=submit]')
    page.wait_for_load_state()
    assert "/mfa/" not in page.url

    subscriber_id = _first_prepaid_subscriber_id(live_stack)
    page.goto(f"{live_stack.crm_url}/subscribers/{subscriber_id}/")
    before = page.inner_text("#balance-card")
    page.fill("#id_pin", _demo_pin(live_stack))
    page.click("#redeem-card button[type=submit]")
    page.wait_for_function("document.querySelector('#redeem-result').innerText.trim().length > 0")
    result = page.inner_text("#redeem-result")
    assert re.search(r"10[.,]00", result), result
    assert page.inner_text("#balance-card") != before
    context.close()

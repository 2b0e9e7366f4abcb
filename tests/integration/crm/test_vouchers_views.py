"""Voucher administration: admins only, filters and paging, withdraw/restore with a reason."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from microbss.crm.audit.models import AuditEvent
from microbss.v1 import types_pb2
from tests.integration.crm.fake_engine import (  # noqa: F401 - fixtures
    FakeEngine,
    fake_engine_fixture,
    running_engine_fixture,
    stopped_engine_fixture,
)
from tests.integration.crm.signed_in import (  # noqa: F401 - fixtures
    alice_client_fixture,
    bob_client_fixture,
)


def _state(engine: FakeEngine, serial: str) -> int:
    return next(v.state for v in engine.vouchers if v.serial == serial)


@pytest.mark.parametrize(
    "url", [reverse("vouchers:list"), reverse("vouchers:confirm") + "?new_state=ERROR&serial=V1"]
)
def test_a_csr_may_not_open_voucher_administration(bob_client: Client, fake_engine, url: str):
    assert bob_client.get(url).status_code == 403


def test_a_csr_may_not_change_a_voucher(bob_client: Client, fake_engine: FakeEngine):
    form = {"new_state": "ERROR", "serial": "V000001", "reason": "misprint"}
    assert bob_client.post(reverse("vouchers:update"), form).status_code == 403
    assert _state(fake_engine, "V000001") == types_pb2.NEW


def test_an_anonymous_visitor_is_sent_to_login(db, fake_engine):
    response = Client().get(reverse("vouchers:list"))
    assert response.status_code == 302 and "/accounts/login" in response["Location"]


def test_the_list_filters_by_state_and_batch(alice_client: Client, fake_engine: FakeEngine):
    page = alice_client.get(
        reverse("vouchers:list"), {"state": "ERROR", "batch": "B2026-02"}
    ).content.decode()
    assert "5 vouchers" in page
    assert "V000026" in page and "V000001" not in page
    request = fake_engine.calls_to("SelectVouchers")[0].request
    assert (request.state, request.batch) == (types_pb2.ERROR, "B2026-02")
    assert "Restore batch" in page


def test_the_list_pages_with_the_engines_page_token(alice_client: Client, fake_engine):
    first = alice_client.get(reverse("vouchers:list")).content.decode()
    assert "30 vouchers" in first and "Next page" not in first  # 30 fit on one page of 50
    fake_engine.vouchers.extend(fake_engine.vouchers[:25])
    first = alice_client.get(reverse("vouchers:list")).content.decode()
    assert "page_token=50" in first
    second = alice_client.get(reverse("vouchers:list"), {"page_token": "50"})
    assert "First page" in second.content.decode()


def test_bad_filters_are_explained_and_not_sent(alice_client: Client, fake_engine: FakeEngine):
    page = alice_client.get(reverse("vouchers:list"), {"batch": "a b;"}).content.decode()
    assert "Letters, digits, dot, dash and underscore." in page
    assert not fake_engine.calls_to("SelectVouchers")


def test_withdrawing_asks_for_a_reason_on_a_confirmation_page_first(
    alice_client: Client, fake_engine: FakeEngine
):
    url = reverse("vouchers:confirm") + "?new_state=ERROR&serial=V000001"
    page = alice_client.get(url).content.decode()
    assert "Withdraw a voucher" in page and "V000001" in page and "€10.00" in page
    assert _state(fake_engine, "V000001") == types_pb2.NEW
    form = {"new_state": "ERROR", "serial": "V000001", "batch": "", "reason": " "}
    response = alice_client.post(reverse("vouchers:update"), form)
    assert response.status_code == 400
    assert _state(fake_engine, "V000001") == types_pb2.NEW


def test_the_confirmation_says_how_many_vouchers_of_a_batch_would_change(
    alice_client: Client, fake_engine: FakeEngine
):
    withdraw = reverse("vouchers:confirm") + "?new_state=ERROR&batch=B2026-02"
    page = alice_client.get(withdraw).content.decode()
    assert "Withdraw batch B2026-02" in page
    assert "10 new vouchers of this batch will be taken out of circulation" in page
    restore = reverse("vouchers:confirm") + "?new_state=NEW&batch=B2026-02"
    assert "5 withdrawn vouchers of this batch will be redeemable again" in (
        alice_client.get(restore).content.decode()
    )


def test_the_confirmation_of_a_used_voucher_says_it_cannot_change_and_offers_no_form(
    alice_client: Client, fake_engine: FakeEngine
):
    url = reverse("vouchers:confirm") + "?new_state=ERROR&serial=V000002"
    page = alice_client.get(url).content.decode()
    assert "This voucher has been used" in page
    assert 'name="reason"' not in page


def test_the_confirmation_still_asks_for_the_reason_while_the_engine_is_down(
    alice_client: Client, stopped_engine
):
    url = reverse("vouchers:confirm") + "?new_state=ERROR&batch=B2026-02"
    response = alice_client.get(url)
    assert response.status_code == 200
    assert 'name="reason"' in response.content.decode()


def test_withdrawing_one_voucher_takes_it_out_and_is_audited(
    alice_client: Client, fake_engine: FakeEngine
):
    form = {"new_state": "ERROR", "serial": "V000001", "batch": "", "reason": "misprint"}
    response = alice_client.post(reverse("vouchers:update"), form, follow=True)
    assert "1 voucher updated." in response.content.decode()
    assert _state(fake_engine, "V000001") == types_pb2.ERROR
    event = AuditEvent.objects.get(action="voucher.withdraw")
    assert (event.actor, event.target, event.result) == ("alice", "serial:V000001", "OK")
    assert event.details["reason"] == "misprint"


def test_restoring_a_whole_batch_brings_back_every_withdrawn_voucher(
    alice_client: Client, fake_engine: FakeEngine
):
    form = {"new_state": "NEW", "serial": "", "batch": "B2026-02", "reason": "found the box"}
    response = alice_client.post(reverse("vouchers:update"), form, follow=True)
    assert "5 vouchers updated." in response.content.decode()
    assert all(v.state == types_pb2.NEW for v in fake_engine.vouchers if v.batch == "B2026-02")
    assert AuditEvent.objects.get(action="voucher.restore").target == "batch:B2026-02"


def test_a_used_voucher_cannot_be_withdrawn_and_the_admin_is_told_why(
    alice_client: Client, fake_engine: FakeEngine
):
    form = {"new_state": "ERROR", "serial": "V000002", "batch": "", "reason": "x"}
    response = alice_client.post(reverse("vouchers:update"), form)
    assert response.status_code == 409
    assert "Voucher V000002 is used: used vouchers never change." in response.content.decode()
    assert AuditEvent.objects.get(action="voucher.withdraw").result == "DENIED"


def test_the_state_change_refuses_get(alice_client: Client, fake_engine):
    assert alice_client.get(reverse("vouchers:update")).status_code == 405


def test_the_voucher_list_answers_503_while_the_engine_is_down(alice_client, stopped_engine):
    response = alice_client.get(reverse("vouchers:list"))
    assert response.status_code == 503
    assert "not reachable" in response.content.decode()

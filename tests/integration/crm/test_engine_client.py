"""The engine client against a fake engine on a real gRPC port: metadata, errors, deadlines."""

from __future__ import annotations

import grpc
import pytest

from microbss.crm import engine_client
from microbss.crm.engine_client import (
    EngineMisconfigured,
    EngineRejected,
    EngineUnavailable,
    FieldError,
    split_field_errors,
)
from tests.integration.crm.fake_engine import (  # noqa: F401 - fixtures
    POSTPAID_ID,
    PREPAID_ID,
    FakeEngine,
    fake_engine_fixture,
    running_engine_fixture,
    stopped_engine_fixture,
)


def test_every_call_carries_the_acting_user_and_the_token(fake_engine: FakeEngine, settings):
    settings.MICROBSS_ENGINE_TOKEN = "s3cret-token"
    fake_engine.token = "s3cret-token"
    engine_client.get_subscriber("bob", PREPAID_ID)
    call = fake_engine.calls_to("GetSubscriber")[0]
    assert call.metadata["x-actor"] == "bob"
    assert call.metadata["authorization"] == "Bearer s3cret-token"


def test_no_token_is_sent_when_none_is_configured(fake_engine: FakeEngine):
    engine_client.get_subscriber("bob", PREPAID_ID)
    assert "authorization" not in fake_engine.calls_to("GetSubscriber")[0].metadata


def test_a_refused_token_is_reported_as_a_configuration_error(fake_engine: FakeEngine, settings):
    fake_engine.token = "engine-token"
    settings.MICROBSS_ENGINE_TOKEN = "wrong"
    with pytest.raises(EngineMisconfigured, match="engine rejected the CRM's token"):
        engine_client.get_subscriber("bob", PREPAID_ID)


def test_a_refusal_carries_the_engines_words_and_the_field(fake_engine: FakeEngine):
    fake_engine.fail["RedeemVoucher"] = (
        grpc.StatusCode.FAILED_PRECONDITION,
        "pin: this voucher was already used",
    )
    with pytest.raises(EngineRejected) as caught:
        engine_client.redeem_voucher("bob", PREPAID_ID, "ABCD1234EFGH5678")
    assert caught.value.code == "FAILED_PRECONDITION"
    assert caught.value.field == "pin"
    assert caught.value.errors == [FieldError("pin", "this voucher was already used")]


def test_several_field_errors_in_one_message_are_split_per_field():
    errors = split_field_errors("msisdn: is taken; payment.iban: check digits are wrong")
    assert errors == [
        FieldError("msisdn", "is taken"),
        FieldError("payment.iban", "check digits are wrong"),
    ]


def test_a_message_without_a_field_stays_whole():
    assert split_field_errors("the line is already terminated; sorry") == [
        FieldError(None, "the line is already terminated; sorry")
    ]


def test_an_engine_that_does_not_answer_in_time_is_unavailable(fake_engine: FakeEngine, settings):
    settings.MICROBSS_ENGINE_TIMEOUT_SECONDS = 0.3
    fake_engine.hang.add("GetSubscriber")
    with pytest.raises(EngineUnavailable, match="DEADLINE_EXCEEDED"):
        engine_client.get_subscriber("bob", PREPAID_ID)


def test_a_stopped_engine_is_unavailable(stopped_engine: str):
    with pytest.raises(EngineUnavailable, match="UNAVAILABLE"):
        engine_client.search_subscribers("bob", name="ana")


def test_reference_data_is_fetched_once_and_then_served_from_the_cache(fake_engine: FakeEngine):
    first = engine_client.get_ref_data("bob")
    second = engine_client.get_ref_data("alice")
    assert first is second
    assert len(fake_engine.calls_to("GetRefData")) == 1
    assert first.plan(first.price_plans[0].id) is first.price_plans[0]


def test_usage_pages_read_only_as_far_as_the_page_needs(fake_engine: FakeEngine):
    page = engine_client.get_subscriber_usage("bob", PREPAID_ID, offset=50, limit=50)
    assert [row.cdr_id for row in page.rows][:2] == ["CDR-1-00050", "CDR-1-00051"]
    assert len(page.rows) == 50
    assert page.has_more
    last = engine_client.get_subscriber_usage("bob", PREPAID_ID, offset=100, limit=50)
    assert len(last.rows) == 20
    assert not last.has_more


def test_an_invoice_streams_its_name_first_and_then_every_byte(fake_engine: FakeEngine):
    bill = engine_client.get_subscriber_bills("bob", POSTPAID_ID)[0]
    invoice = engine_client.iter_invoice("bob", bill.id)
    assert invoice.file_name == f"{bill.invoice_number}.pdf"
    data = b"".join(invoice)
    assert data.startswith(b"%PDF-") and len(data) == invoice.total_size


def test_an_unknown_bill_is_not_found_before_any_byte_is_sent(fake_engine: FakeEngine):
    with pytest.raises(EngineRejected) as caught:
        engine_client.iter_invoice("bob", 999_999)
    assert caught.value.not_found


def test_a_new_subscriber_is_sent_with_every_field(fake_engine: FakeEngine):
    from datetime import date

    created = engine_client.create_subscriber(
        "bob",
        engine_client.NewSubscriber(
            msisdn="34600000001",
            imsi="214010000000001",
            identity_number="12345678Z",
            first_name="Carla",
            last_name="Ruiz",
            date_of_birth=date(1990, 5, 17),
            address=engine_client.Address("Calle Sol 3", "Sevilla", "41001", "ES"),
            email="carla@example.com",
            contact_phone="34955000000",
            payment=engine_client.Payment("DIRECT_DEBIT", iban="ES9121000418450200051332",
                                          account_holder="Carla Ruiz"),
            payment_type="POSTPAID",
            price_plan_id=20,
            bill_cycle_id=1,
        ),
    )  # fmt: skip
    sent = fake_engine.calls_to("CreateSubscriber")[0].request
    assert sent.date_of_birth.year == 1990 and sent.payment.iban == "ES9121000418450200051332"
    assert created.payment_type == "POSTPAID" and created.date_of_birth == date(1990, 5, 17)
    assert created.identity_number_masked == "****678Z"

"""Validation of a new subscriber (domain/subscriber.py) and paging tokens (domain/paging.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from microbss.engine.domain.catalog import BillCycle, Catalog, PaymentType, PricePlan
from microbss.engine.domain.errors import InvalidArgument, ValidationErrors
from microbss.engine.domain.paging import decode_token, encode_token, page_request
from microbss.engine.domain.subscriber import (
    Address,
    NewSubscriber,
    PaymentData,
    PaymentMethod,
    age_on,
    contains_card_number,
    hash_identity,
    validate_new_subscriber,
)

TODAY = date(2026, 3, 15)
CATALOG = Catalog(
    bill_cycles={1: BillCycle(1, "Day 1", 1)},
    price_plans={
        1: PricePlan(1, "PRE", "Prepaid", PaymentType.PREPAID, "EUR", 0, initial_credit=500),
        2: PricePlan(2, "POST", "Postpaid", PaymentType.POSTPAID, "EUR", 1500),
    },
)
VALID = NewSubscriber(
    msisdn=" +34600000001 ",
    imsi="214010000000001",
    handset_imei="",
    identity_number="12345678-z",
    first_name="  Ana  María ",
    last_name="García",
    date_of_birth=date(1990, 5, 17),
    address=Address("Calle Mayor 1", "Madrid", "28013", "es"),
    email="ana@example.com",
    contact_phone="+34 600 111 222",
    payment=PaymentData(method=PaymentMethod.CASH),
    payment_type=PaymentType.PREPAID,
    price_plan_id=1,
)


def errors_of(new: NewSubscriber) -> dict[str, str]:
    with pytest.raises(ValidationErrors) as info:
        validate_new_subscriber(new, CATALOG, TODAY)
    return {e.field or "": e.message for e in info.value.errors}


def test_a_valid_subscriber_comes_back_normalised() -> None:
    valid = validate_new_subscriber(VALID, CATALOG, TODAY)

    assert valid.msisdn == "34600000001"
    assert valid.identity_number == "12345678Z"
    assert valid.first_name == "Ana María"
    assert valid.address.country == "ES"
    assert valid.contact_phone == "+34600111222"


def test_every_problem_is_reported_at_once_with_its_field() -> None:
    bad = replace(
        VALID,
        msisdn="34abc",
        imsi="1234",
        email="nope",
        first_name="",
        date_of_birth=None,
        price_plan_id=99,
    )

    assert set(errors_of(bad)) == {
        "msisdn",
        "imsi",
        "email",
        "first_name",
        "date_of_birth",
        "price_plan_id",
    }


@pytest.mark.parametrize(
    ("birth", "accepted"),
    [
        (date(2010, 3, 15), True),
        (date(2010, 3, 16), False),
        (date(1906, 3, 16), True),
        (date(1905, 1, 1), False),
        (date(2027, 1, 1), False),
    ],
)
def test_a_subscriber_is_between_16_and_120_years_old(birth: date, accepted: bool) -> None:
    new = replace(VALID, date_of_birth=birth)
    if accepted:
        validate_new_subscriber(new, CATALOG, TODAY)
    else:
        assert "date_of_birth" in errors_of(new)


def test_age_counts_whole_years_up_to_the_birthday() -> None:
    assert age_on(date(2000, 3, 16), TODAY) == 25
    assert age_on(date(2000, 3, 15), TODAY) == 26


@pytest.mark.parametrize(
    "email", ["a@b", "a b@c.es", "@c.es", "ana@example..com", "x" * 250 + "@e.es"]
)
def test_malformed_emails_are_refused(email: str) -> None:
    assert "email" in errors_of(replace(VALID, email=email))


@pytest.mark.parametrize("identity", ["", "1234", "ABCDEFG", "12345678Z" * 3, "1234 56?"])
def test_identity_numbers_must_be_5_to_20_letters_and_digits_with_4_digits(identity: str) -> None:
    errors = errors_of(replace(VALID, identity_number=identity))
    assert "identity_number" in errors
    if identity:
        assert identity not in errors["identity_number"]  # never echoed


def test_card_on_file_needs_a_reference_and_exactly_four_last_digits() -> None:
    ok = replace(VALID, payment=PaymentData(PaymentMethod.CARD_ON_FILE, "tok_abc", "4242"))
    assert validate_new_subscriber(ok, CATALOG, TODAY).payment.card_last4 == "4242"

    errors = errors_of(replace(VALID, payment=PaymentData(PaymentMethod.CARD_ON_FILE, "", "42")))
    assert set(errors) == {"payment.card_reference", "payment.card_last4"}


@pytest.mark.parametrize(
    "text",
    [
        "4111111111111111",
        "4111 1111 1111 1111",
        "card 4111-1111-1111-1111 exp 12/29",
        "5500005555555559",
        "378282246310005",
    ],
)
def test_a_full_card_number_is_detected_anywhere(text: str) -> None:
    assert contains_card_number(text)
    errors = errors_of(
        replace(VALID, payment=PaymentData(PaymentMethod.CARD_ON_FILE, text, "1111"))
    )
    assert "full card number" in errors["payment.card_reference"]


def test_long_digit_runs_that_fail_luhn_are_not_card_numbers() -> None:
    assert not contains_card_number("4111111111111112")
    assert not contains_card_number("tok_12345")


def test_direct_debit_needs_a_valid_iban_and_defaults_the_holder_to_the_subscriber() -> None:
    ok = replace(
        VALID, payment=PaymentData(PaymentMethod.DIRECT_DEBIT, iban="es91 2100 0418 4502 0005 1332")
    )
    payment = validate_new_subscriber(ok, CATALOG, TODAY).payment
    assert payment.iban == "ES9121000418450200051332"
    assert payment.account_holder == "Ana María García"

    bad = replace(
        VALID, payment=PaymentData(PaymentMethod.DIRECT_DEBIT, iban="ES91 2100 0418 4502 0005 1333")
    )
    assert "check digits" in errors_of(bad)["payment.iban"]
    assert (
        "IBAN"
        in errors_of(replace(VALID, payment=PaymentData(PaymentMethod.DIRECT_DEBIT)))[
            "payment.iban"
        ]
    )


def test_cash_takes_no_card_or_bank_details() -> None:
    bad = replace(VALID, payment=PaymentData(PaymentMethod.CASH, iban="ES9121000418450200051332"))
    assert "payment" in errors_of(bad)


def test_the_plan_must_match_the_payment_type_and_postpaid_needs_a_bill_cycle() -> None:
    assert "is POSTPAID, not PREPAID" in errors_of(replace(VALID, price_plan_id=2))["price_plan_id"]
    postpaid = replace(VALID, payment_type=PaymentType.POSTPAID, price_plan_id=2)
    assert "needs a bill cycle" in errors_of(postpaid)["bill_cycle_id"]
    assert "does not exist" in errors_of(replace(postpaid, bill_cycle_id=9))["bill_cycle_id"]
    assert validate_new_subscriber(replace(postpaid, bill_cycle_id=1), CATALOG, TODAY)
    assert "no bill cycle" in errors_of(replace(VALID, bill_cycle_id=1))["bill_cycle_id"]


def test_the_identity_hash_is_keyed_and_the_repr_hides_the_number() -> None:
    assert hash_identity("12345678Z", b"a") != hash_identity("12345678Z", b"b")
    assert "12345678" not in repr(VALID)


def test_page_tokens_round_trip_and_forged_ones_are_refused() -> None:
    assert decode_token(encode_token("34600000001")) == "34600000001"
    assert decode_token(encode_token(42)) == 42
    for forged in ("abc", "e30", encode_token("x")[:-2] + "!!"):
        with pytest.raises(InvalidArgument):
            decode_token(forged)


def test_page_size_defaults_to_50_and_is_capped_at_500() -> None:
    assert page_request(0, "").size == 50
    assert page_request(9999, "").size == 500
    with pytest.raises(InvalidArgument):
        page_request(-1, "")

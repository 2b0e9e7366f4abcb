"""Network and payment identifiers: MSISDN, IMSI, IMEI (Luhn) and IBAN (ISO 13616)."""

from __future__ import annotations

import pytest

from microbss.engine.domain.errors import InvalidArgument
from microbss.engine.domain.identifiers import (
    luhn_check_digit,
    parse_iban,
    parse_imei,
    parse_imsi,
    parse_msisdn,
)
from microbss.engine.jobs.demo_data import demo_imei, spanish_iban


def test_an_msisdn_of_8_to_15_digits_is_accepted_and_a_leading_plus_dropped() -> None:
    assert parse_msisdn("34600000000") == "34600000000"
    assert parse_msisdn("+34600000000") == "34600000000"
    assert parse_msisdn(" 12345678 ") == "12345678"
    assert parse_msisdn("123456789012345") == "123456789012345"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("3460000000a", "digits 0-9 only"),
        ("1234567890123456", "8 to 15 digits, got 16"),
        ("1234567", "8 to 15 digits, got 7"),
        ("", "required"),
        # Arabic-Indic and full-width digits pass str.isdigit() but are not E.164.
        ("\u0663\u0664\u0666" + "\u0660" * 8, "digits 0-9 only"),
        ("\uff13\uff14\uff16" + "\uff10" * 8, "digits 0-9 only"),
    ],
)
def test_a_bad_msisdn_is_refused_with_a_reason(value: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message) as caught:
        parse_msisdn(value)
    assert caught.value.field == "msisdn"


def test_an_imsi_has_exactly_15_digits() -> None:
    assert parse_imsi("214010000000000") == "214010000000000"
    with pytest.raises(InvalidArgument, match="exactly 15 digits, got 14"):
        parse_imsi("21401000000000")
    with pytest.raises(InvalidArgument, match="digits 0-9 only"):
        parse_imsi("21401000000000X")


def test_the_luhn_check_digit_matches_the_published_example_imei() -> None:
    # 3GPP TS 23.003 / GSMA example IMEI 49015420323751 with check digit 8.
    assert luhn_check_digit("49015420323751") == 8
    assert parse_imei("490154203237518") == "490154203237518"


def test_an_imei_with_a_wrong_check_digit_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="wrong check digit"):
        parse_imei("490154203237519")


def test_an_imei_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="exactly 15 digits"):
        parse_imei("4901542032375")


def test_every_demo_handset_imei_passes_the_luhn_check() -> None:
    for index in range(100):
        imei, model = demo_imei(index)
        assert parse_imei(imei) == imei
        assert model


def test_a_valid_iban_is_normalised_to_upper_case_without_spaces() -> None:
    assert parse_iban("es91 2100 0418 4502 0005 1332") == "ES9121000418450200051332"
    assert parse_iban("GB82 WEST 1234 5698 7654 32") == "GB82WEST12345698765432"


def test_an_iban_with_wrong_check_digits_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="mod 97"):
        parse_iban("ES9221000418450200051332")


def test_an_iban_of_the_wrong_length_for_its_country_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="a ES IBAN has 24 characters"):
        parse_iban("ES912100041845020005133")


def test_the_demo_ibans_carry_correct_check_digits() -> None:
    iban = spanish_iban("21000418450200051332")
    assert iban == "ES9121000418450200051332"
    assert parse_iban(iban) == iban

"""Money display from integer minor units, operator-time display and the VAT breakdown."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.test import override_settings
from django.utils import translation

from microbss.crm.core.templatetags.money import money, operator_date, operator_time
from microbss.crm.vat.rates import vat_breakdown


@pytest.mark.parametrize(
    ("language", "minor", "currency", "shown"),
    [
        ("en", 123456, "EUR", "€1,234.56"),
        ("es", 123456, "EUR", "1\u00a0234,56\u00a0€"),  # Django's es format groups with a space
        ("en", -250, "EUR", "-€2.50"),
        ("en", 5, "EUR", "€0.05"),
        ("en", 1500, "JPY", "¥1,500"),
        ("en", 1234567, "KWD", "1,234.567\u00a0KWD"),
        ("es", 0, "USD", "0,00\u00a0$"),
    ],
)
def test_money_is_shown_with_the_currency_exponent_and_the_language_separators(
    language: str, minor: int, currency: str, shown: str
) -> None:
    with translation.override(language):
        assert money(minor, currency) == shown


def test_money_refuses_a_float_so_no_rounding_error_can_creep_in() -> None:
    from django.template import TemplateSyntaxError

    with pytest.raises(TemplateSyntaxError):
        money(12.34, "EUR")


def test_money_of_nothing_is_an_empty_string() -> None:
    assert money(None, "EUR") == ""


@override_settings(TIME_ZONE="Europe/Madrid")
def test_utc_instants_are_shown_in_the_operator_time_zone() -> None:
    summer = datetime(2026, 7, 1, 22, 30, tzinfo=UTC)
    assert operator_time(summer) == "2026-07-02 00:30"
    assert operator_date(summer) == "2026-07-02"


@override_settings(TIME_ZONE="Europe/Madrid")
def test_naive_instants_are_taken_as_utc() -> None:
    assert operator_time(datetime(2026, 1, 15, 23, 0)) == "2026-01-16 00:00"


def test_a_plain_date_is_shown_as_it_is() -> None:
    assert operator_date(date(2026, 3, 1)) == "2026-03-01"


@pytest.mark.parametrize(
    ("net", "rate", "vat", "gross"),
    [
        (1000, "21.00", 210, 1210),
        (1, "21.00", 0, 1),  # 0.21 rounds down
        (3, "21.00", 1, 4),  # 0.63 rounds up
        (50, "1.00", 1, 51),  # exactly 0.5: half-up
        (-50, "1.00", -1, -51),  # credits mirror charges: half away from zero
        (12345, "10.50", 1296, 13641),  # 1296.225
        (999, "0.00", 0, 999),
        (250, "100.00", 250, 500),
    ],
)
def test_vat_is_rounded_half_up_to_the_minor_unit(
    net: int, rate: str, vat: int, gross: int
) -> None:
    assert vat_breakdown(net, Decimal(rate)) == (vat, gross)


def test_the_breakdown_names_its_parts() -> None:
    breakdown = vat_breakdown(1000, Decimal("21"))
    assert (breakdown.vat_minor, breakdown.gross_minor) == (210, 1210)


def test_vat_breakdown_refuses_a_float_amount() -> None:
    with pytest.raises(TypeError):
        vat_breakdown(10.5, Decimal("21"))  # type: ignore[arg-type]

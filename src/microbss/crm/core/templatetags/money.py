"""Display filters: money from integer minor units, and UTC instants in the operator's zone.

``{% load money %}`` then ``{{ amount_minor|money:currency }}`` (e.g. ``123456|money:"EUR"`` is
``€1,234.56`` in English and ``1 234,56 €`` in Spanish), ``{{ instant|operator_time }}``,
``{{ instant|operator_date }}`` and ``{{ start|operator_period:end }}`` in the language's date
convention (``microbss.crm.formats``). Amounts never go through float: the integer becomes a
Decimal scaled by the currency's ISO 4217 exponent.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django import template
from django.utils import formats, numberformat, timezone, translation

register = template.Library()

# ISO 4217 minor-unit exponents that are not 2 (every other currency has 2 decimals).
_EXPONENTS = {
    "BHD": 3, "BIF": 0, "CLF": 4, "CLP": 0, "DJF": 0, "GNF": 0, "IQD": 3, "ISK": 0, "JOD": 3,
    "JPY": 0, "KMF": 0, "KRW": 0, "KWD": 3, "LYD": 3, "OMR": 3, "PYG": 0, "RWF": 0, "TND": 3,
    "UGX": 0, "UYI": 0, "UYW": 4, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
}  # fmt: skip
_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥", "CHF": "CHF", "MXN": "MX$"}
# Languages that write the symbol after the amount, separated by a no-break space.
_SYMBOL_AFTER = {"es", "fr", "de", "it", "pt"}
_ONE_MICROSECOND = timedelta(microseconds=1)
_ONE_DAY = timedelta(days=1)


def currency_exponent(currency: str) -> int:
    return _EXPONENTS.get(currency.upper(), 2)


def format_money(amount_minor: int, currency: str, language: str | None = None) -> str:
    """The amount with the active language's separators and the currency's symbol or code."""
    code = (currency or "").upper()
    exponent = currency_exponent(code)
    value = Decimal(amount_minor).scaleb(-exponent)
    number = numberformat.format(
        abs(value),
        formats.get_format("DECIMAL_SEPARATOR", lang=language),
        decimal_pos=exponent,
        grouping=formats.get_format("NUMBER_GROUPING", lang=language) or 3,
        thousand_sep=formats.get_format("THOUSAND_SEPARATOR", lang=language),
        force_grouping=True,
    )
    sign = "-" if amount_minor < 0 else ""
    symbol = _SYMBOLS.get(code, code)
    lang = (language or translation.get_language() or "en").split("-")[0]
    if lang in _SYMBOL_AFTER or symbol == code:
        return f"{sign}{number}\u00a0{symbol}"
    return f"{sign}{symbol}{number}"


@register.filter
def money(amount_minor: object, currency: str = "EUR") -> str:
    if amount_minor is None or amount_minor == "":
        return ""
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int):
        raise template.TemplateSyntaxError("money expects an int of minor units")
    return format_money(amount_minor, currency)


def _aware(instant: datetime) -> datetime:
    """Naive datetimes in microbss are UTC; make them aware before converting."""
    return instant.replace(tzinfo=UTC) if timezone.is_naive(instant) else instant


def _local_day(instant: datetime | date) -> date:
    if isinstance(instant, datetime):
        return timezone.localtime(_aware(instant)).date()
    return instant


@register.filter
def operator_time(instant: datetime | None) -> str:
    """The instant in the operator's time zone: ``2026-11-27 19:34`` (``27/11/2026 19:34``)."""
    if not isinstance(instant, datetime):
        return ""
    return formats.date_format(timezone.localtime(_aware(instant)), "DATETIME_FORMAT")


@register.filter
def operator_date(instant: datetime | date | None) -> str:
    """The day of the instant in the operator's time zone (a date is shown as it is)."""
    if not isinstance(instant, date):
        return ""
    return formats.date_format(_local_day(instant), "DATE_FORMAT")


@register.filter
def operator_period(start: datetime | date | None, end: datetime | date | None) -> str:
    """A billing period as a customer reads it: first day to last day, both included.

    The engine's period end is exclusive (local midnight starting the next period, or the
    moment of an on-demand bill), so the last day shown is the day of the instant just before it.
    """
    if not isinstance(start, date) or not isinstance(end, date):
        return ""
    last = end - _ONE_MICROSECOND if isinstance(end, datetime) else end - _ONE_DAY
    first_day = _local_day(start)
    last_day = max(first_day, _local_day(last))
    return (
        f"{formats.date_format(first_day, 'DATE_FORMAT')}\u00a0\u2013\u00a0"
        f"{formats.date_format(last_day, 'DATE_FORMAT')}"
    )

"""Money as integer minor units.

Rules (stated once, used everywhere):
- Amounts are ``int`` minor units of an ISO 4217 currency (cents for EUR). Floats never appear.
- A fractional result (e.g. 61 s at 9 cents per 60 s = 9.15 cents) is rounded once, at the end
  of the computation, half away from zero ("half-up" for the positive charges we compute):
  9.15 -> 9, 9.5 -> 10, -9.5 -> -10. See :func:`divide_round_half_up`.
- Parsing decimal text ("10.50") into minor units uses the currency's exponent and rejects more
  decimals than the currency has, instead of silently rounding.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from microbss.engine.domain.errors import InvalidArgument

# ISO 4217 minor-unit exponents for the currencies an operator is likely to bill in.
CURRENCY_EXPONENTS: dict[str, int] = {
    "EUR": 2,
    "USD": 2,
    "GBP": 2,
    "CHF": 2,
    "SEK": 2,
    "NOK": 2,
    "DKK": 2,
    "PLN": 2,
    "CZK": 2,
    "HUF": 2,
    "RON": 2,
    "BGN": 2,
    "CAD": 2,
    "AUD": 2,
    "NZD": 2,
    "MXN": 2,
    "BRL": 2,
    "ZAR": 2,
    "INR": 2,
    "NGN": 2,
    "KES": 2,
    "GHS": 2,
    "MAD": 2,
    "TRY": 2,
    "JPY": 0,
    "KRW": 0,
    "CLP": 0,
    "ISK": 0,
    "XOF": 0,
    "XAF": 0,
    "KWD": 3,
    "BHD": 3,
    "OMR": 3,
    "JOD": 3,
    "TND": 3,
}

# Largest amount any single money field may hold: 10 billion major units at exponent 3.
MAX_AMOUNT_MINOR = 10**13

_DECIMAL = re.compile(r"^(-)?(\d{1,13})(?:\.(\d+))?$")


def currency_exponent(currency: str) -> int:
    try:
        return CURRENCY_EXPONENTS[currency]
    except KeyError:
        raise InvalidArgument(f"unknown currency {currency!r}", field="currency") from None


def divide_round_half_up(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half away from zero, in exact integer arithmetic."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    quotient, remainder = divmod(abs(numerator), denominator)
    if remainder * 2 >= denominator:
        quotient += 1
    return -quotient if numerator < 0 else quotient


def parse_amount(text: str, currency: str, *, field: str = "amount") -> int:
    """Parse "10.50" into 1050 minor units of ``currency``; reject excess decimals and junk."""
    exponent = currency_exponent(currency)
    match = _DECIMAL.match(text.strip())
    if not match:
        raise InvalidArgument(f"{text!r} is not an amount like 10.50", field=field)
    sign, whole, fraction = match.groups()
    fraction = fraction or ""
    if len(fraction) > exponent:
        raise InvalidArgument(
            f"{text!r} has more than {exponent} decimals for {currency}", field=field
        )
    minor = int(whole) * 10**exponent + int(fraction.ljust(exponent, "0") or "0")
    minor = -minor if sign else minor
    check_amount(minor, field=field)
    return minor


def check_amount(minor: int, *, field: str = "amount", allow_negative: bool = True) -> int:
    if not allow_negative and minor < 0:
        raise InvalidArgument("must not be negative", field=field)
    if abs(minor) > MAX_AMOUNT_MINOR:
        raise InvalidArgument("is larger than any amount the engine accepts", field=field)
    return minor


def format_amount(minor: int, currency: str) -> str:
    """1050, "EUR" -> "10.50 EUR" (no locale grouping; the CRM formats for display)."""
    exponent = currency_exponent(currency)
    sign = "-" if minor < 0 else ""
    whole, fraction = divmod(abs(minor), 10**exponent)
    if exponent == 0:
        return f"{sign}{whole} {currency}"
    return f"{sign}{whole}.{fraction:0{exponent}d} {currency}"


@dataclass(frozen=True, slots=True)
class Money:
    amount_minor: int
    currency: str

    def __add__(self, other: Money) -> Money:
        if other.currency != self.currency:
            raise ValueError(f"cannot add {other.currency} to {self.currency}")
        return Money(self.amount_minor + other.amount_minor, self.currency)

    def __str__(self) -> str:
        return format_amount(self.amount_minor, self.currency)

"""Validation of network and payment identifiers: MSISDN, IMSI, IMEI (Luhn), IBAN (ISO 13616).

Each ``parse_*`` returns the normalised value or raises InvalidArgument naming the field.
"""

from __future__ import annotations

import re
import string

from microbss.engine.domain.errors import InvalidArgument

_DIGITS = re.compile(r"^[0-9]+$")  # ASCII only: str.isdigit() accepts other scripts' digits


def _digits(value: str, field: str, what: str) -> str:
    value = value.strip()
    if not value:
        raise InvalidArgument(f"{what} is required", field=field)
    if not _DIGITS.match(value):
        raise InvalidArgument(f"{what} {value!r} must contain digits 0-9 only", field=field)
    return value


def parse_msisdn(value: str, field: str = "msisdn") -> str:
    """E.164 without '+': 8 to 15 ASCII digits."""
    value = _digits(value.strip().removeprefix("+"), field, "MSISDN")
    if not 8 <= len(value) <= 15:
        raise InvalidArgument(f"MSISDN must have 8 to 15 digits, got {len(value)}", field=field)
    return value


def parse_imsi(value: str, field: str = "imsi") -> str:
    value = _digits(value, field, "IMSI")
    if len(value) != 15:
        raise InvalidArgument(f"IMSI must have exactly 15 digits, got {len(value)}", field=field)
    return value


def luhn_check_digit(body: str) -> int:
    """The Luhn check digit for ``body`` (digits without the check digit)."""
    total = 0
    for index, char in enumerate(reversed(body)):
        digit = int(char)
        if index % 2 == 0:  # doubled: rightmost digit of the body sits next to the check digit
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return (10 - total % 10) % 10


def parse_imei(value: str, field: str = "handset_imei") -> str:
    value = _digits(value, field, "IMEI")
    if len(value) != 15:
        raise InvalidArgument(f"IMEI must have exactly 15 digits, got {len(value)}", field=field)
    if luhn_check_digit(value[:14]) != int(value[14]):
        raise InvalidArgument(f"IMEI {value} has a wrong check digit (Luhn)", field=field)
    return value


_IBAN_LENGTHS = {
    "AD": 24,
    "AT": 20,
    "BE": 16,
    "BG": 22,
    "CH": 21,
    "CY": 28,
    "CZ": 24,
    "DE": 22,
    "DK": 18,
    "EE": 20,
    "ES": 24,
    "FI": 18,
    "FR": 27,
    "GB": 22,
    "GR": 27,
    "HR": 21,
    "HU": 28,
    "IE": 22,
    "IS": 26,
    "IT": 27,
    "LI": 21,
    "LT": 20,
    "LU": 20,
    "LV": 21,
    "MC": 27,
    "MT": 31,
    "NL": 18,
    "NO": 15,
    "PL": 28,
    "PT": 25,
    "RO": 24,
    "SE": 24,
    "SI": 19,
    "SK": 24,
    "SM": 27,
}


def parse_iban(value: str, field: str = "payment.iban") -> str:
    """Normalise (spaces removed, upper case) and check length per country and the mod-97 digits."""
    iban = re.sub(r"[\s-]", "", value).upper()
    if not re.match(r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{8,30}$", iban):
        raise InvalidArgument("IBAN must look like ES91 2100 0418 4502 0005 1332", field=field)
    expected = _IBAN_LENGTHS.get(iban[:2])
    if expected is not None and len(iban) != expected:
        raise InvalidArgument(
            f"a {iban[:2]} IBAN has {expected} characters, got {len(iban)}", field=field
        )
    rearranged = iban[4:] + iban[:4]
    numeric = "".join(
        str(string.ascii_uppercase.index(c) + 10) if c.isalpha() else c for c in rearranged
    )
    if int(numeric) % 97 != 1:
        raise InvalidArgument("IBAN check digits are wrong (ISO 13616 mod 97)", field=field)
    return iban


def mask_iban(iban: str) -> str:
    return f"{iban[:2]}** **** {iban[-4:]}" if iban else ""


def mask_identity(last4: str) -> str:
    return f"****{last4}" if last4 else ""

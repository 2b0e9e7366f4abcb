"""Subscribers: the entity as stored, its view with balances, and validation of a new subscriber.

``validate_new_subscriber`` checks every field in one pass and reports all problems together
(a CSR fixes a form once, not once per error). It returns a normalised copy: digits only in
network identifiers, upper-case IBAN and country, trimmed text. Card data is known only by the
payment provider's reference and the last 4 digits: a full card number (PAN) anywhere in the
free-text fields is rejected, because storing one would put the operator in PCI DSS scope.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import StrEnum

from microbss.engine.domain.catalog import Catalog, PaymentType
from microbss.engine.domain.errors import InvalidArgument, ValidationErrors
from microbss.engine.domain.identifiers import (
    luhn_check_digit,
    parse_iban,
    parse_imei,
    parse_imsi,
    parse_msisdn,
)
from microbss.engine.domain.money import Money

MIN_AGE_YEARS = 16
MAX_AGE_YEARS = 120

_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)
# Identity documents vary by country (DNI 12345678Z, NIE X1234567L, passports): 5 to 20 letters
# and digits once spaces and dashes are dropped, with at least 4 digits.
_IDENTITY = re.compile(r"^[A-Z0-9]{5,20}$")
_PHONE = re.compile(r"^\+?[0-9]{6,15}$")
_CARD_LAST4 = re.compile(r"^[0-9]{4}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
# A run of digits, possibly grouped by single spaces or dashes, as card numbers are written.
_DIGIT_RUN = re.compile(r"\d(?:[ -]?\d)*")


class SubscriberStatus(StrEnum):
    ACTIVE = "ACTIVE"
    TERMINATED = "TERMINATED"


class PaymentMethod(StrEnum):
    CASH = "CASH"
    CARD_ON_FILE = "CARD_ON_FILE"
    DIRECT_DEBIT = "DIRECT_DEBIT"


@dataclass(frozen=True, slots=True)
class Address:
    street: str = ""
    city: str = ""
    postal_code: str = ""
    country: str = ""


@dataclass(frozen=True, slots=True)
class PaymentData:
    method: PaymentMethod | None = None
    card_reference: str = ""
    card_last4: str = ""
    iban: str = ""
    account_holder: str = ""


@dataclass(frozen=True, slots=True)
class NewSubscriber:
    """A subscriber as requested by a CSR, before validation. ``identity_number`` is the full
    number and exists only in memory: it is stored as a keyed hash plus its last 4 characters."""

    msisdn: str
    imsi: str
    identity_number: str
    first_name: str
    last_name: str
    date_of_birth: date | None
    payment_type: PaymentType | None
    price_plan_id: int
    handset_imei: str = ""
    address: Address = field(default_factory=Address)
    email: str = ""
    contact_phone: str = ""
    payment: PaymentData = field(default_factory=PaymentData)
    bill_cycle_id: int = 0

    def __repr__(self) -> str:
        # Keep the full identity number out of logs and tracebacks.
        return f"NewSubscriber(msisdn={self.msisdn!r}, last_name={self.last_name!r})"


@dataclass(frozen=True, slots=True)
class Subscriber:
    id: int
    status: SubscriberStatus
    payment_type: PaymentType
    msisdn: str
    imsi: str
    handset_imei: str
    handset_model: str
    identity_last4: str
    first_name: str
    last_name: str
    date_of_birth: date
    address: Address
    email: str
    contact_phone: str
    payment: PaymentData
    price_plan_id: int
    bill_cycle_id: int | None
    activated_at: datetime
    terminated_at: datetime | None
    billed_until: datetime


@dataclass(frozen=True, slots=True)
class AllowanceState:
    """One service's included quantity in one billing period, and how much of it is used."""

    service_id: str
    unit: str
    granted: int
    used: int
    period_start: datetime
    period_end: datetime


@dataclass(frozen=True, slots=True)
class SubscriberView:
    """What a CSR sees: the subscriber with main balance, current allowances and unbilled usage."""

    subscriber: Subscriber
    balance: Money
    allowances: tuple[AllowanceState, ...] = ()
    unbilled: Money | None = None


def normalise_identity_number(raw: str) -> str:
    return re.sub(r"[\s-]", "", raw).upper()


def hash_identity(identity_number: str, secret: bytes) -> str:
    """HMAC-SHA256 of the normalised number: lets the engine match it without storing it."""
    return hmac.new(secret, identity_number.encode("ascii"), hashlib.sha256).hexdigest()


def identity_last4(identity_number: str) -> str:
    return identity_number[-4:]


def contains_card_number(text: str) -> bool:
    """True when ``text`` holds a 13-19 digit Luhn-valid number, i.e. what looks like a PAN.

    Only whole digit runs count (spaces or dashes may group them): a longer run of digits is
    not a card number, and testing its every slice would flag one string in ten by chance.
    """
    for match in _DIGIT_RUN.finditer(text):
        digits = re.sub(r"[ -]", "", match.group())
        if 13 <= len(digits) <= 19 and luhn_check_digit(digits[:-1]) == int(digits[-1]):
            return True
    return False


def age_on(birth: date, today: date) -> int:
    before_birthday = (today.month, today.day) < (birth.month, birth.day)
    return today.year - birth.year - int(before_birthday)


class _Collector:
    """Gathers field errors so one validation pass reports all of them."""

    def __init__(self) -> None:
        self.errors: list[InvalidArgument] = []

    def add(self, field_name: str, message: str) -> None:
        self.errors.append(InvalidArgument(message, field=field_name))

    def parse(self, parser: Callable[[str, str], str], value: str, field_name: str) -> str:
        try:
            return parser(value, field_name)
        except InvalidArgument as err:
            self.errors.append(err)
            return value


def validate_new_subscriber(new: NewSubscriber, catalog: Catalog, today: date) -> NewSubscriber:
    """Check every field of ``new`` against the rules and ``catalog``; return it normalised.

    Raises ValidationErrors (INVALID_ARGUMENT) listing each problem with its field.
    """
    errors = _Collector()
    msisdn = errors.parse(parse_msisdn, new.msisdn, "msisdn")
    imsi = errors.parse(parse_imsi, new.imsi, "imsi")
    imei = (
        errors.parse(parse_imei, new.handset_imei, "handset_imei")
        if new.handset_imei.strip()
        else ""
    )
    identity = _check_identity(errors, new.identity_number)
    first_name = _check_name(errors, new.first_name, "first_name")
    last_name = _check_name(errors, new.last_name, "last_name")
    _check_birth_date(errors, new.date_of_birth, today)
    address = _check_address(errors, new.address)
    email = _check_email(errors, new.email)
    phone = _check_phone(errors, new.contact_phone)
    payment = _check_payment(errors, new.payment, f"{first_name} {last_name}")
    _check_plan(errors, new, catalog)
    _check_no_card_numbers(errors, new)
    if errors.errors:
        raise ValidationErrors(errors.errors)
    return replace(
        new,
        msisdn=msisdn,
        imsi=imsi,
        handset_imei=imei,
        identity_number=identity,
        first_name=first_name,
        last_name=last_name,
        address=address,
        email=email,
        contact_phone=phone,
        payment=payment,
    )


def _check_identity(errors: _Collector, raw: str) -> str:
    identity = normalise_identity_number(raw)
    if not identity:
        errors.add("identity_number", "identity number is required")
    elif not _IDENTITY.match(identity) or sum(c.isdigit() for c in identity) < 4:
        # Never echo the number itself: it would end up in logs.
        errors.add(
            "identity_number",
            "identity number must be 5 to 20 letters and digits, at least 4 of them digits",
        )
    return identity


def _check_name(errors: _Collector, raw: str, field_name: str) -> str:
    name = " ".join(raw.split())
    if not name:
        errors.add(field_name, "is required")
    elif len(name) > 100:
        errors.add(field_name, "must be at most 100 characters")
    elif any(c.isdigit() for c in name) or not any(c.isalpha() for c in name):
        errors.add(field_name, "must be letters (spaces, hyphens and apostrophes allowed)")
    return name


def _check_birth_date(errors: _Collector, birth: date | None, today: date) -> None:
    if birth is None:
        errors.add("date_of_birth", "date of birth is required")
        return
    age = age_on(birth, today)
    if birth > today:
        errors.add("date_of_birth", f"{birth.isoformat()} is in the future")
    elif age < MIN_AGE_YEARS:
        errors.add("date_of_birth", f"a subscriber must be at least {MIN_AGE_YEARS} years old")
    elif age > MAX_AGE_YEARS:
        errors.add("date_of_birth", f"{birth.isoformat()} would make the subscriber {age}")


def _check_address(errors: _Collector, address: Address) -> Address:
    street = " ".join(address.street.split())
    city = " ".join(address.city.split())
    postal_code = address.postal_code.strip().upper()
    country = address.country.strip().upper()
    for name, value, limit in (
        ("street", street, 200),
        ("city", city, 100),
        ("postal_code", postal_code, 20),
    ):
        if not value:
            errors.add(f"address.{name}", "is required")
        elif len(value) > limit:
            errors.add(f"address.{name}", f"must be at most {limit} characters")
    if not _COUNTRY.match(country):
        errors.add("address.country", "must be a 2-letter ISO 3166 country code such as ES")
    return Address(street=street, city=city, postal_code=postal_code, country=country)


def _check_email(errors: _Collector, raw: str) -> str:
    email = raw.strip()
    if not email:
        errors.add("email", "email is required")
    elif len(email) > 254 or not _EMAIL.match(email):
        errors.add("email", f"{email[:60]!r} is not an email address like ana@example.com")
    return email


def _check_phone(errors: _Collector, raw: str) -> str:
    """Optional; when given, a phone number of 6 to 15 digits with an optional leading +."""
    phone = re.sub(r"[\s().-]", "", raw)
    if phone and not _PHONE.match(phone):
        errors.add("contact_phone", "must be 6 to 15 digits, optionally starting with +")
    return phone


def _check_payment(errors: _Collector, payment: PaymentData, full_name: str) -> PaymentData:
    method = payment.method
    if method is None:
        errors.add(
            "payment.method", "payment method is required (CASH, CARD_ON_FILE or DIRECT_DEBIT)"
        )
        return payment
    if method == PaymentMethod.CASH:
        if payment.card_reference or payment.card_last4 or payment.iban:
            errors.add("payment", "CASH takes no card or IBAN details")
        return PaymentData(method=method)
    if method == PaymentMethod.CARD_ON_FILE:
        return _check_card(errors, payment)
    return _check_direct_debit(errors, payment, full_name)


def _check_card(errors: _Collector, payment: PaymentData) -> PaymentData:
    reference = payment.card_reference.strip()
    if not reference:
        errors.add("payment.card_reference", "the payment provider's card reference is required")
    elif len(reference) > 100:
        errors.add("payment.card_reference", "must be at most 100 characters")
    if not _CARD_LAST4.match(payment.card_last4.strip()):
        errors.add("payment.card_last4", "must be exactly the last 4 digits of the card")
    if payment.iban:
        errors.add("payment.iban", "CARD_ON_FILE takes no IBAN")
    return PaymentData(
        method=PaymentMethod.CARD_ON_FILE,
        card_reference=reference,
        card_last4=payment.card_last4.strip(),
    )


def _check_direct_debit(errors: _Collector, payment: PaymentData, full_name: str) -> PaymentData:
    iban = errors.parse(parse_iban, payment.iban, "payment.iban") if payment.iban.strip() else ""
    if not iban:
        errors.add("payment.iban", "DIRECT_DEBIT needs the account's IBAN")
    if payment.card_reference or payment.card_last4:
        errors.add("payment", "DIRECT_DEBIT takes no card details")
    holder = " ".join(payment.account_holder.split()) or full_name.strip()
    if len(holder) > 200:
        errors.add("payment.account_holder", "must be at most 200 characters")
    return PaymentData(method=PaymentMethod.DIRECT_DEBIT, iban=iban, account_holder=holder)


def _check_plan(errors: _Collector, new: NewSubscriber, catalog: Catalog) -> None:
    if new.payment_type is None:
        errors.add("payment_type", "payment type is required (PREPAID or POSTPAID)")
    plan = catalog.price_plans.get(new.price_plan_id)
    if plan is None:
        errors.add("price_plan_id", f"price plan {new.price_plan_id} does not exist")
    elif new.payment_type is not None and plan.payment_type != new.payment_type:
        errors.add(
            "price_plan_id",
            f"price plan {plan.code} is {plan.payment_type.value}, not {new.payment_type.value}",
        )
    if new.payment_type == PaymentType.POSTPAID:
        if not new.bill_cycle_id:
            errors.add("bill_cycle_id", "a POSTPAID subscriber needs a bill cycle")
        elif new.bill_cycle_id not in catalog.bill_cycles:
            errors.add("bill_cycle_id", f"bill cycle {new.bill_cycle_id} does not exist")
    elif new.payment_type == PaymentType.PREPAID and new.bill_cycle_id:
        errors.add("bill_cycle_id", "a PREPAID subscriber has no bill cycle (send 0)")


def _check_no_card_numbers(errors: _Collector, new: NewSubscriber) -> None:
    # Network identifiers (MSISDN, IMSI, IMEI) are excluded: an IMEI is Luhn-valid by design.
    free_text = {
        "first_name": new.first_name,
        "last_name": new.last_name,
        "address.street": new.address.street,
        "address.city": new.address.city,
        "address.postal_code": new.address.postal_code,
        "email": new.email,
        "payment.card_reference": new.payment.card_reference,
        "payment.account_holder": new.payment.account_holder,
    }
    for field_name, value in free_text.items():
        if contains_card_number(value):
            errors.add(
                field_name,
                "looks like a full card number; store only the payment"
                " provider's reference and the last 4 digits",
            )


@dataclass(frozen=True, slots=True)
class SubscriberQuery:
    """Search filters; empty ones are ignored. Every given filter must match."""

    msisdn_prefix: str = ""
    imsi_prefix: str = ""
    name: str = ""  # case-insensitive substring of first or last name
    identity_last_digits: str = ""  # 2 to 4 trailing characters of the identity number
    include_terminated: bool = False

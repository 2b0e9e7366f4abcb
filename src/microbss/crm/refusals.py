"""The charging engine's refusals in the CSR's language.

The engine explains a refusal in English, under a gRPC status code, as "field: message" (the
engine client splits it into :class:`FieldError` items). For the refusals a CSR meets in daily
work (an MSISDN a colleague took a moment ago, a plan of the other payment type, a wrong IBAN,
nothing to bill, a used voucher...) this module gives a specific sentence in the page's language.
A refusal it does not know keeps the engine's own words, so nothing is ever hidden.

A rule matches on the status code, the engine's field name and a pattern of the engine's words;
the pattern's named groups (a serial, a date) fill the sentence, dates written the page's way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from django.utils import formats
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from microbss.crm.engine_client import EngineRejected, FieldError

ANY_FIELD = "*"
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_MINUTE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}$")


@dataclass(frozen=True)
class Rule:
    code: str  # the gRPC status name
    field: str | None  # the engine's field name; None = no field, ANY_FIELD = whichever
    words: re.Pattern[str]  # searched in the engine's message
    sentence: Promise  # lazily translated; may use the pattern's named groups


def _rule(code: str, field: str | None, words: str, sentence: Promise) -> Rule:
    return Rule(code, field, re.compile(words, re.IGNORECASE), sentence)


_NEW_SUBSCRIBER_RULES = [
    # Free inventory a colleague took between the list and the click.
    _rule(
        "ALREADY_EXISTS",
        "msisdn",
        "",
        _("This MSISDN was just given to another subscriber. Choose another one."),
    ),
    _rule(
        "ALREADY_EXISTS",
        "imsi",
        "",
        _("This IMSI was just given to another subscriber. Choose another SIM card."),
    ),
    _rule(
        "ALREADY_EXISTS",
        "handset_imei",
        "",
        _("This handset was just given to another subscriber. Choose another one."),
    ),
    _rule(
        "ALREADY_EXISTS",
        None,
        "",
        _(
            "The MSISDN, the IMSI or the handset was just given to another subscriber. "
            "Choose them again."
        ),
    ),
    _rule(
        "FAILED_PRECONDITION",
        "msisdn",
        r"quarantine until (?P<until>\d{4}-\d{2}-\d{2})",
        _("This MSISDN is in quarantine until %(until)s. Choose another one."),
    ),
    _rule(
        "FAILED_PRECONDITION",
        "imsi",
        r"quarantine until (?P<until>\d{4}-\d{2}-\d{2})",
        _("This IMSI is in quarantine until %(until)s. Choose another SIM card."),
    ),
    _rule(
        "NOT_FOUND",
        "msisdn",
        "",
        _("This MSISDN is not in the inventory. Choose one from the list."),
    ),
    _rule(
        "NOT_FOUND", "imsi", "", _("This IMSI is not in the inventory. Choose one from the list.")
    ),
    _rule(
        "NOT_FOUND",
        "handset_imei",
        "",
        _("This handset is not in the inventory. Choose one from the list."),
    ),
    # The engine's own checks, for anything the form could not check first.
    _rule(
        "INVALID_ARGUMENT",
        "msisdn",
        "",
        _("Enter an MSISDN of 8 to 15 digits, country code first, e.g. 34612345678."),
    ),
    _rule("INVALID_ARGUMENT", "imsi", "", _("Enter an IMSI of exactly 15 digits.")),
    _rule(
        "INVALID_ARGUMENT",
        "handset_imei",
        "check digit",
        _("This IMEI has a wrong last digit. Check it on the box or dial *#06# on the handset."),
    ),
    _rule("INVALID_ARGUMENT", "handset_imei", "", _("Enter an IMEI of exactly 15 digits.")),
    _rule("INVALID_ARGUMENT", "payment.iban", "needs", _("Direct debit needs the IBAN.")),
    _rule(
        "INVALID_ARGUMENT",
        "payment.iban",
        r"a (?P<country>[A-Z]{2}) IBAN has (?P<expected>\d+) characters, got (?P<got>\d+)",
        _("A %(country)s IBAN has %(expected)s characters; this one has %(got)s."),
    ),
    _rule(
        "INVALID_ARGUMENT",
        "payment.iban",
        "check digits",
        _("This IBAN's check digits are wrong. Check it with the customer."),
    ),
    _rule(
        "INVALID_ARGUMENT",
        "payment.iban",
        "",
        _("Enter the IBAN as it is written, e.g. ES91 2100 0418 4502 0005 1332."),
    ),
    _rule(
        "INVALID_ARGUMENT",
        "price_plan_id",
        "does not exist",
        _("This price plan no longer exists. Choose another one."),
    ),
    _rule(
        "INVALID_ARGUMENT",
        "price_plan_id",
        "",
        _("This price plan is not for the chosen payment type. Choose another one."),
    ),
    _rule("INVALID_ARGUMENT", "bill_cycle_id", "needs", _("A postpaid line needs a bill cycle.")),
    _rule(
        "INVALID_ARGUMENT",
        "bill_cycle_id",
        "does not exist",
        _("This bill cycle no longer exists. Choose another one."),
    ),
    _rule(
        "INVALID_ARGUMENT",
        "bill_cycle_id",
        "has no bill cycle",
        _("A prepaid line has no bill cycle."),
    ),
    _rule(
        "INVALID_ARGUMENT",
        "identity_number",
        "",
        _("Use 5 to 20 letters and digits, at least 4 of them digits."),
    ),
    _rule(
        "INVALID_ARGUMENT",
        ANY_FIELD,
        "full card number",
        _(
            "This looks like a full card number. Keep only the payment provider's card token "
            "and the card's last 4 digits."
        ),
    ),
    _rule(
        "INVALID_ARGUMENT",
        ANY_FIELD,
        "must be letters",
        _("Use letters only (spaces, hyphens and apostrophes are fine)."),
    ),
    _rule(
        "INVALID_ARGUMENT",
        "date_of_birth",
        r"at least (?P<age>\d+) years",
        _("The subscriber must be at least %(age)s years old."),
    ),
    _rule("INVALID_ARGUMENT", "date_of_birth", "", _("Enter a real date of birth.")),
    _rule("INVALID_ARGUMENT", "email", "", _("Enter an email address like ana@example.com.")),
    _rule("INVALID_ARGUMENT", "contact_phone", "", _("Use 6 to 15 digits, optionally with a +.")),
    _rule(
        "INVALID_ARGUMENT", "address.country", "", _("Use the two-letter country code, e.g. ES.")
    ),
]

_LINE_RULES = [
    _rule("INVALID_ARGUMENT", "reason", "", _("Give a reason.")),
    # On-demand billing.
    _rule(
        "FAILED_PRECONDITION",
        "subscriber_id",
        r"nothing to bill.* since (?P<since>\d{4}-\d{2}-\d{2} \d{2}:\d{2})",
        _("Nothing to bill: no unbilled usage and no monthly fee due since %(since)s."),
    ),
    _rule(
        "FAILED_PRECONDITION",
        "subscriber_id",
        "already has a bill|billed by another process",
        _(
            "This line was billed a moment ago (by the bill run or a colleague). "
            "Look at its bills before billing it again."
        ),
    ),
    _rule(
        "FAILED_PRECONDITION",
        "subscriber_id",
        "only postpaid lines are billed",
        _("Only postpaid lines are billed on demand; this line is prepaid."),
    ),
    _rule(
        "FAILED_PRECONDITION",
        "subscriber_id",
        "is terminated; its final bill",
        _("This line is terminated: its final bill was issued when it was terminated."),
    ),
    # Termination.
    _rule(
        "FAILED_PRECONDITION",
        "subscriber_id",
        "already terminated",
        _("This line is already terminated."),
    ),
    _rule(
        "FAILED_PRECONDITION",
        "subscriber_id",
        "being billed right now",
        _("This line is being billed right now. Try again in a minute."),
    ),
    # Redemption.
    _rule(
        "NOT_FOUND",
        "pin",
        "",
        _("No voucher has this PIN. Check it with the customer and try again."),
    ),
    _rule(
        "RESOURCE_EXHAUSTED",
        ANY_FIELD,
        "",
        _("Too many wrong PINs for this line. Wait a few minutes before trying again."),
    ),
    _rule(
        "FAILED_PRECONDITION",
        "pin",
        "cannot be redeemed",
        _("This voucher cannot be redeemed: it was already used, withdrawn or has expired."),
    ),
    _rule(
        "FAILED_PRECONDITION",
        "subscriber_id",
        "vouchers top up prepaid",
        _("Vouchers top up prepaid lines only; this line is postpaid."),
    ),
    _rule("FAILED_PRECONDITION", "subscriber_id", "is terminated", _("This line is terminated.")),
]

_VOUCHER_RULES = [
    _rule(
        "FAILED_PRECONDITION",
        ANY_FIELD,
        r"voucher (?P<serial>\S+) is USED",
        _("Voucher %(serial)s is used: used vouchers never change."),
    ),
    _rule(
        "FAILED_PRECONDITION",
        ANY_FIELD,
        r"voucher (?P<serial>\S+) cannot go from",
        _("Voucher %(serial)s cannot be withdrawn or restored from its current state."),
    ),
    _rule("NOT_FOUND", "serial", "", _("No voucher has this serial.")),
    _rule("NOT_FOUND", "batch", "", _("No voucher batch has this name.")),
]

RULES = _NEW_SUBSCRIBER_RULES + _LINE_RULES + _VOUCHER_RULES


def _matches(rule: Rule, code: str, error: FieldError) -> re.Match[str] | None:
    if rule.code != code or rule.field not in (error.field, ANY_FIELD):
        return None
    return rule.words.search(error.message)


def _as_the_page_writes_it(value: str) -> str:
    """An ISO date or minute of the engine's, written the page's way (27/11/2026 in Spanish)."""
    if _ISO_DATE.match(value):
        return formats.date_format(date.fromisoformat(value), "DATE_FORMAT")
    if _ISO_MINUTE.match(value):
        return formats.date_format(datetime.fromisoformat(value), "DATETIME_FORMAT")
    return value


def refusal_text(code: str, error: FieldError) -> str:
    """One problem of a refusal in the page's language, or the engine's words when unknown."""
    for rule in RULES:
        found = _matches(rule, code, error)
        if found is not None:
            values = {k: _as_the_page_writes_it(v) for k, v in found.groupdict().items()}
            return str(rule.sentence) % values
    return error.message


def refusal_summary(error: EngineRejected) -> str:
    """The whole refusal for a message or banner: each problem, translated where known.

    The engine's "field: " prefixes never show; a refusal without details keeps its message.
    """
    texts = dict.fromkeys(refusal_text(error.code, e) for e in error.errors)
    return " ".join(t if t.endswith(".") else f"{t}." for t in texts) or error.message

"""Audit rows in words: what an action code means to a person, and where its target lives.

The trail stores short codes (``auth.login``, ``voucher.redeem``) and targets such as
``subscriber:1``; the home page and the audit log show them as translated sentences with an icon
and, where the target has a page (a subscriber, a user, a voucher), a link to it. The raw code
stays available as the audit log's filter value and as the label's tooltip. The details are
stored with short keys and codes (``credited_minor``, ``theme``: ``dark``); they are shown as
translated labels with values in words, amounts formatted with their currency.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.db.models import TextChoices
from django.urls import reverse
from django.utils import formats
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from microbss.crm.accounts.models import CsrUser, Language, Role, Theme
from microbss.crm.audit.actions import ANONYMOUS_ACTOR
from microbss.crm.audit.models import AuditEvent, Result
from microbss.crm.core.templatetags.money import format_money, operator_date


@dataclass(frozen=True)
class ActionWording:
    label: Promise | str
    icon: str  # a Bootstrap Icons name
    refused_label: Promise | str | None = None  # for a DENIED or FAILED row, when it reads better


ACTIONS: dict[str, ActionWording] = {
    "auth.login": ActionWording(_("Signed in"), "box-arrow-in-right", _("Sign-in refused")),
    "auth.logout": ActionWording(_("Signed out"), "box-arrow-right"),
    "auth.mfa_enrol": ActionWording(
        _("Set up the authenticator"), "phone", _("Authenticator code refused")
    ),
    "auth.password_change": ActionWording(_("Changed their password"), "key"),
    "profile.update": ActionWording(_("Updated their preferences"), "sliders"),
    "user.create": ActionWording(_("Created a user"), "person-plus"),
    "user.update": ActionWording(_("Edited a user"), "person-gear"),
    "user.activate": ActionWording(_("Reactivated a user"), "person-check"),
    "user.deactivate": ActionWording(_("Deactivated a user"), "person-slash"),
    "user.mfa_reset": ActionWording(_("Reset a user's MFA"), "shield-x"),
    "user.password_rotate": ActionWording(_("Gave a user a new password"), "key"),
    "vat.add": ActionWording(_("Added a VAT rate"), "percent"),
    "subscriber.create": ActionWording(_("Signed up a subscriber"), "person-plus"),
    "subscriber.terminate": ActionWording(_("Terminated a line"), "x-octagon"),
    "voucher.redeem": ActionWording(_("Redeemed a voucher"), "ticket-perforated"),
    "voucher.withdraw": ActionWording(_("Withdrew vouchers"), "slash-circle"),
    "voucher.restore": ActionWording(_("Restored vouchers"), "arrow-counterclockwise"),
    "billing.execute": ActionWording(_("Billed on demand"), "lightning-charge"),
}


def action_label(code: str, result: str = "OK") -> str:
    """The action in words; an unknown code (from a newer release) is shown as it is."""
    wording = ACTIONS.get(code)
    if wording is None:
        return code
    if result != str(Result.OK) and wording.refused_label is not None:
        return str(wording.refused_label)
    return str(wording.label)


def action_choices() -> list[tuple[str, str]]:
    """(code, words) for the audit log's Action filter, in words order."""
    return sorted(((code, str(w.label)) for code, w in ACTIONS.items()), key=lambda c: c[1])


@dataclass(frozen=True)
class TargetWording:
    text: str
    icon: str
    url: str = ""


def _subscriber(value: str, _users: dict[str, int]) -> TargetWording:
    text = str(_("Subscriber #%(id)s") % {"id": value})
    if not value.isdigit():
        return TargetWording(text, "person")
    return TargetWording(text, "person", reverse("subscribers:detail", args=[int(value)]))


def _msisdn(value: str, _users: dict[str, int]) -> TargetWording:
    url = f"{reverse('subscribers:search')}?{urlencode({'msisdn': value})}"
    return TargetWording(str(_("Line %(msisdn)s") % {"msisdn": value}), "telephone", url)


def _user(value: str, users: dict[str, int]) -> TargetWording:
    pk = users.get(value)
    return TargetWording(value, "person-badge", reverse("users:detail", args=[pk]) if pk else "")


def _serial(value: str, _users: dict[str, int]) -> TargetWording:
    url = f"{reverse('vouchers:list')}?{urlencode({'serial': value})}"
    return TargetWording(str(_("Voucher %(serial)s") % {"serial": value}), "ticket", url)


def _batch(value: str, _users: dict[str, int]) -> TargetWording:
    url = f"{reverse('vouchers:list')}?{urlencode({'batch': value})}"
    return TargetWording(str(_("Batch %(batch)s") % {"batch": value}), "stack", url)


def _vat(value: str, _users: dict[str, int]) -> TargetWording:
    return TargetWording(str(_("VAT rate #%(id)s") % {"id": value}), "percent", reverse("vat:page"))


_TARGET_KINDS = {
    "subscriber": _subscriber,
    "msisdn": _msisdn,
    "user": _user,
    "serial": _serial,
    "batch": _batch,
    "vat": _vat,
}


def target_wording(target: str, users: dict[str, int] | None = None) -> TargetWording | None:
    """The target in words with its page; ``users`` maps usernames to ids for their links."""
    if not target:
        return None
    kind, _sep, value = target.partition(":")
    describe = _TARGET_KINDS.get(kind)
    if describe is None or not value:
        return TargetWording(target, "dot")
    return describe(value, users or {})


def _yes_no(value: Any) -> str:
    return str(_("yes") if value else _("no"))


def _number(value: Any) -> str:
    return formats.number_format(value, use_l10n=True) if isinstance(value, int) else str(value)


def _numbered(value: Any) -> str:
    return f"#{value}" if value not in (None, "") else str(_("none"))


def _percent(value: Any) -> str:
    try:
        rate = Decimal(str(value))
    except ArithmeticError:
        return str(value)
    return f"{formats.number_format(rate, decimal_pos=2, use_l10n=True)}\u00a0%"


def _day(value: Any) -> str:
    try:
        return operator_date(date.fromisoformat(str(value)))
    except ValueError:
        return str(value)


def _choice(choices: type[TextChoices]) -> Callable[[Any], str]:
    labels = dict(choices.choices)
    return lambda value: str(labels.get(value, value))


_LOGIN_REASONS: dict[str, Promise] = {
    "wrong_password_or_unknown_user": _("wrong password or unknown user"),
    "wrong_or_reused_totp_code": _("wrong or reused authenticator code"),
    "locked": _("locked after too many failures"),
}
_ENGINE_CODES: dict[str, Promise] = {
    "INVALID_ARGUMENT": _("invalid input"),
    "NOT_FOUND": _("not found"),
    "ALREADY_EXISTS": _("already exists"),
    "FAILED_PRECONDITION": _("not allowed in the current state"),
    "RESOURCE_EXHAUSTED": _("limit reached"),
}
_ERRORS: dict[str, Promise] = {
    "EngineUnavailable": _("the charging engine did not answer"),
    "EngineMisconfigured": _("the charging engine refused the CRM's token"),
    "EngineFailed": _("the charging engine failed"),
}
_PAYMENT_TYPES: dict[str, Promise] = {"PREPAID": _("Prepaid"), "POSTPAID": _("Postpaid")}


def _from(table: Mapping[str, Promise]) -> Callable[[Any], str]:
    return lambda value: str(table.get(str(value), value))


@dataclass(frozen=True)
class DetailWording:
    label: Promise
    value: Callable[[Any], str] = str


# What each details key the CRM records means; a key not listed is shown as it is stored.
DETAILS: dict[str, DetailWording] = {
    "role": DetailWording(_("Role"), _choice(Role)),
    "demo": DetailWording(_("Demo account"), _yes_no),
    "display_name": DetailWording(_("Display name")),
    "email": DetailWording(_("Email")),
    "theme": DetailWording(_("Theme"), _choice(Theme)),
    "language": DetailWording(_("Language"), _choice(Language)),
    "rate_percent": DetailWording(_("Rate"), _percent),
    "effective_from": DetailWording(_("In force from"), _day),
    "reason": DetailWording(_("Reason"), _from(_LOGIN_REASONS)),
    "locked": DetailWording(_("Locked out"), _yes_no),
    "replaced_previous": DetailWording(_("Replaced an earlier authenticator"), _yes_no),
    "code": DetailWording(_("Engine answer"), _from(_ENGINE_CODES)),
    "message": DetailWording(_("Message")),
    "error": DetailWording(_("Error"), _from(_ERRORS)),
    "subscriber_id": DetailWording(_("Subscriber"), _numbered),
    "payment_type": DetailWording(_("Payment type"), _from(_PAYMENT_TYPES)),
    "price_plan_id": DetailWording(_("Price plan"), _numbered),
    "serial": DetailWording(_("Voucher")),
    "bill_id": DetailWording(_("Bill"), _numbered),
    "final_bill_id": DetailWording(_("Final bill"), _numbered),
    "invoice_number": DetailWording(_("Invoice")),
    "updated_count": DetailWording(_("Vouchers changed"), _number),
}
# Amounts are stored as ``<name>_minor`` integers beside a ``currency`` code.
MONEY: dict[str, Promise] = {
    "credited_minor": _("Credited"),
    "net_minor": _("Net amount"),
}


def _money(amount: Any, currency: str) -> str:
    if isinstance(amount, bool) or not isinstance(amount, int):
        return str(amount)
    if not currency:  # rows written before the currency was recorded with the amount
        return formats.number_format(Decimal(amount).scaleb(-2), decimal_pos=2, use_l10n=True)
    return format_money(amount, currency)


def _detail_value(wording: DetailWording | None, value: Any) -> str:
    if isinstance(value, Mapping) and set(value) == {"from", "to"}:
        return (
            f"{_detail_value(wording, value['from'])} \u2192 {_detail_value(wording, value['to'])}"
        )
    if wording is not None:
        return wording.value(value)
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def details_lines(details: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The details as translated (label, value) lines, amounts with their currency.

    A change ``{"from": a, "to": b}`` reads ``a → b``; the known keys come in the order of
    :data:`DETAILS` (money first), unknown ones (from a newer release) after them as stored.
    """
    currency = str(details.get("currency", "") or "")
    lines = [
        (str(label), _money(details[key], currency))
        for key, label in MONEY.items()
        if key in details
    ]
    shown = {*MONEY, *DETAILS, "currency"} if lines else {*MONEY, *DETAILS}
    for key, wording in DETAILS.items():
        if key in details:
            lines.append((str(wording.label), _detail_value(wording, details[key])))
    for key in sorted(set(details) - shown):
        lines.append((key.replace("_", " "), _detail_value(None, details[key])))
    return lines


@dataclass(frozen=True)
class EventRow:
    """One audit row as a person reads it."""

    event: AuditEvent
    label: str
    icon: str
    target: TargetWording | None
    actor_known: bool
    details: list[tuple[str, str]]


def event_rows(events: Iterable[AuditEvent]) -> list[EventRow]:
    """The rows in words; user targets are linked with one query for the whole page."""
    events = list(events)
    usernames = {e.target.partition(":")[2] for e in events if e.target.startswith("user:")}
    users = dict(
        CsrUser.objects.filter(username__in=usernames).values_list("username", "pk")
        if usernames
        else []
    )
    return [
        EventRow(
            event=e,
            label=action_label(e.action, e.result),
            icon=ACTIONS[e.action].icon if e.action in ACTIONS else "dot",
            target=target_wording(e.target, users),
            actor_known=e.actor != ANONYMOUS_ACTOR,
            details=details_lines(e.details or {}),
        )
        for e in events
    ]

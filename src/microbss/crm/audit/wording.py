"""Audit rows in words: what an action code means to a person, and where its target lives.

The trail stores short codes (``auth.login``, ``voucher.redeem``) and targets such as
``subscriber:1``; the home page and the audit log show them as translated sentences with an icon
and, where the target has a page (a subscriber, a user, a voucher), a link to it. The raw code
stays available as the audit log's filter value and as the label's tooltip.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from microbss.crm.accounts.models import CsrUser
from microbss.crm.audit.actions import ANONYMOUS_ACTOR
from microbss.crm.audit.models import AuditEvent, Result


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


def details_lines(details: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The details as (key, value) lines; a change ``{"from": a, "to": b}`` reads ``a → b``."""
    lines = []
    for key, value in sorted(details.items()):
        if isinstance(value, Mapping) and set(value) == {"from", "to"}:
            text = f"{value['from']} \u2192 {value['to']}"
        elif isinstance(value, str):
            text = value
        else:
            text = json.dumps(value, ensure_ascii=False, sort_keys=True)
        lines.append((key.replace("_", " "), text))
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

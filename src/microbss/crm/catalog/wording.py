"""Quantities and rating units in the words a CSR uses: "2 min 5 s", "1.5 MB", "per minute".

The engine counts seconds, messages and bytes; the pages show minutes, messages and KB/MB/GB.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop, ngettext

_KIB = 1024
_BYTE_STEPS = ((1024**3, "GB"), (1024**2, "MB"), (1024, "KB"))


def _bytes(quantity: int) -> str:
    for size, label in _BYTE_STEPS:
        if quantity >= size:
            value = quantity / size  # display only: money never goes through float
            text = f"{value:.1f}".removesuffix(".0")
            return f"{text} {label}"
    return ngettext("%(n)d byte", "%(n)d bytes", quantity) % {"n": quantity}


def _seconds(quantity: int) -> str:
    minutes, seconds = divmod(quantity, 60)
    if minutes and seconds:
        return _("%(m)d min %(s)d s") % {"m": minutes, "s": seconds}
    if minutes:
        return _("%(m)d min") % {"m": minutes}
    return _("%(s)d s") % {"s": seconds}


def quantity_wording(quantity: int, unit: str) -> str:
    """A quantity of SECOND, MESSAGE or BYTE as a person would say it."""
    if unit == "SECOND":
        return _seconds(quantity)
    if unit == "BYTE":
        return _bytes(quantity)
    if unit == "MESSAGE":
        return ngettext("%(n)d message", "%(n)d messages", quantity) % {"n": quantity}
    return f"{quantity} {unit.lower()}"


_NAMED_UNITS = {
    ("SECOND", 1): gettext_noop("per second"),
    ("SECOND", 60): gettext_noop("per minute"),
    ("SECOND", 3600): gettext_noop("per hour"),
    ("BYTE", _KIB): gettext_noop("per KB"),
    ("BYTE", _KIB**2): gettext_noop("per MB"),
    ("BYTE", _KIB**3): gettext_noop("per GB"),
    ("MESSAGE", 1): gettext_noop("per message"),
}


def price_unit_wording(strategy: str, price_unit: int, unit: str) -> str:
    """What a tariff's price is for: "per minute", "per MB", "per event"."""
    if strategy == "PER_EVENT":
        return _("per event")
    named = _NAMED_UNITS.get((unit, price_unit))
    if named is not None:
        return _(named)
    return _("per %(quantity)s") % {"quantity": quantity_wording(price_unit, unit)}


def increment_wording(increment: int, unit: str) -> str:
    """The charging step: "per-second billing", "in steps of 1 KB"."""
    if increment <= 1 and unit == "SECOND":
        return _("per-second billing")
    if increment <= 1:
        return _("no rounding")
    return _("in steps of %(step)s") % {"step": quantity_wording(increment, unit)}

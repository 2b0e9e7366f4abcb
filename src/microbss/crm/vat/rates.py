"""The VAT rate in force and the VAT on a net amount, in integer minor units.

The engine rates and bills net amounts; the CRM shows VAT next to them as a display surcharge
(as the original system did) without changing what the engine computed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple

from django.utils import timezone

NO_VAT = Decimal("0.00")
_HUNDRED = Decimal(100)


def current_vat_rate(at: datetime | None = None) -> Decimal:
    """The rate (percent, e.g. ``Decimal("21.00")``) in force at ``at`` (default: now).

    The day is taken in the operator's time zone. Of several rows for the same day, the one
    recorded last wins. Before the first row there is no VAT: ``Decimal("0.00")``.
    """
    moment = at if at is not None else timezone.now()
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=UTC)  # naive instants are UTC, as everywhere in microbss
    day = timezone.localtime(moment).date()
    # Imported here so that `microbss.crm.vat` can export this function before apps are loaded.
    from microbss.crm.vat.models import VatConfig

    row = (
        VatConfig.objects.filter(effective_from__lte=day)
        .order_by(*VatConfig._meta.ordering)
        .first()
    )
    return row.rate if row is not None else NO_VAT


class VatBreakdown(NamedTuple):
    vat_minor: int
    gross_minor: int


def vat_breakdown(net_minor: int, rate: Decimal) -> VatBreakdown:
    """``(vat_minor, gross_minor)``, a named tuple, for ``net_minor`` at ``rate`` percent.

    VAT is rounded once, half-up to the minor unit; for negative amounts (credits) half-up means
    away from zero, so a credit mirrors the charge exactly. Gross is net plus that rounded VAT.
    """
    if isinstance(net_minor, bool) or not isinstance(net_minor, int):
        raise TypeError("net_minor must be an int of minor units")
    vat = (Decimal(net_minor) * rate / _HUNDRED).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    vat_minor = int(vat)
    return VatBreakdown(vat_minor, net_minor + vat_minor)

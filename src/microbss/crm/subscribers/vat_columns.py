"""Net / VAT / gross columns for usage and bills, from the CRM's VAT rate in force.

The engine's amounts are net and stay untouched; the VAT shown is the operator's display
surcharge (see ``microbss.crm.vat``), looked up once per page and applied row by row.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from microbss.crm.engine_client import Money
from microbss.crm.vat import current_vat_rate, vat_breakdown


@dataclass(frozen=True)
class VatColumns:
    net_minor: int
    vat_minor: int
    gross_minor: int
    currency: str


def vat_rate_now() -> Decimal:
    """The VAT rate (percent) in force now, read once per page."""
    return current_vat_rate()


def vat_columns(net: Money, rate: Decimal) -> VatColumns:
    breakdown = vat_breakdown(net.amount_minor, rate)
    return VatColumns(net.amount_minor, breakdown.vat_minor, breakdown.gross_minor, net.currency)

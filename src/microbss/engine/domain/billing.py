"""Bill composition: prorated monthly fee, usage and allowance lines, totals, invoice numbers and
the bill state machine. Plain Python; storage and rendering live elsewhere.

Proration rule (stated once, used by every bill kind):
- The monthly fee is charged per *local day* (operator time zone) the line is active. A day is
  active if the line was active at any moment of it: the day of activation counts and the day of
  termination counts.
- Each day is charged exactly once. A bill covering [start, end) charges the local days from the
  day of ``start`` to the day of the last instant before ``end``; when ``start`` is neither the
  activation instant nor a local midnight it is the end of an earlier on-demand bill, which has
  already charged that day, so this bill starts the day after.
- The share of one billing period is ``fee x active days / days in that period``; shares of the
  periods a bill spans are added exactly (fractions) and the sum is rounded half-up once.
  A full period is therefore exactly the monthly fee.

Lines: one FEE line (quantity = charged days), then per service (in service order) one USAGE line
(quantity = billable units beyond the allowance, amount = sum of the rated charges) and, when the
plan's allowance covered some of it, one ALLOWANCE line (quantity covered, amount 0). The net total
is the exact sum of the line amounts.

Invoice numbers: one gapless series, ``INV-{year}-{number:06d}``, the year being the year of issue
in the operator's time zone and the number counting on across years (never reset, never reused).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from fractions import Fraction
from zoneinfo import ZoneInfo

from microbss.engine.domain.catalog import Service
from microbss.engine.domain.errors import FailedPrecondition
from microbss.engine.domain.money import divide_round_half_up
from microbss.engine.domain.periods import to_local

INVOICE_SERIES = "INV"
_INVOICE_NUMBER = re.compile(r"^INV-(\d{4})-(\d{6,})$")
_ONE_MICROSECOND = timedelta(microseconds=1)
BYTES_PER_MB = 1024 * 1024


class BillKind(StrEnum):
    MONTHLY = "MONTHLY"  # produced by a bill run
    ON_DEMAND = "ON_DEMAND"  # ExecuteBilling
    FINAL = "FINAL"  # TerminateSubscriber


class BillStatus(StrEnum):
    DRAFT = "DRAFT"  # numbered and stored; its PDF is not written yet
    ISSUED = "ISSUED"  # its PDF is on disk and its checksum recorded


class LineKind(StrEnum):
    FEE = "FEE"
    USAGE = "USAGE"
    ALLOWANCE = "ALLOWANCE"


# The only move a bill makes: an ISSUED bill is final (corrections would be credit notes).
_TRANSITIONS: dict[BillStatus, frozenset[BillStatus]] = {
    BillStatus.DRAFT: frozenset({BillStatus.ISSUED}),
    BillStatus.ISSUED: frozenset(),
}


def check_transition(current: BillStatus, new: BillStatus, invoice_number: str) -> None:
    """Raise FailedPrecondition unless a bill may go from ``current`` to ``new``."""
    if new not in _TRANSITIONS[current]:
        raise FailedPrecondition(
            f"bill {invoice_number} is {current.value} and cannot become {new.value}"
        )


# --- Invoice numbers -------------------------------------------------------------------------


def format_invoice_number(year: int, number: int) -> str:
    """(2026, 123) -> "INV-2026-000123"."""
    if number < 1:
        raise ValueError("invoice numbers start at 1")
    return f"{INVOICE_SERIES}-{year:04d}-{number:06d}"


def invoice_number_sequence(invoice_number: str) -> int:
    """The running number of an invoice number: "INV-2026-000123" -> 123."""
    match = _INVOICE_NUMBER.match(invoice_number)
    if not match:
        raise ValueError(f"{invoice_number!r} is not an invoice number like INV-2026-000123")
    return int(match.group(2))


# --- Entities --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BillingAccount:
    """What billing needs to know about a postpaid subscriber."""

    subscriber_id: int
    first_name: str
    last_name: str
    street: str
    city: str
    postal_code: str
    country: str
    msisdn: str
    payment_type: str
    status: str
    price_plan_id: int
    bill_cycle_id: int | None
    activated_at: datetime
    terminated_at: datetime | None
    billed_until: datetime

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


@dataclass(frozen=True, slots=True)
class BillLine:
    kind: LineKind
    description: str
    service_id: str  # "" for the monthly fee
    quantity: int
    unit: str  # DAY for the fee, else the service unit
    amount: int  # minor units


@dataclass(frozen=True, slots=True)
class UsageTotals:
    """Unbilled rated usage of one service, summed over the CDRs a bill carries."""

    service_id: str
    events: int
    billable_quantity: int
    allowance_used: int
    charge: int


@dataclass(frozen=True, slots=True)
class Bill:
    id: int
    invoice_number: str
    subscriber_id: int
    kind: BillKind
    status: BillStatus
    period_start: datetime
    period_end: datetime
    issued_at: datetime
    currency: str
    net_total: int
    lines: tuple[BillLine, ...] = ()
    pdf_path: str = ""
    pdf_sha256: str = ""
    bill_run_id: int | None = None
    # 0 for a regular bill; n for the line's n-th supplementary bill (late usage after its final
    # bill), which is what makes it unique beside an earlier bill starting at the same instant.
    supplement: int = 0


# --- Proration -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeeProration:
    """The monthly fee for a bill: charged days, the share of the fee, and the rounded amount."""

    days: int
    share: Fraction = field(default=Fraction(0))
    amount: int = 0


def _add_month(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, day.day)


def _cycle_period_of(day: date, cycle_day: int) -> tuple[date, date]:
    """The local dates [first, next first) of the billing period that contains ``day``."""
    first = date(day.year, day.month, cycle_day)
    if day.day < cycle_day:
        first = _add_month(first, -1)
    return first, _add_month(first, 1)


def charged_days(
    start: datetime, end: datetime, activated_at: datetime, tz: ZoneInfo
) -> tuple[date, date] | None:
    """First and last local day a bill covering [start, end) charges, or None for no day."""
    start = max(start, activated_at)
    if end <= start:
        return None
    local_start = to_local(start, tz)
    first = local_start.date()
    at_midnight = local_start.time() == datetime.min.time()
    if start != activated_at and not at_midnight:
        first += timedelta(days=1)  # an earlier on-demand bill charged the day it ended on
    last = to_local(end - _ONE_MICROSECOND, tz).date()
    return (first, last) if first <= last else None


def prorate_fee(
    monthly_fee: int,
    start: datetime,
    end: datetime,
    *,
    activated_at: datetime,
    cycle_day: int,
    tz: ZoneInfo,
) -> FeeProration:
    """The fee for [start, end) by the rule in the module docstring."""
    days = charged_days(start, end, activated_at, tz)
    if days is None:
        return FeeProration(days=0)
    first, last = days
    share = Fraction(0)
    day = first
    while day <= last:
        period_first, period_next = _cycle_period_of(day, cycle_day)
        chunk_last = min(period_next - timedelta(days=1), last)
        share += Fraction((chunk_last - day).days + 1, (period_next - period_first).days)
        day = chunk_last + timedelta(days=1)
    exact = share * monthly_fee
    return FeeProration(
        days=(last - first).days + 1,
        share=share,
        amount=divide_round_half_up(exact.numerator, exact.denominator),
    )


# --- Lines -----------------------------------------------------------------------------------

_EVENT_WORDS = {
    "SECOND": ("call", "calls"),
    "MESSAGE": ("message", "messages"),
    "BYTE": ("session", "sessions"),
}


def _events_text(count: int, unit: str) -> str:
    one, many = _EVENT_WORDS.get(unit, ("event", "events"))
    return f"{count} {one if count == 1 else many}"


def fee_line(plan_name: str, fee: FeeProration) -> BillLine:
    return BillLine(
        kind=LineKind.FEE,
        description=f"Monthly fee, {plan_name}",
        service_id="",
        quantity=fee.days,
        unit="DAY",
        amount=fee.amount,
    )


def usage_lines(usage: Iterable[UsageTotals], services: dict[str, Service]) -> list[BillLine]:
    """USAGE and ALLOWANCE lines per service, in service id order."""
    lines: list[BillLine] = []
    for totals in sorted(usage, key=lambda u: u.service_id):
        service = services.get(totals.service_id)
        name = service.name if service else totals.service_id
        unit = service.unit.value if service else ""
        lines.append(
            BillLine(
                kind=LineKind.USAGE,
                description=f"{name}, {_events_text(totals.events, unit)}",
                service_id=totals.service_id,
                quantity=totals.billable_quantity - totals.allowance_used,
                unit=unit,
                amount=totals.charge,
            )
        )
        if totals.allowance_used:
            lines.append(
                BillLine(
                    kind=LineKind.ALLOWANCE,
                    description=f"{name} included in your plan",
                    service_id=totals.service_id,
                    quantity=totals.allowance_used,
                    unit=unit,
                    amount=0,
                )
            )
    return lines


def compose_lines(
    plan_name: str,
    fee: FeeProration,
    usage: Iterable[UsageTotals],
    services: dict[str, Service],
) -> list[BillLine]:
    """All lines of a bill: the fee (when a day is charged), then usage per service."""
    lines = [fee_line(plan_name, fee)] if fee.days else []
    return lines + usage_lines(usage, services)


def net_total(lines: Sequence[BillLine]) -> int:
    return sum(line.amount for line in lines)


# --- Display ---------------------------------------------------------------------------------


def format_quantity(quantity: int, unit: str) -> str:
    """A quantity in the customer's units: 3725 SECOND -> "62:05 min", bytes -> "12.35 MB"."""
    if unit == "SECOND":
        minutes, seconds = divmod(quantity, 60)
        return f"{minutes}:{seconds:02d} min"
    if unit == "BYTE":
        hundredths = divide_round_half_up(quantity * 100, BYTES_PER_MB)
        return f"{hundredths // 100}.{hundredths % 100:02d} MB"
    if unit == "MESSAGE":
        return f"{quantity} message" if quantity == 1 else f"{quantity} messages"
    if unit == "DAY":
        return f"{quantity} day" if quantity == 1 else f"{quantity} days"
    return str(quantity)


def covered_days(period_start: datetime, period_end: datetime, tz: ZoneInfo) -> tuple[date, date]:
    """First and last local day of a bill's period, for display ("1 Mar 2026 - 31 Mar 2026")."""
    return to_local(period_start, tz).date(), to_local(period_end - _ONE_MICROSECOND, tz).date()

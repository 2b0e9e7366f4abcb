"""Bill composition: day-based fee proration, lines and totals, invoice numbers, the bill state
machine and the quantities a customer reads."""

from __future__ import annotations

from datetime import datetime
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from microbss.engine.domain.billing import (
    BillLine,
    BillStatus,
    FeeProration,
    LineKind,
    UsageTotals,
    check_transition,
    compose_lines,
    format_invoice_number,
    format_quantity,
    invoice_number_sequence,
    net_total,
    prorate_fee,
)
from microbss.engine.domain.catalog import Service, ServiceUnit
from microbss.engine.domain.errors import FailedPrecondition

MADRID = ZoneInfo("Europe/Madrid")
FEE = 2000
# March 2026 in Madrid (cycle day 1): 31 days, 1 Mar 00:00 CET = 28 Feb 23:00 UTC.
MARCH_START = datetime(2026, 2, 28, 23)
APRIL_START = datetime(2026, 3, 31, 22)  # after the switch to summer time (CEST)
SERVICES = {
    "VOICE": Service("VOICE", "Voice calls", ServiceUnit.SECOND),
    "DATA": Service("DATA", "Mobile data", ServiceUnit.BYTE),
}


def fee(
    start: datetime, end: datetime, activated_at: datetime = MARCH_START, cycle_day: int = 1
) -> FeeProration:
    return prorate_fee(FEE, start, end, activated_at=activated_at, cycle_day=cycle_day, tz=MADRID)


def test_a_full_period_costs_exactly_the_monthly_fee() -> None:
    assert fee(MARCH_START, APRIL_START) == FeeProration(days=31, share=Fraction(1), amount=FEE)


def test_a_line_started_mid_period_pays_from_its_activation_day_inclusive() -> None:
    activated = datetime(2026, 3, 17, 15, 30)  # counts 17..31 March: 15 of 31 days
    result = fee(activated, APRIL_START, activated_at=activated)
    assert (result.days, result.amount) == (15, 968)  # 2000 * 15 / 31 = 967.74 -> 968


def test_a_line_terminated_mid_period_pays_up_to_its_termination_day_inclusive() -> None:
    terminated = datetime(2026, 3, 10, 9)  # counts 1..10 March: 10 of 31 days
    result = fee(MARCH_START, terminated)
    assert (result.days, result.amount) == (10, 645)  # 645.16 -> 645


def test_a_line_started_and_terminated_in_one_period_pays_both_end_days() -> None:
    activated, terminated = datetime(2026, 3, 5, 20), datetime(2026, 3, 6, 8)
    assert fee(activated, terminated, activated_at=activated).days == 2


def test_the_day_an_on_demand_bill_ended_is_not_charged_again_by_the_next_bill() -> None:
    on_demand_at = datetime(2026, 3, 20, 11)
    first = fee(MARCH_START, on_demand_at)
    rest = fee(on_demand_at, APRIL_START)
    assert (first.days, rest.days) == (20, 11)
    assert first.share + rest.share == 1


def test_a_bill_over_two_periods_adds_the_shares_and_rounds_once() -> None:
    activated = datetime(2026, 2, 19, 23)  # 20 Feb local: 9 of February's 28 days (cycle day 1)
    result = fee(activated, APRIL_START, activated_at=activated)
    assert result.share == Fraction(9, 28) + 1
    assert result.amount == 2643  # 2000 * 37/28 = 2642.857 -> 2643


def test_proration_follows_the_cycle_day() -> None:
    # Cycle day 15: the period 15 Mar - 14 Apr has 31 days; a line from 1 Apr pays 14 of them.
    activated = datetime(2026, 3, 31, 22)
    period_end = datetime(2026, 4, 14, 22)
    result = fee(activated, period_end, activated_at=activated, cycle_day=15)
    assert (result.days, result.share) == (14, Fraction(14, 31))


def test_no_day_is_charged_for_an_empty_interval() -> None:
    assert fee(APRIL_START, APRIL_START) == FeeProration(days=0)


@given(st.integers(min_value=0, max_value=29), st.integers(min_value=1, max_value=23))
def test_splitting_a_period_anywhere_charges_every_day_once(day: int, hour: int) -> None:
    split = datetime(2026, 3, 1 + day, hour)
    first, rest = fee(MARCH_START, split), fee(split, APRIL_START)
    assert first.days + rest.days == 31
    assert first.share + rest.share == 1


def test_lines_are_the_fee_then_usage_and_allowance_per_service() -> None:
    usage = [
        UsageTotals("VOICE", events=3, billable_quantity=400, allowance_used=300, charge=15),
        UsageTotals("DATA", events=2, billable_quantity=2048, allowance_used=0, charge=7),
    ]
    lines = compose_lines("Smart 20", FeeProration(31, Fraction(1), FEE), usage, SERVICES)

    assert [(line.kind, line.service_id, line.quantity, line.amount) for line in lines] == [
        (LineKind.FEE, "", 31, FEE),
        (LineKind.USAGE, "DATA", 2048, 7),
        (LineKind.USAGE, "VOICE", 100, 15),
        (LineKind.ALLOWANCE, "VOICE", 300, 0),
    ]
    assert lines[2].description == "Voice calls, 3 calls"
    assert net_total(lines) == FEE + 7 + 15


def test_a_bill_without_charged_days_has_no_fee_line() -> None:
    usage = [UsageTotals("VOICE", events=1, billable_quantity=60, allowance_used=0, charge=9)]
    lines = compose_lines("Smart 20", FeeProration(days=0), usage, SERVICES)
    assert [line.kind for line in lines] == [LineKind.USAGE]


@given(st.lists(st.integers(min_value=0, max_value=10**9), max_size=30))
def test_the_net_total_is_the_exact_sum_of_the_lines(amounts: list[int]) -> None:
    lines = [BillLine(LineKind.USAGE, "x", "VOICE", 1, "SECOND", a) for a in amounts]
    assert net_total(lines) == sum(amounts)


def test_invoice_numbers_have_the_year_and_a_six_digit_running_number() -> None:
    assert format_invoice_number(2026, 123) == "INV-2026-000123"
    assert format_invoice_number(2027, 1_234_567) == "INV-2027-1234567"
    assert invoice_number_sequence("INV-2026-000123") == 123


@pytest.mark.parametrize("bad", ["INV-26-000001", "2026-000001", "INV-2026-12"])
def test_a_malformed_invoice_number_is_rejected(bad: str) -> None:
    with pytest.raises(ValueError, match="not an invoice number"):
        invoice_number_sequence(bad)


def test_invoice_numbers_start_at_one() -> None:
    with pytest.raises(ValueError):
        format_invoice_number(2026, 0)


def test_a_draft_bill_can_be_issued() -> None:
    check_transition(BillStatus.DRAFT, BillStatus.ISSUED, "INV-2026-000001")


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (BillStatus.ISSUED, BillStatus.DRAFT),
        (BillStatus.ISSUED, BillStatus.ISSUED),
        (BillStatus.DRAFT, BillStatus.DRAFT),
    ],
)
def test_any_other_bill_transition_is_refused(current: BillStatus, new: BillStatus) -> None:
    with pytest.raises(FailedPrecondition, match="INV-2026-000007"):
        check_transition(current, new, "INV-2026-000007")


@pytest.mark.parametrize(
    ("quantity", "unit", "text"),
    [
        (3725, "SECOND", "62:05 min"),
        (59, "SECOND", "0:59 min"),
        (1_572_864, "BYTE", "1.50 MB"),
        (1, "MESSAGE", "1 message"),
        (12, "MESSAGE", "12 messages"),
        (31, "DAY", "31 days"),
    ],
)
def test_quantities_read_in_the_customers_units(quantity: int, unit: str, text: str) -> None:
    assert format_quantity(quantity, unit) == text

"""Rating rules: increments, minimums, allowances before money, bands at local time, zones,
and the properties every charge must keep (never negative, rounded once, deterministic)."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import datetime, time, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from microbss.engine.domain.catalog import (
    Allowance,
    Band,
    PaymentType,
    PeakHours,
    PricePlan,
    RatingStrategy,
    Tariff,
    Zone,
)
from microbss.engine.domain.rating import (
    Account,
    AllowanceCounter,
    NoTariff,
    RateCard,
    RatingState,
    UsageEvent,
    band_at,
    billable_quantity,
    compile_rater,
    price_event,
    pricing_for,
    rate_events,
    zone_for_other_party,
)

MADRID = ZoneInfo("Europe/Madrid")
PEAK = PeakHours(weekdays=frozenset(range(5)), start=time(8), end=time(20))


def per_minute(price: int = 12, **extra: int) -> Tariff:
    return Tariff("VOICE", Zone.NATIONAL, Band.ANY, RatingStrategy.PER_UNIT, price, 60, 60, **extra)


def make_plan(
    *tariffs: Tariff, allowances: tuple[Allowance, ...] = (), peak: bool = False
) -> PricePlan:
    return PricePlan(
        id=1,
        code="TEST",
        name="Test plan",
        payment_type=PaymentType.PREPAID,
        currency="EUR",
        monthly_fee=0,
        peak_hours=PEAK if peak else None,
        tariffs=tariffs,
        allowances=allowances,
    )


def voice(plan: PricePlan, seconds: int, allowance_left: int = 0) -> int:
    return price_event(plan, "VOICE", Zone.NATIONAL, Band.ANY, seconds, allowance_left).amount


def test_a_61_second_call_on_a_per_started_minute_plan_costs_2_minutes() -> None:
    plan = make_plan(per_minute(price=12))
    charge = price_event(plan, "VOICE", Zone.NATIONAL, Band.ANY, 61, 0)
    assert charge.billable_quantity == 120
    assert charge.amount == 24


def test_a_60_second_minimum_then_per_second_bills_short_calls_as_a_minute() -> None:
    tariff = Tariff(
        "VOICE", Zone.NATIONAL, Band.ANY, RatingStrategy.PER_UNIT, 9, 60, 1, minimum_quantity=60
    )
    assert billable_quantity(30, tariff) == 60
    assert billable_quantity(61, tariff) == 61
    plan = make_plan(tariff)
    assert voice(plan, 61) == 9  # 61 * 9 / 60 = 9.15 cents, rounded half-up once -> 9
    assert voice(plan, 70) == 11  # 10.5 -> 11


def test_data_is_billed_per_started_kilobyte() -> None:
    tariff = Tariff("DATA", Zone.NATIONAL, Band.ANY, RatingStrategy.PER_UNIT, 100, 1 << 20, 1024)
    assert billable_quantity(1, tariff) == 1024
    assert billable_quantity(1025, tariff) == 2048


def test_an_unanswered_call_costs_nothing_even_with_a_minimum_charge() -> None:
    plan = make_plan(per_minute(minimum_charge=15))
    charge = price_event(plan, "VOICE", Zone.NATIONAL, Band.ANY, 0, 0)
    assert (charge.billable_quantity, charge.amount) == (0, 0)


def test_the_minimum_charge_raises_a_cheap_chargeable_call() -> None:
    plan = make_plan(per_minute(price=6, minimum_charge=15))
    assert voice(plan, 10) == 15
    assert voice(plan, 600) == 60


def test_allowances_are_used_before_money() -> None:
    plan = make_plan(per_minute(price=12))
    covered = price_event(plan, "VOICE", Zone.NATIONAL, Band.ANY, 61, 500)
    assert (covered.allowance_used, covered.amount) == (120, 0)
    partly = price_event(plan, "VOICE", Zone.NATIONAL, Band.ANY, 61, 100)
    assert (partly.allowance_used, partly.charged_quantity, partly.amount) == (100, 20, 4)


def test_a_per_event_tariff_charges_a_flat_price_unless_the_allowance_covers_it() -> None:
    sms = Tariff("SMS", Zone.NATIONAL, Band.ANY, RatingStrategy.PER_EVENT, 9, 1, 1)
    plan = make_plan(sms)
    assert price_event(plan, "SMS", Zone.NATIONAL, Band.ANY, 1, 0).amount == 9
    assert price_event(plan, "SMS", Zone.NATIONAL, Band.ANY, 1, 1).amount == 0


def test_an_event_with_no_tariff_is_refused_with_the_reason() -> None:
    plan = make_plan(per_minute())
    with pytest.raises(NoTariff, match="no VOICE tariff for zone INTERNATIONAL"):
        price_event(plan, "VOICE", Zone.INTERNATIONAL, Band.ANY, 60, 0)


def test_the_exact_band_tariff_wins_over_the_any_band_tariff() -> None:
    offpeak = Tariff("VOICE", Zone.NATIONAL, Band.OFFPEAK, RatingStrategy.PER_UNIT, 3, 60, 60)
    plan = make_plan(per_minute(price=12), offpeak, peak=True)
    assert price_event(plan, "VOICE", Zone.NATIONAL, Band.OFFPEAK, 60, 0).amount == 3
    assert price_event(plan, "VOICE", Zone.NATIONAL, Band.PEAK, 60, 0).amount == 12


def test_the_band_is_taken_at_local_time_across_daylight_saving_time() -> None:
    plan = make_plan(per_minute(), peak=True)
    # 18:30 UTC on a Monday: 20:30 in Madrid summer time (off-peak), 19:30 in winter (peak).
    summer = datetime(2026, 7, 6, 18, 30)
    winter = datetime(2026, 12, 7, 18, 30)
    assert band_at(plan, summer, MADRID) == Band.OFFPEAK
    assert band_at(plan, winter, MADRID) == Band.PEAK
    # Saturday is off-peak all day; a plan without peak hours has the ANY band.
    assert band_at(plan, datetime(2026, 7, 4, 10, 0), MADRID) == Band.OFFPEAK
    assert band_at(make_plan(per_minute()), summer, MADRID) == Band.ANY


@pytest.mark.parametrize(
    ("other_party", "zone"),
    [
        ("600123456", Zone.NATIONAL),
        ("0034600123456", Zone.NATIONAL),
        ("+34600123456", Zone.NATIONAL),
        ("+447700900123", Zone.INTERNATIONAL),
        ("00447700900123", Zone.INTERNATIONAL),
        ("", Zone.NATIONAL),
    ],
)
def test_the_zone_is_derived_from_the_other_party_when_the_cdr_has_none(
    other_party: str, zone: Zone
) -> None:
    assert zone_for_other_party(other_party, "34") == zone


# --- Properties ------------------------------------------------------------------------------

tariffs = st.builds(
    Tariff,
    service_id=st.just("VOICE"),
    zone=st.just(Zone.NATIONAL),
    band=st.just(Band.ANY),
    strategy=st.sampled_from(list(RatingStrategy)),
    unit_price=st.integers(0, 10_000),
    price_unit=st.integers(1, 1 << 20),
    increment=st.integers(1, 3600),
    minimum_quantity=st.integers(0, 600),
    minimum_charge=st.integers(0, 500),
)


@given(tariff=tariffs, quantity=st.integers(0, 10**7), left=st.integers(-5, 10**6))
def test_a_charge_is_never_negative_and_never_uses_more_allowance_than_is_left(
    tariff: Tariff, quantity: int, left: int
) -> None:
    charge = price_event(make_plan(tariff), "VOICE", Zone.NATIONAL, Band.ANY, quantity, left)
    assert charge.amount >= 0
    assert 0 <= charge.allowance_used <= max(left, 0)
    assert charge.allowance_used + charge.charged_quantity == charge.billable_quantity
    assert charge.billable_quantity >= quantity


@given(tariff=tariffs, quantity=st.integers(-3, 10**7), left=st.integers(-5, 10**6))
def test_a_compiled_tariff_rates_as_its_strategy_does(
    tariff: Tariff, quantity: int, left: int
) -> None:
    billable = billable_quantity(quantity, tariff)
    from_allowance = min(billable, max(left, 0))
    amount = pricing_for(tariff).price(tariff, billable - from_allowance)
    assert compile_rater(tariff)(quantity, left) == (billable, from_allowance, amount)


@given(
    price=st.integers(0, 10_000),
    price_unit=st.integers(1, 1 << 20),
    increment=st.integers(1, 3600),
    quantity=st.integers(1, 10**7),
)
def test_a_per_unit_charge_is_within_half_a_minor_unit_of_the_exact_fraction(
    price: int, price_unit: int, increment: int, quantity: int
) -> None:
    tariff = Tariff(
        "VOICE", Zone.NATIONAL, Band.ANY, RatingStrategy.PER_UNIT, price, price_unit, increment
    )
    charge = price_event(make_plan(tariff), "VOICE", Zone.NATIONAL, Band.ANY, quantity, 0)
    exact = Fraction(charge.billable_quantity * price, price_unit)
    assert abs(charge.amount - exact) <= Fraction(1, 2)


DETERMINISM_PLAN = make_plan(
    per_minute(price=12, minimum_charge=5),
    Tariff("VOICE", Zone.NATIONAL, Band.OFFPEAK, RatingStrategy.PER_UNIT, 4, 60, 1, 30),
    Tariff("SMS", Zone.NATIONAL, Band.ANY, RatingStrategy.PER_EVENT, 9, 1, 1),
    allowances=(Allowance("VOICE", 900), Allowance("SMS", 3)),
    peak=True,
)
ACCOUNTS = [
    Account(1, DETERMINISM_PLAN, prepaid=True),
    Account(2, DETERMINISM_PLAN, prepaid=False, cycle_day=15),
]
START = datetime(2026, 9, 20)

events = st.lists(
    st.tuples(
        st.integers(0, 1),  # account
        st.sampled_from(["VOICE", "SMS"]),
        st.integers(0, 60 * 24 * 60),  # minutes after START: two months, crossing periods
        st.integers(0, 4000),
    ),
    min_size=1,
    max_size=60,
)


def _as_events(raw: list[tuple[int, str, int, int]]) -> list[tuple[Account, UsageEvent]]:
    out = []
    for n, (account_no, service, minutes, quantity) in enumerate(raw):
        account = ACCOUNTS[account_no]
        started = START + timedelta(minutes=minutes)
        band = band_at(account.plan, started, MADRID)
        qty = 1 if service == "SMS" else quantity
        event = UsageEvent(f"c{n:04d}", service, started, qty, Zone.NATIONAL, band)
        out.append((account, event))
    return sorted(out, key=lambda pair: (pair[1].started_at, pair[1].cdr_id))


def _carry_over(state: RatingState) -> RatingState:
    """What the next batch reads back from the database: counters and balances, nothing else."""
    return RatingState(
        tz=MADRID,
        allowances={
            key: AllowanceCounter(c.granted, c.used, c.period_end)
            for key, c in state.allowances.items()
        },
        balances=dict(state.balances),
    )


@settings(max_examples=150, deadline=None)
@given(raw=events, cuts=st.lists(st.integers(0, 60), max_size=5))
def test_the_same_events_rate_the_same_however_they_are_split_into_batches(
    raw: list[tuple[int, str, int, int]], cuts: list[int]
) -> None:
    items = _as_events(raw)
    whole = RatingState(tz=MADRID, balances={1: 1000})
    one_batch = [(r.event.cdr_id, r.charge, r.negative_balance) for r in rate_events(whole, items)]

    state = RatingState(tz=MADRID, balances={1: 1000})
    split: list[tuple[str, object, bool]] = []
    bounds = sorted({0, len(items), *(c for c in cuts if c < len(items))})
    for lo, hi in itertools.pairwise(bounds):
        rated = rate_events(state, items[lo:hi])
        split += [(r.event.cdr_id, r.charge, r.negative_balance) for r in rated]
        state = _carry_over(state)

    assert split == one_batch
    assert state.balances == whole.balances
    assert {k: c.used for k, c in state.allowances.items()} == {
        k: c.used for k, c in whole.allowances.items()
    }
    assert all(c.used <= c.granted for c in whole.allowances.values())


# --- The compiled rate card gives the plan's own answers ---------------------------------------

ODD_PEAK = PeakHours(weekdays=frozenset({0, 2, 4, 6}), start=time(7, 45), end=time(19, 10, 30))
instants = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31))


@settings(max_examples=500, deadline=None)
@given(
    instant=instants,
    peak=st.sampled_from([PEAK, ODD_PEAK]),
    tz=st.sampled_from([MADRID, ZoneInfo("Asia/Kolkata"), ZoneInfo("America/St_Johns")]),
)
def test_the_rate_card_band_equals_the_band_at_local_time_at_any_instant(
    instant: datetime, peak: PeakHours, tz: ZoneInfo
) -> None:
    plan = dataclasses.replace(make_plan(per_minute()), peak_hours=peak)
    assert RateCard(plan, tz).band_at(instant) == band_at(plan, instant, tz)


def test_the_rate_card_band_is_right_on_both_sides_of_the_clock_changes() -> None:
    plan = make_plan(per_minute(), peak=True)
    card = RateCard(plan, MADRID)
    for day in (datetime(2026, 3, 29), datetime(2026, 10, 25)):  # Sundays: clocks change
        for minute in range(0, 48 * 60, 7):
            instant = day - timedelta(hours=12) + timedelta(minutes=minute)
            assert card.band_at(instant) == band_at(plan, instant, MADRID), instant


def test_the_rate_card_finds_the_same_tariff_and_allowance_as_the_plan() -> None:
    offpeak = Tariff("VOICE", Zone.NATIONAL, Band.OFFPEAK, RatingStrategy.PER_UNIT, 3, 60, 60)
    plan = make_plan(per_minute(), offpeak, allowances=(Allowance("VOICE", 60),), peak=True)
    card = RateCard(plan, MADRID)
    for service in ("VOICE", "SMS"):
        for zone in Zone:
            assert card.allowance_for(service, zone) == plan.allowance_for(service, zone)
            for band in Band:
                assert card.tariff_for(service, zone, band) == plan.tariff_for(service, zone, band)

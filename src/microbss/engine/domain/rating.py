"""Rating: what one usage event costs under a price plan, and the included allowances it uses.

Rules (the README states them for operators):

- **Zone**: the CDR's own zone when it has one. Otherwise it is derived from the other party:
  a number starting with ``00`` or ``+`` is INTERNATIONAL unless the country code that follows is
  the operator's own (``Settings.country_code``); every other number is NATIONAL. ROAMING is
  never guessed: only the network knows the subscriber was abroad, so it must come in the CDR.
- **Band**: PEAK or OFFPEAK from the plan's peak hours at the event's *local* start time in the
  operator's time zone (so a 19:30 call is peak in both summer and winter time); ANY when the
  plan has no peak hours. The tariff for the exact band wins over an ANY tariff.
- **Billable quantity**: ``max(quantity, minimum_quantity)`` rounded UP to a multiple of the
  tariff's ``increment``: a 61 s call at increment 60 bills 120 s. An event of quantity 0
  (an unanswered call, an empty data session) bills nothing and costs nothing.
- **Allowance first**: the plan's allowance for the service, if it covers the zone, is consumed
  first, in billable units, up to what remains of it in the billing period; only the rest is
  charged. Events are rated in (start time, CDR id) order, so the allowance goes to the
  earliest usage.
- **Charge** (PER_UNIT): ``charged_quantity * unit_price / price_unit`` rounded half-up once per
  CDR (:func:`domain.money.divide_round_half_up`), then raised to ``minimum_charge`` if lower.
  PER_EVENT: the flat ``unit_price`` (or ``minimum_charge`` if higher) for an event not fully
  covered by the allowance.

Everything here is pure: no I/O and no clock, so the same events always rate the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from microbss.engine.domain.catalog import (
    Allowance,
    Band,
    PricePlan,
    RatingStrategy,
    Tariff,
    Zone,
)
from microbss.engine.domain.errors import FailedPrecondition
from microbss.engine.domain.money import divide_round_half_up
from microbss.engine.domain.periods import PREPAID_CYCLE_DAY, period_containing, to_local


class NoTariff(FailedPrecondition):
    """The plan prices no (service, zone, band) for this event; the CDR is rejected."""


# --- Zone and band -------------------------------------------------------------------------


def zone_for_other_party(other_party: str, country_code: str) -> Zone:
    """INTERNATIONAL for "00..."/"+..." numbers outside the home country code, else NATIONAL."""
    if other_party.startswith("+"):
        digits = other_party[1:]
    elif other_party.startswith("00"):
        digits = other_party[2:]
    else:
        return Zone.NATIONAL
    return Zone.NATIONAL if digits.startswith(country_code) else Zone.INTERNATIONAL


def band_at(plan: PricePlan, started_at_utc: datetime, tz: ZoneInfo) -> Band:
    """The plan's time band at the event's local start time."""
    if plan.peak_hours is None:
        return Band.ANY
    return plan.peak_hours.band_at(to_local(started_at_utc, tz))


# --- Strategies ----------------------------------------------------------------------------


def billable_quantity(quantity: int, tariff: Tariff) -> int:
    """``max(quantity, minimum)`` rounded up to a whole number of increments; 0 stays 0."""
    if quantity <= 0:
        return 0
    basis = max(quantity, tariff.minimum_quantity)
    steps = -(-basis // tariff.increment)  # ceiling division in integers
    return steps * tariff.increment


class PricingStrategy(Protocol):
    def price(self, tariff: Tariff, charged_quantity: int) -> int:
        """Minor units for ``charged_quantity`` billable units left after the allowance."""
        ...


class PerUnitPricing:
    """``unit_price`` per ``price_unit`` units, rounded half-up once, at least the minimum."""

    def price(self, tariff: Tariff, charged_quantity: int) -> int:
        if charged_quantity <= 0:
            return 0
        amount = divide_round_half_up(charged_quantity * tariff.unit_price, tariff.price_unit)
        return max(amount, tariff.minimum_charge)


class PerEventPricing:
    """A flat price for an event that the allowance did not fully cover."""

    def price(self, tariff: Tariff, charged_quantity: int) -> int:
        if charged_quantity <= 0:
            return 0
        return max(tariff.unit_price, tariff.minimum_charge)


_STRATEGIES: dict[RatingStrategy, PricingStrategy] = {
    RatingStrategy.PER_UNIT: PerUnitPricing(),
    RatingStrategy.PER_EVENT: PerEventPricing(),
}


def pricing_for(tariff: Tariff) -> PricingStrategy:
    """The pricing strategy the tariff names."""
    return _STRATEGIES[tariff.strategy]


@dataclass(frozen=True, slots=True)
class Charge:
    """How one event was priced: the breakdown shown on usage lists and bills."""

    tariff: Tariff
    zone: Zone
    band: Band
    billable_quantity: int  # after minimum and increments
    allowance_used: int  # part of billable_quantity covered by the allowance
    charged_quantity: int  # billable_quantity - allowance_used
    amount: int  # minor units


def price_event(
    plan: PricePlan,
    service_id: str,
    zone: Zone,
    band: Band,
    quantity: int,
    allowance_left: int,
) -> Charge:
    """Price one event given what remains of its allowance (0 when there is none)."""
    tariff = plan.tariff_for(service_id, zone, band)
    if tariff is None:
        raise NoTariff(
            f"price plan {plan.code} has no {service_id} tariff for zone {zone} band {band}",
            field="service",
        )
    billable = billable_quantity(quantity, tariff)
    from_allowance = min(billable, max(allowance_left, 0))
    charged = billable - from_allowance
    return Charge(
        tariff=tariff,
        zone=zone,
        band=band,
        billable_quantity=billable,
        allowance_used=from_allowance,
        charged_quantity=charged,
        amount=pricing_for(tariff).price(tariff, charged),
    )


# --- Rating a sequence of events with allowance and balance state -----------------------------


@dataclass(frozen=True, slots=True)
class Account:
    """What rating needs to know about a subscriber line."""

    subscriber_id: int
    plan: PricePlan
    prepaid: bool
    cycle_day: int = PREPAID_CYCLE_DAY  # the bill cycle's day; PREPAID_CYCLE_DAY for prepaid


@dataclass(frozen=True, slots=True)
class UsageEvent:
    cdr_id: str
    service_id: str
    started_at: datetime  # naive UTC
    quantity: int
    zone: Zone
    band: Band  # from :func:`band_at`, computed once when the event is read
    other_party: str = ""  # kept for the usage list; rating looks only at the zone


AllowanceKey = tuple[int, str, datetime]  # (subscriber id, service id, period start)


@dataclass(slots=True)
class AllowanceCounter:
    """One allowance in one billing period: granted and used so far, in service units."""

    granted: int
    used: int
    period_end: datetime
    touched: bool = False  # changed since it was loaded, so it must be written back

    @property
    def remaining(self) -> int:
        return max(self.granted - self.used, 0)


@dataclass(frozen=True, slots=True)
class RatedEvent:
    event: UsageEvent
    account: Account
    charge: Charge
    negative_balance: bool  # prepaid: the main balance was below zero after this charge


@dataclass
class RatingState:
    """Allowance counters and prepaid balances carried from event to event (and, via the
    database, from batch to batch). ``period_of`` finds an event's billing period."""

    tz: ZoneInfo
    allowances: dict[AllowanceKey, AllowanceCounter] = field(default_factory=dict)
    balances: dict[int, int] = field(default_factory=dict)  # prepaid subscriber -> minor units
    _periods: dict[int, tuple[datetime, datetime]] = field(default_factory=dict)
    _allowances_by_plan: dict[tuple[int, str, Zone], Allowance | None] = field(default_factory=dict)

    def allowance_of(self, plan: PricePlan, service_id: str, zone: Zone) -> Allowance | None:
        """``plan.allowance_for`` remembered per (plan, service, zone): asked once per event."""
        key = (plan.id, service_id, zone)
        try:
            return self._allowances_by_plan[key]
        except KeyError:
            found = self._allowances_by_plan[key] = plan.allowance_for(service_id, zone)
            return found

    def period_of(self, cycle_day: int, instant: datetime) -> tuple[datetime, datetime]:
        # Events arrive roughly in time order, so the last period per cycle day almost always
        # matches and saves a time-zone conversion per event.
        cached = self._periods.get(cycle_day)
        if cached is not None and cached[0] <= instant < cached[1]:
            return cached
        period = period_containing(instant, cycle_day, self.tz)
        self._periods[cycle_day] = period
        return period

    def allowance_key(self, account: Account, event: UsageEvent) -> AllowanceKey | None:
        """The allowance counter this event draws from, or None if its plan grants none."""
        if self.allowance_of(account.plan, event.service_id, event.zone) is None:
            return None
        start, _end = self.period_of(account.cycle_day, event.started_at)
        return (account.subscriber_id, event.service_id, start)

    def counter(self, account: Account, event: UsageEvent) -> AllowanceCounter | None:
        key = self.allowance_key(account, event)
        if key is None:
            return None
        found = self.allowances.get(key)
        if found is None:
            allowance = self.allowance_of(account.plan, event.service_id, event.zone)
            assert allowance is not None
            _start, end = self.period_of(account.cycle_day, event.started_at)
            found = AllowanceCounter(granted=allowance.quantity, used=0, period_end=end)
            self.allowances[key] = found
        return found


def rate_event(state: RatingState, account: Account, event: UsageEvent) -> RatedEvent:
    """Rate one event, consuming its allowance and debiting a prepaid balance in ``state``."""
    counter = state.counter(account, event)
    left = counter.remaining if counter else 0
    charge = price_event(
        account.plan, event.service_id, event.zone, event.band, event.quantity, left
    )
    if counter is not None and charge.allowance_used:
        counter.used += charge.allowance_used
        counter.touched = True
    negative = False
    if account.prepaid and charge.amount:
        balance = state.balances.get(account.subscriber_id, 0) - charge.amount
        state.balances[account.subscriber_id] = balance
        negative = balance < 0
    return RatedEvent(event=event, account=account, charge=charge, negative_balance=negative)


def rating_order(event: UsageEvent) -> tuple[datetime, str]:
    """Events are rated by start time, ties broken by CDR id, so any split rates the same."""
    return (event.started_at, event.cdr_id)


def rate_events(
    state: RatingState,
    items: Iterable[tuple[Account, UsageEvent]],
    on_rejected: Callable[[Account, UsageEvent, NoTariff], None] | None = None,
) -> list[RatedEvent]:
    """Rate events in :func:`rating_order`; events without a tariff go to ``on_rejected``
    (or raise when it is None) and change no state."""
    ordered = sorted(items, key=lambda pair: rating_order(pair[1]))
    rated: list[RatedEvent] = []
    for account, event in ordered:
        try:
            rated.append(rate_event(state, account, event))
        except NoTariff as exc:
            if on_rejected is None:
                raise
            on_rejected(account, event, exc)
    return rated

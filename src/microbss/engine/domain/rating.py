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

Rating a million events is the CDR loader's hot path, so a plan is compiled once into a
:class:`RateCard` (tariffs and allowances by key, the band cached per UTC hour) and the value
types are named tuples, which cost a fraction of a frozen dataclass to build. Each tariff is
also compiled into a :data:`Rater` that answers in plain integers, for the loader, which stores
the numbers and needs no breakdown object per event.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import NamedTuple, Protocol
from zoneinfo import ZoneInfo

from microbss.engine.domain.catalog import (
    Allowance,
    Band,
    PeakHours,
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


_HOUR = timedelta(hours=1)
_LAST_TICK_OF_HOUR = _HOUR - timedelta(microseconds=1)
_HOUR_US = 3_600_000_000
_DAY_US = 24 * _HOUR_US


def _microsecond_of_day(clock: time) -> int:
    return ((clock.hour * 60 + clock.minute) * 60 + clock.second) * 1_000_000 + clock.microsecond


def band_of_whole_hour(peak: PeakHours, hour_utc: datetime, tz: ZoneInfo) -> Band | None:
    """The band for every instant of the UTC hour starting at ``hour_utc``, or None when it
    changes inside that hour (a peak boundary or local midnight falls strictly inside it, or
    the clocks change), in which case each instant needs :func:`band_at`."""
    first = to_local(hour_utc, tz)
    last = to_local(hour_utc + _LAST_TICK_OF_HOUR, tz)
    if last.replace(tzinfo=None) - first.replace(tzinfo=None) != _LAST_TICK_OF_HOUR:
        return None  # the UTC offset changes inside this hour
    begin = _microsecond_of_day(first.time())
    end = begin + _HOUR_US
    boundaries = (_microsecond_of_day(peak.start), _microsecond_of_day(peak.end), _DAY_US)
    if any(begin < boundary < end for boundary in boundaries):
        return None
    return peak.band_at(first)


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


# A rater prices an event of one tariff in integers only, for callers that store the numbers
# rather than show the breakdown (the CDR loader): (quantity, allowance left) ->
# (billable quantity, allowance used, amount in minor units).
Rater = Callable[[int, int], tuple[int, int, int]]


def compile_rater(tariff: Tariff) -> Rater:
    """The tariff's :data:`Rater`: :func:`billable_quantity`, the allowance, then the tariff's
    pricing strategy, with the tariff's numbers bound once so that each event costs a few
    integer operations and no object but its result. Same answers as the strategies (a
    property test holds it to them)."""
    pricing = pricing_for(tariff)
    minimum, increment = tariff.minimum_quantity, tariff.increment
    if tariff.strategy is RatingStrategy.PER_EVENT:
        flat = max(tariff.unit_price, tariff.minimum_charge)
    elif tariff.unit_price >= 0 and tariff.price_unit > 0:
        flat = None
    else:  # not a tariff the catalog accepts; priced the long way rather than guessed at
        return functools.partial(_rate_by_strategy, tariff, pricing)
    unit_price, minimum_charge = tariff.unit_price, tariff.minimum_charge
    twice_price_unit = 2 * tariff.price_unit
    price_unit = tariff.price_unit

    def rate(quantity: int, allowance_left: int) -> tuple[int, int, int]:
        if quantity <= 0:
            return _NOTHING
        billable = -(-(quantity if quantity > minimum else minimum) // increment) * increment
        if allowance_left <= 0:
            from_allowance = 0
        elif allowance_left >= billable:
            return (billable, billable, 0)
        else:
            from_allowance = allowance_left
        if flat is not None:
            return (billable, from_allowance, flat)
        # divide_round_half_up for a numerator >= 0: (2n + d) // 2d
        amount = (2 * (billable - from_allowance) * unit_price + price_unit) // twice_price_unit
        return (billable, from_allowance, amount if amount > minimum_charge else minimum_charge)

    return rate


_NOTHING = (0, 0, 0)


def _rate_by_strategy(
    tariff: Tariff, pricing: PricingStrategy, quantity: int, allowance_left: int
) -> tuple[int, int, int]:
    billable = billable_quantity(quantity, tariff)
    from_allowance = min(billable, max(allowance_left, 0))
    return (billable, from_allowance, pricing.price(tariff, billable - from_allowance))


class Charge(NamedTuple):
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
        raise _no_tariff(plan, service_id, zone, band)
    return price_with_tariff(tariff, zone, band, quantity, allowance_left)


def price_with_tariff(
    tariff: Tariff, zone: Zone, band: Band, quantity: int, allowance_left: int
) -> Charge:
    """:func:`price_event` once the tariff is known."""
    return Rate(tariff, zone, band, None).charge(quantity, allowance_left)


def _no_tariff(plan: PricePlan, service_id: str, zone: Zone, band: Band) -> NoTariff:
    return NoTariff(
        f"price plan {plan.code} has no {service_id} tariff for zone {zone} band {band}",
        field="service",
    )


# --- A price plan compiled for rating --------------------------------------------------------


class Rate:
    """What an event of one (service, zone, band) costs under a plan: the tariff that prices
    it, its pricing strategy, the tariff compiled (:func:`compile_rater`) and the allowance it
    draws on first (None when there is none)."""

    __slots__ = (
        "_covered", "_without_allowance", "allowance", "band", "pricing", "rater", "tariff", "zone",
    )  # fmt: skip

    def __init__(self, tariff: Tariff, zone: Zone, band: Band, allowance: Allowance | None):
        self.tariff = tariff
        self.zone = zone
        self.band = band
        self.allowance = allowance
        self.pricing = pricing_for(tariff)
        self.rater = compile_rater(tariff)
        # Charges with no allowance left by quantity: such a charge depends on nothing else,
        # and quantities repeat (seconds of a call, one SMS). Bounded: data bytes rarely do.
        self._without_allowance: dict[int, Charge] = {}
        # Likewise the charges wholly covered by the allowance, by quantity: the same for any
        # allowance left of at least their billable quantity.
        self._covered: dict[int, Charge] = {}

    def charge(self, quantity: int, allowance_left: int) -> Charge:
        """Price an event of ``quantity`` given what remains of its allowance."""
        if allowance_left > 0:
            covered = self._covered.get(quantity)
            if covered is not None and covered.billable_quantity <= allowance_left:
                return covered
            charge = self._price(quantity, allowance_left)
            if not charge.charged_quantity and len(self._covered) < _REMEMBERED_CHARGES:
                self._covered[quantity] = charge
            return charge
        known = self._without_allowance.get(quantity)
        if known is None:
            known = self._price(quantity, 0)
            if len(self._without_allowance) < _REMEMBERED_CHARGES:
                self._without_allowance[quantity] = known
        return known

    def _price(self, quantity: int, allowance_left: int) -> Charge:
        billable, from_allowance, amount = self.rater(quantity, allowance_left)
        charged = billable - from_allowance
        return _new_charge(
            (self.tariff, self.zone, self.band, billable, from_allowance, charged, amount)
        )


_REMEMBERED_CHARGES = 4096


class RateCard:
    """One price plan ready to rate many events: the :class:`Rate` of every (service, zone,
    band) in one dict lookup, where the plan scans its tariff and allowance lists, and the band
    of an instant worked out once per UTC hour instead of converting every event's time to the
    operator's zone. Same answers as the plan and :func:`band_at`."""

    __slots__ = ("_allowances", "_band_by_hour", "_rates", "plan", "tz")

    def __init__(self, plan: PricePlan, tz: ZoneInfo) -> None:
        self.plan = plan
        self.tz = tz
        self._rates: dict[tuple[str, Zone, Band], Rate] = {}
        self._allowances: dict[tuple[str, Zone], Allowance | None] = {}
        services = {t.service_id for t in plan.tariffs} | {a.service_id for a in plan.allowances}
        for service_id in services:
            for zone in Zone:
                allowance = plan.allowance_for(service_id, zone)
                self._allowances[service_id, zone] = allowance
                for band in Band:
                    tariff = plan.tariff_for(service_id, zone, band)
                    if tariff is not None:
                        self._rates[service_id, zone, band] = Rate(tariff, zone, band, allowance)
        self._band_by_hour: dict[int, Band | None] = {}

    def allowance_for(self, service_id: str, zone: Zone) -> Allowance | None:
        return self._allowances.get((service_id, zone))

    def tariff_for(self, service_id: str, zone: Zone, band: Band) -> Tariff | None:
        """The plan's tariff, as compiled here (the tests hold the card to the plan)."""
        rate = self._rates.get((service_id, zone, band))
        return rate.tariff if rate is not None else None

    def rate_at(self, service_id: str, zone: Zone, started_at_utc: datetime) -> Rate | None:
        """The rate of an event: its band at ``started_at_utc``, then the tariff for it."""
        return self._rates.get((service_id, zone, self.band_at(started_at_utc)))

    def rate_for(self, service_id: str, zone: Zone, band: Band) -> Rate | None:
        """The rate of an event whose band is known; None when the plan does not price it."""
        return self._rates.get((service_id, zone, band))

    def band_at(self, started_at_utc: datetime) -> Band:
        """:func:`band_at` for this plan, from a per-hour cache."""
        peak = self.plan.peak_hours
        if peak is None:
            return Band.ANY
        hour = started_at_utc.toordinal() * 24 + started_at_utc.hour
        try:
            band = self._band_by_hour[hour]
        except KeyError:
            hour_utc = datetime.combine(started_at_utc.date(), time(started_at_utc.hour))
            band = self._band_by_hour[hour] = band_of_whole_hour(peak, hour_utc, self.tz)
        if band is None:
            return peak.band_at(to_local(started_at_utc, self.tz))
        return band


# --- Rating a sequence of events with allowance and balance state -----------------------------


@dataclass(frozen=True, slots=True)
class Account:
    """What rating needs to know about a subscriber line."""

    subscriber_id: int
    plan: PricePlan
    prepaid: bool
    cycle_day: int = PREPAID_CYCLE_DAY  # the bill cycle's day; PREPAID_CYCLE_DAY for prepaid


class UsageEvent(NamedTuple):
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


class RatedEvent(NamedTuple):
    event: UsageEvent
    account: Account
    charge: Charge
    negative_balance: bool  # prepaid: the main balance was below zero after this charge


@dataclass
class RatingState:
    """Allowance counters and prepaid balances carried from event to event (and, via the
    database, from batch to batch). ``period_of`` finds an event's billing period.

    ``cards`` holds the compiled :class:`RateCard` of each plan met, by ``id(plan)`` (safe: the
    card keeps its plan alive, so the id cannot be reused); states of one time zone may share
    one dict so a plan is compiled once per run rather than once per batch."""

    tz: ZoneInfo
    allowances: dict[AllowanceKey, AllowanceCounter] = field(default_factory=dict)
    balances: dict[int, int] = field(default_factory=dict)  # prepaid subscriber -> minor units
    cards: dict[int, RateCard] = field(default_factory=dict)
    _periods: dict[int, tuple[datetime, datetime]] = field(default_factory=dict)

    def card(self, plan: PricePlan) -> RateCard:
        """The plan compiled for rating, built on first use."""
        card = self.cards.get(id(plan))
        if card is None or card.plan is not plan or card.tz is not self.tz:
            card = self.cards[id(plan)] = RateCard(plan, self.tz)
        return card

    def allowance_of(self, plan: PricePlan, service_id: str, zone: Zone) -> Allowance | None:
        """``plan.allowance_for``, from the plan's card."""
        return self.card(plan).allowance_for(service_id, zone)

    def period_of(self, cycle_day: int, instant: datetime) -> tuple[datetime, datetime]:
        # Events arrive roughly in time order, so the last period per cycle day almost always
        # matches and saves a time-zone conversion per event.
        cached = self._periods.get(cycle_day)
        if cached is not None and cached[0] <= instant < cached[1]:
            return cached
        period = period_containing(instant, cycle_day, self.tz)
        self._periods[cycle_day] = period
        return period

    def counter(self, account: Account, event: UsageEvent) -> AllowanceCounter | None:
        allowance = self.allowance_of(account.plan, event.service_id, event.zone)
        if allowance is None:
            return None
        return self._counter_of(account, event, allowance)

    def _counter_of(
        self, account: Account, event: UsageEvent, allowance: Allowance
    ) -> AllowanceCounter:
        period = self.period_of(account.cycle_day, event.started_at)
        return self.counter_in(account.subscriber_id, event.service_id, period, allowance)

    def counter_in(
        self,
        subscriber_id: int,
        service_id: str,
        period: tuple[datetime, datetime],
        allowance: Allowance,
    ) -> AllowanceCounter:
        """The subscriber's counter of ``allowance`` in the billing period ``period``: the one
        held (loaded or already used), else a fresh one with nothing used."""
        key = (subscriber_id, service_id, period[0])
        found = self.allowances.get(key)
        if found is None:
            found = AllowanceCounter(granted=allowance.quantity, used=0, period_end=period[1])
            self.allowances[key] = found
        return found


def rate_event(state: RatingState, account: Account, event: UsageEvent) -> RatedEvent:
    """Rate one event, consuming its allowance and debiting a prepaid balance in ``state``."""
    (rated,) = rate_events(state, [(account, event)])
    return rated


def rating_order(event: UsageEvent) -> tuple[datetime, str]:
    """Events are rated by start time, ties broken by CDR id, so any split rates the same."""
    return (event.started_at, event.cdr_id)


def _pair_order(pair: tuple[Account, UsageEvent]) -> tuple[datetime, str]:
    event = pair[1]
    return (event.started_at, event.cdr_id)  # rating_order, inlined: called once per event


def rate_events(
    state: RatingState,
    items: Iterable[tuple[Account, UsageEvent]],
    on_rejected: Callable[[Account, UsageEvent, NoTariff], None] | None = None,
) -> list[RatedEvent]:
    """Rate events in :func:`rating_order`, each consuming its allowance and debiting a prepaid
    balance in ``state``; events without a tariff go to ``on_rejected`` (or raise when it is
    None) and change no state. One loop with its lookups held in locals: the loader runs it
    for every CDR."""
    rated: list[RatedEvent] = []
    balances, allowances, period_of = state.balances, state.allowances, state.period_of
    # id(plan) -> its rates: the plans are alive (the accounts hold them) while this runs.
    rates_of: dict[int, dict[tuple[str, Zone, Band], Rate]] = {}
    for account, event in sorted(items, key=_pair_order):
        rates = rates_of.get(id(account.plan))
        if rates is None:
            rates = rates_of[id(account.plan)] = state.card(account.plan)._rates
        _cdr_id, service_id, started_at, quantity, zone, band, _other = event
        rate = rates.get((service_id, zone, band))
        if rate is None:
            exc = _no_tariff(account.plan, service_id, zone, band)
            if on_rejected is None:
                raise exc
            on_rejected(account, event, exc)
            continue
        allowance = rate.allowance
        if allowance is None:
            charge = rate.charge(quantity, 0)
        else:
            period_start = period_of(account.cycle_day, started_at)[0]
            counter = allowances.get((account.subscriber_id, service_id, period_start))
            if counter is None:
                counter = state._counter_of(account, event, allowance)
            charge = rate.charge(quantity, counter.granted - counter.used)
            if charge.allowance_used:
                counter.used += charge.allowance_used
                counter.touched = True
        negative = False
        if charge.amount and account.prepaid:
            balance = balances.get(account.subscriber_id, 0) - charge.amount
            balances[account.subscriber_id] = balance
            negative = balance < 0
        rated.append(_new_rated_event((event, account, charge, negative)))
    return rated


# Named tuples built from a tuple, without their Python-level __new__: once per rated event.
_new_charge = functools.partial(tuple.__new__, Charge)
_new_rated_event = functools.partial(tuple.__new__, RatedEvent)

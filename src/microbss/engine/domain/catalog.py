"""Reference data: services, bill cycles and price plans (tariffs, time bands, allowances).

A tariff prices one (service, zone, band). Lookup prefers the exact band and falls back to ANY.
PER_UNIT tariffs price ``unit_price`` minor units per ``price_unit`` service units, charged in
steps of ``increment`` after a ``minimum_quantity``; PER_EVENT tariffs price each event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time
from enum import StrEnum


class ServiceUnit(StrEnum):
    SECOND = "SECOND"
    MESSAGE = "MESSAGE"
    BYTE = "BYTE"


class PaymentType(StrEnum):
    PREPAID = "PREPAID"
    POSTPAID = "POSTPAID"


class Zone(StrEnum):
    NATIONAL = "NATIONAL"
    INTERNATIONAL = "INTERNATIONAL"
    ROAMING = "ROAMING"


class Band(StrEnum):
    PEAK = "PEAK"
    OFFPEAK = "OFFPEAK"
    ANY = "ANY"


class RatingStrategy(StrEnum):
    PER_UNIT = "PER_UNIT"
    PER_EVENT = "PER_EVENT"


WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True, slots=True)
class Service:
    id: str
    name: str
    unit: ServiceUnit


@dataclass(frozen=True, slots=True)
class BillCycle:
    id: int
    name: str
    cycle_day: int  # 1..28: the day each billing period starts (and the previous one ends)


@dataclass(frozen=True, slots=True)
class PeakHours:
    """Peak band: on ``weekdays`` (0 = Monday) from ``start`` (inclusive) to ``end`` (exclusive),
    in the operator's local time. Everything else is off-peak."""

    weekdays: frozenset[int]
    start: time
    end: time

    def band_at(self, local: datetime) -> Band:
        in_peak = local.weekday() in self.weekdays and self.start <= local.time() < self.end
        return Band.PEAK if in_peak else Band.OFFPEAK

    def describe(self) -> str:
        days = sorted(self.weekdays)
        if days == list(range(days[0], days[-1] + 1)) and len(days) > 1:
            day_text = f"{WEEKDAY_NAMES[days[0]]}-{WEEKDAY_NAMES[days[-1]]}"
        else:
            day_text = ",".join(WEEKDAY_NAMES[d] for d in days)
        return f"{day_text} {self.start:%H:%M}-{self.end:%H:%M}"


@dataclass(frozen=True, slots=True)
class Tariff:
    service_id: str
    zone: Zone
    band: Band
    strategy: RatingStrategy
    unit_price: int  # minor units per price_unit (PER_UNIT) or per event (PER_EVENT)
    price_unit: int = 1  # service units the unit_price is for (60 = per minute)
    increment: int = 1  # charging step in service units
    minimum_quantity: int = 0
    minimum_charge: int = 0  # minor units; applies to an event with a non-zero charge basis


@dataclass(frozen=True, slots=True)
class Allowance:
    service_id: str
    quantity: int  # service units per billing period
    zones: frozenset[Zone] = frozenset({Zone.NATIONAL})


@dataclass(frozen=True, slots=True)
class PricePlan:
    id: int
    code: str
    name: str
    payment_type: PaymentType
    currency: str
    monthly_fee: int
    initial_credit: int = 0
    peak_hours: PeakHours | None = None
    tariffs: tuple[Tariff, ...] = ()
    allowances: tuple[Allowance, ...] = ()
    description: str = ""

    def band_at(self, local: datetime) -> Band:
        return self.peak_hours.band_at(local) if self.peak_hours else Band.ANY

    def tariff_for(self, service_id: str, zone: Zone, band: Band) -> Tariff | None:
        fallback = None
        for tariff in self.tariffs:
            if tariff.service_id != service_id or tariff.zone != zone:
                continue
            if tariff.band == band:
                return tariff
            if tariff.band == Band.ANY:
                fallback = tariff
        return fallback

    def allowance_for(self, service_id: str, zone: Zone) -> Allowance | None:
        for allowance in self.allowances:
            if allowance.service_id == service_id and zone in allowance.zones:
                return allowance
        return None


@dataclass(frozen=True)
class Catalog:
    services: dict[str, Service] = field(default_factory=dict)
    bill_cycles: dict[int, BillCycle] = field(default_factory=dict)
    price_plans: dict[int, PricePlan] = field(default_factory=dict)

"""Demo usage: a seeded, realistic CDR file for the demo subscribers, loaded the real way.

``generate_demo_cdrs`` writes ``<data dir>/demo-cdrs/demo-cdrs.csv`` (microbss CSV) with a few
months of calls (national at all hours, some international), SMS, data sessions and a little
roaming where the subscriber's plan prices it, then loads it through :func:`load_cdr_files`, so
a fresh install shows usage, allowances and balances produced by the same code as production.
CDR ids are stable per subscriber and sequence, so generating again adds nothing twice.

Usage profiles: prepaid customers use their phone lightly (mostly within their allowance) and
every event is priced beforehand with the engine's own rating rules, so a prepaid balance never
drops below a reserve of its credit: a demo prepaid line always has money left to show. Postpaid
customers use more, and every third one is a heavy user, so bills have many lines.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from microbss.engine.deps import Deps
from microbss.engine.domain.catalog import Catalog, PaymentType, PricePlan, Zone
from microbss.engine.domain.rating import (
    Account,
    NoTariff,
    RatingState,
    UsageEvent,
    band_at,
    price_event,
    zone_for_other_party,
)
from microbss.engine.jobs.cdr_formats import OWN_CSV_COLUMNS
from microbss.engine.jobs.cdr_loader import load_cdr_files
from microbss.engine.storage.catalog_repository import load_catalog
from microbss.engine.storage.tables import balances, subscribers
from microbss.engine.storage.uow import UnitOfWork

log = logging.getLogger(__name__)

SEED = 2026
NATIONAL_NUMBERS = ("34911234567", "34932223344", "34600555666", "34611777888", "34954001122")
FOREIGN_NUMBERS = ("00447700900123", "+33612345678", "004915112345678", "+12025550143")
# A prepaid line keeps at least this share of its balance at generation time: the demo never
# shows a customer in debt, and a CSR can still see usage eat into the credit.
PREPAID_RESERVE_PERCENT = 40


@dataclass(frozen=True)
class _UsageProfile:
    """How much one kind of customer uses the phone per day."""

    events_per_day: tuple[int, int]  # inclusive range
    mean_call_seconds: float
    data_log_mean: float  # lognormal location of a data session's bytes
    international_share: float


LIGHT = _UsageProfile((0, 2), 70.0, 12.5, 0.02)  # ~270 KB median data session
REGULAR = _UsageProfile((2, 7), 150.0, 15.0, 0.08)  # ~3 MB median data session
HEAVY = _UsageProfile((6, 12), 240.0, 15.5, 0.10)


def generate_demo_cdrs(deps: Deps, subscriber_ids: Iterable[int], months: int = 3) -> Path:
    """Write and load ``months`` months of usage up to now for these subscribers."""
    with UnitOfWork(deps.db) as uow:
        catalog = load_catalog(uow.conn)
        rows = uow.conn.execute(
            select(
                subscribers.c.id,
                subscribers.c.msisdn,
                subscribers.c.price_plan_id,
                subscribers.c.activated_at,
                subscribers.c.terminated_at,
                balances.c.amount_minor.label("balance_minor"),
            )
            .outerjoin(balances, balances.c.subscriber_id == subscribers.c.id)
            .where(subscribers.c.id.in_(sorted(set(subscriber_ids))))
            .order_by(subscribers.c.id)
        ).all()
    now = deps.clock().replace(microsecond=0)
    window_start = now - timedelta(days=30 * months)
    folder = deps.settings.data_dir / "demo-cdrs"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "demo-cdrs.csv"
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(",".join(OWN_CSV_COLUMNS) + "\n")
        for row in rows:
            start = max(window_start, row.activated_at + timedelta(minutes=1))
            end = min(now, row.terminated_at) if row.terminated_at else now
            plan = catalog.price_plans[row.price_plan_id]
            line = _DemoLine(row.id, row.msisdn, plan, row.balance_minor or 0)
            for text in _subscriber_lines(line, catalog, deps, start, end):
                out.write(text)
    summary = load_cdr_files(deps, [path], progress=False)
    log.info("demo CDRs: %s", "; ".join(summary.lines()))
    return path


@dataclass(frozen=True)
class _DemoLine:
    subscriber_id: int
    msisdn: str
    plan: PricePlan
    balance_minor: int  # prepaid main balance before this usage

    @property
    def prepaid(self) -> bool:
        return self.plan.payment_type == PaymentType.PREPAID

    def profile(self) -> _UsageProfile:
        if self.prepaid:
            return LIGHT
        return HEAVY if self.subscriber_id % 3 == 0 else REGULAR


class _PrepaidBudget:
    """Prices each candidate event as the CDR loader will, and refuses those that would take a
    prepaid balance below its reserve. Postpaid lines have no budget: every event is kept."""

    def __init__(self, line: _DemoLine, deps: Deps) -> None:
        self._line = line
        self._tz = deps.settings.tz
        self._country_code = deps.settings.country_code
        self._account = Account(line.subscriber_id, line.plan, prepaid=line.prepaid)
        self._state = RatingState(tz=self._tz)
        self._balance = line.balance_minor
        self._floor = line.balance_minor * PREPAID_RESERVE_PERCENT // 100

    def allows(self, event: tuple[str, int, str, str], at: datetime) -> bool:
        if not self._line.prepaid:
            return True
        service, quantity, other, zone_text = event
        zone = Zone(zone_text) if zone_text else zone_for_other_party(other, self._country_code)
        band = band_at(self._line.plan, at, self._tz)
        usage = UsageEvent("", service, at, quantity, zone, band, other)
        counter = self._state.counter(self._account, usage)
        left = counter.remaining if counter else 0
        try:
            charge = price_event(self._line.plan, service, zone, band, quantity, left)
        except NoTariff:
            return False
        if self._balance - charge.amount < self._floor:
            return False
        self._balance -= charge.amount
        if counter is not None:
            counter.used += charge.allowance_used
        return True


def _subscriber_lines(
    line: _DemoLine, catalog: Catalog, deps: Deps, start: datetime, end: datetime
) -> Iterator[str]:
    rng = random.Random(SEED * 100_003 + line.subscriber_id)
    roams = rng.random() < 0.3  # some customers travel
    profile = line.profile()
    budget = _PrepaidBudget(line, deps)
    sequence = 0
    day = start.replace(hour=0, minute=0, second=0)
    while day < end:
        # In time order, as the loader rates them, so the budget sees allowances run out
        # exactly when the rating will. 07:00-01:00 local-ish.
        count = rng.randint(*profile.events_per_day)
        offsets = sorted(rng.randrange(6 * 3600, 24 * 3600) for _ in range(count))
        for offset in offsets:
            at = day + timedelta(seconds=offset)
            if not start <= at < end:
                continue
            event = _event(rng, line.plan, catalog, roams, profile)
            if event is None or not budget.allows(event, at):
                continue
            service, quantity, other, zone = event
            sequence += 1
            yield (
                f"DEMO-{line.subscriber_id}-{sequence:06d},{line.msisdn},{service},"
                f"{at:%Y-%m-%dT%H:%M:%S}Z,{quantity},{other},{zone}\n"
            )
        day += timedelta(days=1)


def _event(
    rng: random.Random, plan: PricePlan, catalog: Catalog, roams: bool, profile: _UsageProfile
) -> tuple[str, int, str, str] | None:
    roll = rng.random()
    if roll < 0.45:
        service, quantity = "VOICE", max(0, int(rng.expovariate(1 / profile.mean_call_seconds)))
        if rng.random() < 0.1:
            quantity = 0  # unanswered
    elif roll < 0.7:
        service, quantity = "SMS", 1
    else:
        service, quantity = "DATA", int(rng.lognormvariate(profile.data_log_mean, 1.3))
    zone, other = "", rng.choice(NATIONAL_NUMBERS)
    if service != "DATA" and rng.random() < profile.international_share:
        other = rng.choice(FOREIGN_NUMBERS)
        if not _priced(plan, service, Zone.INTERNATIONAL):
            return None
    elif roams and rng.random() < 0.05 and _priced(plan, service, Zone.ROAMING):
        zone = Zone.ROAMING.value
    if service == "DATA":
        other = "internet"
    if service not in catalog.services:
        return None
    return service, quantity, other, zone


def _priced(plan: PricePlan, service: str, zone: Zone) -> bool:
    return any(t.service_id == service and t.zone == zone for t in plan.tariffs)

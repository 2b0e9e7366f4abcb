"""Demo usage: a seeded, realistic CDR file for the demo subscribers, loaded the real way.

``generate_demo_cdrs`` writes ``<data dir>/demo-cdrs/demo-cdrs.csv`` (microbss CSV) with a few
months of calls (national at all hours, some international), SMS, data sessions and a little
roaming where the subscriber's plan prices it, then loads it through :func:`load_cdr_files`, so
a fresh install shows usage, allowances and balances produced by the same code as production.
CDR ids are stable per subscriber and sequence, so generating again adds nothing twice.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from microbss.engine.deps import Deps
from microbss.engine.domain.catalog import Catalog, PricePlan, Zone
from microbss.engine.jobs.cdr_formats import OWN_CSV_COLUMNS
from microbss.engine.jobs.cdr_loader import load_cdr_files
from microbss.engine.storage.catalog_repository import load_catalog
from microbss.engine.storage.tables import subscribers
from microbss.engine.storage.uow import UnitOfWork

log = logging.getLogger(__name__)

SEED = 2026
NATIONAL_NUMBERS = ("34911234567", "34932223344", "34600555666", "34611777888", "34954001122")
FOREIGN_NUMBERS = ("00447700900123", "+33612345678", "004915112345678", "+12025550143")


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
            )
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
            for line in _subscriber_lines(row.id, row.msisdn, plan, catalog, start, end):
                out.write(line)
    summary = load_cdr_files(deps, [path], progress=False)
    log.info("demo CDRs: %s", "; ".join(summary.lines()))
    return path


def _subscriber_lines(
    subscriber_id: int,
    msisdn: str,
    plan: PricePlan,
    catalog: Catalog,
    start: datetime,
    end: datetime,
) -> Iterable[str]:
    rng = random.Random(SEED * 100_003 + subscriber_id)
    roams = rng.random() < 0.3  # some customers travel
    sequence = 0
    day = start.replace(hour=0, minute=0, second=0)
    while day < end:
        for _ in range(rng.randint(2, 7)):
            at = day + timedelta(
                seconds=rng.randrange(6 * 3600, 24 * 3600)
            )  # 07:00-01:00 local-ish
            if not start <= at < end:
                continue
            event = _event(rng, plan, catalog, roams)
            if event is None:
                continue
            service, quantity, other, zone = event
            sequence += 1
            yield (
                f"DEMO-{subscriber_id}-{sequence:06d},{msisdn},{service},"
                f"{at:%Y-%m-%dT%H:%M:%S}Z,{quantity},{other},{zone}\n"
            )
        day += timedelta(days=1)


def _event(
    rng: random.Random, plan: PricePlan, catalog: Catalog, roams: bool
) -> tuple[str, int, str, str] | None:
    roll = rng.random()
    if roll < 0.45:
        service, quantity = "VOICE", max(0, int(rng.expovariate(1 / 150)))
        if rng.random() < 0.1:
            quantity = 0  # unanswered
    elif roll < 0.7:
        service, quantity = "SMS", 1
    else:
        service, quantity = "DATA", int(rng.lognormvariate(15, 1.3))  # ~3 MB median session
    zone, other = "", rng.choice(NATIONAL_NUMBERS)
    if service != "DATA" and rng.random() < 0.08:
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

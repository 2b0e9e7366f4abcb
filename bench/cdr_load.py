"""Benchmark (a): load and rate generated CDRs into SQLite, end to end, against its ceiling.

Seeded data: SUBSCRIBERS subscribers (inserted directly) and CDRS CDRs in one microbss CSV.
Measures the loader's CDRs per second and the process's peak memory, then, in the same run,
the ceiling it is bound by: a bare ``executemany`` of the same rated rows, in the same batch
size, into the same table with the same indexes in a fresh database. Prints JSON lines.

    python -m bench.cdr_load [--cdrs N] [--subscribers N]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sqlite3
import tempfile
import time as clock
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from microbss.engine.config import load_settings
from microbss.engine.deps import Deps, build_deps
from microbss.engine.domain.catalog import (
    Allowance,
    Band,
    BillCycle,
    Catalog,
    PaymentType,
    PeakHours,
    PricePlan,
    RatingStrategy,
    Service,
    ServiceUnit,
    Tariff,
    Zone,
)
from microbss.engine.jobs.cdr_loader import (
    DEFAULT_BATCH_SIZE,
    INSERT_RATED_CDR_SQLITE,
    LOADER_CACHE_KIB,
    RATED_CDR_COLUMNS,
    load_cdr_files,
)
from microbss.engine.storage.catalog_repository import replace_catalog
from microbss.engine.storage.tables import balances, subscribers

SEED = 20261101
START = datetime(2026, 10, 1)


def bench_catalog() -> Catalog:
    unit, event = RatingStrategy.PER_UNIT, RatingStrategy.PER_EVENT
    tariffs = (
        Tariff("VOICE", Zone.NATIONAL, Band.PEAK, unit, 12, 60, 1, minimum_quantity=60),
        Tariff("VOICE", Zone.NATIONAL, Band.OFFPEAK, unit, 6, 60, 60),
        Tariff("VOICE", Zone.INTERNATIONAL, Band.ANY, unit, 50, 60, 1, minimum_quantity=60),
        Tariff("VOICE", Zone.ROAMING, Band.ANY, unit, 90, 60, 60, minimum_charge=20),
        Tariff("SMS", Zone.NATIONAL, Band.ANY, event, 9),
        Tariff("SMS", Zone.INTERNATIONAL, Band.ANY, event, 25),
        Tariff("DATA", Zone.NATIONAL, Band.ANY, unit, 100, 1 << 20, 1024),
        Tariff("DATA", Zone.ROAMING, Band.ANY, unit, 500, 1 << 20, 1024),
    )
    peak = PeakHours(
        frozenset(range(5)),
        datetime.min.time().replace(hour=8),
        datetime.min.time().replace(hour=20),
    )
    plans = {
        101: PricePlan(101, "PRE", "Prepaid", PaymentType.PREPAID, "EUR", 0, 500, peak, tariffs,
                       (Allowance("DATA", 1 << 30),)),
        201: PricePlan(201, "POST", "Postpaid", PaymentType.POSTPAID, "EUR", 1500, 0, peak, tariffs,
                       (Allowance("VOICE", 6000), Allowance("SMS", 100),
                        Allowance("DATA", 5 << 30))),
    }  # fmt: skip
    return Catalog(
        services={
            "VOICE": Service("VOICE", "Voice", ServiceUnit.SECOND),
            "SMS": Service("SMS", "SMS", ServiceUnit.MESSAGE),
            "DATA": Service("DATA", "Data", ServiceUnit.BYTE),
        },
        bill_cycles={1: BillCycle(1, "1st", 1)},
        price_plans=plans,
    )


def msisdn(n: int) -> str:
    return f"3460{n:07d}"


def seed_subscribers(deps: Deps, count: int) -> None:
    rows, money = [], []
    for n in range(count):
        prepaid = n % 2 == 0
        rows.append({
            "id": n + 1, "status": "ACTIVE", "payment_type": "PREPAID" if prepaid else "POSTPAID",
            "price_plan_id": 101 if prepaid else 201, "bill_cycle_id": None if prepaid else 1,
            "msisdn": msisdn(n), "imsi": f"21401{n:010d}", "handset_imei": None,
            "identity_hash": f"{n:064d}", "identity_last4": "0000", "first_name": "Bench",
            "last_name": f"Subscriber {n}", "date_of_birth": date(1990, 1, 1),
            "street": "Calle Mayor 1", "city": "Madrid", "postal_code": "28013", "country": "ES",
            "email": f"b{n}@example.com", "contact_phone": "600000000", "payment_method": "CASH",
            "activated_at": datetime(2026, 1, 1), "billed_until": datetime(2026, 1, 1),
        })  # fmt: skip
        money.append({
            "subscriber_id": n + 1, "currency": "EUR", "amount_minor": 2000 if prepaid else 0,
            "updated_at": datetime(2026, 1, 1),
        })  # fmt: skip
    with deps.db.begin() as conn:
        replace_catalog(conn, bench_catalog())
        conn.execute(insert(subscribers), rows)
        conn.execute(insert(balances), money)


def write_cdrs(path: Path, count: int, subscriber_count: int) -> None:
    rng = random.Random(SEED)
    span = 30 * 24 * 3600
    with path.open("w", encoding="utf-8") as out:
        out.write("cdr_id,msisdn,service,start_time,quantity,other_party,zone\n")
        for n in range(count):
            at = START + timedelta(seconds=rng.randrange(span))
            who = msisdn(rng.randrange(subscriber_count))
            kind = rng.random()
            if kind < 0.5:
                service, quantity = "VOICE", int(rng.expovariate(1 / 120))
            elif kind < 0.75:
                service, quantity = "SMS", 1
            else:
                service, quantity = "DATA", int(rng.expovariate(1 / 5_000_000))
            roll = rng.random()
            other, zone = ("34911234567", "")
            if roll < 0.05 and service != "DATA":
                other = "00447700900123"
            elif roll < 0.07 and service != "SMS":
                zone = "ROAMING"
            out.write(
                f"B{n:08d},{who},{service},{at:%Y-%m-%dT%H:%M:%S}Z,{quantity},{other},{zone}\n"
            )


def ceiling(rows: list[tuple[object, ...]], db_path: Path, batch_size: int) -> float:
    """Rows per second for a bare executemany of ``rows`` in batches, one commit per batch,
    on a connection set up as the loader's (WAL, synchronous NORMAL, the same page cache)."""
    connection = sqlite3.connect(db_path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute(f"PRAGMA cache_size=-{LOADER_CACHE_KIB}")
    started = clock.perf_counter()
    for start in range(0, len(rows), batch_size):
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(INSERT_RATED_CDR_SQLITE, rows[start : start + batch_size])
        connection.execute("COMMIT")
    seconds = clock.perf_counter() - started
    connection.close()
    return len(rows) / seconds


def emit(metric: str, value: float, unit: str, **extra: object) -> None:
    record = {"bench": "cdr_load", "metric": metric, "value": round(value, 3), "unit": unit}
    print(json.dumps(record | extra), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cdrs", type=int, default=1_000_000)
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="microbss-bench-") as tmp:
        root = Path(tmp)
        deps = build_deps(load_settings({"MICROBSS_DATA_DIR": str(root / "load")}))
        seed_subscribers(deps, args.subscribers)
        cdr_file = root / "cdrs.csv"
        write_cdrs(cdr_file, args.cdrs, args.subscribers)

        summary = load_cdr_files(deps, [cdr_file], batch_size=args.batch_size, progress=False)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        assert summary.rated + summary.rejected == args.cdrs, summary.lines()
        loaded = summary.read / summary.seconds

        source = sqlite3.connect(root / "load" / "engine.sqlite3")
        rows = source.execute(
            f"SELECT {', '.join(RATED_CDR_COLUMNS)} FROM rated_cdrs ORDER BY id"
        ).fetchall()
        source.close()
        build_deps(load_settings({"MICROBSS_DATA_DIR": str(root / "ceiling")})).db.dispose()
        bare = ceiling(rows, root / "ceiling" / "engine.sqlite3", args.batch_size)
        deps.db.dispose()

    emit("load_and_rate", loaded, "CDR/s", cdrs=args.cdrs, subscribers=args.subscribers,
         rated=summary.rated, rejected=summary.rejected, target=60_000)  # fmt: skip
    emit("peak_memory", peak_mb, "MB")
    emit("ceiling_bare_executemany", bare, "rows/s")
    emit("ratio_to_ceiling", loaded / bare, "ratio", target=0.5)


if __name__ == "__main__":
    main()

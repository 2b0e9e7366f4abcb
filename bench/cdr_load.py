"""Benchmark (a): load and rate generated CDRs into SQLite, end to end, against its ceiling.

Seeded data: SUBSCRIBERS subscribers (inserted directly) and CDRS CDRs in microbss CSV, split
into FILES files. Measures the loader's CDRs per second and the process's peak memory and, in
the same run, the ceiling it is bound by: a bare ``executemany`` of the same rated rows, in the
same batch size, into the same table with the same indexes in a fresh database. The ceiling is
timed after each file, so a neighbour's load on this shared machine falls on both alike; the
ratio also comes as CPU seconds (``cpu_ratio``), which that load disturbs less.

The files are loaded as an operator loads a folder of them (``microbss engine cdr load
folder/``): in one run, one ``load_cdr_files`` call. The ceiling's slice of each file is timed
from that call's ``on_file_loaded``, and the time spent there (wall and CPU) is taken off the
load's. While the loader waits on the ceiling its reader process may read on into the next
file, as it does anyway while the loader stores a file's last batch, which takes it longer.
``--call-per-file`` loads each file in a run of its own instead (a cron job per file that
arrives), which starts a reader process and fills its pipeline once per file.

The loader reads files of 1 MiB and up in a reader process (jobs/cdr_reading.py): its CPU time
counts in the loader's CPU seconds; its peak memory is not in ``peak_memory`` (a child's
maximum RSS as the kernel reports it includes the parent's, copied at fork). JSON lines.

    python -m bench.cdr_load [--cdrs N] [--subscribers N] [--files N] [--batch-size N]
                             [--call-per-file]
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing
import random
import resource
import sqlite3
import tempfile
import time as clock
from datetime import date, datetime, timedelta
from multiprocessing.connection import Connection
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
    LOADER_AUTOCHECKPOINT_PAGES,
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


def split_file(path: Path, parts: int, rows: int) -> list[Path]:
    """``path`` (a header, then ``rows`` rows) as ``parts`` CDR files of consecutive rows, each
    with the header; streamed, so that the benchmark's peak memory stays the loader's."""
    size = -(-rows // parts)
    files: list[Path] = []
    with path.open(encoding="utf-8") as source:
        header = next(source)
        for n in range(parts):
            part = path.with_name(f"{path.stem}-{n:03d}.csv")
            with part.open("w", encoding="utf-8") as out:
                out.write(header)
                out.writelines(itertools.islice(source, size))
            files.append(part)
    path.unlink()
    return files


class Ceiling:
    """The bound of the load: a bare ``executemany`` of the rows the loader stored, in the same
    batches (one commit each), into the same table with the same indexes in a fresh database,
    on a connection set up as the loader's (WAL, synchronous NORMAL, the same page cache and
    automatic checkpoint threshold). The loader also checkpoints on a side thread after each
    batch; a bare ``executemany`` has no side thread, so here SQLite's automatic checkpoint, at
    that threshold, runs inside a commit every few batches.
    Timed slice by slice, right after the loader stored those rows, so that both run under the
    same load of this shared machine; in a child process, so that its page cache does not
    count in the loader's peak memory."""

    def __init__(self, load_db: Path, ceiling_db: Path, batch_size: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipe, child_end = context.Pipe()
        self._child = context.Process(
            target=_ceiling_child, args=(child_end, load_db, ceiling_db, batch_size)
        )
        self._child.start()
        self.rows = 0
        self.seconds = 0.0
        self.cpu_seconds = 0.0
        self.aside_seconds = 0.0  # of the load's time, spent waiting on the ceiling
        self.aside_cpu_seconds = 0.0

    def insert_stored(self) -> None:
        """Insert the rows the loader stored since the last call, timed."""
        self._pipe.send("insert")
        rows, seconds, cpu_seconds = self._pipe.recv()
        self.rows += rows
        self.seconds += seconds
        self.cpu_seconds += cpu_seconds

    def insert_stored_aside(self, _loaded: Path) -> None:
        """:meth:`insert_stored` from inside a load (its ``on_file_loaded``), keeping the
        wall and CPU time it takes there, for the load's own figures to leave out."""
        started, cpu = clock.perf_counter(), clock.process_time()
        self.insert_stored()
        self.aside_seconds += clock.perf_counter() - started
        self.aside_cpu_seconds += clock.process_time() - cpu

    def close(self) -> None:
        self._pipe.send("stop")
        self._child.join()


def _ceiling_child(pipe: Connection, load_db: Path, ceiling_db: Path, batch_size: int) -> None:
    target = sqlite3.connect(ceiling_db, isolation_level=None)
    target.execute("PRAGMA journal_mode=WAL")
    target.execute("PRAGMA synchronous=NORMAL")
    target.execute(f"PRAGMA cache_size=-{LOADER_CACHE_KIB}")
    target.execute(f"PRAGMA wal_autocheckpoint={LOADER_AUTOCHECKPOINT_PAGES}")
    source = sqlite3.connect(load_db)
    query = (
        f"SELECT id, {', '.join(RATED_CDR_COLUMNS)} FROM rated_cdrs"
        " WHERE id > ? ORDER BY id LIMIT ?"
    )
    last_id = 0
    while pipe.recv() == "insert":
        rows, seconds, cpu_seconds = 0, 0.0, 0.0
        while batch := source.execute(query, (last_id, batch_size)).fetchall():
            last_id = batch[-1][0]
            values = [row[1:] for row in batch]
            started, cpu = clock.perf_counter(), clock.process_time()
            target.execute("BEGIN IMMEDIATE")
            target.executemany(INSERT_RATED_CDR_SQLITE, values)
            target.execute("COMMIT")
            seconds += clock.perf_counter() - started
            cpu_seconds += clock.process_time() - cpu
            rows += len(values)
        pipe.send((rows, seconds, cpu_seconds))
    source.close()
    target.close()


def _children_cpu() -> float:
    """CPU seconds of this process's ended children (the loader's reader processes: the
    ceiling's child runs until the end)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def emit(metric: str, value: float, unit: str, **extra: object) -> None:
    record = {"bench": "cdr_load", "metric": metric, "value": round(value, 3), "unit": unit}
    print(json.dumps(record | extra), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cdrs", type=int, default=1_000_000)
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    parser.add_argument("--files", type=int, default=10, help="the CDRs come in this many files")
    parser.add_argument(
        "--call-per-file", action="store_true", help="load each file in a run of its own"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="microbss-bench-") as tmp:
        root = Path(tmp)
        deps = build_deps(load_settings({"MICROBSS_DATA_DIR": str(root / "load")}))
        seed_subscribers(deps, args.subscribers)
        cdr_file = root / "cdrs.csv"
        write_cdrs(cdr_file, args.cdrs, args.subscribers)
        parts = split_file(cdr_file, args.files, args.cdrs)
        build_deps(load_settings({"MICROBSS_DATA_DIR": str(root / "ceiling")})).db.dispose()
        load_db = root / "load" / "engine.sqlite3"
        bare = Ceiling(load_db, root / "ceiling" / "engine.sqlite3", args.batch_size)

        runs = [[part] for part in parts] if args.call_per_file else [parts]
        read = rated = rejected = 0
        seconds = cpu_seconds = 0.0
        for run in runs:
            cpu = clock.process_time() + _children_cpu()
            summary = load_cdr_files(
                deps,
                run,
                batch_size=args.batch_size,
                progress=False,
                on_file_loaded=bare.insert_stored_aside,
            )
            cpu_seconds += clock.process_time() + _children_cpu() - cpu
            seconds += summary.seconds
            read, rated, rejected = (
                read + summary.read,
                rated + summary.rated,
                rejected + summary.rejected,
            )
        seconds -= bare.aside_seconds
        cpu_seconds -= bare.aside_cpu_seconds
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        assert rated + rejected == args.cdrs == bare.rows, (rated, rejected, bare.rows)
        bare.close()
        deps.db.dispose()

    loaded = read / seconds
    ceiling_rate = bare.rows / bare.seconds
    emit("load_and_rate", loaded, "CDR/s", cdrs=args.cdrs, subscribers=args.subscribers,
         files=len(parts), runs=len(runs), rated=rated, rejected=rejected,
         target=60_000)  # fmt: skip
    emit("peak_memory", peak_mb, "MB")
    emit("ceiling_bare_executemany", ceiling_rate, "rows/s")
    emit("ratio_to_ceiling", loaded / ceiling_rate, "ratio", target=0.5,
         cpu_ratio=round(bare.cpu_seconds / cpu_seconds, 3))  # fmt: skip


if __name__ == "__main__":
    main()

"""Benchmark (b): the monthly bill run with PDFs, against its ceiling.

Seeded data in SQLite: SUBSCRIBERS postpaid subscribers with CDRS_EACH unbilled rated CDRs each
(inserted directly). For ``--workers 1`` and ``--workers 2`` the bill run runs on a fresh copy of
that database and reports bills per second; in the same run, the ceiling it is bound by: rendering
the same invoices' PDFs alone (no database, no files), with the same renderer and the same number
of processes, timed from when every process is ready. Prints JSON lines.

    python -m bench.billrun [--subscribers N] [--cdrs-each N] [--workers 1,2]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import resource
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from microbss.engine.config import Settings, load_settings
from microbss.engine.deps import Deps, build_deps
from microbss.engine.domain.billing import (
    Bill,
    BillKind,
    BillStatus,
    UsageTotals,
    compose_lines,
    format_invoice_number,
    net_total,
    prorate_fee,
)
from microbss.engine.domain.catalog import (
    Allowance,
    Band,
    BillCycle,
    Catalog,
    PaymentType,
    PricePlan,
    RatingStrategy,
    Service,
    ServiceUnit,
    Tariff,
    Zone,
)
from microbss.engine.jobs.billrun import run_bill_run
from microbss.engine.jobs.invoice_pdf import InvoiceDocument, Operator, render_invoice
from microbss.engine.storage import bill_repository
from microbss.engine.storage.catalog_repository import load_catalog, replace_catalog
from microbss.engine.storage.tables import rated_cdrs, subscribers

SEED = 20261102
PERIOD = "2026-10"  # cycle day 1: September 2026 (Madrid)
PERIOD_START = datetime(2026, 8, 31, 22)  # 1 Sep 00:00 CEST
SERVICES = ("VOICE", "SMS", "DATA")


def bench_catalog() -> Catalog:
    unit, event = RatingStrategy.PER_UNIT, RatingStrategy.PER_EVENT
    tariffs = (
        Tariff("VOICE", Zone.NATIONAL, Band.ANY, unit, 9, 60, 1, minimum_quantity=60),
        Tariff("SMS", Zone.NATIONAL, Band.ANY, event, 10),
        Tariff("DATA", Zone.NATIONAL, Band.ANY, unit, 100, 1 << 20, 1024),
    )
    plan = PricePlan(
        201,
        "POST_20",
        "Smart 20",
        PaymentType.POSTPAID,
        "EUR",
        2000,
        tariffs=tariffs,
        allowances=(Allowance("VOICE", 6000),),
    )
    return Catalog(
        services={
            "VOICE": Service("VOICE", "Voice calls", ServiceUnit.SECOND),
            "SMS": Service("SMS", "Text messages", ServiceUnit.MESSAGE),
            "DATA": Service("DATA", "Mobile data", ServiceUnit.BYTE),
        },
        bill_cycles={1: BillCycle(1, "1st of month", 1)},
        price_plans={201: plan},
    )


def seed(deps: Deps, count: int, cdrs_each: int) -> None:
    rng = random.Random(SEED)
    with deps.db.begin() as conn:
        replace_catalog(conn, bench_catalog())
        conn.execute(insert(subscribers), [
            {"status": "ACTIVE", "payment_type": "POSTPAID", "price_plan_id": 201,
             "bill_cycle_id": 1, "msisdn": str(34600000000 + n),
             "imsi": str(214010000000000 + n), "identity_hash": f"{n:064d}",
             "identity_last4": f"{n % 10000:04d}", "first_name": "Lucía",
             "last_name": f"Bench {n}", "date_of_birth": date(1985, 6, 1),
             "street": f"Calle Mayor {n % 200 + 1}", "city": "Madrid", "postal_code": "28013",
             "country": "ES", "email": "bench@example.com", "contact_phone": "+34600000000",
             "payment_method": "DIRECT_DEBIT", "activated_at": PERIOD_START,
             "billed_until": PERIOD_START}
            for n in range(count)
        ])  # fmt: skip
    for first in range(1, count + 1, 1000):
        rows = []
        for subscriber_id in range(first, min(first + 1000, count + 1)):
            for n in range(cdrs_each):
                service = rng.choice(SERVICES)
                quantity = rng.randint(1, 600) if service != "DATA" else rng.randint(1, 10**7)
                quantity = 1 if service == "SMS" else quantity
                rows.append({
                    "cdr_id": f"b-{subscriber_id}-{n}", "subscriber_id": subscriber_id,
                    "service_id": service,
                    "started_at": PERIOD_START + timedelta(minutes=rng.randint(0, 43000)),
                    "quantity": quantity, "other_party": "34911000000", "zone": "NATIONAL",
                    "band": "ANY", "billable_quantity": quantity,
                    "allowance_used": quantity // 2 if service == "VOICE" else 0,
                    "charge_minor": rng.randint(0, 150), "currency": "EUR",
                    "payment_type": "POSTPAID", "rated_at": PERIOD_START,
                })  # fmt: skip
        with deps.db.begin() as conn:
            conn.execute(insert(rated_cdrs), rows)


def bench_deps(data_dir: Path) -> Deps:
    deps = build_deps(load_settings({"MICROBSS_DATA_DIR": str(data_dir)}))
    deps.clock = lambda: datetime(2026, 10, 15, 12)
    return deps


def copy_database(source: Path, target: Path) -> None:
    target.mkdir(parents=True)
    shutil.copy(source / "engine.sqlite3", target / "engine.sqlite3")


# --- Ceiling: the same invoices rendered alone ----------------------------------------------

_documents: list[InvoiceDocument] = []


def _load_documents(settings: Settings, db_url: str) -> None:
    """The invoices of the first 500 subscribers, composed from the seeded usage exactly as the
    bill run composes them (the same lines, same layout), without touching the bills table."""
    from microbss.engine.storage.db import make_engine

    engine = make_engine(db_url)
    period_end = datetime(2026, 9, 30, 22)
    with engine.connect() as conn:
        catalog = load_catalog(conn)
        accounts = bill_repository.load_accounts(conn, range(1, 501))
        usage: dict[int, list[UsageTotals]] = {sid: [] for sid in accounts}
        for sid, service, events, billable, allowance, charge in conn.execute(
            select(rated_cdrs.c.subscriber_id, rated_cdrs.c.service_id, func.count(),
                   func.sum(rated_cdrs.c.billable_quantity), func.sum(rated_cdrs.c.allowance_used),
                   func.sum(rated_cdrs.c.charge_minor))
            .where(rated_cdrs.c.subscriber_id <= 500)
            .group_by(rated_cdrs.c.subscriber_id, rated_cdrs.c.service_id)
        ):  # fmt: skip
            usage[sid].append(UsageTotals(service, events, billable, allowance, charge))
    engine.dispose()
    operator = Operator.from_settings(settings)
    plan = catalog.price_plans[201]
    fee = prorate_fee(plan.monthly_fee, PERIOD_START, period_end, activated_at=PERIOD_START,
                      cycle_day=1, tz=settings.tz)  # fmt: skip
    documents = []
    for number, (sid, account) in enumerate(sorted(accounts.items()), start=1):
        lines = compose_lines(plan.name, fee, usage[sid], catalog.services)
        bill = Bill(number, format_invoice_number(2026, number), sid, BillKind.MONTHLY,
                    BillStatus.DRAFT, PERIOD_START, period_end, period_end, "EUR",
                    net_total(lines), tuple(lines))  # fmt: skip
        documents.append(InvoiceDocument(operator, bill, account, plan.name))
    _documents[:] = documents


def _render_batch(indexes: range) -> tuple[int, float]:
    """Render the invoices at ``indexes``; (PDFs, CPU seconds this process spent on them)."""
    cpu = time.process_time()
    for index in indexes:
        render_invoice(_documents[index % len(_documents)])
    return len(indexes), time.process_time() - cpu


def _load_documents_then_report(settings: Settings, db_url: str, ready: Any) -> None:
    _load_documents(settings, db_url)
    ready.put(True)


@dataclass
class Pace:
    """Items per wall-clock second, and CPU seconds per item (all processes together)."""

    per_second: float
    cpu_per_item: float


def render_ceiling(settings: Settings, db_url: str, count: int, workers: int) -> Pace:
    """Rendering ``count`` of the bills' invoices with ``workers`` processes (500 distinct bills,
    cycled, so the data is the bill run's own). The clock starts once every process has its
    invoices loaded: the ceiling is the renderer's pace, not process start-up."""
    batches = [range(start, min(start + 50, count)) for start in range(0, count, 50)]
    if workers == 1:
        _load_documents(settings, db_url)
        started = time.perf_counter()
        results = [_render_batch(batch) for batch in batches]
    else:
        context = multiprocessing.get_context("spawn")
        ready = context.Queue()
        with context.Pool(
            workers, initializer=_load_documents_then_report, initargs=(settings, db_url, ready)
        ) as pool:
            for _ in range(workers):
                ready.get(timeout=300)
            started = time.perf_counter()
            results = list(pool.imap_unordered(_render_batch, batches))
    elapsed = time.perf_counter() - started
    rendered = sum(n for n, _cpu in results)
    return Pace(rendered / elapsed, sum(cpu for _n, cpu in results) / rendered)


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (the bill run's render processes)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def emit(metric: str, value: float, unit: str, **extra: object) -> None:
    record = {"bench": "billrun", "metric": metric, "value": round(value, 3), "unit": unit}
    print(json.dumps(record | extra), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--cdrs-each", type=int, default=100)
    parser.add_argument("--workers", default="1,2")
    args = parser.parse_args()
    worker_counts = [int(w) for w in args.workers.split(",")]
    with tempfile.TemporaryDirectory(prefix="microbss-bench-") as tmp:
        root = Path(tmp)
        seeded = bench_deps(root / "seed")
        seed(seeded, args.subscribers, args.cdrs_each)
        seeded.db.dispose()
        for workers in worker_counts:
            copy_database(root / "seed", root / f"run{workers}")
            # The seeding and this copy leave hundreds of MB unwritten; the run's own flushes
            # (syncfs of the file system) would otherwise write them out on its clock.
            os.sync()
            deps = bench_deps(root / f"run{workers}")
            db_url = deps.db.url.render_as_string(hide_password=False)
            # The ceiling is measured right before and right after the run and the higher one
            # kept, so load drift on this shared machine cannot flatter the ratio.
            before = render_ceiling(deps.settings, db_url, args.subscribers, workers)
            cpu = _cpu_seconds()
            summary = run_bill_run(deps, PERIOD, workers=workers)
            run_cpu_per_bill = (_cpu_seconds() - cpu) / max(summary.bills_created, 1)
            assert summary.bills_created == args.subscribers, summary
            rate = summary.bills_per_second
            after = render_ceiling(deps.settings, db_url, args.subscribers, workers)
            ceiling = max(before.per_second, after.per_second)
            render_cpu = min(before.cpu_per_item, after.cpu_per_item)
            deps.db.dispose()
            # The run's folder stays until the end: on this file system (ext4 without a journal)
            # creating inodes seconds after deleting tens of thousands costs ~5x more (it skips
            # recently freed ones), which no real bill run meets right after another run's
            # cleanup.
            emit("bill_run_with_pdfs", rate, "bills/s", workers=workers,
                 subscribers=args.subscribers, cdrs_each=args.cdrs_each,
                 target=150 if workers == 2 else None)  # fmt: skip
            emit("ceiling_render_pdfs_alone", ceiling, "PDFs/s", workers=workers,
                 before=round(before.per_second, 1), after=round(after.per_second, 1))  # fmt: skip
            # Wall-clock ratios swing with the other work on this machine; CPU time per bill
            # does not: the share of the run's CPU (every process) that is rendering.
            emit("cpu_ms_per_bill", 1000 * run_cpu_per_bill, "ms", workers=workers,
                 rendering_alone=round(1000 * render_cpu, 3))  # fmt: skip
            emit("cpu_ratio_to_ceiling", render_cpu / run_cpu_per_bill, "ratio", workers=workers)
            emit("ratio_to_ceiling", rate / ceiling, "ratio", workers=workers, target=0.7)


if __name__ == "__main__":
    main()

"""Test data for billing tests: a small catalog, postpaid subscribers and rated CDRs inserted
directly (so activation times and usage are exactly what a test says), and the expected bill of a
subscriber computed independently of the bill run."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, select

from microbss.engine.deps import Deps
from microbss.engine.domain.billing import prorate_fee
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
from microbss.engine.storage.catalog_repository import replace_catalog
from microbss.engine.storage.tables import rated_cdrs, resources, subscribers

POSTPAID_PLAN = 201
FREE_PLAN = 202
PREPAID_PLAN = 101
MONTHLY_FEE = 2000
CYCLE_FIRST = 1  # periods start on the 1st
CYCLE_FIFTEENTH = 2  # periods start on the 15th


def _tariffs() -> tuple[Tariff, ...]:
    return (
        Tariff("VOICE", Zone.NATIONAL, Band.ANY, RatingStrategy.PER_UNIT, 9, 60, 1, 60, 0),
        Tariff("SMS", Zone.NATIONAL, Band.ANY, RatingStrategy.PER_EVENT, 10),
        Tariff("DATA", Zone.NATIONAL, Band.ANY, RatingStrategy.PER_UNIT, 1, 1048576, 1024),
    )


def billing_catalog() -> Catalog:
    services = {
        "VOICE": Service("VOICE", "Voice calls", ServiceUnit.SECOND),
        "SMS": Service("SMS", "Text messages", ServiceUnit.MESSAGE),
        "DATA": Service("DATA", "Mobile data", ServiceUnit.BYTE),
    }
    plans = {
        POSTPAID_PLAN: PricePlan(
            POSTPAID_PLAN,
            "POST_20",
            "Smart 20",
            PaymentType.POSTPAID,
            "EUR",
            MONTHLY_FEE,
            tariffs=_tariffs(),
            allowances=(Allowance("VOICE", 6000),),
        ),
        FREE_PLAN: PricePlan(
            FREE_PLAN, "POST_0", "Pay as you go", PaymentType.POSTPAID, "EUR", 0, tariffs=_tariffs()
        ),
        PREPAID_PLAN: PricePlan(
            PREPAID_PLAN,
            "PRE_10",
            "Prepaid 10",
            PaymentType.PREPAID,
            "EUR",
            0,
            initial_credit=1000,
            tariffs=_tariffs(),
        ),
    }
    cycles = {
        CYCLE_FIRST: BillCycle(CYCLE_FIRST, "1st of month", 1),
        CYCLE_FIFTEENTH: BillCycle(CYCLE_FIFTEENTH, "15th of month", 15),
    }
    return Catalog(services=services, bill_cycles=cycles, price_plans=plans)


def install_catalog(deps: Deps) -> Catalog:
    catalog = billing_catalog()
    with deps.db.begin() as conn:
        replace_catalog(conn, catalog)
    return catalog


def add_subscribers(
    deps: Deps,
    count: int,
    activated_at: datetime,
    *,
    plan: int = POSTPAID_PLAN,
    cycle: int | None = CYCLE_FIRST,
    first_msisdn: int = 34600000000,
    with_resources: bool = False,
) -> list[int]:
    """Insert ``count`` ACTIVE subscribers (billed_until = activation) and return their ids."""
    payment_type = "PREPAID" if plan == PREPAID_PLAN else "POSTPAID"
    with deps.db.begin() as conn:
        existing = conn.execute(select(subscribers.c.id)).all()
        offset = len(existing)
        rows = []
        for index in range(offset, offset + count):
            rows.append(
                {
                    "status": "ACTIVE",
                    "payment_type": payment_type,
                    "price_plan_id": plan,
                    "bill_cycle_id": cycle if payment_type == "POSTPAID" else None,
                    "msisdn": str(first_msisdn + index),
                    "imsi": str(214010000000000 + index),
                    "handset_imei": None,
                    "identity_hash": f"{index:064d}",
                    "identity_last4": f"{index % 10000:04d}",
                    "first_name": "Ana",
                    "last_name": f"Test {index}",
                    "date_of_birth": date(1980, 1, 1),
                    "street": "Calle Mayor 1",
                    "city": "Madrid",
                    "postal_code": "28013",
                    "country": "ES",
                    "email": "ana@example.com",
                    "contact_phone": "+34600000000",
                    "payment_method": "CASH",
                    "activated_at": activated_at,
                    "billed_until": activated_at,
                }
            )
        ids = [
            row.id
            for row in conn.execute(
                insert(subscribers).returning(subscribers.c.id, sort_by_parameter_order=True), rows
            )
        ]
        if with_resources:
            for subscriber_id, row in zip(ids, rows, strict=True):
                for type_, value in (("MSISDN", row["msisdn"]), ("IMSI", row["imsi"])):
                    conn.execute(
                        insert(resources).values(
                            type=type_,
                            value=value,
                            status="ASSIGNED",
                            subscriber_id=subscriber_id,
                            created_at=activated_at,
                        )
                    )
    return ids


def add_cdrs(
    deps: Deps,
    subscriber_id: int,
    count: int,
    first_start: datetime,
    *,
    service: str = "VOICE",
    charge: int = 9,
    quantity: int = 60,
    allowance_used: int = 0,
    step: timedelta = timedelta(hours=1),
) -> int:
    """Insert ``count`` rated postpaid CDRs; returns the sum of their charges."""
    rows = [
        {
            "cdr_id": f"test-{subscriber_id}-{service}-{first_start:%Y%m%d%H%M}-{n}",
            "subscriber_id": subscriber_id,
            "service_id": service,
            "started_at": first_start + n * step,
            "quantity": quantity,
            "other_party": "34911000000",
            "zone": "NATIONAL",
            "band": "ANY",
            "billable_quantity": quantity,
            "allowance_used": allowance_used,
            "charge_minor": charge,
            "currency": "EUR",
            "payment_type": "POSTPAID",
            "rated_at": first_start,
        }
        for n in range(count)
    ]
    with deps.db.begin() as conn:
        conn.execute(insert(rated_cdrs), rows)
    return charge * count


def expected_monthly_total(
    deps: Deps,
    activated_at: datetime,
    period_start: datetime,
    period_end: datetime,
    usage: int,
    cycle_day: int = 1,
) -> int:
    """What a clean run bills: the prorated fee plus the usage charges."""
    fee = prorate_fee(
        MONTHLY_FEE,
        max(activated_at, period_start),
        period_end,
        activated_at=activated_at,
        cycle_day=cycle_day,
        tz=deps.settings.tz,
    )
    return fee.amount + usage


def invoice_files(deps: Deps) -> set[str]:
    """Every PDF under the invoice folder, relative to the data dir."""
    root = deps.settings.data_dir
    return {str(p.relative_to(root)) for p in (root / "invoices").rglob("*.pdf")}


def stray_temp_files(deps: Deps) -> list[Path]:
    return list((deps.settings.data_dir / "invoices").rglob("*.tmp"))


def db_url(deps: Deps) -> str:
    return deps.db.url.render_as_string(hide_password=False)


def run_billrun_process(
    deps: Deps,
    period: str,
    *,
    workers: int = 1,
    die_on: str = "",
    die_after_calls: int = 0,
) -> subprocess.Popen[str]:
    """Start a bill run in another Python process. With ``die_on`` ("pdf" or "transaction") the
    process SIGKILLs itself at that point of its ``die_after_calls``-th chunk: a real hard kill
    midway, at a known place instead of a timing guess."""
    script = f"""
import os, signal, sys
from microbss.engine.config import load_settings
from microbss.engine.deps import Deps
from microbss.engine.storage.db import make_engine
from microbss.engine.jobs import billrun, invoice_pdf
from microbss.engine.storage import bill_repository

calls = {{"n": 0}}
def dying(original):
    def wrapper(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] >= {die_after_calls}:
            os.kill(os.getpid(), signal.SIGKILL)
        return original(*args, **kwargs)
    return wrapper

if {die_on!r} == "pdf":
    invoice_pdf.render_invoice = dying(invoice_pdf.render_invoice)
elif {die_on!r} == "transaction":
    bill_repository.set_totals = dying(bill_repository.set_totals)
deps = Deps(settings=load_settings(), db=make_engine(sys.argv[1]))
summary = billrun.run_bill_run(deps, {period!r}, workers={workers})
print(summary.bills_created)
"""
    env = {
        "MICROBSS_DATA_DIR": str(deps.settings.data_dir),
        "MICROBSS_SECRET": "test-secret",
        "MICROBSS_TIME_ZONE": deps.settings.time_zone,
        "PATH": "/usr/bin:/bin",
    }
    return subprocess.Popen(
        [sys.executable, "-c", script, db_url(deps)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

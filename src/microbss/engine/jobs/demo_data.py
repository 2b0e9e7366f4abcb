"""Demo data for a first look (`microbss engine demo-data`, and `make run` on an empty database):
the demo catalog, a demo inventory, a dozen demo subscribers activated about four months ago, a
batch of demo vouchers whose PINs go to ``<data dir>/demo-vouchers.csv``, three months of CDRs
and the past bill runs.

Everything goes through the same code an operator uses (catalog loader, resource import,
CreateSubscriber, voucher generation, CDR loader, bill run), so the demo shows real behaviour.
On a database that already holds data it says so and changes nothing, unless forced; forced, it
adds what is missing next to what is there (free numbers, a new voucher batch name and file).
"""

from __future__ import annotations

import string
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import Connection, func, select

from microbss.engine.demo import demo_catalog_text
from microbss.engine.deps import Deps
from microbss.engine.domain.catalog import PaymentType
from microbss.engine.domain.errors import FailedPrecondition
from microbss.engine.domain.identifiers import luhn_check_digit
from microbss.engine.domain.money import format_amount
from microbss.engine.domain.resource import ResourceType
from microbss.engine.domain.subscriber import Address, NewSubscriber, PaymentData, PaymentMethod
from microbss.engine.jobs.billrun import run_past_bill_runs
from microbss.engine.jobs.catalog_loader import parse_catalog_toml
from microbss.engine.jobs.demo_cdrs import generate_demo_cdrs
from microbss.engine.jobs.resource_import import import_resources_text
from microbss.engine.jobs.voucher_batch import VoucherBatch, generate_vouchers
from microbss.engine.services.audit import record_audit
from microbss.engine.services.subscribers import create_subscriber
from microbss.engine.storage.catalog_repository import load_catalog, replace_catalog
from microbss.engine.storage.tables import price_plans, resources, subscribers, vouchers
from microbss.engine.storage.uow import UnitOfWork

ACTOR = "demo-data"
DEMO_MSISDN_START = 34600000000
DEMO_IMSI_START = 214010000000000  # MCC 214 (Spain), MNC 01
DEMO_MSISDN_COUNT = 200
DEMO_IMSI_COUNT = 200
DEMO_HANDSET_COUNT = 100
DEMO_VOUCHER_COUNT = 20
DEMO_VOUCHER_VALUE_MINOR = 1000  # 10.00
DEMO_CDR_MONTHS = 3
ACTIVATED_DAYS_AGO = 122  # about four months: three full months of usage and bills to show
# (Type allocation code, model): TACs in the 35 range of the GSMA's reporting body prefixes.
HANDSET_MODELS = (
    ("35332811", "Samsung Galaxy A55"),
    ("35391212", "Apple iPhone 15"),
    ("35846710", "Google Pixel 8a"),
    ("86890605", "Xiaomi Redmi Note 13"),
    ("35420118", "Motorola moto g84"),
)
_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


@dataclass(frozen=True)
class _DemoPerson:
    first_name: str
    last_name: str
    born: date
    street: str
    city: str
    postal_code: str
    plan_id: int
    bill_cycle_id: int = 0


DEMO_PEOPLE = (
    _DemoPerson(
        "Lucía", "García López", date(1990, 3, 14), "Calle de Alcalá 45", "Madrid", "28014", 101
    ),
    _DemoPerson(
        "Hugo",
        "Martínez Ruiz",
        date(1985, 7, 2),
        "Carrer de Mallorca 120",
        "Barcelona",
        "08036",
        101,
    ),
    _DemoPerson(
        "Martina", "Sánchez Gil", date(2001, 11, 23), "Calle Larios 8", "Málaga", "29005", 101
    ),
    _DemoPerson(
        "Mateo",
        "Fernández Díaz",
        date(1978, 1, 30),
        "Avenida de la Constitución 20",
        "Sevilla",
        "41004",
        102,
    ),
    _DemoPerson(
        "Sofía", "Romero Navarro", date(1995, 5, 9), "Calle Colón 60", "Valencia", "46004", 102
    ),
    _DemoPerson("Leo", "Torres Molina", date(1969, 9, 17), "Gran Vía 1", "Bilbao", "48001", 102),
    _DemoPerson(
        "Valeria",
        "Álvarez Castro",
        date(1982, 4, 5),
        "Paseo de la Castellana 100",
        "Madrid",
        "28046",
        201,
        1,
    ),
    _DemoPerson(
        "Daniel", "Jiménez Ortega", date(1975, 12, 12), "Calle Mayor 3", "Zaragoza", "50001", 201, 2
    ),
    _DemoPerson(
        "Julia",
        "Moreno Rubio",
        date(1993, 8, 21),
        "Rúa do Franco 10",
        "Santiago de Compostela",
        "15705",
        201,
        1,
    ),
    _DemoPerson(
        "Pablo", "Muñoz Serrano", date(1988, 2, 28), "Calle Uría 15", "Oviedo", "33003", 202, 2
    ),
    _DemoPerson(
        "Carmen", "Alonso Vega", date(1971, 6, 6), "Calle Real 22", "A Coruña", "15003", 202, 1
    ),
    _DemoPerson(
        "Álvaro",
        "Gutiérrez Ramos",
        date(1999, 10, 1),
        "Avenida Diagonal 640",
        "Barcelona",
        "08017",
        202,
        2,
    ),
)


@dataclass
class DemoReport:
    """What demo-data did, printable for the operator."""

    skipped: str = ""
    catalog: str = ""
    inventory: list[str] = field(default_factory=list)
    subscribers: list[str] = field(default_factory=list)
    subscriber_ids: list[int] = field(default_factory=list)
    vouchers: VoucherBatch | None = None
    cdr_file: Path | None = None
    bill_runs: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        if self.skipped:
            return self.skipped
        lines = ["demo data loaded:", f"  catalog: {self.catalog}"]
        lines += [f"  inventory: {line}" for line in self.inventory]
        lines.append(f"  subscribers ({len(self.subscribers)}):")
        lines += [f"    {line}" for line in self.subscribers]
        if self.vouchers:
            lines.append(f"  vouchers: {self.vouchers}".replace("\n", "\n  "))
        if self.cdr_file:
            lines.append(f"  usage: {DEMO_CDR_MONTHS} months of CDRs loaded from {self.cdr_file}")
        lines += [f"  bill run: {line}" for line in self.bill_runs]
        return "\n".join(lines)


def describe_existing_data(conn: Connection) -> str:
    """ "4 price plans, 500 resources, ..." for the tables that hold rows; "" when empty."""
    counts = []
    for table, noun in (
        (price_plans, "price plans"),
        (resources, "resources"),
        (subscribers, "subscribers"),
        (vouchers, "vouchers"),
    ):
        count = conn.execute(select(func.count()).select_from(table)).scalar_one()
        if count:
            counts.append(f"{count} {noun}")
    return ", ".join(counts)


def load_demo_data(deps: Deps, *, force: bool = False) -> DemoReport:
    """Fill an empty engine database with demo data (see the module docstring)."""
    with deps.db.connect() as conn:
        existing = describe_existing_data(conn)
    if existing and not force:
        return DemoReport(
            skipped=f"the engine database already has data ({existing}): demo data not loaded "
            "(--force adds it anyway)"
        )
    report = DemoReport()
    report.catalog = _load_demo_catalog(deps)
    report.inventory = _load_demo_inventory(deps)
    _create_demo_subscribers(deps, report)
    report.vouchers = _generate_demo_vouchers(deps)
    # Issue 3: usage and bills, through the CDR loader and the bill run.
    report.cdr_file = generate_demo_cdrs(deps, report.subscriber_ids, months=DEMO_CDR_MONTHS)
    report.bill_runs = [
        f"period {run.period}, bill cycle {','.join(map(str, run.bill_cycle_ids))}: "
        f"{run.bills_created} bills, "
        + (", ".join(format_amount(v, c) for c, v in sorted(run.totals.items())) or "nothing")
        for run in run_past_bill_runs(deps)
    ]
    return report


def _load_demo_catalog(deps: Deps) -> str:
    catalog = parse_catalog_toml(demo_catalog_text(), "demo catalog.toml")
    with UnitOfWork(deps.db, write=True) as uow:
        current = load_catalog(uow.conn)
        if current.price_plans:
            missing = sorted({p.plan_id for p in DEMO_PEOPLE} - set(current.price_plans))
            if missing:
                raise FailedPrecondition(
                    "the database has its own catalog without the demo plans "
                    f"{', '.join(map(str, missing))}; demo subscribers need them"
                )
            return "kept the catalog already loaded"
        changes = replace_catalog(uow.conn, catalog)
        record_audit(
            uow.conn,
            actor=ACTOR,
            action="catalog.load",
            target="catalog:demo",
            details={"added": changes.added},
        )
        uow.commit()
    return (
        f"demo catalog: {len(catalog.price_plans)} price plans "
        f"({', '.join(p.code for p in catalog.price_plans.values())}), "
        f"{len(catalog.bill_cycles)} bill cycles, {len(catalog.services)} services"
    )


def demo_imei(index: int) -> tuple[str, str]:
    """(IMEI with a valid Luhn check digit, model name) of demo handset ``index``."""
    tac, model = HANDSET_MODELS[index % len(HANDSET_MODELS)]
    body = f"{tac}{100000 + index:06d}"
    return f"{body}{luhn_check_digit(body)}", model


def _load_demo_inventory(deps: Deps) -> list[str]:
    msisdns = "\n".join(str(DEMO_MSISDN_START + i) for i in range(DEMO_MSISDN_COUNT))
    imsis = "\n".join(str(DEMO_IMSI_START + i) for i in range(DEMO_IMSI_COUNT))
    handsets = "\n".join(",".join(demo_imei(i)) for i in range(DEMO_HANDSET_COUNT))
    summaries = []
    for type_, text in (
        (ResourceType.MSISDN, msisdns),
        (ResourceType.IMSI, imsis),
        (ResourceType.HANDSET, handsets),
    ):
        result = import_resources_text(deps, type_, text, "demo inventory", ACTOR)
        summaries.append(str(result).splitlines()[0])
    return summaries


def _free_values(deps: Deps, type_: ResourceType, count: int) -> list[str]:
    with deps.db.connect() as conn:
        return list(
            conn.execute(
                select(resources.c.value)
                .where(resources.c.type == type_.value, resources.c.status == "FREE")
                .order_by(resources.c.value)
                .limit(count)
            ).scalars()
        )


def _create_demo_subscribers(deps: Deps, report: DemoReport) -> None:
    people = len(DEMO_PEOPLE)
    msisdns = _free_values(deps, ResourceType.MSISDN, people)
    imsis = _free_values(deps, ResourceType.IMSI, people)
    handsets = _free_values(deps, ResourceType.HANDSET, people)
    if len(msisdns) < people or len(imsis) < people:
        raise FailedPrecondition("not enough free MSISDNs and IMSIs for the demo subscribers")
    now = deps.clock()
    for index, person in enumerate(DEMO_PEOPLE):
        # Activated about four months ago, a few hours apart, as if over one afternoon.
        activated = now - timedelta(days=ACTIVATED_DAYS_AGO) + timedelta(hours=index)
        then = replace(deps, clock=_fixed_clock(activated))
        handset = handsets[index] if index < len(handsets) and index % 3 != 2 else ""
        view = create_subscriber(
            then, ACTOR, _new_subscriber(person, index, msisdns[index], imsis[index], handset)
        )
        report.subscriber_ids.append(view.subscriber.id)
        plan_text = f"plan {person.plan_id}"
        if person.bill_cycle_id:
            plan_text += f", bill cycle {person.bill_cycle_id}"
        report.subscribers.append(
            f"#{view.subscriber.id} {msisdns[index]} {person.first_name} {person.last_name} "
            f"({plan_text})"
        )


def _new_subscriber(
    person: _DemoPerson, index: int, msisdn: str, imsi: str, handset: str
) -> NewSubscriber:
    postpaid = person.bill_cycle_id != 0
    ascii_first = person.first_name.translate(str.maketrans("áéíóúÁÉÍÓÚñÑ", "aeiouAEIOUnN"))
    ascii_last = person.last_name.split()[0].translate(
        str.maketrans("áéíóúÁÉÍÓÚñÑ", "aeiouAEIOUnN")
    )
    return NewSubscriber(
        msisdn=msisdn,
        imsi=imsi,
        handset_imei=handset,
        identity_number=demo_dni(40_000_000 + index * 7919),
        first_name=person.first_name,
        last_name=person.last_name,
        date_of_birth=person.born,
        address=Address(
            street=person.street, city=person.city, postal_code=person.postal_code, country="ES"
        ),
        email=f"{ascii_first}.{ascii_last}@example.com".lower(),
        contact_phone=f"+34910{index:06d}",
        payment=_demo_payment(person, index) if postpaid else PaymentData(PaymentMethod.CASH),
        payment_type=PaymentType.POSTPAID if postpaid else PaymentType.PREPAID,
        price_plan_id=person.plan_id,
        bill_cycle_id=person.bill_cycle_id,
    )


def _demo_payment(person: _DemoPerson, index: int) -> PaymentData:
    holder = f"{person.first_name} {person.last_name}"
    if index % 2 == 0:
        return PaymentData(
            PaymentMethod.DIRECT_DEBIT,
            iban=spanish_iban(f"2100{index:04d}{index % 10}{index % 10}{index:010d}"),
            account_holder=holder,
        )
    return PaymentData(
        PaymentMethod.CARD_ON_FILE,
        card_reference=f"demo-psp-token-{index:04d}",
        card_last4=f"{4242 + index:04d}"[-4:],
        account_holder=holder,
    )


def demo_dni(number: int) -> str:
    """A Spanish DNI (8 digits and the control letter) for made-up people."""
    return f"{number:08d}{_DNI_LETTERS[number % 23]}"


def spanish_iban(bban: str) -> str:
    """ES IBAN for a 20-digit account number, with its ISO 13616 mod-97 check digits."""
    numeric = "".join(
        str(string.ascii_uppercase.index(c) + 10) if c.isalpha() else c for c in bban + "ES00"
    )
    return f"ES{98 - int(numeric) % 97:02d}{bban}"


def _generate_demo_vouchers(deps: Deps) -> VoucherBatch:
    batch, out = "DEMO", deps.settings.data_dir / "demo-vouchers.csv"
    with deps.db.connect() as conn:
        taken = set(conn.execute(select(vouchers.c.batch).distinct()).scalars())
    number = 1
    while batch in taken or out.exists():  # forced again: a new batch and file, never overwrite
        number += 1
        batch, out = f"DEMO-{number}", deps.settings.data_dir / f"demo-vouchers-{number}.csv"
    with deps.db.connect() as conn:
        # The demo subscribers' currency, so a demo voucher can be redeemed on any of them.
        currency = conn.execute(
            select(price_plans.c.currency).where(price_plans.c.id == DEMO_PEOPLE[0].plan_id)
        ).scalar_one()
    return generate_vouchers(
        deps, DEMO_VOUCHER_COUNT, DEMO_VOUCHER_VALUE_MINOR, currency, batch, out, None, ACTOR
    )


def _fixed_clock(at: datetime) -> Callable[[], datetime]:
    """A clock that stands still at ``at``: subscribers are created as if back then."""
    return lambda: at

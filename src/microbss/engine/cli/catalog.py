"""`microbss engine catalog load FILE | show`: replace the reference catalog from a TOML file, or
print the catalog the engine is using."""

from __future__ import annotations

import argparse
from pathlib import Path

from microbss.engine.cli.actor import cli_actor
from microbss.engine.deps import build_deps
from microbss.engine.domain.catalog import Catalog, PricePlan, ServiceUnit, Tariff
from microbss.engine.domain.money import format_amount
from microbss.engine.jobs.catalog_loader import import_catalog
from microbss.engine.storage.catalog_repository import load_catalog


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("catalog", help="load or show the reference catalog")
    actions = parser.add_subparsers(dest="catalog_action", required=True, metavar="ACTION")
    load = actions.add_parser(
        "load", help="validate a catalog TOML file and replace the catalog with it"
    )
    load.add_argument("file", type=Path, help="catalog file (see the demo catalog's header)")
    load.set_defaults(handler=handle_load)
    show = actions.add_parser("show", help="print the services, bill cycles and price plans")
    show.set_defaults(handler=handle_show)


def handle_load(args: argparse.Namespace) -> int:
    deps = build_deps()
    result = import_catalog(deps, args.file, cli_actor())
    print(result)
    return 0


def handle_show(args: argparse.Namespace) -> int:
    deps = build_deps()
    with deps.db.connect() as conn:
        catalog = load_catalog(conn)
    print(describe_catalog(catalog))
    return 0


def describe_catalog(catalog: Catalog) -> str:
    if not catalog.price_plans:
        return "the catalog is empty: load one with `microbss engine catalog load FILE`"
    lines = ["Services:"]
    lines += [
        f"  {s.id:<6} {s.name} (in {s.unit.value.lower()}s)" for s in catalog.services.values()
    ]
    lines.append("Bill cycles:")
    lines += [f"  {c.id:<6} {c.name} (day {c.cycle_day})" for c in catalog.bill_cycles.values()]
    lines.append("Price plans:")
    for plan in catalog.price_plans.values():
        lines += _describe_plan(plan, catalog)
    return "\n".join(lines)


def _describe_plan(plan: PricePlan, catalog: Catalog) -> list[str]:
    head = (
        f"  {plan.id:<6} {plan.code} {plan.name!r} {plan.payment_type.value} {plan.currency}, "
        f"monthly fee {format_amount(plan.monthly_fee, plan.currency)}"
    )
    if plan.initial_credit:
        head += f", initial credit {format_amount(plan.initial_credit, plan.currency)}"
    if plan.peak_hours:
        head += f", peak {plan.peak_hours.describe()}"
    lines = [head]
    for tariff in plan.tariffs:
        unit = catalog.services[tariff.service_id].unit
        lines.append(
            f"         {tariff.service_id:<5} {tariff.zone.value:<13} {tariff.band.value:<7} "
            f"{_describe_tariff(tariff, unit, plan.currency)}"
        )
    for allowance in plan.allowances:
        unit = catalog.services[allowance.service_id].unit
        zones = ",".join(sorted(z.value for z in allowance.zones))
        lines.append(
            f"         includes {format_quantity(allowance.quantity, unit)} "
            f"{allowance.service_id} ({zones}) per period"
        )
    return lines


def _describe_tariff(tariff: Tariff, unit: ServiceUnit, currency: str) -> str:
    price = format_amount(tariff.unit_price, currency)
    if tariff.strategy.value == "PER_EVENT":
        text = f"{price} per event"
    else:
        text = (
            f"{price} per {format_quantity(tariff.price_unit, unit)}, "
            f"in steps of {format_quantity(tariff.increment, unit)}"
        )
        if tariff.minimum_quantity:
            text += f", minimum {format_quantity(tariff.minimum_quantity, unit)}"
    if tariff.minimum_charge:
        text += f", minimum charge {format_amount(tariff.minimum_charge, currency)}"
    return text


_DISPLAY_UNITS: dict[ServiceUnit, tuple[tuple[int, str], ...]] = {
    ServiceUnit.SECOND: ((60, "min"), (1, "s")),
    ServiceUnit.MESSAGE: ((1, "msg"),),
    ServiceUnit.BYTE: ((1024**3, "GB"), (1024**2, "MB"), (1024, "KB"), (1, "B")),
}


def format_quantity(quantity: int, unit: ServiceUnit) -> str:
    """6000 SECOND -> "100 min"; 1073741824 BYTE -> "1 GB" (the largest unit that divides it)."""
    for factor, name in _DISPLAY_UNITS[unit]:
        if quantity % factor == 0:
            return f"{quantity // factor} {name}"
    return f"{quantity} {unit.value.lower()}s"

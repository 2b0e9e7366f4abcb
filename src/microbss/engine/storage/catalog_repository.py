"""Reference catalog storage: read the whole catalog (services, bill cycles, price plans with
their tariffs, allowances and peak hours) from the ref_* tables, and replace it with a new one.

``replace_catalog`` runs inside the caller's transaction, so a catalog load is all-or-nothing:
anything it refuses (a plan still used by subscribers disappearing, say) raises before the caller
commits, and the rollback leaves the old catalog untouched.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import time
from typing import Any

from sqlalchemy import Connection, Table, delete, func, insert, select, update

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
from microbss.engine.domain.errors import FailedPrecondition
from microbss.engine.storage.tables import (
    allowance_balances,
    allowances,
    bill_cycles,
    price_plans,
    rated_cdrs,
    services,
    subscribers,
    tariffs,
)

# --- Reading ---------------------------------------------------------------------------------


def load_catalog(conn: Connection) -> Catalog:
    """The catalog as stored, plans with tariffs and allowances in a stable order."""
    tariffs_by_plan: dict[int, list[Tariff]] = {}
    for row in conn.execute(select(tariffs).order_by(tariffs.c.price_plan_id, tariffs.c.id)):
        tariffs_by_plan.setdefault(row.price_plan_id, []).append(_tariff_from_row(row))
    allowances_by_plan: dict[int, list[Allowance]] = {}
    for row in conn.execute(
        select(allowances).order_by(allowances.c.price_plan_id, allowances.c.id)
    ):
        allowances_by_plan.setdefault(row.price_plan_id, []).append(_allowance_from_row(row))

    plans = {
        row.id: _plan_from_row(
            row, tariffs_by_plan.get(row.id, []), allowances_by_plan.get(row.id, [])
        )
        for row in conn.execute(select(price_plans).order_by(price_plans.c.id))
    }
    return Catalog(
        services={
            row.id: Service(id=row.id, name=row.name, unit=ServiceUnit(row.unit))
            for row in conn.execute(select(services).order_by(services.c.id))
        },
        bill_cycles={
            row.id: BillCycle(id=row.id, name=row.name, cycle_day=row.cycle_day)
            for row in conn.execute(select(bill_cycles).order_by(bill_cycles.c.id))
        },
        price_plans=plans,
    )


def _tariff_from_row(row: Any) -> Tariff:
    return Tariff(
        service_id=row.service_id,
        zone=Zone(row.zone),
        band=Band(row.band),
        strategy=RatingStrategy(row.strategy),
        unit_price=row.unit_price_minor,
        price_unit=row.price_unit,
        increment=row.increment,
        minimum_quantity=row.minimum_quantity,
        minimum_charge=row.minimum_charge_minor,
    )


def _allowance_from_row(row: Any) -> Allowance:
    return Allowance(
        service_id=row.service_id,
        quantity=row.quantity,
        zones=frozenset(Zone(z) for z in row.zones.split(",") if z),
    )


def _plan_from_row(
    row: Any, plan_tariffs: list[Tariff], plan_allowances: list[Allowance]
) -> PricePlan:
    return PricePlan(
        id=row.id,
        code=row.code,
        name=row.name,
        payment_type=PaymentType(row.payment_type),
        currency=row.currency,
        monthly_fee=row.monthly_fee_minor,
        initial_credit=row.initial_credit_minor,
        peak_hours=_peak_from_row(row),
        tariffs=tuple(plan_tariffs),
        allowances=tuple(plan_allowances),
        description=row.description,
    )


def _peak_from_row(row: Any) -> PeakHours | None:
    if not row.peak_weekdays:
        return None
    return PeakHours(
        weekdays=frozenset(int(d) for d in row.peak_weekdays.split(",")),
        start=time.fromisoformat(row.peak_start),
        end=time.fromisoformat(row.peak_end),
    )


# --- Replacing -------------------------------------------------------------------------------


@dataclass
class CatalogChanges:
    """What a catalog replacement did, one readable label per entry ("price plan 101 PRE_SMART")."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not (self.added or self.changed or self.removed)

    def summary(self) -> str:
        return (
            f"{len(self.added)} added, {len(self.changed)} changed, "
            f"{len(self.removed)} removed, {len(self.unchanged)} unchanged"
        )


def replace_catalog(conn: Connection, catalog: Catalog) -> CatalogChanges:
    """Make the stored catalog equal ``catalog``, in the caller's transaction.

    Services, bill cycles and plans are upserted; a plan's tariffs and allowances are replaced
    as a whole. Entries missing from ``catalog`` are removed unless something still uses them:
    a plan or bill cycle held by a subscriber, or a service with usage or allowance balances,
    raises FailedPrecondition naming it (and the caller's rollback keeps the old catalog). A plan
    in use may not change its payment type or currency either, since balances and bills depend on
    them.
    """
    current = load_catalog(conn)
    changes = CatalogChanges()
    _check_removals_allowed(conn, current, catalog)
    _check_plans_in_use_keep_their_kind(conn, current, catalog)

    _upsert_services(conn, current.services, catalog.services, changes)
    _upsert_bill_cycles(conn, current.bill_cycles, catalog.bill_cycles, changes)
    _remove_plans(conn, current.price_plans, catalog.price_plans, changes)
    _upsert_plans(conn, current.price_plans, catalog.price_plans, changes)
    _remove_bill_cycles(conn, current.bill_cycles, catalog.bill_cycles, changes)
    _remove_services(conn, current.services, catalog.services, changes)
    return changes


def _check_removals_allowed(conn: Connection, current: Catalog, new: Catalog) -> None:
    gone_plans = sorted(set(current.price_plans) - set(new.price_plans))
    for plan_id, count in _usage_counts(conn, subscribers, subscribers.c.price_plan_id, gone_plans):
        plan = current.price_plans[plan_id]
        raise FailedPrecondition(
            f"price plan {plan_id} {plan.code} is missing from the new catalog but "
            f"{count} subscriber(s) are on it; keep it in the file (you may rename it)",
            field="price_plans",
        )
    gone_cycles = sorted(set(current.bill_cycles) - set(new.bill_cycles))
    for cycle_id, count in _usage_counts(
        conn, subscribers, subscribers.c.bill_cycle_id, gone_cycles
    ):
        raise FailedPrecondition(
            f"bill cycle {cycle_id} {current.bill_cycles[cycle_id].name!r} is missing from the "
            f"new catalog but {count} subscriber(s) are billed on it; keep it in the file",
            field="bill_cycles",
        )
    gone_services = sorted(set(current.services) - set(new.services))
    for table, column in (
        (rated_cdrs, rated_cdrs.c.service_id),
        (allowance_balances, allowance_balances.c.service_id),
    ):
        for service_id, _count in _usage_counts(conn, table, column, gone_services):
            raise FailedPrecondition(
                f"service {service_id} is missing from the new catalog but has recorded usage "
                "or allowance balances; keep it in the file",
                field="services",
            )


def _check_plans_in_use_keep_their_kind(conn: Connection, current: Catalog, new: Catalog) -> None:
    kept = sorted(set(current.price_plans) & set(new.price_plans))
    for plan_id, _count in _usage_counts(conn, subscribers, subscribers.c.price_plan_id, kept):
        old, fresh = current.price_plans[plan_id], new.price_plans[plan_id]
        if old.payment_type != fresh.payment_type or old.currency != fresh.currency:
            raise FailedPrecondition(
                f"price plan {plan_id} {old.code} has subscribers, so its payment type and "
                f"currency cannot change ({old.payment_type} {old.currency} -> "
                f"{fresh.payment_type} {fresh.currency}); add a new plan instead",
                field="price_plans",
            )


def _usage_counts(
    conn: Connection, table: Table, column: Any, keys: list[Any]
) -> list[tuple[Any, int]]:
    """(key, number of rows in ``table`` whose ``column`` is that key) for keys that are used."""
    if not keys:
        return []
    rows = conn.execute(
        select(column, func.count()).where(column.in_(keys)).group_by(column).order_by(column)
    )
    return [(key, count) for key, count in rows]


def _upsert_services(
    conn: Connection,
    current: dict[str, Service],
    new: dict[str, Service],
    changes: CatalogChanges,
) -> None:
    for service_id, service in sorted(new.items()):
        values = {"name": service.name, "unit": service.unit.value}
        label = f"service {service_id}"
        if service_id not in current:
            conn.execute(insert(services).values(id=service_id, **values))
            changes.added.append(label)
        elif current[service_id] != service:
            conn.execute(update(services).where(services.c.id == service_id).values(**values))
            changes.changed.append(label)
        else:
            changes.unchanged.append(label)


def _upsert_bill_cycles(
    conn: Connection,
    current: dict[int, BillCycle],
    new: dict[int, BillCycle],
    changes: CatalogChanges,
) -> None:
    for cycle_id, cycle in sorted(new.items()):
        values = {"name": cycle.name, "cycle_day": cycle.cycle_day}
        label = f"bill cycle {cycle_id} {cycle.name!r}"
        if cycle_id not in current:
            conn.execute(insert(bill_cycles).values(id=cycle_id, **values))
            changes.added.append(label)
        elif current[cycle_id] != cycle:
            conn.execute(update(bill_cycles).where(bill_cycles.c.id == cycle_id).values(**values))
            changes.changed.append(label)
        else:
            changes.unchanged.append(label)


def _remove_plans(
    conn: Connection,
    current: dict[int, PricePlan],
    new: dict[int, PricePlan],
    changes: CatalogChanges,
) -> None:
    for plan_id in sorted(set(current) - set(new)):
        _delete_plan_rates(conn, plan_id)
        conn.execute(delete(price_plans).where(price_plans.c.id == plan_id))
        changes.removed.append(f"price plan {plan_id} {current[plan_id].code}")


def _upsert_plans(
    conn: Connection,
    current: dict[int, PricePlan],
    new: dict[int, PricePlan],
    changes: CatalogChanges,
) -> None:
    # Two plans may swap codes in one load; park changed codes first so the unique index on
    # code never sees a transient duplicate.
    for plan_id, plan in new.items():
        if plan_id in current and current[plan_id].code != plan.code:
            conn.execute(
                update(price_plans)
                .where(price_plans.c.id == plan_id)
                .values(code=f"~renaming~{plan_id}")
            )
    for plan_id, plan in sorted(new.items()):
        label = f"price plan {plan_id} {plan.code}"
        if plan_id not in current:
            conn.execute(insert(price_plans).values(id=plan_id, **_plan_values(plan)))
            _insert_plan_rates(conn, plan)
            changes.added.append(label)
        elif _canonical(current[plan_id]) != _canonical(plan):
            conn.execute(
                update(price_plans).where(price_plans.c.id == plan_id).values(**_plan_values(plan))
            )
            _delete_plan_rates(conn, plan_id)
            _insert_plan_rates(conn, plan)
            changes.changed.append(label)
        else:
            changes.unchanged.append(label)


def _remove_bill_cycles(
    conn: Connection,
    current: dict[int, BillCycle],
    new: dict[int, BillCycle],
    changes: CatalogChanges,
) -> None:
    for cycle_id in sorted(set(current) - set(new)):
        conn.execute(delete(bill_cycles).where(bill_cycles.c.id == cycle_id))
        changes.removed.append(f"bill cycle {cycle_id} {current[cycle_id].name!r}")


def _remove_services(
    conn: Connection,
    current: dict[str, Service],
    new: dict[str, Service],
    changes: CatalogChanges,
) -> None:
    for service_id in sorted(set(current) - set(new)):
        conn.execute(delete(services).where(services.c.id == service_id))
        changes.removed.append(f"service {service_id}")


def _canonical(plan: PricePlan) -> PricePlan:
    """The plan with tariffs and allowances in a fixed order, so equal plans compare equal."""
    return replace(
        plan,
        tariffs=tuple(sorted(plan.tariffs, key=lambda t: (t.service_id, t.zone, t.band))),
        allowances=tuple(sorted(plan.allowances, key=lambda a: a.service_id)),
    )


def _plan_values(plan: PricePlan) -> dict[str, Any]:
    peak = plan.peak_hours
    return {
        "code": plan.code,
        "name": plan.name,
        "description": plan.description,
        "payment_type": plan.payment_type.value,
        "currency": plan.currency,
        "monthly_fee_minor": plan.monthly_fee,
        "initial_credit_minor": plan.initial_credit,
        "peak_weekdays": ",".join(str(d) for d in sorted(peak.weekdays)) if peak else None,
        "peak_start": f"{peak.start:%H:%M}" if peak else None,
        "peak_end": f"{peak.end:%H:%M}" if peak else None,
    }


def _delete_plan_rates(conn: Connection, plan_id: int) -> None:
    conn.execute(delete(tariffs).where(tariffs.c.price_plan_id == plan_id))
    conn.execute(delete(allowances).where(allowances.c.price_plan_id == plan_id))


def _insert_plan_rates(conn: Connection, plan: PricePlan) -> None:
    _insert_many(conn, tariffs, (_tariff_values(plan.id, t) for t in plan.tariffs))
    _insert_many(conn, allowances, (_allowance_values(plan.id, a) for a in plan.allowances))


def _insert_many(conn: Connection, table: Table, rows: Iterable[dict[str, Any]]) -> None:
    batch = list(rows)
    if batch:
        conn.execute(insert(table), batch)


def _tariff_values(plan_id: int, tariff: Tariff) -> dict[str, Any]:
    return {
        "price_plan_id": plan_id,
        "service_id": tariff.service_id,
        "zone": tariff.zone.value,
        "band": tariff.band.value,
        "strategy": tariff.strategy.value,
        "unit_price_minor": tariff.unit_price,
        "price_unit": tariff.price_unit,
        "increment": tariff.increment,
        "minimum_quantity": tariff.minimum_quantity,
        "minimum_charge_minor": tariff.minimum_charge,
    }


def _allowance_values(plan_id: int, allowance: Allowance) -> dict[str, Any]:
    zone_order = list(Zone)
    return {
        "price_plan_id": plan_id,
        "service_id": allowance.service_id,
        "quantity": allowance.quantity,
        "zones": ",".join(z.value for z in sorted(allowance.zones, key=zone_order.index)),
    }

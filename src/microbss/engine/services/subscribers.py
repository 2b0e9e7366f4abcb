"""Subscriber use cases: create (validate everything, then one transaction), get and search.

CreateSubscriber claims each resource with a conditional UPDATE (FREE -> ASSIGNED) before it
inserts anything, inside a write transaction, so of two creates racing for one MSISDN exactly
one wins; the partial unique indexes on active MSISDN/IMSI/handset are the second line of
defence, and their IntegrityError is reported as ALREADY_EXISTS. Any error rolls everything back.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from microbss.engine.deps import Deps
from microbss.engine.domain.catalog import Catalog, PaymentType, PricePlan
from microbss.engine.domain.errors import AlreadyExists, InvalidArgument, NotFound
from microbss.engine.domain.identifiers import parse_msisdn
from microbss.engine.domain.money import Money
from microbss.engine.domain.paging import Page, PageRequest
from microbss.engine.domain.periods import PREPAID_CYCLE_DAY, period_containing
from microbss.engine.domain.resource import ResourceType
from microbss.engine.domain.subscriber import (
    NewSubscriber,
    SubscriberQuery,
    SubscriberView,
    hash_identity,
    identity_last4,
    validate_new_subscriber,
)
from microbss.engine.services.audit import record_audit
from microbss.engine.storage import resource_repository, subscriber_repository
from microbss.engine.storage.catalog_repository import load_catalog
from microbss.engine.storage.prepared import AnyConnection
from microbss.engine.storage.uow import UnitOfWork, driver_connection

# --- Create ----------------------------------------------------------------------------------


def create_subscriber(deps: Deps, actor: str, new: NewSubscriber) -> SubscriberView:
    """Validate ``new`` and create it with its resources, main balance and allowances."""
    now = deps.clock()
    with deps.db.connect() as conn:
        catalog = load_catalog(conn)
    valid = validate_new_subscriber(new, catalog, today=now.date())
    plan = catalog.price_plans[valid.price_plan_id]
    try:
        with UnitOfWork(deps.db, write=True) as uow:
            subscriber_id = _insert_everything(deps, uow.conn, valid, catalog, plan, actor, now)
            uow.commit()
    except IntegrityError as err:
        # A racing create won between our checks and our insert (unique active MSISDN/IMSI/IMEI).
        raise AlreadyExists(
            f"MSISDN {valid.msisdn}, IMSI {valid.imsi} or the handset is already assigned"
        ) from err
    return get_subscriber(deps, subscriber_id=subscriber_id)


def _insert_everything(
    deps: Deps,
    conn: Connection,
    new: NewSubscriber,
    catalog: Catalog,
    plan: PricePlan,
    actor: str,
    now: datetime,
) -> int:
    claimed = [
        resource_repository.assign_resource(conn, type_, value, now)
        for type_, value in _requested_resources(new)
    ]
    subscriber_id = subscriber_repository.insert_subscriber(
        conn,
        new,
        identity_hash=hash_identity(new.identity_number, deps.settings.secret),
        identity_last4=identity_last4(new.identity_number),
        activated_at=now,
        created_by=actor,
    )
    for resource in claimed:
        resource_repository.link_resource(conn, resource.type, resource.value, subscriber_id)
    initial = plan.initial_credit if plan.payment_type == PaymentType.PREPAID else 0
    subscriber_repository.insert_main_balance(
        conn, subscriber_id, Money(initial, plan.currency), now
    )
    subscriber_repository.insert_allowance_balances(
        conn,
        subscriber_id,
        {a.service_id: a.quantity for a in plan.allowances},
        _period_at(deps, now, new.bill_cycle_id, catalog),
    )
    record_audit(
        conn,
        actor=actor,
        action="subscriber.create",
        target=f"subscriber:{subscriber_id}",
        details={
            "msisdn": new.msisdn,
            "imsi": new.imsi,
            "handset_imei": new.handset_imei,
            "price_plan": plan.code,
            "payment_type": plan.payment_type.value,
            "initial_balance_minor": initial,
        },
    )
    return subscriber_id


def _requested_resources(new: NewSubscriber) -> list[tuple[ResourceType, str]]:
    # Always the same order (MSISDN, IMSI, handset): two creates lock rows in one order and
    # cannot deadlock each other on PostgreSQL.
    wanted = [(ResourceType.MSISDN, new.msisdn), (ResourceType.IMSI, new.imsi)]
    if new.handset_imei:
        wanted.append((ResourceType.HANDSET, new.handset_imei))
    return wanted


def _period_at(
    deps: Deps, now: datetime, bill_cycle_id: int | None, catalog: Catalog
) -> tuple[datetime, datetime]:
    """The allowance period containing ``now``: the bill cycle's for postpaid, else monthly."""
    cycle = catalog.bill_cycles.get(bill_cycle_id) if bill_cycle_id else None
    cycle_day = cycle.cycle_day if cycle else PREPAID_CYCLE_DAY
    return period_containing(now, cycle_day, deps.settings.tz)


# --- Read ------------------------------------------------------------------------------------


def get_subscriber(
    deps: Deps, subscriber_id: int | None = None, msisdn: str | None = None
) -> SubscriberView:
    """One subscriber by id, or the active holder of an MSISDN, with balance, the current
    period's allowances and the unbilled (postpaid) total, read in one query."""
    now = deps.clock()
    tz = deps.settings.tz

    def period_of(cycle_day: int | None) -> tuple[datetime, datetime]:
        return _current_period(now, cycle_day or PREPAID_CYCLE_DAY, tz)

    with driver_connection(deps.db) as conn:
        wanted = _subscriber_id(conn, subscriber_id, msisdn)
        found = subscriber_repository.subscriber_page(conn, wanted, now, period_of)
    if found is None:
        raise NotFound(f"subscriber {wanted} does not exist", field="subscriber_id")
    return SubscriberView(
        subscriber=found.subscriber,
        balance=found.balance,
        allowances=found.allowances,
        unbilled=Money(found.unbilled_minor, found.balance.currency),
    )


# The last period computed per (cycle day, zone): every GetSubscriber needs one, and it only
# changes once a month.
_periods: dict[tuple[int, ZoneInfo], tuple[datetime, datetime]] = {}


def _current_period(now: datetime, cycle_day: int, tz: ZoneInfo) -> tuple[datetime, datetime]:
    known = _periods.get((cycle_day, tz))
    if known is not None and known[0] <= now < known[1]:
        return known
    period = _periods[(cycle_day, tz)] = period_containing(now, cycle_day, tz)
    return period


def _subscriber_id(conn: AnyConnection, subscriber_id: int | None, msisdn: str | None) -> int:
    if subscriber_id:
        if subscriber_id < 0:
            raise InvalidArgument("must be a positive number", field="subscriber_id")
        return subscriber_id
    if msisdn:
        number = parse_msisdn(msisdn)
        found = subscriber_repository.active_subscriber_id(conn, number)
        if found is None:
            raise NotFound(f"no active subscriber holds MSISDN {number}", field="msisdn")
        return found
    raise InvalidArgument("give a subscriber_id or an msisdn", field="key")


def search_subscribers(
    deps: Deps, query: SubscriberQuery, page: PageRequest
) -> Page[SubscriberView]:
    """Subscribers matching ``query``, with main balance and unbilled total (no allowances)."""
    query = _normalise_query(query)
    with deps.db.connect() as conn:
        found = subscriber_repository.search_subscribers(conn, query, page)
        ids = [s.id for s in found.items]
        balances = subscriber_repository.main_balances(conn, ids)
        unbilled = subscriber_repository.unbilled_totals(conn, ids)
    views = []
    for subscriber in found.items:
        balance = balances.get(subscriber.id) or Money(0, deps.settings.currency)
        views.append(
            SubscriberView(
                subscriber=subscriber,
                balance=balance,
                unbilled=Money(unbilled.get(subscriber.id, 0), balance.currency),
            )
        )
    return Page(items=views, next_token=found.next_token, total_count=found.total_count)


def _normalise_query(query: SubscriberQuery) -> SubscriberQuery:
    query = replace(
        query,
        msisdn_prefix=query.msisdn_prefix.strip().removeprefix("+"),
        imsi_prefix=query.imsi_prefix.strip(),
        name=" ".join(query.name.split()),
        identity_last_digits=query.identity_last_digits.strip().upper(),
    )
    for field, value in (("msisdn", query.msisdn_prefix), ("imsi", query.imsi_prefix)):
        if value and (not value.isascii() or not value.isdigit() or len(value) > 15):
            raise InvalidArgument(
                "must be up to 15 digits 0-9 (the start of the number)", field=field
            )
    digits = query.identity_last_digits
    if digits and not (2 <= len(digits) <= 4 and digits.isascii() and digits.isalnum()):
        raise InvalidArgument(
            "must be the last 2 to 4 characters of the identity number",
            field="identity_last_digits",
        )
    if len(query.name) > 100:
        raise InvalidArgument("must be at most 100 characters", field="name")
    return query

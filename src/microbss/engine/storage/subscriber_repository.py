"""Subscriber queries: insert a validated subscriber with its balances, read one back with its
main balance, current allowances and unbilled usage, and search with paging."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Select,
    and_,
    bindparam,
    func,
    insert,
    or_,
    select,
    true,
    update,
)

from microbss.engine.domain.catalog import PaymentType
from microbss.engine.domain.money import Money
from microbss.engine.domain.paging import Page, PageRequest, make_page
from microbss.engine.domain.subscriber import (
    Address,
    AllowanceState,
    NewSubscriber,
    PaymentData,
    PaymentMethod,
    Subscriber,
    SubscriberQuery,
    SubscriberStatus,
)
from microbss.engine.storage.prepared import AnyConnection, Prepared
from microbss.engine.storage.tables import (
    allowance_balances,
    allowances,
    balances,
    bill_cycles,
    price_plans,
    rated_cdrs,
    resources,
    services,
    subscribers,
)

_handsets = resources.alias("handsets")

_SUBSCRIBER_COLUMNS = select(subscribers, _handsets.c.model.label("handset_model")).outerjoin(
    _handsets,
    and_(_handsets.c.type == "HANDSET", _handsets.c.value == subscribers.c.handset_imei),
)

# --- Reading ---------------------------------------------------------------------------------


def subscriber_from_row(row: Any) -> Subscriber:
    return Subscriber(
        id=row.id,
        status=SubscriberStatus(row.status),
        payment_type=PaymentType(row.payment_type),
        msisdn=row.msisdn,
        imsi=row.imsi,
        handset_imei=row.handset_imei or "",
        handset_model=row.handset_model or "",
        identity_last4=row.identity_last4,
        first_name=row.first_name,
        last_name=row.last_name,
        date_of_birth=row.date_of_birth,
        address=Address(
            street=row.street, city=row.city, postal_code=row.postal_code, country=row.country
        ),
        email=row.email,
        contact_phone=row.contact_phone,
        payment=PaymentData(
            method=PaymentMethod(row.payment_method),
            card_reference=row.card_reference,
            card_last4=row.card_last4,
            iban=row.iban,
            account_holder=row.account_holder,
        ),
        price_plan_id=row.price_plan_id,
        bill_cycle_id=row.bill_cycle_id,
        activated_at=row.activated_at,
        terminated_at=row.terminated_at,
        billed_until=row.billed_until,
    )


def get_subscriber(conn: Connection, subscriber_id: int) -> Subscriber | None:
    row = conn.execute(_SUBSCRIBER_COLUMNS.where(subscribers.c.id == subscriber_id)).first()
    return subscriber_from_row(row) if row else None


_ACTIVE_HOLDER = Prepared(
    select(subscribers.c.id).where(
        subscribers.c.msisdn == bindparam("msisdn"), subscribers.c.status == "ACTIVE"
    )
)


def active_subscriber_id(conn: AnyConnection, msisdn: str) -> int | None:
    """The id of the active subscriber holding ``msisdn``, if any."""
    row = _ACTIVE_HOLDER.first(conn, {"msisdn": msisdn})
    return None if row is None else int(row.id)


_BALANCE_HOLDER = Prepared(
    select(subscribers.c.status, subscribers.c.payment_type, balances.c.currency)
    .outerjoin(balances, balances.c.subscriber_id == subscribers.c.id)
    .where(subscribers.c.id == bindparam("subscriber_id"))
)


def balance_holder(
    conn: AnyConnection, subscriber_id: int
) -> tuple[SubscriberStatus, PaymentType, str | None] | None:
    """Status, payment type and main-balance currency (None without a balance row)."""
    row = _BALANCE_HOLDER.first(conn, {"subscriber_id": subscriber_id})
    if row is None:
        return None
    return SubscriberStatus(row.status), PaymentType(row.payment_type), row.currency


def main_balances(conn: Connection, subscriber_ids: Iterable[int]) -> dict[int, Money]:
    rows = conn.execute(
        select(balances.c.subscriber_id, balances.c.amount_minor, balances.c.currency).where(
            balances.c.subscriber_id.in_(list(subscriber_ids))
        )
    )
    return {row.subscriber_id: Money(row.amount_minor, row.currency) for row in rows}


def unbilled_totals(conn: Connection, subscriber_ids: Iterable[int]) -> dict[int, int]:
    """Sum of postpaid rated charges not yet on a bill, per subscriber (minor units)."""
    rows = conn.execute(
        select(rated_cdrs.c.subscriber_id, func.sum(rated_cdrs.c.charge_minor).label("total"))
        .where(
            rated_cdrs.c.subscriber_id.in_(list(subscriber_ids)),
            rated_cdrs.c.payment_type == "POSTPAID",
            rated_cdrs.c.bill_id.is_(None),
        )
        .group_by(rated_cdrs.c.subscriber_id)
    )
    return {row.subscriber_id: int(row.total or 0) for row in rows}


def search_subscribers(
    conn: Connection, query: SubscriberQuery, page: PageRequest
) -> Page[Subscriber]:
    """Subscribers matching every given filter, in id order."""
    filters = _search_filters(query)
    total = conn.execute(select(func.count()).select_from(subscribers).where(*filters)).scalar_one()
    statement: Select[Any] = _SUBSCRIBER_COLUMNS.where(*filters)
    if page.after is not None:
        statement = statement.where(subscribers.c.id > int(page.after))
    rows = conn.execute(statement.order_by(subscribers.c.id).limit(page.size + 1)).all()
    return make_page([subscriber_from_row(r) for r in rows], page, total, key=lambda s: s.id)


def _search_filters(query: SubscriberQuery) -> list[Any]:
    filters: list[Any] = []
    if not query.include_terminated:
        filters.append(subscribers.c.status == "ACTIVE")
    if query.msisdn_prefix:
        filters.append(subscribers.c.msisdn.startswith(query.msisdn_prefix, autoescape=True))
    if query.imsi_prefix:
        filters.append(subscribers.c.imsi.startswith(query.imsi_prefix, autoescape=True))
    if query.name:
        filters.append(
            or_(
                subscribers.c.first_name.icontains(query.name, autoescape=True),
                subscribers.c.last_name.icontains(query.name, autoescape=True),
            )
        )
    if query.identity_last_digits:
        filters.append(
            subscribers.c.identity_last4.endswith(query.identity_last_digits, autoescape=True)
        )
    return filters


# --- The subscriber page in one query (GetSubscriber is the hottest read) ------------------

# The unbilled total as a one-row derived table (computed once), not a correlated subquery
# (which would be summed again for every allowance row of the page).
# Postpaid usage not yet on a bill, summed once per query. The subscriber's own row comes first
# and its payment type is tested before the CDR index is walked: a prepaid line (which never has
# postpaid CDRs; a line cannot change payment type) costs nothing here however long its history,
# where walking the 100k CDRs of a heavy prepaid user took ~150 ms of SQLite per GetSubscriber.
_unbilled_of = subscribers.alias("unbilled_of")
_unbilled = (
    select(func.coalesce(func.sum(rated_cdrs.c.charge_minor), 0).label("unbilled_minor"))
    .select_from(_unbilled_of)
    .join(rated_cdrs, rated_cdrs.c.subscriber_id == _unbilled_of.c.id)
    .where(
        _unbilled_of.c.id == bindparam("subscriber_id"),
        _unbilled_of.c.payment_type == "POSTPAID",
        rated_cdrs.c.payment_type == "POSTPAID",
        rated_cdrs.c.bill_id.is_(None),
    )
    .subquery("unbilled")
)

# One row per allowance of the plan (one row without allowance columns when it has none), each
# with the allowance row whose period contains ``now``, if rating has written one yet.
_PAGE_BY_ID = Prepared(
    select(
        subscribers,
        _handsets.c.model.label("handset_model"),
        balances.c.amount_minor.label("balance_minor"),
        func.coalesce(balances.c.currency, price_plans.c.currency).label("currency"),
        bill_cycles.c.cycle_day,
        _unbilled.c.unbilled_minor,
        allowances.c.service_id.label("allowance_service_id"),
        allowances.c.quantity.label("allowance_quantity"),
        services.c.unit.label("allowance_unit"),
        allowance_balances.c.period_start.label("allowance_period_start"),
        allowance_balances.c.period_end.label("allowance_period_end"),
        allowance_balances.c.granted.label("allowance_granted"),
        allowance_balances.c.used.label("allowance_used"),
    )
    .select_from(subscribers)
    .join(price_plans, price_plans.c.id == subscribers.c.price_plan_id)
    .join(_unbilled, true())
    .outerjoin(
        _handsets,
        and_(_handsets.c.type == "HANDSET", _handsets.c.value == subscribers.c.handset_imei),
    )
    .outerjoin(balances, balances.c.subscriber_id == subscribers.c.id)
    .outerjoin(bill_cycles, bill_cycles.c.id == subscribers.c.bill_cycle_id)
    .outerjoin(allowances, allowances.c.price_plan_id == subscribers.c.price_plan_id)
    .outerjoin(services, services.c.id == allowances.c.service_id)
    .outerjoin(
        allowance_balances,
        and_(
            allowance_balances.c.subscriber_id == subscribers.c.id,
            allowance_balances.c.service_id == allowances.c.service_id,
            allowance_balances.c.period_start <= bindparam("now"),
            allowance_balances.c.period_end > bindparam("now"),
        ),
    )
    .where(subscribers.c.id == bindparam("subscriber_id"))
    .order_by(allowances.c.service_id)
)


@dataclass(frozen=True, slots=True)
class SubscriberPage:
    """A subscriber with what its page needs: main balance, unbilled total, and the current
    period's allowances with what is used so far."""

    subscriber: Subscriber
    balance: Money
    unbilled_minor: int
    allowances: tuple[AllowanceState, ...]


def subscriber_page(
    conn: AnyConnection,
    subscriber_id: int,
    now: datetime,
    period_of: Callable[[int | None], tuple[datetime, datetime]],
) -> SubscriberPage | None:
    """The subscriber's page as of ``now`` in one query; ``period_of(cycle_day)`` gives the
    allowance period (the subscriber's bill cycle day, None for prepaid)."""
    rows = _PAGE_BY_ID.all(conn, {"subscriber_id": subscriber_id, "now": now})
    if not rows:
        return None
    first = rows[0]
    period = period_of(first.cycle_day)
    return SubscriberPage(
        subscriber=subscriber_from_row(first),
        balance=Money(first.balance_minor or 0, first.currency),
        unbilled_minor=int(first.unbilled_minor or 0),
        allowances=_allowance_states(rows, period),
    )


def _allowance_states(
    rows: Sequence[Any], period: tuple[datetime, datetime]
) -> tuple[AllowanceState, ...]:
    """The plan's allowances for ``period`` (same rules as the allowance rows rating writes):
    a service without a row for exactly this period has its full quantity left."""
    start, end = period
    states: dict[str, AllowanceState] = {}
    for row in rows:
        service_id = row.allowance_service_id
        if service_id is None:  # the plan has no allowances
            continue
        written = row.allowance_period_start == start
        if service_id in states and not written:
            continue
        states[service_id] = AllowanceState(
            service_id=service_id,
            unit=row.allowance_unit,
            granted=row.allowance_granted if written else row.allowance_quantity,
            used=(row.allowance_used or 0) if written else 0,
            period_start=start,
            period_end=row.allowance_period_end if written else end,
        )
    return tuple(states.values())


# --- Writing ---------------------------------------------------------------------------------


def insert_subscriber(
    conn: Connection,
    new: NewSubscriber,
    *,
    identity_hash: str,
    identity_last4: str,
    activated_at: datetime,
    created_by: str,
) -> int:
    """Insert a validated subscriber; ``billed_until`` starts at activation."""
    assert new.payment_type is not None  # validated
    result = conn.execute(
        insert(subscribers)
        .values(
            status=SubscriberStatus.ACTIVE.value,
            payment_type=new.payment_type.value,
            price_plan_id=new.price_plan_id,
            bill_cycle_id=new.bill_cycle_id or None,
            msisdn=new.msisdn,
            imsi=new.imsi,
            handset_imei=new.handset_imei or None,
            identity_hash=identity_hash,
            identity_last4=identity_last4,
            first_name=new.first_name,
            last_name=new.last_name,
            date_of_birth=new.date_of_birth,
            street=new.address.street,
            city=new.address.city,
            postal_code=new.address.postal_code,
            country=new.address.country,
            email=new.email,
            contact_phone=new.contact_phone,
            payment_method=new.payment.method.value if new.payment.method else "",
            card_reference=new.payment.card_reference,
            card_last4=new.payment.card_last4,
            iban=new.payment.iban,
            account_holder=new.payment.account_holder,
            activated_at=activated_at,
            terminated_at=None,
            billed_until=activated_at,
            created_by=created_by,
        )
        .returning(subscribers.c.id)
    )
    return int(result.scalar_one())


def insert_main_balance(conn: Connection, subscriber_id: int, amount: Money, at: datetime) -> None:
    conn.execute(
        insert(balances).values(
            subscriber_id=subscriber_id,
            currency=amount.currency,
            amount_minor=amount.amount_minor,
            updated_at=at,
        )
    )


def insert_allowance_balances(
    conn: Connection,
    subscriber_id: int,
    granted: dict[str, int],
    period: tuple[datetime, datetime],
) -> None:
    """One row per service with an allowance, for ``period``, nothing used yet."""
    if not granted:
        return
    start, end = period
    conn.execute(
        insert(allowance_balances),
        [
            {
                "subscriber_id": subscriber_id,
                "service_id": service_id,
                "period_start": start,
                "period_end": end,
                "granted": quantity,
                "used": 0,
            }
            for service_id, quantity in granted.items()
        ],
    )


# (Bind names differ from column names: SQLAlchemy reserves those for the SET clause.)
_CREDIT_PREPAID_BALANCE = Prepared(
    update(balances)
    .where(
        balances.c.subscriber_id == bindparam("holder_id"),
        balances.c.currency == bindparam("balance_currency"),
        select(subscribers.c.id)
        .where(
            subscribers.c.id == bindparam("holder_id"),
            subscribers.c.status == SubscriberStatus.ACTIVE.value,
            subscribers.c.payment_type == PaymentType.PREPAID.value,
        )
        .exists(),
    )
    .values(
        amount_minor=balances.c.amount_minor + bindparam("credit_minor"),
        updated_at=bindparam("credited_at"),
    )
    .returning(balances.c.amount_minor)
)


def credit_prepaid_balance(
    conn: Connection, subscriber_id: int, amount: Money, at: datetime
) -> int | None:
    """Add ``amount`` to an active prepaid subscriber's main balance in that currency, in the
    database (no read-modify-write); the new amount, or None when the subscriber is not (or no
    longer) an active prepaid one with a balance in that currency."""
    found = _CREDIT_PREPAID_BALANCE.first(
        conn,
        {
            "holder_id": subscriber_id,
            "balance_currency": amount.currency,
            "credit_minor": amount.amount_minor,
            "credited_at": at,
        },
    )
    return None if found is None else int(found.amount_minor)

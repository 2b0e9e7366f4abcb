"""Bill storage: billing accounts, gapless invoice numbers, bills with their lines, the usage a
bill carries, bill runs, and the read queries behind GetSubscriberBills and GetInvoice.

Everything here runs in the caller's transaction. Exactly-once billing rests on three things the
database enforces: the conditional advance of ``subscribers.billed_until`` (only one transaction
can move it from a given value), ``UNIQUE(subscriber_id, period_start, supplement)`` on bills,
and the invoice sequence row, updated in the same transaction that inserts the bills (so a
rolled-back bill consumes no number).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Table,
    and_,
    bindparam,
    case,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from microbss.engine.domain.billing import (
    INVOICE_SERIES,
    Bill,
    BillingAccount,
    BillKind,
    BillLine,
    BillStatus,
    LineKind,
    UsageTotals,
)
from microbss.engine.storage.tables import (
    bill_lines,
    bill_runs,
    bills,
    invoice_sequences,
    late_usage_scans,
    rated_cdrs,
    resources,
    subscribers,
)

# SQLite allows 32766 bound parameters; IN lists stay far below it.
_IN_LIST_CHUNK = 900

# --- Accounts --------------------------------------------------------------------------------

_ACCOUNT_COLUMNS = (
    subscribers.c.id,
    subscribers.c.first_name,
    subscribers.c.last_name,
    subscribers.c.street,
    subscribers.c.city,
    subscribers.c.postal_code,
    subscribers.c.country,
    subscribers.c.msisdn,
    subscribers.c.payment_type,
    subscribers.c.status,
    subscribers.c.price_plan_id,
    subscribers.c.bill_cycle_id,
    subscribers.c.activated_at,
    subscribers.c.terminated_at,
    subscribers.c.billed_until,
)


def _account_from_row(row: Any) -> BillingAccount:
    return BillingAccount(
        subscriber_id=row.id,
        first_name=row.first_name,
        last_name=row.last_name,
        street=row.street,
        city=row.city,
        postal_code=row.postal_code,
        country=row.country,
        msisdn=row.msisdn,
        payment_type=row.payment_type,
        status=row.status,
        price_plan_id=row.price_plan_id,
        bill_cycle_id=row.bill_cycle_id,
        activated_at=row.activated_at,
        terminated_at=row.terminated_at,
        billed_until=row.billed_until,
    )


def _chunks(values: Sequence[Any], size: int = _IN_LIST_CHUNK) -> Iterable[Sequence[Any]]:
    for index in range(0, len(values), size):
        yield values[index : index + size]


def get_account(conn: Connection, subscriber_id: int) -> BillingAccount | None:
    row = conn.execute(select(*_ACCOUNT_COLUMNS).where(subscribers.c.id == subscriber_id)).first()
    return _account_from_row(row) if row else None


def load_accounts(conn: Connection, subscriber_ids: Sequence[int]) -> dict[int, BillingAccount]:
    accounts: dict[int, BillingAccount] = {}
    for chunk in _chunks(sorted(set(subscriber_ids))):
        for row in conn.execute(select(*_ACCOUNT_COLUMNS).where(subscribers.c.id.in_(chunk))):
            accounts[row.id] = _account_from_row(row)
    return accounts


def due_account_ids(
    conn: Connection, bill_cycle_id: int, period_start: datetime, period_end: datetime
) -> list[int]:
    """Postpaid subscribers of the cycle active at some time in the period and not yet billed to
    its end (nor to their termination), in id order."""
    query = (
        select(subscribers.c.id)
        .where(
            subscribers.c.payment_type == "POSTPAID",
            subscribers.c.bill_cycle_id == bill_cycle_id,
            subscribers.c.activated_at < period_end,
            subscribers.c.billed_until < period_end,
            or_(
                subscribers.c.terminated_at.is_(None),
                and_(
                    subscribers.c.terminated_at > period_start,
                    subscribers.c.billed_until < subscribers.c.terminated_at,
                ),
            ),
        )
        .order_by(subscribers.c.id)
    )
    return list(conn.scalars(query))


def finally_billed_lines(conn: Connection, bill_cycle_id: int) -> dict[int, datetime]:
    """Terminated postpaid lines of the cycle whose final bill is made (billed to their
    termination): subscriber id -> termination. Usage of theirs that is still unbilled is late."""
    rows = conn.execute(
        select(subscribers.c.id, subscribers.c.terminated_at).where(
            subscribers.c.bill_cycle_id == bill_cycle_id,
            subscribers.c.status == "TERMINATED",
            subscribers.c.payment_type == "POSTPAID",
            subscribers.c.billed_until >= subscribers.c.terminated_at,
        )
    )
    return {subscriber_id: terminated_at for subscriber_id, terminated_at in rows}


def last_cdr_id(conn: Connection) -> int:
    """The highest rated CDR id committed (0 when there is none)."""
    return int(conn.scalar(select(func.max(rated_cdrs.c.id))) or 0)


def unbilled_usage_between(conn: Connection, after_id: int, up_to_id: int) -> dict[int, int]:
    """Subscriber id -> its lowest unbilled postpaid CDR id in (after_id, up_to_id]: one range
    read of the primary key, however long the subscribers' histories are."""
    rows = conn.execute(
        select(rated_cdrs.c.subscriber_id, func.min(rated_cdrs.c.id))
        .where(
            rated_cdrs.c.id > after_id,
            rated_cdrs.c.id <= up_to_id,
            rated_cdrs.c.bill_id.is_(None),
            rated_cdrs.c.payment_type == "POSTPAID",
        )
        .group_by(rated_cdrs.c.subscriber_id)
    )
    return {subscriber_id: int(first) for subscriber_id, first in rows}


@dataclass(frozen=True, slots=True)
class LateUsageScan:
    """Where a cycle's late-usage planning stands: CDRs up to ``scanned_to_cdr_id`` looked at;
    ``version`` changes whenever the mark moves."""

    scanned_to_cdr_id: int
    version: int


def late_usage_scan(conn: Connection, bill_cycle_id: int) -> LateUsageScan:
    row = conn.execute(
        select(late_usage_scans.c.scanned_to_cdr_id, late_usage_scans.c.version).where(
            late_usage_scans.c.bill_cycle_id == bill_cycle_id
        )
    ).first()
    return LateUsageScan(int(row[0]), int(row[1])) if row else LateUsageScan(0, 0)


def _ensure_late_usage_scan(conn: Connection, bill_cycle_id: int) -> None:
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    conn.execute(
        dialect_insert(late_usage_scans)
        .values(bill_cycle_id=bill_cycle_id, scanned_to_cdr_id=0, version=0)
        .on_conflict_do_nothing(index_elements=["bill_cycle_id"])
    )


def advance_late_usage_scan(
    conn: Connection, bill_cycle_id: int, planned_from: LateUsageScan, to_cdr_id: int
) -> bool:
    """Move the cycle's mark up to ``to_cdr_id`` unless it moved since the run planned from
    ``planned_from`` (then the next run looks again from where it is); True when moved."""
    _ensure_late_usage_scan(conn, bill_cycle_id)
    moved = conn.execute(
        update(late_usage_scans)
        .where(
            late_usage_scans.c.bill_cycle_id == bill_cycle_id,
            late_usage_scans.c.version == planned_from.version,
            late_usage_scans.c.scanned_to_cdr_id < to_cdr_id,
        )
        .values(scanned_to_cdr_id=to_cdr_id, version=late_usage_scans.c.version + 1)
    )
    return moved.rowcount == 1


def reopen_late_usage_scan(conn: Connection, bill_cycle_id: int, from_cdr_id: int) -> None:
    """Move the cycle's mark back to ``from_cdr_id`` at the latest, and change its version so
    that no run planned before this transaction advances it: a line terminating now may have
    CDRs above ``from_cdr_id`` committing concurrently, which its final bill does not see."""
    _ensure_late_usage_scan(conn, bill_cycle_id)
    conn.execute(
        update(late_usage_scans)
        .where(late_usage_scans.c.bill_cycle_id == bill_cycle_id)
        .values(
            scanned_to_cdr_id=case(
                (late_usage_scans.c.scanned_to_cdr_id > from_cdr_id, from_cdr_id),
                else_=late_usage_scans.c.scanned_to_cdr_id,
            ),
            version=late_usage_scans.c.version + 1,
        )
    )


def lock_accounts(conn: Connection, subscriber_ids: Sequence[int]) -> None:
    """Hold the subscribers' rows until the transaction ends (FOR UPDATE on PostgreSQL, in id
    order so two billers cannot deadlock; SQLite's write transaction is already exclusive), so
    what is read about them next stays true until the bills are stored."""
    for chunk in _chunks(sorted(set(subscriber_ids))):
        conn.execute(
            select(subscribers.c.id)
            .where(subscribers.c.id.in_(chunk))
            .order_by(subscribers.c.id)
            .with_for_update()
        ).all()


def first_unbilled_usage(
    conn: Connection, windows: Sequence[tuple[int, datetime]]
) -> dict[int, datetime]:
    """For each (subscriber id, end): when its earliest unbilled CDR before ``end`` started;
    subscribers without one are left out."""
    found: dict[int, datetime] = {}
    for subscriber_id, end in windows:
        first = conn.execute(
            select(func.min(rated_cdrs.c.started_at)).where(
                rated_cdrs.c.subscriber_id == subscriber_id,
                rated_cdrs.c.bill_id.is_(None),
                rated_cdrs.c.started_at < end,
            )
        ).scalar()
        if first is not None:
            found[subscriber_id] = first
    return found


def last_supplements(conn: Connection, subscriber_ids: Sequence[int]) -> dict[int, int]:
    """Subscriber id -> the number of its latest supplementary bill (0: none yet)."""
    last = dict.fromkeys(subscriber_ids, 0)
    for chunk in _chunks(sorted(set(subscriber_ids))):
        rows = conn.execute(
            select(bills.c.subscriber_id, func.max(bills.c.supplement))
            .where(bills.c.subscriber_id.in_(chunk))
            .group_by(bills.c.subscriber_id)
        )
        for subscriber_id, supplement in rows:
            last[subscriber_id] = int(supplement)
    return last


def claim_accounts(conn: Connection, claims: Sequence[tuple[int, datetime, datetime]]) -> set[int]:
    """Advance billed_until for each (subscriber id, billed_until seen, new billed_until) that
    nobody else has billed since; returns the subscriber ids this transaction won.

    The rows are locked first (FOR UPDATE on PostgreSQL, in id order so two runs cannot
    deadlock; SQLite's write transaction is already exclusive), so the values compared are the
    committed ones and stay so until this transaction ends.
    """
    if not claims:
        return set()
    ids = sorted(subscriber_id for subscriber_id, _seen, _new in claims)
    current = dict(
        conn.execute(
            select(subscribers.c.id, subscribers.c.billed_until)
            .where(subscribers.c.id.in_(ids))
            .order_by(subscribers.c.id)
            .with_for_update()
        ).all()
    )
    won = [(sid, seen, new) for sid, seen, new in claims if current.get(sid) == seen]
    if won:
        conn.execute(
            update(subscribers)
            .where(subscribers.c.id == bindparam("sid"))
            .values(billed_until=bindparam("new")),
            [{"sid": sid, "new": new} for sid, _seen, new in won],
        )
    return {sid for sid, _seen, _new in won}


# --- Invoice numbers -------------------------------------------------------------------------


def take_invoice_numbers(conn: Connection, count: int, series: str = INVOICE_SERIES) -> int:
    """Reserve ``count`` consecutive numbers of ``series`` and return the first.

    The UPDATE locks the series row until the caller's transaction ends (a row lock on
    PostgreSQL; SQLite's write transaction is already exclusive), so numbers are handed out in
    commit order, and a rollback returns them: no gaps.
    """
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    conn.execute(
        dialect_insert(invoice_sequences)
        .values(name=series, next_value=1)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    next_value = conn.execute(
        update(invoice_sequences)
        .where(invoice_sequences.c.name == series)
        .values(next_value=invoice_sequences.c.next_value + count)
        .returning(invoice_sequences.c.next_value)
    ).scalar_one()
    return int(next_value) - count


# --- Writing bills ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewBill:
    subscriber_id: int
    invoice_number: str
    kind: BillKind
    period_start: datetime
    period_end: datetime
    issued_at: datetime
    currency: str
    bill_run_id: int | None
    supplement: int = 0


def insert_bills(conn: Connection, new_bills: Sequence[NewBill]) -> list[int]:
    """Insert DRAFT bills (total 0 until their lines are known); their ids in the same order."""
    if not new_bills:
        return []
    rows = [
        {
            "subscriber_id": b.subscriber_id,
            "invoice_number": b.invoice_number,
            "kind": b.kind.value,
            "status": BillStatus.DRAFT.value,
            "period_start": b.period_start,
            "period_end": b.period_end,
            "issued_at": b.issued_at,
            "currency": b.currency,
            "net_total_minor": 0,
            "bill_run_id": b.bill_run_id,
            "supplement": b.supplement,
        }
        for b in new_bills
    ]
    # Matched back by invoice number (unique) rather than asking for parameter order: ordered
    # RETURNING makes SQLAlchemy send SQLite one INSERT per bill instead of a few batches.
    result = conn.execute(insert(bills).returning(bills.c.id, bills.c.invoice_number), rows)
    ids = {row.invoice_number: row.id for row in result}
    return [ids[b.invoice_number] for b in new_bills]


def attach_unbilled_usage(
    conn: Connection, bill_usage: Sequence[tuple[int, int, datetime]]
) -> None:
    """Put every unbilled CDR of each (bill id, subscriber id) that started before the bill's
    end on that bill."""
    if not bill_usage:
        return
    conn.execute(
        update(rated_cdrs)
        .where(
            rated_cdrs.c.subscriber_id == bindparam("sid"),
            rated_cdrs.c.bill_id.is_(None),
            rated_cdrs.c.started_at < bindparam("end"),
        )
        .values(bill_id=bindparam("bid")),
        [{"bid": bill_id, "sid": sid, "end": end} for bill_id, sid, end in bill_usage],
    )


def usage_of_bills(
    conn: Connection, bill_subscribers: dict[int, int]
) -> dict[int, list[UsageTotals]]:
    """Usage totals per service of each bill (bill id -> subscriber id given, so the query can
    use the subscriber index)."""
    totals: dict[int, list[UsageTotals]] = {bill_id: [] for bill_id in bill_subscribers}
    bill_ids = list(bill_subscribers)
    for chunk in _chunks(bill_ids, _IN_LIST_CHUNK // 2):
        query = (
            select(
                rated_cdrs.c.bill_id,
                rated_cdrs.c.service_id,
                func.count(),
                func.sum(rated_cdrs.c.billable_quantity),
                func.sum(rated_cdrs.c.allowance_used),
                func.sum(rated_cdrs.c.charge_minor),
            )
            .where(
                rated_cdrs.c.subscriber_id.in_({bill_subscribers[b] for b in chunk}),
                rated_cdrs.c.bill_id.in_(chunk),
            )
            .group_by(rated_cdrs.c.bill_id, rated_cdrs.c.service_id)
        )
        for bill_id, service_id, events, billable, allowance, charge in conn.execute(query):
            totals[bill_id].append(
                UsageTotals(
                    service_id=service_id,
                    events=int(events),
                    billable_quantity=int(billable),
                    allowance_used=int(allowance),
                    charge=int(charge),
                )
            )
    return totals


def insert_lines(conn: Connection, lines_by_bill: Mapping[int, Sequence[BillLine]]) -> None:
    rows = [
        {
            "bill_id": bill_id,
            "line_no": number,
            "kind": line.kind.value,
            "description": line.description[:200],
            "service_id": line.service_id,
            "quantity": line.quantity,
            "unit": line.unit,
            "amount_minor": line.amount,
        }
        for bill_id, lines in lines_by_bill.items()
        for number, line in enumerate(lines, start=1)
    ]
    if rows:
        _insert_many(conn, bill_lines, rows)


_INSERTS: dict[tuple[str, str, tuple[str, ...]], tuple[str, tuple[str, ...] | None]] = {}


def _insert_many(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT ``rows`` (same keys, values the driver takes as they are: no datetimes) with one
    executemany straight to the driver. For the few hundred lines of a chunk, SQLAlchemy's
    per-row parameter handling cost several times the inserts themselves."""
    key = (conn.dialect.name, table.name, tuple(rows[0]))
    prepared = _INSERTS.get(key)
    if prepared is None:
        compiled = insert(table).compile(dialect=conn.dialect, column_keys=list(key[2]))
        order = tuple(compiled.positiontup or ()) if compiled.positional else None
        prepared = _INSERTS[key] = (str(compiled), order)
    sql, order = prepared
    if order is None:  # named parameters (PostgreSQL's drivers)
        conn.exec_driver_sql(sql, list(rows))
    else:  # positional (SQLite's ?)
        conn.exec_driver_sql(sql, [tuple(row[name] for name in order) for row in rows])


def set_totals(conn: Connection, totals: dict[int, int]) -> None:
    if totals:
        conn.execute(
            update(bills)
            .where(bills.c.id == bindparam("bid"))
            .values(net_total_minor=bindparam("total")),
            [{"bid": bill_id, "total": total} for bill_id, total in totals.items()],
        )


def mark_issued(conn: Connection, issued: Sequence[tuple[int, str, str]]) -> int:
    """DRAFT -> ISSUED with (bill id, pdf path, sha256); returns how many this call moved (a bill
    another process issued meanwhile is left as it is)."""
    if not issued:
        return 0
    result = conn.execute(
        update(bills)
        .where(bills.c.id == bindparam("bid"), bills.c.status == BillStatus.DRAFT.value)
        .values(
            status=BillStatus.ISSUED.value, pdf_path=bindparam("path"), pdf_sha256=bindparam("sha")
        ),
        [{"bid": bill_id, "path": path, "sha": sha} for bill_id, path, sha in issued],
    )
    return int(result.rowcount)


# --- Reading bills ---------------------------------------------------------------------------


def _bill_from_row(row: Any, lines: Sequence[BillLine]) -> Bill:
    return Bill(
        id=row.id,
        invoice_number=row.invoice_number,
        subscriber_id=row.subscriber_id,
        kind=BillKind(row.kind),
        status=BillStatus(row.status),
        period_start=row.period_start,
        period_end=row.period_end,
        issued_at=row.issued_at,
        currency=row.currency,
        net_total=row.net_total_minor,
        lines=tuple(lines),
        pdf_path=row.pdf_path,
        pdf_sha256=row.pdf_sha256,
        bill_run_id=row.bill_run_id,
        supplement=row.supplement,
    )


def _lines_of(conn: Connection, bill_ids: Sequence[int]) -> dict[int, list[BillLine]]:
    lines: dict[int, list[BillLine]] = {bill_id: [] for bill_id in bill_ids}
    for chunk in _chunks(list(bill_ids)):
        query = (
            select(bill_lines)
            .where(bill_lines.c.bill_id.in_(chunk))
            .order_by(bill_lines.c.bill_id, bill_lines.c.line_no)
        )
        for row in conn.execute(query):
            lines[row.bill_id].append(
                BillLine(
                    kind=LineKind(row.kind),
                    description=row.description,
                    service_id=row.service_id,
                    quantity=row.quantity,
                    unit=row.unit,
                    amount=row.amount_minor,
                )
            )
    return lines


def _bills_where(conn: Connection, *conditions: Any, newest_first: bool = False) -> list[Bill]:
    # Newest issued first: a supplementary bill for late usage covers an earlier period than
    # the bills before it, yet it is the newest the customer received.
    order = (bills.c.issued_at.desc(), bills.c.id.desc()) if newest_first else (bills.c.id,)
    rows = list(conn.execute(select(bills).where(*conditions).order_by(*order)))
    lines = _lines_of(conn, [row.id for row in rows])
    return [_bill_from_row(row, lines[row.id]) for row in rows]


def get_bill(conn: Connection, bill_id: int) -> Bill | None:
    found = _bills_where(conn, bills.c.id == bill_id)
    return found[0] if found else None


def bill_starting_at(conn: Connection, subscriber_id: int, period_start: datetime) -> Bill | None:
    """The subscriber's regular (not supplementary) bill starting at ``period_start``."""
    found = _bills_where(
        conn,
        bills.c.subscriber_id == subscriber_id,
        bills.c.period_start == period_start,
        bills.c.supplement == 0,
    )
    return found[0] if found else None


def bills_of_subscriber(conn: Connection, subscriber_id: int) -> list[Bill]:
    """Every bill of a subscriber with its lines, newest first."""
    return _bills_where(conn, bills.c.subscriber_id == subscriber_id, newest_first=True)


def draft_bills(conn: Connection) -> list[Bill]:
    """Bills numbered and stored whose PDF was never written (a crash or a run in progress)."""
    return _bills_where(conn, bills.c.status == BillStatus.DRAFT.value)


# --- Bill runs -------------------------------------------------------------------------------


def start_bill_run(
    conn: Connection, period: str, bill_cycle_id: int | None, started_at: datetime
) -> int:
    return int(
        conn.execute(
            insert(bill_runs)
            .values(
                period=period, bill_cycle_id=bill_cycle_id, status="RUNNING", started_at=started_at
            )
            .returning(bill_runs.c.id)
        ).scalar_one()
    )


def finish_bill_run(
    conn: Connection, bill_run_id: int, finished_at: datetime, bills_created: int, total: int
) -> None:
    conn.execute(
        update(bill_runs)
        .where(bill_runs.c.id == bill_run_id)
        .values(
            status="DONE", finished_at=finished_at, bills_created=bills_created, total_minor=total
        )
    )


# --- Termination -----------------------------------------------------------------------------


def terminate_account(conn: Connection, subscriber_id: int, at: datetime) -> bool:
    """ACTIVE -> TERMINATED; False when the subscriber was not active (any more)."""
    result = conn.execute(
        update(subscribers)
        .where(subscribers.c.id == subscriber_id, subscribers.c.status == "ACTIVE")
        .values(status="TERMINATED", terminated_at=at)
    )
    return result.rowcount == 1


def release_resources(
    conn: Connection, subscriber_id: int, msisdn_available_at: datetime
) -> dict[str, int]:
    """Give a leaving subscriber's IMSI and handset back (FREE) and put the MSISDN in quarantine
    until ``msisdn_available_at``; returns how many resources of each type moved."""
    freed = conn.execute(
        update(resources)
        .where(
            resources.c.subscriber_id == subscriber_id,
            resources.c.type.in_(("IMSI", "HANDSET")),
            resources.c.status == "ASSIGNED",
        )
        .values(status="FREE", subscriber_id=None, available_at=None)
    ).rowcount
    quarantined = conn.execute(
        update(resources)
        .where(
            resources.c.subscriber_id == subscriber_id,
            resources.c.type == "MSISDN",
            resources.c.status == "ASSIGNED",
        )
        .values(status="QUARANTINE", subscriber_id=None, available_at=msisdn_available_at)
    ).rowcount
    return {"freed": freed, "quarantined": quarantined}


def accounts_with_unbilled_usage(
    conn: Connection, windows: Sequence[tuple[int, datetime]]
) -> set[int]:
    """Which of the (subscriber id, bill end) pairs have an unbilled CDR started before the end."""
    found: set[int] = set()
    for subscriber_id, end in windows:
        row = conn.execute(
            select(rated_cdrs.c.id)
            .where(
                rated_cdrs.c.subscriber_id == subscriber_id,
                rated_cdrs.c.bill_id.is_(None),
                rated_cdrs.c.started_at < end,
            )
            .limit(1)
        ).first()
        if row is not None:
            found.add(subscriber_id)
    return found


def earliest_postpaid_activation(conn: Connection) -> dict[int, datetime]:
    """Bill cycle id -> first activation of a postpaid subscriber on it."""
    rows = conn.execute(
        select(subscribers.c.bill_cycle_id, func.min(subscribers.c.activated_at))
        .where(subscribers.c.payment_type == "POSTPAID")
        .group_by(subscribers.c.bill_cycle_id)
    )
    return {int(cycle_id): first for cycle_id, first in rows}

"""A subscriber's rated usage for dispute handling: rated CDRs newest first, in chunks.

The window defaults to the three calendar months before ``to`` (``to`` defaults to now) and may
span at most 13 months. Rows are read with keyset pagination on (started_at, id) descending,
one short query per chunk on the (subscriber_id, started_at) index, so a stream of 100k CDRs
never holds them all in memory nor keeps a read transaction open while a slow client reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, exists, or_, select

from microbss.engine.deps import Deps
from microbss.engine.domain.errors import InvalidArgument, NotFound
from microbss.engine.storage.tables import rated_cdrs, services, subscribers

DEFAULT_ROWS_PER_MESSAGE = 1000
MAX_ROWS_PER_MESSAGE = 5000
DEFAULT_WINDOW_MONTHS = 3
MAX_WINDOW_MONTHS = 13
FLAG_NAMES = {1: "NEGATIVE_BALANCE"}  # rated_cdrs.flags bits


@dataclass(frozen=True, slots=True)
class UsageQuery:
    subscriber_id: int
    start: datetime  # inclusive, naive UTC
    end: datetime  # exclusive
    rows_per_message: int


@dataclass(frozen=True, slots=True)
class UsageRecord:
    id: int
    cdr_id: str
    service_id: str
    unit: str
    started_at: datetime
    quantity: int
    other_party: str
    zone: str
    band: str
    billable_quantity: int
    allowance_used: int
    charge_minor: int
    currency: str
    flags: tuple[str, ...]
    bill_id: int  # 0 = not billed (postpaid) or never billed (prepaid)


def months_before(instant: datetime, months: int) -> datetime:
    """The same day and time ``months`` calendar months earlier (day clamped to the month)."""
    index = instant.year * 12 + instant.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    days_in_month = [31, 29 if _leap(year) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    return instant.replace(year=year, month=month, day=min(instant.day, days_in_month[month - 1]))


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def usage_query(
    deps: Deps,
    subscriber_id: int,
    start: datetime | None,
    end: datetime | None,
    rows_per_message: int = 0,
) -> UsageQuery:
    """Check the request and fill in defaults; NOT_FOUND for an unknown subscriber."""
    if subscriber_id <= 0:
        raise InvalidArgument("is required", field="subscriber_id")
    if rows_per_message < 0 or rows_per_message > MAX_ROWS_PER_MESSAGE:
        raise InvalidArgument(
            f"must be between 1 and {MAX_ROWS_PER_MESSAGE} (0 = {DEFAULT_ROWS_PER_MESSAGE})",
            field="rows_per_message",
        )
    end = end or deps.clock()
    start = start or months_before(end, DEFAULT_WINDOW_MONTHS)
    if start > end:
        raise InvalidArgument(f"is after to ({end:%Y-%m-%d %H:%M})", field="from")
    if start < months_before(end, MAX_WINDOW_MONTHS):
        raise InvalidArgument(
            f"the window may span at most {MAX_WINDOW_MONTHS} months", field="from"
        )
    with deps.db.connect() as conn:
        known = conn.execute(select(exists().where(subscribers.c.id == subscriber_id))).scalar()
    if not known:
        raise NotFound(f"no subscriber with id {subscriber_id}", field="subscriber_id")
    return UsageQuery(subscriber_id, start, end, rows_per_message or DEFAULT_ROWS_PER_MESSAGE)


_COLUMNS = (
    rated_cdrs.c.id,
    rated_cdrs.c.cdr_id,
    rated_cdrs.c.service_id,
    rated_cdrs.c.started_at,
    rated_cdrs.c.quantity,
    rated_cdrs.c.other_party,
    rated_cdrs.c.zone,
    rated_cdrs.c.band,
    rated_cdrs.c.billable_quantity,
    rated_cdrs.c.allowance_used,
    rated_cdrs.c.charge_minor,
    rated_cdrs.c.currency,
    rated_cdrs.c.flags,
    rated_cdrs.c.bill_id,
)


def stream_usage(deps: Deps, query: UsageQuery) -> Iterator[list[UsageRecord]]:
    """Chunks of at most ``rows_per_message`` records, newest first."""
    units = _service_units(deps)
    after: tuple[datetime, int] | None = None
    while True:
        chunk = _read_chunk(deps, query, after, units)
        if not chunk:
            return
        yield chunk
        if len(chunk) < query.rows_per_message:
            return
        after = (chunk[-1].started_at, chunk[-1].id)


def _service_units(deps: Deps) -> dict[str, str]:
    with deps.db.connect() as conn:
        return dict(conn.execute(select(services.c.id, services.c.unit)).tuples().all())


def _read_chunk(
    deps: Deps,
    query: UsageQuery,
    after: tuple[datetime, int] | None,
    units: dict[str, str],
) -> list[UsageRecord]:
    conditions = [
        rated_cdrs.c.subscriber_id == query.subscriber_id,
        rated_cdrs.c.started_at >= query.start,
        rated_cdrs.c.started_at < query.end,
    ]
    if after is not None:
        last_started, last_id = after
        conditions.append(
            or_(
                rated_cdrs.c.started_at < last_started,
                and_(rated_cdrs.c.started_at == last_started, rated_cdrs.c.id < last_id),
            )
        )
    statement = (
        select(*_COLUMNS)
        .where(and_(*conditions))
        .order_by(rated_cdrs.c.started_at.desc(), rated_cdrs.c.id.desc())
        .limit(query.rows_per_message)
    )
    with deps.db.connect() as conn:
        rows = conn.execute(statement).tuples().all()
    return [
        UsageRecord(
            id=row[0],
            cdr_id=row[1],
            service_id=row[2],
            unit=units.get(row[2], ""),
            started_at=row[3],
            quantity=row[4],
            other_party=row[5],
            zone=row[6],
            band=row[7],
            billable_quantity=row[8],
            allowance_used=row[9],
            charge_minor=row[10],
            currency=row[11],
            flags=_flag_names(row[12]),
            bill_id=row[13] or 0,
        )
        for row in rows
    ]


def _flag_names(bits: int) -> tuple[str, ...]:
    if not bits:
        return ()
    return tuple(name for bit, name in FLAG_NAMES.items() if bits & bit)

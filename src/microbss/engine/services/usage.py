"""A subscriber's rated usage for dispute handling: rated CDRs newest first, in chunks.

The window defaults to the three calendar months before ``to`` (``to`` defaults to now) and may
span at most 13 months. Rows come from one query on the (subscriber_id, started_at) index,
newest first, fetched from the driver's cursor one message's worth at a time, so a stream of
100k CDRs never holds them all in memory. The query's read snapshot stays open while the
client reads: well under a second for 100k rows at full speed; a client that stops reading
holds it until its call ends (its deadline or a cancel closes the cursor).

Speed: a chunk is handed over as the driver's tuples (:class:`UsageRows`), not one object per
CDR; the API maps them straight into stream messages, start times as integer seconds and nanos.
A dataclass and a datetime per row cost more than the database read itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, exists, select

from microbss.engine.deps import Deps
from microbss.engine.domain.errors import InvalidArgument, NotFound
from microbss.engine.storage.tables import rated_cdrs, services, subscribers

DEFAULT_ROWS_PER_MESSAGE = 1000
MAX_ROWS_PER_MESSAGE = 5000
DEFAULT_WINDOW_MONTHS = 3
MAX_WINDOW_MONTHS = 13
FLAG_NAMES = {1: "NEGATIVE_BALANCE"}  # rated_cdrs.flags bits
_EPOCH = datetime(1970, 1, 1)

USAGE_COLUMNS = (
    "cdr_id, service_id, started_at, quantity, other_party, zone, band, billable_quantity,"
    " allowance_used, charge_minor, currency, flags, bill_id"
)


@dataclass(frozen=True, slots=True)
class UsageRows:
    """One chunk of rated CDRs exactly as the database driver returned them: tuples in
    :data:`USAGE_COLUMNS` order (flags are bits of :data:`FLAG_NAMES`, bill_id None when not
    billed), with what it takes to read them. No Python object per CDR beyond the driver's
    tuple: at 100k rows per stream, each one costs more than the read itself."""

    rows: Sequence[tuple[Any, ...]]
    units: Mapping[str, str]  # service id -> unit
    started_micros: Callable[[Any], int]  # a row's started_at -> microseconds since the epoch


@dataclass(frozen=True, slots=True)
class UsageQuery:
    subscriber_id: int
    start: datetime  # inclusive, naive UTC
    end: datetime  # exclusive
    rows_per_message: int


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


def stream_usage(deps: Deps, query: UsageQuery) -> Iterator[UsageRows]:
    """Chunks of at most ``rows_per_message`` rows, newest first, fetched from one cursor."""
    with deps.db.connect() as conn:
        units = dict(conn.execute(select(services.c.id, services.c.unit)).all())
        micros = _micros_reader(conn.dialect.name)
        with _usage_cursor(conn, query) as cursor:
            while rows := cursor.fetchmany(query.rows_per_message):
                yield UsageRows(rows, units, micros)


@contextmanager
def _usage_cursor(conn: Connection, query: UsageQuery) -> Iterator[Any]:
    """The driver's own cursor over the window, newest first.

    SQLAlchemy's result would build a Row and parse a datetime per CDR, which costs more than
    reading it. On PostgreSQL the cursor is a server-side one, so rows come over in chunks as
    they are fetched instead of all at once; SQLite steps through the index as rows are fetched.
    """
    dialect = conn.dialect
    postgres = dialect.name == "postgresql"
    mark = "%s" if postgres else "?"
    to_driver = rated_cdrs.c.started_at.type.bind_processor(dialect) or (lambda value: value)
    sql = (
        f"SELECT {USAGE_COLUMNS} FROM rated_cdrs"  # noqa: S608 (constants only)
        f" WHERE subscriber_id = {mark} AND started_at >= {mark} AND started_at < {mark}"
        " ORDER BY started_at DESC, id DESC"
    )
    dbapi: Any = conn.connection.dbapi_connection
    cursor = dbapi.cursor(name="usage_stream") if postgres else dbapi.cursor()
    try:
        if postgres:
            cursor.itersize = query.rows_per_message
        cursor.execute(sql, (query.subscriber_id, to_driver(query.start), to_driver(query.end)))
        yield cursor
    finally:
        cursor.close()


def _micros_reader(dialect: str) -> Callable[[Any], int]:
    """started_at as the driver returns it (SQLite: text in SQLAlchemy's format, PostgreSQL:
    datetime) -> microseconds since the epoch."""
    if dialect == "sqlite":
        parse = datetime.fromisoformat

        def from_text(text: str) -> int:
            delta = parse(text) - _EPOCH
            return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds

        return from_text

    def from_datetime(instant: datetime) -> int:
        delta = instant - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds

    return from_datetime

"""A subscriber's rated usage for dispute handling: rated CDRs newest first, in chunks.

The window defaults to the three calendar months before ``to`` (``to`` defaults to now) and may
span at most 13 months. Rows come newest first on the (subscriber_id, started_at) index, a few
messages' worth per query, each query starting after the last row read (keyset paging on
(started_at, id)): a stream of 100k CDRs never holds them all in memory, and between messages
it holds no connection, cursor or read snapshot, so a client that reads slowly (or stops) keeps
no database resource and does not hold back SQLite's WAL checkpoints or PostgreSQL's vacuum.
Each message is consistent in itself; a CDR loaded into the part of the window already sent
while the stream runs is not sent (as with any paged listing).

Speed: a chunk is handed over as the driver's tuples (:class:`UsageRows`), not one object per
CDR; the API maps them straight into stream messages. Reading a column costs the sqlite3 driver
~0.2 us a row, more than anything SQLite does for it, so the query does what it can in SQL
(while sqlite3 steps, without Python's GIL): the start time comes as integer microseconds since
the epoch (no text to parse per row), and service, zone, band and currency, which repeat across
a subscriber's rows, come as one text column looked up in :class:`RatingLabels`. A dataclass and
a datetime per row cost more than the database read itself.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.engine import Dialect

from microbss.engine.deps import Deps
from microbss.engine.domain.errors import InvalidArgument, NotFound
from microbss.engine.storage.prepared import DriverConnection, Prepared
from microbss.engine.storage.tables import rated_cdrs, services, subscribers
from microbss.engine.storage.uow import driver_connection

DEFAULT_ROWS_PER_MESSAGE = 1000
MAX_ROWS_PER_MESSAGE = 5000
DEFAULT_WINDOW_MONTHS = 3
MAX_WINDOW_MONTHS = 13
FLAG_NAMES = {1: "NEGATIVE_BALANCE"}  # rated_cdrs.flags bits
_EPOCH = datetime(1970, 1, 1)

# What each row of a chunk holds, in this order (the SQL per dialect is in _UsagePages):
USAGE_COLUMNS = (
    "cdr_id",
    "rating",  # "service|zone|band|currency", a key of RatingLabels
    "started_micros",  # started_at as integer microseconds since the epoch (UTC)
    "quantity",
    "other_party",
    "billable_quantity",
    "allowance_used",
    "charge_minor",
    "flags",  # bits of FLAG_NAMES
    "bill_id",  # None when not billed
    "id",  # the row's key
)
_STARTED_MICROS, _ROW_ID = 2, 10  # positions in USAGE_COLUMNS: the keyset of the next page
# Rows read per query (whole messages): fewer queries, and still only a few MB in memory.
ROWS_PER_QUERY = 5000
# Joins the rating columns in SQL (_columns_sql): in no service id ([A-Z0-9_]), zone, band or
# currency code.
_RATING_SEPARATOR = "|"


@dataclass(frozen=True, slots=True)
class Rating:
    """What a CDR was rated as, shared by many rows of a stream."""

    service: str
    unit: str  # the service's unit; "" for a service no longer in the catalog
    zone: str
    band: str
    currency: str


class RatingLabels(dict[str, Rating]):
    """Rating keys ("service|zone|band|currency", as the query returns them) -> their
    :class:`Rating`, built the first time a key is seen: a stream sees a handful of them."""

    def __init__(self, units: dict[str, str]) -> None:
        super().__init__()
        self._units = units

    def __missing__(self, key: str) -> Rating:
        service, zone, band, currency = key.split(_RATING_SEPARATOR)
        rating = self[key] = Rating(service, self._units.get(service, ""), zone, band, currency)
        return rating


@dataclass(frozen=True, slots=True)
class UsageRows:
    """One chunk of rated CDRs exactly as the database driver returned them: tuples in
    :data:`USAGE_COLUMNS` order, with the labels their ``rating`` column stands for. No Python
    object per CDR beyond the driver's tuple: at 100k rows per stream, each one costs more
    than the read."""

    rows: Sequence[tuple[Any, ...]]
    ratings: RatingLabels


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


def stream_usage(
    deps: Deps, query: UsageQuery, rows_per_query: int = ROWS_PER_QUERY
) -> Iterator[UsageRows]:
    """Chunks of at most ``rows_per_message`` rows, newest first, a few chunks per query
    (``rows_per_query`` rounded down to whole chunks)."""
    with driver_connection(deps.db) as conn:
        ratings = RatingLabels(dict(_SERVICE_UNITS.all(conn, {})))
    size = query.rows_per_message
    pages = _UsagePages(deps.db.dialect, query, size * max(1, rows_per_query // size))
    after: tuple[int, int] | None = None
    while True:
        with driver_connection(deps.db) as conn:
            rows = pages.fetch(conn, after)
        for start in range(0, len(rows), size):
            yield UsageRows(rows[start : start + size], ratings)
        if len(rows) < pages.limit:
            return
        last = rows[-1]
        after = (last[_STARTED_MICROS], last[_ROW_ID])


_SERVICE_UNITS = Prepared(select(services.c.id, services.c.unit))


class _UsagePages:
    """The window's rows newest first, one page per call, through the driver's cursor.

    SQLAlchemy's result would build a Row and parse a datetime per CDR, which costs more than
    reading it. The next page starts after the last row's (started_at, id): its start time goes
    back to the database the way every bound datetime does (the column type's bind processor;
    on SQLite, SQLAlchemy's text format, which the CDR loader writes too).
    """

    def __init__(self, dialect: Dialect, query: UsageQuery, limit: int) -> None:
        self.limit = limit
        mark = "%s" if dialect.name == "postgresql" else "?"
        # The dialect's own DateTime (on SQLite, SQLAlchemy's text with six fraction digits,
        # as stored); the generic type's processor would leave it to the driver's adapter.
        started_at = rated_cdrs.c.started_at.type.dialect_impl(dialect)
        self._to_driver = started_at.bind_processor(dialect) or (lambda value: value)
        select_rows = (
            f"SELECT {_columns_sql(dialect.name)} FROM rated_cdrs"  # noqa: S608 (constants only)
            f" WHERE subscriber_id = {mark} AND started_at >= {mark}"
        )
        order = f" ORDER BY started_at DESC, id DESC LIMIT {int(limit)}"
        self._first = f"{select_rows} AND started_at < {mark}{order}"
        # One upper bound on started_at, the last row's: given a second one (the window's end),
        # SQLite bounded its index scan by that one and re-read every page sent before.
        self._next = (
            f"{select_rows} AND started_at <= {mark} AND (started_at < {mark} OR id < {mark})"
            + order
        )
        self._subscriber_and_start = (query.subscriber_id, self._to_driver(query.start))
        self._end = self._to_driver(query.end)

    def fetch(self, conn: DriverConnection, after: tuple[int, int] | None) -> list[Any]:
        cursor = conn.driver.cursor()
        try:
            if after is None:
                cursor.execute(self._first, (*self._subscriber_and_start, self._end))
            else:
                micros, row_id = after
                started_at = self._to_driver(_EPOCH + timedelta(microseconds=micros))
                params = (*self._subscriber_and_start, started_at, started_at, row_id)
                cursor.execute(self._next, params)
            return list(cursor.fetchall())
        finally:
            cursor.close()


def _columns_sql(dialect: str) -> str:
    """The SELECT list of USAGE_COLUMNS in the dialect's SQL."""
    rating = f" || '{_RATING_SEPARATOR}' || ".join(("service_id", "zone", "band", "currency"))
    if dialect == "postgresql":
        # timestamp without time zone (naive UTC): its epoch is exact in numeric, to the micro
        started_micros = "CAST(EXTRACT(EPOCH FROM started_at) * 1000000 AS BIGINT)"
    else:
        started_micros = sqlite_epoch_micros("started_at")
    return (
        f"cdr_id, {rating}, {started_micros}, quantity, other_party, billable_quantity,"
        " allowance_used, charge_minor, flags, bill_id, id"
    )


def sqlite_epoch_micros(column: str, version: tuple[int, ...] = sqlite3.sqlite_version_info) -> str:
    """SQLite SQL for a DateTime column (SQLAlchemy's text "YYYY-MM-DD HH:MM:SS[.ffffff]") as
    integer microseconds since the epoch: the whole seconds (the first 19 characters) by SQLite's
    date functions, unixepoch() from SQLite 3.38 and strftime('%s') before it (slower), plus the
    six digits of the fraction as written (none: 0). SQLite's date functions keep milliseconds
    only and would round 59.9995 s up to the next minute, hence the text split."""
    whole = f"substr({column}, 1, 19)"
    seconds = (
        f"unixepoch({whole})" if version >= (3, 38) else f"CAST(strftime('%s', {whole}) AS INTEGER)"
    )
    return f"({seconds} * 1000000 + CAST(substr({column}, 21, 6) AS INTEGER))"

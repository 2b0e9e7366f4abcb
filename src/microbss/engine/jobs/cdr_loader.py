"""The CDR loader: read CDR files, rate every good row exactly once, keep the rest for a human.

``load_cdr_files(deps, paths)`` reads files, folders (every file inside, in name order) and .gz
files. Each row is checked; a bad row goes to ``<input>.rejects.csv`` beside its file (line
number, reason, the line as read). Good rows are rated against the subscriber that held the
MSISDN *at the event time* and committed in batches, each batch one transaction that

1. takes the loaders' write lock (SQLite: BEGIN IMMEDIATE; PostgreSQL: a transaction-level
   advisory lock plus FOR UPDATE on the balance rows), so concurrent loaders queue per batch;
2. drops CDR ids already in ``rated_cdrs`` (counted as duplicates: they change nothing);
3. rates the rest in (start time, CDR id) order with the allowance counters and prepaid
   balances read from the database, so allowance state carries across batches and files;
4. inserts the rated rows, debits prepaid main balances by the sum of their charges (a balance
   may go negative; those CDRs are flagged NEGATIVE_BALANCE) and writes the allowance counters.

``rated_cdrs.cdr_id`` is UNIQUE, so the database itself refuses a second copy of a CDR. A load
killed at any point leaves only whole batches behind; running it again skips them as duplicates
and rewrites the reject file, ending in the state of one uninterrupted run.
"""

from __future__ import annotations

import functools
import gc
import gzip
import io
import logging
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError

from microbss.engine.deps import Deps
from microbss.engine.domain.catalog import Band, Catalog, PaymentType, Zone
from microbss.engine.domain.errors import InvalidArgument
from microbss.engine.domain.periods import PREPAID_CYCLE_DAY
from microbss.engine.domain.rating import (
    Account,
    AllowanceCounter,
    AllowanceKey,
    RateCard,
    RatedEvent,
    RatingState,
    UsageEvent,
    rate_events,
    zone_for_other_party,
)
from microbss.engine.jobs.cdr_formats import (
    CdrFormatError,
    CdrRecord,
    Rejected,
    Skipped,
    parser_for,
)
from microbss.engine.storage.catalog_repository import load_catalog
from microbss.engine.storage.tables import subscribers
from microbss.engine.storage.uow import UnitOfWork

log = logging.getLogger(__name__)

# Bigger batches mean fewer commits, and fewer rewrites of the index pages that every batch
# touches: on SQLite 50,000 rows per batch loads 1M CDRs about twice as fast as 10,000.
DEFAULT_BATCH_SIZE = 50_000
# SQLite page cache of the loader's connection (KiB). The (subscriber_id, started_at) index takes
# rows in random places; with SQLite's default 2 MB cache a batch of a large load keeps evicting
# and rereading its pages. Pages are only cached as they are read, so small loads use little.
LOADER_CACHE_KIB = 64 * 1024
MAX_BATCH_SIZE = 100_000
REJECTS_SUFFIX = ".rejects.csv"
FLAG_NEGATIVE_BALANCE = 1  # rated_cdrs.flags bit
# Any constant works; it only has to be the same in every loader process.
_PG_LOADER_LOCK = 0x6D627373_0C0D
_SQLITE_MAX_VARIABLES = 500
_BATCH_ATTEMPTS = 3
_PLAIN_PROGRESS_EVERY_S = 5.0

RATED_CDR_COLUMNS = (
    "cdr_id", "subscriber_id", "service_id", "started_at", "quantity", "other_party", "zone",
    "band", "billable_quantity", "allowance_used", "charge_minor", "currency", "flags",
    "payment_type", "source", "rated_at",
)  # fmt: skip


class CdrFileError(Exception):
    """A file could not be read at all (missing, unreadable, not the stated format)."""


# --- Summary ------------------------------------------------------------------------------


@dataclass
class LoadSummary:
    files: int = 0
    read: int = 0
    rated: int = 0
    rejected: int = 0
    duplicate: int = 0
    skipped: int = 0
    negative_balance: int = 0
    charged_minor: int = 0
    seconds: float = 0.0
    reject_files: list[Path] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)  # "path: why"

    @property
    def rows_per_second(self) -> float:
        return self.read / self.seconds if self.seconds > 0 else 0.0

    def lines(self) -> list[str]:
        """The summary as an operator reads it at the end of a run."""
        out = [
            f"files: {self.files}  read: {self.read}  rated: {self.rated}  "
            f"rejected: {self.rejected}  duplicate: {self.duplicate}  skipped: {self.skipped}  "
            f"negative balance: {self.negative_balance}",
            f"{self.seconds:.1f} s, {self.rows_per_second:,.0f} rows/s",
        ]
        out += [f"rejects written to {path}" for path in self.reject_files]
        out += [f"could not read {entry}" for entry in self.unreadable]
        return out


# --- Subscribers by MSISDN and time ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Line:
    """One subscriber's tenure of an MSISDN: [activated_at, terminated_at)."""

    account: Account
    card: RateCard  # the account's price plan, compiled for rating
    activated_at: datetime
    terminated_at: datetime | None


class SubscriberIndex:
    """MSISDN -> the lines that held it, loaded once per run (MSISDNs are reused after their
    quarantine, so the right subscriber depends on the event time)."""

    def __init__(self, lines_by_msisdn: dict[str, list[Line]]) -> None:
        self._lines = lines_by_msisdn

    @classmethod
    def load(cls, conn: Connection, catalog: Catalog, cards: RatingState) -> SubscriberIndex:
        """Every line of every subscriber; ``cards`` compiles each price plan once."""
        by_msisdn: dict[str, list[Line]] = {}
        query = select(
            subscribers.c.id,
            subscribers.c.msisdn,
            subscribers.c.payment_type,
            subscribers.c.price_plan_id,
            subscribers.c.bill_cycle_id,
            subscribers.c.activated_at,
            subscribers.c.terminated_at,
        ).order_by(subscribers.c.activated_at)
        for row in conn.execute(query):
            plan = catalog.price_plans[row.price_plan_id]
            cycle = catalog.bill_cycles.get(row.bill_cycle_id) if row.bill_cycle_id else None
            account = Account(
                subscriber_id=row.id,
                plan=plan,
                prepaid=row.payment_type == PaymentType.PREPAID.value,
                cycle_day=cycle.cycle_day if cycle else PREPAID_CYCLE_DAY,
            )
            line = Line(account, cards.card(plan), row.activated_at, row.terminated_at)
            by_msisdn.setdefault(row.msisdn, []).append(line)
        return cls(by_msisdn)

    def sole_lines(self) -> dict[str, Line]:
        """MSISDN -> its line, for the MSISDNs only ever held by one line, still active: the
        line of any event after its activation, found in one lookup."""
        return {
            msisdn: lines[0]
            for msisdn, lines in self._lines.items()
            if len(lines) == 1 and lines[0].terminated_at is None
        }

    def line_at(self, msisdn: str, instant: datetime) -> Line | str:
        """The line holding ``msisdn`` at ``instant``, or the reject reason."""
        lines = self._lines.get(msisdn)
        if not lines:
            return f"unknown subscriber: no subscriber has MSISDN {msisdn}"
        for line in lines:
            if line.activated_at <= instant and (
                line.terminated_at is None or instant < line.terminated_at
            ):
                return line
        return (
            f"subscriber not active at event time: MSISDN {msisdn} had no active line at "
            f"{instant:%Y-%m-%d %H:%M:%S} UTC"
        )


# --- Reading files ------------------------------------------------------------------------


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given and every file inside given folders (name order), minus reject files."""
    found: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            inside = sorted(p for p in path.iterdir() if p.is_file() and _is_cdr_file(p))
            found.extend(inside)
        elif path.is_file():
            found.append(path)
        else:
            raise CdrFileError(f"{path}: no such file or folder")
    return found


def _is_cdr_file(path: Path) -> bool:
    name = path.name
    return not (name.startswith(".") or REJECTS_SUFFIX in name)


@contextmanager
def open_cdr_text(path: Path) -> Iterator[IO[str]]:
    """The file as text (gunzipped when it ends in .gz); undecodable bytes become U+FFFD so
    one bad byte rejects one row, not the file. A UTF-8 byte order mark is dropped."""
    try:
        raw: Any = gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise CdrFileError(f"{path}: {exc.strerror or exc}") from None
    with raw, io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="") as text:
        yield text


# --- Progress -----------------------------------------------------------------------------


class Progress:
    """A tqdm bar on a terminal; a plain line every few seconds otherwise (logs, cron)."""

    def __init__(self, enabled: bool | None) -> None:
        self._enabled = True if enabled is None else enabled
        self._bar: Any = None
        if self._enabled and sys.stderr.isatty():
            from tqdm import tqdm

            self._bar = tqdm(unit=" CDR", unit_scale=True, file=sys.stderr, dynamic_ncols=True)
        self._last_print = time.monotonic()

    def update(self, label: str, summary: LoadSummary, new_rows: int) -> None:
        if not self._enabled:
            return
        if self._bar is not None:
            self._bar.set_description(label, refresh=False)
            self._bar.update(new_rows)
            return
        now = time.monotonic()
        if now - self._last_print >= _PLAIN_PROGRESS_EVERY_S:
            self._last_print = now
            print(
                f"{label}: read {summary.read} rated {summary.rated} "
                f"rejected {summary.rejected} duplicate {summary.duplicate}",
                file=sys.stderr,
                flush=True,
            )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


# --- Rejects ------------------------------------------------------------------------------


class RejectFile:
    """``<input>.rejects.csv``, written to a temporary name and moved into place at the end,
    so a rerun replaces it whole; removed when a run has no rejects for the file."""

    HEADER = "line_no,reason,original_line\n"

    def __init__(self, source: Path) -> None:
        self.path = source.with_name(source.name + REJECTS_SUFFIX)
        # Unique per writer: two loaders on one file must not write into each other's temp file.
        self._tmp = source.with_name(f"{source.name}{REJECTS_SUFFIX}.{uuid.uuid4().hex[:8]}.tmp")
        self._out: IO[str] | None = None
        self.count = 0

    def add(self, line_no: int, reason: str, raw: str) -> None:
        if self._out is None:
            self._out = open(self._tmp, "w", encoding="utf-8", newline="")  # noqa: SIM115
            self._out.write(self.HEADER)
        self._out.write(f"{line_no},{_csv_quote(reason)},{_csv_quote(raw)}\n")
        self.count += 1

    def finish(self) -> Path | None:
        if self._out is None:
            self.path.unlink(missing_ok=True)
            return None
        self._out.close()
        os.replace(self._tmp, self.path)
        return self.path

    def abandon(self) -> None:
        if self._out is not None:
            self._out.close()
            self._tmp.unlink(missing_ok=True)


def _csv_quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


# --- The batch transaction ------------------------------------------------------------------

# A UsageEvent from a tuple without the named tuple's Python-level __new__: once per CDR.
_new_event = functools.partial(tuple.__new__, UsageEvent)

# A row that passed every check before the database, ready to rate.
Pending = tuple[Account, UsageEvent]


@dataclass
class BatchResult:
    rated: int = 0
    duplicate: int = 0
    negative_balance: int = 0
    charged_minor: int = 0


class BatchWriter:
    """Commits one batch of pending rows in one transaction (see the module docstring)."""

    def __init__(self, deps: Deps, source: str, cards: dict[int, RateCard]) -> None:
        self._deps = deps
        self._source = source[-200:]
        self._cards = cards
        self._postgres = deps.db.dialect.name == "postgresql"
        self._mark = "%s" if self._postgres else "?"

    def commit(self, batch: Sequence[Pending]) -> BatchResult:
        for attempt in range(1, _BATCH_ATTEMPTS + 1):
            try:
                return self._commit_once(batch)
            except IntegrityError:
                # Another writer inserted one of these ids between our check and insert (only
                # possible if it bypassed the loader's lock); the rerun counts it as duplicate.
                if attempt == _BATCH_ATTEMPTS:
                    raise
                log.warning("batch hit a concurrent insert; retrying (attempt %d)", attempt)
        raise AssertionError("unreachable")

    def _commit_once(self, batch: Sequence[Pending]) -> BatchResult:
        with UnitOfWork(self._deps.db, write=True) as uow:
            conn = uow.conn
            if self._postgres:
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOADER_LOCK})")
            else:
                _dbapi(conn).execute(f"PRAGMA cache_size=-{LOADER_CACHE_KIB}")
            fresh, duplicates = self._without_known_ids(conn, batch)
            state = RatingState(tz=self._deps.settings.tz, cards=self._cards)
            stored_allowances = self._load_allowances(conn, state, fresh)
            prepaid_before = self._load_balances(conn, state, fresh)
            rated = rate_events(state, fresh)
            self._insert_rated(conn, rated)
            self._debit_balances(conn, state, prepaid_before, fresh)
            self._write_allowances(conn, state, stored_allowances)
            uow.commit()
        return BatchResult(
            rated=len(rated),
            duplicate=duplicates,
            negative_balance=sum(1 for r in rated if r.negative_balance),
            charged_minor=sum(r.charge.amount for r in rated),
        )

    # -- duplicates

    def _without_known_ids(
        self, conn: Connection, batch: Sequence[Pending]
    ) -> tuple[list[Pending], int]:
        ids = [event.cdr_id for _, event in batch]
        unique: Sequence[Pending] = batch
        if len(set(ids)) < len(ids):  # the file repeats an id: its first copy wins
            first_copies: dict[str, Pending] = {}
            for pending in batch:
                first_copies.setdefault(pending[1].cdr_id, pending)
            unique, ids = list(first_copies.values()), list(first_copies)
        known = self._existing_ids(conn, ids)
        fresh = [p for p in unique if p[1].cdr_id not in known] if known else list(unique)
        return fresh, len(batch) - len(fresh)

    def _existing_ids(self, conn: Connection, ids: list[str]) -> set[str]:
        known: set[str] = set()
        if self._postgres:
            rows = conn.exec_driver_sql(
                "SELECT cdr_id FROM rated_cdrs WHERE cdr_id = ANY(%(ids)s)", {"ids": ids}
            )
            known.update(row[0] for row in rows)
            return known
        cursor = _dbapi(conn).cursor()
        try:
            for chunk in _chunks(ids, _SQLITE_MAX_VARIABLES):
                marks = ",".join("?" * len(chunk))
                cursor.execute(f"SELECT cdr_id FROM rated_cdrs WHERE cdr_id IN ({marks})", chunk)  # noqa: S608
                known.update(row[0] for row in cursor.fetchall())
        finally:
            cursor.close()
        return known

    # -- state in

    def _load_allowances(
        self, conn: Connection, state: RatingState, fresh: list[Pending]
    ) -> dict[AllowanceKey, int]:
        """Read the stored counters the batch may draw on: every counter of its subscribers in
        the billing periods its events span (a few more than it needs costs less than working
        out exactly which, per event). Returns their row ids."""
        if not fresh:
            return {}
        times = [event.started_at for _, event in fresh]
        earliest, latest = min(times), max(times)
        cycle_days = {account.cycle_day for account, _ in fresh}
        first = min(state.period_of(day, earliest)[0] for day in cycle_days)
        last = max(state.period_of(day, latest)[0] for day in cycle_days)
        lock = " ORDER BY id FOR UPDATE" if self._postgres else ""
        ids: dict[AllowanceKey, int] = {}
        instant = _Instants()  # the same few period bounds on every row: parse each once
        cursor = _dbapi(conn).cursor()
        try:
            for chunk in _chunks(
                sorted({a.subscriber_id for a, _ in fresh}), _SQLITE_MAX_VARIABLES
            ):
                marks = ",".join([self._mark] * len(chunk))
                cursor.execute(
                    self._sql(
                        "SELECT id, subscriber_id, service_id, period_start, period_end,"  # noqa: S608
                        f" granted, used FROM allowance_balances WHERE subscriber_id IN ({marks})"
                        f" AND period_start >= ? AND period_start <= ?{lock}"
                    ),
                    [*chunk, self._time(first), self._time(last)],
                )
                for row_id, sid, service_id, start, end, granted, used in cursor.fetchall():
                    key = (sid, service_id, instant(start))
                    state.allowances[key] = AllowanceCounter(granted, used, instant(end))
                    ids[key] = row_id
        finally:
            cursor.close()
        return ids

    def _load_balances(
        self, conn: Connection, state: RatingState, fresh: list[Pending]
    ) -> dict[int, int]:
        prepaid = sorted({account.subscriber_id for account, _ in fresh if account.prepaid})
        lock = " ORDER BY subscriber_id FOR UPDATE" if self._postgres else ""
        cursor = _dbapi(conn).cursor()
        try:
            for chunk in _chunks(prepaid, _SQLITE_MAX_VARIABLES):
                marks = ",".join([self._mark] * len(chunk))
                cursor.execute(
                    "SELECT subscriber_id, amount_minor FROM balances"  # noqa: S608
                    f" WHERE subscriber_id IN ({marks}){lock}",
                    chunk,
                )
                state.balances.update(cursor.fetchall())
        finally:
            cursor.close()
        return dict(state.balances)

    # -- SQL through the driver: one dialect difference, the placeholder and time format

    def _sql(self, statement: str) -> str:
        return statement.replace("?", "%s") if self._postgres else statement

    def _time(self, instant: datetime) -> Any:
        return instant if self._postgres else _sqlite_time(instant)

    # -- state out

    def _insert_rated(self, conn: Connection, rated: list[RatedEvent]) -> None:
        if not rated:
            return
        now = self._deps.clock()
        dbapi = _dbapi(conn)
        if self._postgres:
            columns = ", ".join(RATED_CDR_COLUMNS)
            with (
                dbapi.cursor() as cursor,
                cursor.copy(f"COPY rated_cdrs ({columns}) FROM STDIN") as copy,
            ):
                for row in rated_rows(rated, self._source, now):
                    copy.write_row(row)
            return
        # SQLite stores DateTime as text; write it exactly as SQLAlchemy does, so every reader
        # (and every comparison) sees one format.
        rows = rated_rows(rated, self._source, _sqlite_time(now), _sqlite_time)
        cursor = dbapi.cursor()
        try:
            cursor.executemany(INSERT_RATED_CDR_SQLITE, rows)
        finally:
            cursor.close()

    def _debit_balances(
        self,
        conn: Connection,
        state: RatingState,
        before: dict[int, int],
        fresh: list[Pending],
    ) -> None:
        now = self._time(self._deps.clock())
        updates, inserts = [], []
        for sid, after in sorted(state.balances.items()):
            debit = before.get(sid, 0) - after
            if not debit:
                continue
            if sid in before:
                updates.append((debit, now, sid))
            else:  # a prepaid line without a balance row: create it, already debited
                currency = next(a.plan.currency for a, _ in fresh if a.subscriber_id == sid)
                inserts.append((sid, currency, -debit, now))
        cursor = _dbapi(conn).cursor()
        try:
            if updates:
                cursor.executemany(
                    self._sql(
                        "UPDATE balances SET amount_minor = amount_minor - ?, updated_at = ?"
                        " WHERE subscriber_id = ?"
                    ),
                    updates,
                )
            if inserts:
                cursor.executemany(
                    self._sql(
                        "INSERT INTO balances (subscriber_id, currency, amount_minor, updated_at)"
                        " VALUES (?, ?, ?, ?)"
                    ),
                    inserts,
                )
        finally:
            cursor.close()

    def _write_allowances(
        self, conn: Connection, state: RatingState, stored: dict[AllowanceKey, int]
    ) -> None:
        inserts, updates = [], []
        touched = sorted((key, c) for key, c in state.allowances.items() if c.touched)
        for key, counter in touched:  # in key order: the same lock order in every loader
            row_id = stored.get(key)
            if row_id is not None:
                updates.append((counter.used, row_id))
            else:
                subscriber_id, service_id, period_start = key
                start, end = self._time(period_start), self._time(counter.period_end)
                inserts.append(
                    (subscriber_id, service_id, start, end, counter.granted, counter.used)
                )
        cursor = _dbapi(conn).cursor()
        try:
            if inserts:
                cursor.executemany(
                    self._sql(
                        "INSERT INTO allowance_balances"
                        " (subscriber_id, service_id, period_start, period_end, granted, used)"
                        " VALUES (?, ?, ?, ?, ?, ?)"
                    ),
                    inserts,
                )
            if updates:
                cursor.executemany(
                    self._sql("UPDATE allowance_balances SET used = ? WHERE id = ?"), updates
                )
        finally:
            cursor.close()


INSERT_RATED_CDR_SQLITE = (
    f"INSERT INTO rated_cdrs ({', '.join(RATED_CDR_COLUMNS)}) "  # noqa: S608
    f"VALUES ({', '.join('?' * len(RATED_CDR_COLUMNS))})"
)


def _dbapi(conn: Connection) -> Any:
    """The driver's own connection (sqlite3 / psycopg), inside the same transaction, for the
    bulk paths SQLAlchemy would slow down (executemany, COPY)."""
    return conn.connection.dbapi_connection


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class _Instants(dict[Any, datetime]):
    """Timestamp column values -> datetimes, each distinct value converted once."""

    def __call__(self, value: datetime | str) -> datetime:
        found = self.get(value)
        if found is None:
            found = self[value] = _as_datetime(value)
        return found


def _as_datetime(value: datetime | str) -> datetime:
    """A timestamp column as read through the driver (SQLite returns SQLAlchemy's text)."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def _sqlite_time(instant: datetime) -> str:
    return instant.isoformat(" ", "microseconds")


def _same_time(instant: datetime) -> datetime:
    return instant


_PAYMENT_TYPE = {True: PaymentType.PREPAID.value, False: PaymentType.POSTPAID.value}
# Zones and bands as plain str: sqlite3 binds a str subclass (a StrEnum member) through its
# adapter lookup, which made the insert of a row ~1.4 us slower.
_TEXT: dict[str, str] = {member: member.value for member in (*Zone, *Band)}


def rated_rows(
    rated: list[RatedEvent],
    source: str,
    rated_at: Any,
    time_value: Callable[[datetime], Any] = _same_time,
) -> list[tuple[Any, ...]]:
    """The ``rated_cdrs`` rows (in :data:`RATED_CDR_COLUMNS` order) of rated events, times
    through ``time_value``. The named tuples are unpacked by position (one step for all their
    fields, where reading each by name is a lookup): this runs once per CDR."""
    flags, text, payment_type = (0, FLAG_NEGATIVE_BALANCE), _TEXT, _PAYMENT_TYPE
    return [
        (
            cdr_id,
            account.subscriber_id,
            service_id,
            time_value(started_at),
            quantity,
            other_party,
            text[zone],
            text[band],
            billable_quantity,
            allowance_used,
            amount,
            account.plan.currency,
            flags[negative],
            payment_type[account.prepaid],
            source,
            rated_at,
        )
        for (
            (cdr_id, service_id, started_at, quantity, _, _, other_party),
            account,
            (_, zone, band, billable_quantity, allowance_used, _, amount),
            negative,
        ) in rated
    ]


# --- The run ------------------------------------------------------------------------------


def resolve_time_zone(name: str | None, deps: Deps) -> ZoneInfo:
    """``--timezone``: an IANA name, "UTC"/"GMT" for switches that log GMT; default the
    operator's zone."""
    if not name:
        return deps.settings.tz
    try:
        return ZoneInfo("UTC" if name.upper() in ("UTC", "GMT") else name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidArgument(
            f"{name!r} is not a time zone; use an IANA name like Europe/Madrid, or UTC",
            field="timezone",
        ) from None


class _FileLoad:
    """Loading one file: checks each row, batches the good ones, writes the reject file."""

    def __init__(
        self,
        deps: Deps,
        catalog: Catalog,
        index: SubscriberIndex,
        cards: dict[int, RateCard],
        batch_size: int,
        summary: LoadSummary,
        progress: Progress,
    ) -> None:
        self._deps = deps
        self._services = frozenset(catalog.services)
        self._index = index
        self._sole_lines = index.sole_lines()
        self._cards = cards
        self._batch_size = batch_size
        self._summary = summary
        self._progress = progress
        self._country_code = deps.settings.country_code

    def run(self, path: Path, fmt: str, switch_tz: ZoneInfo) -> None:
        parse = parser_for(fmt)
        rejects = RejectFile(path)
        writer = BatchWriter(self._deps, str(path), self._cards)
        pending: list[Pending] = []
        check, batch_size, read, skipped = self._check, self._batch_size, 0, 0
        try:
            with open_cdr_text(path) as text:
                for line_no, raw, result in parse(text, switch_tz):
                    read += 1
                    checked = check(result)
                    if isinstance(checked, tuple):
                        pending.append(checked)
                        if len(pending) >= batch_size:
                            self._summary.read += read
                            read = 0
                            self._commit(writer, pending, path)
                            pending = []
                    elif isinstance(checked, Skipped):
                        skipped += 1
                    else:
                        rejects.add(line_no, checked.reason, raw)
            self._commit(writer, pending, path)
        except (OSError, EOFError, gzip.BadGzipFile, CdrFormatError) as exc:
            rejects.abandon()
            raise CdrFileError(f"{path}: {exc}") from None
        except BaseException:
            rejects.abandon()
            raise
        finally:
            self._summary.read += read
            self._summary.skipped += skipped
        self._summary.rejected += rejects.count
        written = rejects.finish()
        if written is not None:
            self._summary.reject_files.append(written)

    def _check(self, result: CdrRecord | Rejected | Skipped) -> Pending | Rejected | Skipped:
        if not isinstance(result, CdrRecord):
            return result
        cdr_id, msisdn, service_id, started_at, quantity, other_party, zone = result
        if service_id not in self._services:
            return Rejected(f"unknown service {service_id!r}")
        line = self._sole_lines.get(msisdn)
        if line is None or started_at < line.activated_at:
            found = self._index.line_at(msisdn, started_at)
            if isinstance(found, str):
                return Rejected(found)
            line = found
        if zone is None:
            zone = zone_for_other_party(other_party, self._country_code)
        rate = line.card.rate_at(service_id, zone, started_at)
        if rate is None:
            return Rejected(
                f"no tariff: price plan {line.card.plan.code} does not price {service_id} "
                f"in zone {zone} band {line.card.band_at(started_at)}"
            )
        event = _new_event((cdr_id, service_id, started_at, quantity, zone, rate.band, other_party))
        return (line.account, event)

    def _commit(self, writer: BatchWriter, pending: list[Pending], path: Path) -> None:
        if not pending:
            return
        result = writer.commit(pending)
        summary = self._summary
        summary.rated += result.rated
        summary.duplicate += result.duplicate
        summary.negative_balance += result.negative_balance
        summary.charged_minor += result.charged_minor
        self._progress.update(path.name, summary, len(pending))


def load_cdr_files(
    deps: Deps,
    paths: Iterable[str | Path],
    fmt: str = "csv",
    timezone: str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: bool | None = None,
) -> LoadSummary:
    """Load, rate and store the CDRs in ``paths`` (files, folders, .gz); see the module doc.

    ``fmt`` is "csv" (microbss CSV) or "asterisk" (Master.csv); ``timezone`` is the switch's
    zone for Asterisk times (default the operator's). ``progress`` None shows a bar on a
    terminal and plain lines otherwise; False is silent. A file that cannot be read at all is
    listed in ``summary.unreadable`` and the others still load; a missing path raises
    :class:`CdrFileError` before anything is loaded.
    """
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise InvalidArgument(f"must be between 1 and {MAX_BATCH_SIZE}", field="batch_size")
    parser_for(fmt)  # an unknown format fails before any work
    switch_tz = resolve_time_zone(timezone, deps)
    files = expand_paths(paths)
    started = time.perf_counter()
    compiler = RatingState(tz=deps.settings.tz)  # compiles each plan's RateCard once per run
    with deps.db.connect() as conn:
        catalog = load_catalog(conn)
        index = SubscriberIndex.load(conn, catalog, compiler)
    summary = LoadSummary()
    bar = Progress(progress)
    try:
        loader = _FileLoad(deps, catalog, index, compiler.cards, batch_size, summary, bar)
        with _cyclic_gc_paused():
            for path in files:
                summary.files += 1
                try:
                    loader.run(path, fmt, switch_tz)
                except CdrFileError as exc:
                    log.error("%s", exc)
                    summary.unreadable.append(str(exc))
    finally:
        bar.close()
        summary.seconds = time.perf_counter() - started
    return summary


_gc_pause_lock = threading.Lock()
_gc_pauses = 0
_gc_was_enabled = False


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Python's cycle collector off while loading: a batch holds ~10^5 new tuples, so the
    collector keeps walking them (about a third of the rating time) and finds nothing, since
    the loader makes no reference cycles. Reference counting still frees everything. Counted,
    so two loaders in one process restore the collector only when both are done."""
    global _gc_pauses, _gc_was_enabled
    with _gc_pause_lock:
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_pause_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled:
                gc.enable()

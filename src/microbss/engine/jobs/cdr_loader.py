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

Reading and checking the rows is :mod:`cdr_reading`'s work; for large files a reader process on
the other core reads all but the run's first batch, while this process rates and stores the
batches. It reads the run's files one after the other without waiting for this process to
finish storing one, so the files of a folder flow through as one stream.
"""

from __future__ import annotations

import gc
import json
import logging
import operator
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from microbss.engine.deps import Deps
from microbss.engine.domain.catalog import Allowance, Catalog, PaymentType
from microbss.engine.domain.errors import InvalidArgument
from microbss.engine.domain.periods import PREPAID_CYCLE_DAY
from microbss.engine.domain.rating import (
    AllowanceCounter,
    AllowanceKey,
    RateCard,
    Rater,
    RatingState,
)
from microbss.engine.jobs.cdr_formats import parser_for
from microbss.engine.jobs.cdr_reading import (
    FILE_ERRORS,
    CdrChecker,
    CdrFileError,
    Chunk,
    NewContext,
    ReaderProcess,
    ReadRow,
    Subscribers,
    Tenure,
    database_time,
    read_chunks,
)
from microbss.engine.storage.catalog_repository import load_catalog
from microbss.engine.storage.uow import UnitOfWork, checkpoint_aside

__all__ = ["CdrFileError", "LoadSummary", "load_cdr_files"]

log = logging.getLogger(__name__)

# Bigger batches mean fewer commits, and fewer rewrites of the index pages that every batch
# touches: on SQLite 50,000 rows per batch loads 1M CDRs about twice as fast as 10,000.
DEFAULT_BATCH_SIZE = 50_000
# SQLite page cache of the loader's connection (KiB). The (subscriber_id, started_at) index takes
# rows in random places; with SQLite's default 2 MB cache a batch of a large load keeps evicting
# and rereading its pages. Pages are only cached as they are read, so small loads use little.
LOADER_CACHE_KIB = 64 * 1024
# SQLite automatic WAL checkpoint threshold (pages) of the loader's batch transactions. A batch of
# a large load dirties nearly every page of the (subscriber_id, started_at) index, far more than
# the usual threshold (db.SQLITE_AUTOCHECKPOINT_PAGES), so every commit would copy the whole
# index into the database file while holding the write lock. The loader checkpoints after each
# batch on a side thread instead, while it rates the next (uow.checkpoint_aside); this is the
# safety net, above what one batch of MAX_BATCH_SIZE writes. The WAL file grows to about one
# batch's pages (~60 MB at 1M stored CDRs) and is reused, not grown further.
LOADER_AUTOCHECKPOINT_PAGES = 32_768
MAX_BATCH_SIZE = 100_000
# Files this large are read in a reader process (see cdr_reading), about 20,000 CDRs and up:
# below that, starting the process costs more than it saves.
READER_PROCESS_MIN_BYTES = 1 << 20
REJECTS_SUFFIX = ".rejects.csv"
FLAG_NEGATIVE_BALANCE = 1  # rated_cdrs.flags bit
# Any constant works; it only has to be the same in every loader process.
_PG_LOADER_LOCK = 0x6D627373_0C0D
_SQLITE_MAX_VARIABLES = 500
# Bound on each context's remembered prices: data sessions' byte counts rarely repeat.
_REMEMBERED_PRICES = 4096
_BATCH_ATTEMPTS = 3
_PLAIN_PROGRESS_EVERY_S = 5.0

RATED_CDR_COLUMNS = (
    "cdr_id", "subscriber_id", "service_id", "started_at", "quantity", "other_party", "zone",
    "band", "billable_quantity", "allowance_used", "charge_minor", "currency", "flags",
    "payment_type", "source", "rated_at",
)  # fmt: skip


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


class Line(NamedTuple):
    """What rating needs of one subscriber line, by the line's index in the run."""

    subscriber_id: int
    currency: str
    payment_type: str
    prepaid: bool
    cycle_day: int  # the bill cycle's day; PREPAID_CYCLE_DAY for prepaid


@dataclass(frozen=True)
class RunLines:
    """The run's subscriber lines and price plans, as rating sees them here and, by the same
    indexes, as checking sees them (:class:`Subscribers`, possibly in a reader process)."""

    lines: list[Line]
    cards: list[RateCard]  # by plan index
    subscribers: Subscribers

    @classmethod
    def load(cls, conn: Connection, catalog: Catalog, deps: Deps) -> RunLines:
        """Every line of every subscriber: MSISDNs are reused after their quarantine, so the
        right subscriber depends on the event time."""
        lines: list[Line] = []
        tenures: list[Tenure] = []
        plan_index: dict[int, int] = {}
        plans_by_id, cycles = catalog.price_plans, catalog.bill_cycles
        prepaid_type, instant = PaymentType.PREPAID.value, _Instants()
        # Through the driver, like the batches: SQLAlchemy's per-value processing and named
        # rows cost a third of a second per 10,000 subscribers, on every run.
        for sid, msisdn, payment_type, plan_id, cycle_id, activated, terminated in _dbapi(
            conn
        ).execute(_LINES_QUERY):
            plan = plans_by_id[plan_id]
            cycle = cycles.get(cycle_id) if cycle_id else None
            prepaid = payment_type == prepaid_type
            cycle_day = cycle.cycle_day if cycle else PREPAID_CYCLE_DAY
            lines.append(Line(sid, plan.currency, _PAYMENT_TYPE[prepaid], prepaid, cycle_day))
            plan_no = plan_index.setdefault(plan.id, len(plan_index))
            ended = instant(terminated) if terminated is not None else None
            tenures.append(Tenure(msisdn, instant(activated), ended, plan_no))
        plans = [plans_by_id[plan_id] for plan_id in plan_index]  # in index order
        tz = deps.settings.tz
        snapshot = Subscribers(
            plans=plans,
            lines=tenures,
            services=frozenset(catalog.services),
            tz=tz,
            country_code=deps.settings.country_code,
        )
        return cls(lines, [RateCard(plan, tz) for plan in plans], snapshot)


_LINES_QUERY = (
    "SELECT id, msisdn, payment_type, price_plan_id, bill_cycle_id, activated_at, terminated_at"
    " FROM subscribers ORDER BY activated_at, id"
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


class Context(NamedTuple):
    """The rate of one (price plan, service, zone, band), resolved once per run. Zone and band
    as plain str: sqlite3 binds a str subclass (a StrEnum member) through its adapter lookup,
    which made the insert of a row ~1.4 us slower."""

    service_id: str
    zone: str
    band: str
    rater: Rater  # the rate's tariff compiled: integers in, integers out
    allowance: Allowance | None
    # The rater's answers with no allowance left, by quantity: quantities repeat (seconds of a
    # call, one SMS), and a lookup costs a fraction of a call. The billable quantity in them
    # also tells whether an allowance covers the event whole.
    known: dict[int, tuple[int, int, int]]


def resolve_contexts(cards: list[RateCard], new: Iterable[NewContext], into: list[Context]) -> None:
    """Append the contexts a chunk uses for the first time (numbered in order) to ``into``."""
    for number, plan, service_id, zone, band in new:
        if number != len(into):
            raise RuntimeError(f"CDR context {number} arrived out of order")
        rate = cards[plan].rate_for(service_id, zone, band)
        if rate is None:  # the reader checked the same plan
            raise RuntimeError(f"no rate for {service_id} {zone} {band} in plan {plan}")
        into.append(Context(service_id, zone.value, band.value, rate.rater, rate.allowance, {}))


@dataclass
class BatchResult:
    rated: int = 0
    duplicate: int = 0
    negative_balance: int = 0
    charged_minor: int = 0


class BatchWriter:
    """Commits one batch of checked rows in one transaction (see the module docstring)."""

    def __init__(
        self,
        deps: Deps,
        conn: Connection,
        source: str,
        lines: list[Line],
        contexts: list[Context],
    ) -> None:
        self._deps = deps
        self._conn = conn  # the run's writing connection (loader_connection)
        self._source = source[-200:]
        self._lines = lines
        self._contexts = contexts
        self._postgres = deps.db.dialect.name == "postgresql"
        self._mark = "%s" if self._postgres else "?"

    def commit(self, batch: list[ReadRow]) -> BatchResult:
        """Rate and store ``batch`` (sorted in rating order, no CDR id twice)."""
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

    def _commit_once(self, batch: list[ReadRow]) -> BatchResult:
        with UnitOfWork(self._deps.db, write=True, connection=self._conn) as uow:
            conn = uow.conn
            if self._postgres:
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOADER_LOCK})")
            known = self._existing_ids(conn, [row[1] for row in batch])
            fresh = [row for row in batch if row[1] not in known] if known else batch
            lines = [self._lines[index] for index in {row[2] for row in fresh}]
            state = RatingState(tz=self._deps.settings.tz)
            stored_allowances = self._load_allowances(conn, state, fresh, lines)
            prepaid_before = self._load_balances(conn, state, lines)
            result = BatchResult(duplicate=len(batch) - len(fresh))
            self._insert_rated(conn, self._rate(state, fresh, result))
            self._debit_balances(conn, state, prepaid_before, lines)
            self._write_allowances(conn, state, stored_allowances)
            uow.commit()
        checkpoint_aside(self._deps.db)
        return result

    # -- duplicates

    def _existing_ids(self, conn: Connection, ids: list[str]) -> set[str]:
        """The ids among ``ids`` that are already rated."""
        known: set[str] = set()
        if self._postgres:
            rows = conn.exec_driver_sql(
                "SELECT cdr_id FROM rated_cdrs WHERE cdr_id = ANY(%(ids)s)", {"ids": ids}
            )
            known.update(row[0] for row in rows)
            return known
        # The whole batch's ids as one JSON array, joined to the UNIQUE index in one statement:
        # ~40% less than a hundred statements of 500 bound ids each.
        cursor = _dbapi(conn).cursor()
        try:
            cursor.execute(
                "SELECT rated_cdrs.cdr_id FROM json_each(?) AS batch"
                " JOIN rated_cdrs ON rated_cdrs.cdr_id = batch.value",
                (json.dumps(ids),),
            )
            known.update(row[0] for row in cursor.fetchall())
        finally:
            cursor.close()
        return known

    # -- state in

    def _load_allowances(
        self,
        conn: Connection,
        state: RatingState,
        fresh: list[ReadRow],
        lines: list[Line],
    ) -> dict[AllowanceKey, int]:
        """Read the stored counters the batch may draw on: every counter of its subscribers in
        the billing periods its events span (a few more than it needs costs less than working
        out exactly which, per event). Returns their row ids.

        One query per billing period, by its exact start, rather than one over the span: each
        row then brings back only its subscriber, service and numbers, not two timestamps to
        parse, which was a third of the reading."""
        if not fresh:
            return {}
        # The rows are in time order, and their times are fixed-width text.
        earliest, latest = datetime.fromisoformat(fresh[0][0]), datetime.fromisoformat(fresh[-1][0])
        lock = " ORDER BY id FOR UPDATE" if self._postgres else ""
        ids: dict[AllowanceKey, int] = {}
        allowances = state.allowances
        cursor = _dbapi(conn).cursor()
        try:
            for period, subscriber_ids in _periods_spanned(state, lines, earliest, latest).items():
                period_start = period[0]
                for chunk in _chunks(sorted(subscriber_ids), _SQLITE_MAX_VARIABLES):
                    marks = ",".join([self._mark] * len(chunk))
                    cursor.execute(
                        self._sql(
                            "SELECT id, subscriber_id, service_id, granted, used"  # noqa: S608
                            f" FROM allowance_balances WHERE subscriber_id IN ({marks})"
                            f" AND period_start = ?{lock}"
                        ),
                        [*chunk, self._time(period_start)],
                    )
                    for row_id, sid, service_id, granted, used in cursor.fetchall():
                        key = (sid, service_id, period_start)
                        allowances[key] = AllowanceCounter(granted, used, period[1])
                        ids[key] = row_id
        finally:
            cursor.close()
        return ids

    def _load_balances(
        self, conn: Connection, state: RatingState, lines: list[Line]
    ) -> dict[int, int]:
        prepaid = sorted({line.subscriber_id for line in lines if line.prepaid})
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

    # -- rating

    def _rate(
        self, state: RatingState, fresh: list[ReadRow], result: BatchResult
    ) -> list[tuple[Any, ...]]:
        """Rate ``fresh`` in order and return its ``rated_cdrs`` rows (in
        :data:`RATED_CDR_COLUMNS` order), counting into ``result``.

        The rules are the domain's, applied as :func:`domain.rating.rate_events` applies them:
        each CDR's tariff, compiled (:func:`domain.rating.compile_rater`), prices it, drawing
        first on the allowance counter of its billing period, and a prepaid charge comes off
        the main balance. This loop runs once per CDR, so it reads each row's context in one
        lookup, looks its price up by quantity before calling the rater, finds the billing
        period by comparing the row's time text with the last period's bounds, and builds the
        stored row in the same step, from integers only."""
        lines, contexts = self._lines, self._contexts
        balances, allowances, period_of = state.balances, state.allowances, state.period_of
        periods: dict[int, tuple[str, str, tuple[datetime, datetime]]] = {}
        source, rated_at = self._source, self._time(self._deps.clock())
        rows: list[tuple[Any, ...]] = []
        append = rows.append
        negative = charged = 0
        for started_at, cdr_id, line, context, quantity, other_party in fresh:
            sid, currency, payment_type, prepaid, cycle_day = lines[line]
            service_id, zone, band, rater, allowance, known = contexts[context]
            prices = known.get(quantity)
            if prices is None:
                prices = rater(quantity, 0)
                if len(known) < _REMEMBERED_PRICES:
                    known[quantity] = prices
            billable, used, amount = prices
            if allowance is not None and billable:
                period = periods.get(cycle_day)
                if period is None or not period[0] <= started_at < period[1]:
                    bounds = period_of(cycle_day, datetime.fromisoformat(started_at))
                    period = (database_time(bounds[0]), database_time(bounds[1]), bounds)
                    periods[cycle_day] = period
                counter = allowances.get((sid, service_id, period[2][0]))
                if counter is None:
                    counter = state.counter_in(sid, service_id, period[2], allowance)
                left = counter.granted - counter.used
                if left > 0:
                    if left >= billable:  # wholly covered: the usual case, and no rater call
                        used, amount = billable, 0
                    else:
                        billable, used, amount = rater(quantity, left)
                    counter.used += used
                    counter.touched = True
            flags = 0
            if amount:
                charged += amount
                if prepaid:
                    balance = balances[sid] = balances.get(sid, 0) - amount
                    if balance < 0:
                        flags = FLAG_NEGATIVE_BALANCE
                        negative += 1
            append((
                cdr_id, sid, service_id, started_at, quantity, other_party, zone, band,
                billable, used, amount, currency, flags,
                payment_type, source, rated_at,
            ))  # fmt: skip
        result.rated, result.negative_balance, result.charged_minor = len(rows), negative, charged
        return rows

    # -- SQL through the driver: one dialect difference, the placeholder and time format

    def _sql(self, statement: str) -> str:
        return statement.replace("?", "%s") if self._postgres else statement

    def _time(self, instant: datetime) -> Any:
        return instant if self._postgres else database_time(instant)

    # -- state out

    def _insert_rated(self, conn: Connection, rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        dbapi = _dbapi(conn)
        if self._postgres:
            columns = ", ".join(RATED_CDR_COLUMNS)
            with (
                dbapi.cursor() as cursor,
                cursor.copy(f"COPY rated_cdrs ({columns}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
            return
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
        lines: list[Line],
    ) -> None:
        now = self._time(self._deps.clock())
        currencies = {line.subscriber_id: line.currency for line in lines}
        updates, inserts = [], []
        for sid, after in sorted(state.balances.items()):
            debit = before.get(sid, 0) - after
            if not debit:
                continue
            if sid in before:
                updates.append((debit, now, sid))
            else:  # a prepaid line without a balance row: create it, already debited
                inserts.append((sid, currencies[sid], -debit, now))
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
        for key, counter in state.allowances.items():
            if not counter.touched:
                continue
            row_id = stored.get(key)
            if row_id is not None:
                updates.append((counter.used, row_id))
            else:
                subscriber_id, service_id, period_start = key
                start, end = self._time(period_start), self._time(counter.period_end)
                inserts.append(
                    (subscriber_id, service_id, start, end, counter.granted, counter.used)
                )
        # The same order in every loader: new counters by key, stored ones by row id (sorting
        # ~15,000 ids a batch takes a quarter of the time of sorting their keys).
        inserts.sort()
        updates.sort(key=_row_id)
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


def _periods_spanned(
    state: RatingState, lines: list[Line], earliest: datetime, latest: datetime
) -> dict[tuple[datetime, datetime], set[int]]:
    """Every billing period of the lines' bill cycles that holds an instant from ``earliest``
    to ``latest``, with the subscribers whose cycle it belongs to: where the counters the
    events between them draw on are stored."""
    by_cycle_day: dict[int, set[int]] = {}
    for line in lines:
        by_cycle_day.setdefault(line.cycle_day, set()).add(line.subscriber_id)
    spanned: dict[tuple[datetime, datetime], set[int]] = {}
    for cycle_day, subscriber_ids in by_cycle_day.items():
        period = state.period_of(cycle_day, earliest)
        while period[0] <= latest:
            spanned.setdefault(period, set()).update(subscriber_ids)
            period = state.period_of(cycle_day, period[1])
    return spanned


_row_id = operator.itemgetter(1)  # of an allowance counter update

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


_PAYMENT_TYPE = {True: PaymentType.PREPAID.value, False: PaymentType.POSTPAID.value}


# --- The run ------------------------------------------------------------------------------


@contextmanager
def loader_connection(deps: Deps) -> Iterator[Connection]:
    """The connection a run writes all its batches on (each batch its own transaction).

    One connection for the whole run, not one from the pool per batch, so that SQLite's page
    cache keeps the index pages the last batch read and wrote: a batch of a large load touches
    nearly every page of the (subscriber_id, started_at) index, and a cache emptied between
    batches reads them all again. On SQLite it gets the loader's larger page cache
    (LOADER_CACHE_KIB) and automatic checkpoint threshold (LOADER_AUTOCHECKPOINT_PAGES) for
    the run, and goes back to the pool with the usual ones. The price is that cache held for
    the whole run: a 1M-CDR load peaks at ~194 MB of memory instead of ~178 MB."""
    with deps.db.connect() as conn:
        if deps.db.dialect.name != "sqlite":
            yield conn
            return
        cursor = _dbapi(conn).cursor()
        try:
            (cache,) = cursor.execute("PRAGMA cache_size").fetchone()
            (checkpoint,) = cursor.execute("PRAGMA wal_autocheckpoint").fetchone()
            cursor.execute(f"PRAGMA cache_size=-{LOADER_CACHE_KIB}")
            cursor.execute(f"PRAGMA wal_autocheckpoint={LOADER_AUTOCHECKPOINT_PAGES}")
            try:
                yield conn
            finally:
                cursor.execute(f"PRAGMA cache_size={int(cache)}")
                cursor.execute(f"PRAGMA wal_autocheckpoint={int(checkpoint)}")
        finally:
            cursor.close()


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


class _Readers:
    """Where the run's files are read: in this process, or, for a file of at least
    :data:`READER_PROCESS_MIN_BYTES`, in a reader process (started at most once per run) that
    parses and checks on the other core while this process rates and stores.

    The reader process is asked for the next large file as soon as this process starts on a
    file, so it reads that next file while this process stores the last batches of the one
    before: the run's files flow through one pipeline that fills once per run, not once per
    file. (One file ahead, not all: requests and replies share two pipes of 64 KiB, and a
    folder of a few hundred files asked for at once would fill both and stop both processes.)
    The one file it cannot start early is the run's first: this process reads that file's first
    batch itself, as it could only wait while the reader process started up and read it, then
    hands the rest to the reader. Each reader numbers its contexts on its own, so each has its
    own list of them; a batch is read by one of them."""

    def __init__(self, files: list[Path], fmt: str, switch_tz: ZoneInfo, batch_size: int) -> None:
        self._files = files
        self._large = [_size(path) >= READER_PROCESS_MIN_BYTES for path in files]
        self._next_large = _next_large(self._large)
        self._fmt, self._switch_tz, self._batch_size = fmt, switch_tz, batch_size
        self._cards: list[RateCard] = []
        self._subscribers: Subscribers | None = None
        self._checker: CdrChecker | None = None
        self._local_contexts: list[Context] = []
        self._process: ReaderProcess | None = None
        self._process_contexts: list[Context] = []
        self._asked_up_to = 0  # the files before this one were asked of the reader, or not large
        self._asked_as: dict[int, int] = {}  # file number -> its place in the reader's queue
        if any(self._large):
            self._process = ReaderProcess()  # it starts up while this process reads the lines

    def begin(self, subscribers: Subscribers, cards: list[RateCard]) -> None:
        # The reader process first: it starts up while this process reads the first batch.
        if self._process is not None:
            self._process.start(subscribers)
        self._subscribers, self._cards = subscribers, cards

    def open(self, number: int) -> Iterator[tuple[Chunk, list[Context]]]:
        """The chunks of the run's file ``number``, each with its contexts resolved into the
        list they are numbered in."""
        if not self._large[number]:
            self._ask_next(number)  # the reader reads it while this process reads this one
            return self._local(self._read_here(number))
        if number >= self._asked_up_to:  # not asked for: the reader is starting up
            return self._handing_over(number)
        self._ask_next(number)
        return self._from_process(number)

    def _read_here(self, number: int, after_line: int = 0) -> Generator[Chunk, None, None]:
        checker = self._local_checker()
        path, fmt, tz, size = self._files[number], self._fmt, self._switch_tz, self._batch_size
        return read_chunks(checker, path, fmt, tz, size, after_line)

    def _local(self, chunks: Iterable[Chunk]) -> Iterator[tuple[Chunk, list[Context]]]:
        contexts = self._local_contexts
        for chunk in chunks:
            resolve_contexts(self._cards, chunk.new_contexts, contexts)
            yield chunk, contexts

    def _handing_over(self, number: int) -> Iterator[tuple[Chunk, list[Context]]]:
        """The first batch read here; the rest of the file, then the run's next large file,
        asked of the reader process before this process stores that batch."""
        assert self._process is not None
        here = self._read_here(number)
        with closing(here):
            for chunk, contexts in self._local(here):
                if not chunk.batch_end:
                    yield chunk, contexts
                    continue
                if not chunk.end_of_file:
                    here.close()
                    self._ask(number, after_line=chunk.last_line)
                    self._asked_up_to = number + 1
                self._ask_next(number)
                yield chunk, contexts
                if not chunk.end_of_file:
                    yield from self._from_process(number)
                return

    def _ask_next(self, after: int) -> None:
        """Ask the reader process for the first large file after file ``after``, unless it
        has been asked for already."""
        number = self._next_large[after]
        if number < len(self._files) and number >= self._asked_up_to:
            self._ask(number)
            self._asked_up_to = number + 1

    def _ask(self, number: int, after_line: int = 0) -> None:
        assert self._process is not None
        path, fmt, tz, size = self._files[number], self._fmt, self._switch_tz, self._batch_size
        self._process.ask(path, fmt, tz, size, after_line)
        self._asked_as[number] = self._process.asked

    def _from_process(self, number: int) -> Iterator[tuple[Chunk, list[Context]]]:
        """File ``number``'s chunks as the reader process sends them, after the rest of any
        file before it that was not read to its end (a load that stopped on an unwritable
        reject file): those chunks are dropped, their contexts kept."""
        assert self._process is not None
        process, contexts = self._process, self._process_contexts
        while process.ended + 1 < self._asked_as[number]:
            try:
                for chunk in process.chunks():
                    resolve_contexts(self._cards, chunk.new_contexts, contexts)
            except CdrFileError:
                pass  # reported when that file was read
        for chunk in process.chunks():
            resolve_contexts(self._cards, chunk.new_contexts, contexts)
            yield chunk, contexts

    def _local_checker(self) -> CdrChecker:
        """Built on first use: a run of large files only needs it for the first batch."""
        if self._checker is None:
            assert self._subscribers is not None, "begin() first"
            self._checker = CdrChecker(self._subscribers)
        return self._checker

    def close(self) -> None:
        if self._process is not None:
            self._process.close()


def _next_large(large: list[bool]) -> list[int]:
    """For each file, the number of the first large file after it (the file count if none)."""
    found, after = len(large), [0] * len(large)
    for number in range(len(large) - 1, -1, -1):
        after[number] = found
        if large[number]:
            found = number
    return after


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


class _FileLoad:
    """Loading one file: rows from its reader, batches committed, the reject file written."""

    def __init__(
        self,
        deps: Deps,
        conn: Connection,
        run_lines: RunLines,
        summary: LoadSummary,
        progress: Progress,
    ) -> None:
        self._deps = deps
        self._conn = conn
        self._lines = run_lines.lines
        self._summary = summary
        self._progress = progress

    def run(self, path: Path, chunks: Iterator[tuple[Chunk, list[Context]]]) -> None:
        rejects = RejectFile(path)
        summary, pending, runs = self._summary, list[ReadRow](), 0
        try:
            for chunk, contexts in chunks:  # a batch's chunks share one list of contexts
                for line_no, reason, raw in chunk.rejects:
                    rejects.add(line_no, reason, raw)
                summary.read += chunk.read
                summary.skipped += chunk.skipped
                summary.duplicate += chunk.duplicate
                pending += chunk.rows
                runs += 1
                if chunk.batch_end:
                    if runs > 1:
                        pending.sort()  # sorted runs, one per chunk: a merge
                    writer = BatchWriter(self._deps, self._conn, str(path), self._lines, contexts)
                    self._commit(writer, pending, path)
                    pending, runs = [], 0
        except FILE_ERRORS as exc:
            rejects.abandon()
            raise CdrFileError(f"{path}: {exc}") from None
        except BaseException:
            rejects.abandon()
            raise
        summary.rejected += rejects.count
        written = rejects.finish()
        if written is not None:
            summary.reject_files.append(written)

    def _commit(self, writer: BatchWriter, pending: list[ReadRow], path: Path) -> None:
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
    on_file_loaded: Callable[[Path], None] | None = None,
) -> LoadSummary:
    """Load, rate and store the CDRs in ``paths`` (files, folders, .gz); see the module doc.

    ``fmt`` is "csv" (microbss CSV) or "asterisk" (Master.csv); ``timezone`` is the switch's
    zone for Asterisk times (default the operator's). ``progress`` None shows a bar on a
    terminal and plain lines otherwise; False is silent. A file that cannot be read at all is
    listed in ``summary.unreadable`` and the others still load; a missing path raises
    :class:`CdrFileError` before anything is loaded. ``on_file_loaded`` is called with each
    file read to its end, once all its batches are committed and its reject file written
    (e.g. to move it out of the folder the switch writes to).
    """
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise InvalidArgument(f"must be between 1 and {MAX_BATCH_SIZE}", field="batch_size")
    parser_for(fmt)  # an unknown format fails before any work
    switch_tz = resolve_time_zone(timezone, deps)
    files = expand_paths(paths)
    started = time.perf_counter()
    readers = _Readers(files, fmt, switch_tz, batch_size)
    summary = LoadSummary()
    bar = Progress(progress)
    try:
        with deps.db.connect() as conn:
            run_lines = RunLines.load(conn, load_catalog(conn), deps)
        readers.begin(run_lines.subscribers, run_lines.cards)
        with _cyclic_gc_paused(), loader_connection(deps) as conn:
            loader = _FileLoad(deps, conn, run_lines, summary, bar)
            for number, path in enumerate(files):
                summary.files += 1
                try:
                    loader.run(path, readers.open(number))
                except CdrFileError as exc:
                    log.error("%s", exc)
                    summary.unreadable.append(str(exc))
                    continue
                if on_file_loaded is not None:
                    on_file_loaded(path)
    finally:
        readers.close()
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

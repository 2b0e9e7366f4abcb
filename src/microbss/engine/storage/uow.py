"""Unit of work: one connection and one transaction that rolls back unless committed.

    with UnitOfWork(engine, write=True) as uow:
        uow.conn.execute(...)
        uow.commit()

``write=True`` takes SQLite's write lock at BEGIN (BEGIN IMMEDIATE), so concurrent writers wait
for each other instead of failing half-way; on PostgreSQL it is an ordinary transaction and
writers rely on row locks, conditional updates and unique constraints.

``no_waiting()`` makes a SQLite write fail fast with ``WriterBusy`` instead of queueing, as
long as nothing in the block has been written yet (the API's event loop uses it, then runs the
whole call again in a worker, interceptors.py).

``read_connection`` is for hot reads that need no snapshot across statements;
``driver_connection`` for those made only of prepared statements (storage/prepared.py).
"""

from __future__ import annotations

import itertools
import logging
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from types import TracebackType

from sqlalchemy import Connection, Engine

from microbss.engine.storage.db import WriterBusy, is_sqlite
from microbss.engine.storage.prepared import DriverConnection

__all__ = [
    "UnitOfWork",
    "WriterBusy",
    "checkpoint_aside",
    "driver_connection",
    "no_waiting",
    "read_connection",
]

log = logging.getLogger(__name__)

# SQLite admits one writer at a time. Queueing this process's writers on a lock instead of in
# SQLite's busy handler (which sleeps and polls) cut RedeemVoucher's p99 from ~640 ms to ~80 ms
# at 16 calls in flight. Other processes still queue in the busy handler.
#
# SQLite's automatic WAL checkpoint runs inside the COMMIT that crosses its threshold, i.e. while
# that lock is held, so every queued writer waits for the copy and the fsync. Instead, after every
# CHECKPOINT_EVERY commits a short-lived side thread checkpoints (PASSIVE: it waits for no reader
# or writer) outside the lock; the automatic one (db.SQLITE_AUTOCHECKPOINT_PAGES) stays as the
# safety net for very large transactions.
CHECKPOINT_EVERY = 100


class _SqliteWriters:
    """Per SQLite engine: the writers' lock and the commit count that schedules checkpoints."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.commits = itertools.count(1)
        self.checkpointing = threading.Lock()

    def committed(self, engine: Engine) -> None:
        if next(self.commits) % CHECKPOINT_EVERY == 0:
            self.checkpoint_aside(engine)

    def checkpoint_aside(self, engine: Engine) -> None:
        """Start a side thread's checkpoint unless one is running."""
        if self.checkpointing.acquire(False):
            threading.Thread(
                target=self._checkpoint, args=(engine,), name="wal-checkpoint", daemon=True
            ).start()

    def _checkpoint(self, engine: Engine) -> None:
        try:
            with read_connection(engine) as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
        except Exception:  # the automatic checkpoint is still there
            log.warning("WAL checkpoint failed", exc_info=True)
        finally:
            self.checkpointing.release()


_sqlite_writers: weakref.WeakKeyDictionary[Engine, _SqliteWriters] = weakref.WeakKeyDictionary()
_writers_guard = threading.Lock()


def _writers(engine: Engine) -> _SqliteWriters:
    with _writers_guard:
        writers = _sqlite_writers.get(engine)
        if writers is None:
            writers = _sqlite_writers[engine] = _SqliteWriters()
        return writers


class _NoWaiting:
    """One ``no_waiting()`` block: whether a write transaction in it has committed."""

    __slots__ = ("wrote",)

    def __init__(self) -> None:
        self.wrote = False


_no_waiting: ContextVar[_NoWaiting | None] = ContextVar("no_waiting", default=None)


@contextmanager
def no_waiting() -> Iterator[None]:
    """Inside this block a SQLite write transaction that cannot start at once (another writer
    of this or another process holds the lock) raises :class:`WriterBusy` before doing
    anything, instead of waiting. For callers that must not block (the API's event loop) and
    can run the whole operation again elsewhere. Once a write of the block has committed,
    running it again would repeat that write, so any later one waits for the lock as
    everywhere else; reads are unaffected."""
    token = _no_waiting.set(_NoWaiting())
    try:
        yield
    finally:
        _no_waiting.reset(token)


def read_connection(engine: Engine) -> Connection:
    """A connection whose statements each read the latest committed data, without a transaction
    around them on SQLite (PostgreSQL's default READ COMMITTED gives no more across statements).

    For one-query reads and for checks that a later write re-checks: it saves SQLite's
    BEGIN/ROLLBACK round trips (~35 us a call). Use it as ``with read_connection(e) as conn:``.
    """
    return engine.connect().execution_options(sqlite_begin="")


def checkpoint_aside(engine: Engine) -> None:
    """SQLite: checkpoint the WAL now on a side thread (PASSIVE), unless one is running; for a
    writer whose commits are large enough to pass the automatic threshold every time (the CDR
    loader), so that the copy into the database file overlaps its next batch's work instead of
    holding up its commit. Nothing on PostgreSQL."""
    if is_sqlite(engine):
        _writers(engine).checkpoint_aside(engine)


@contextmanager
def driver_connection(engine: Engine) -> Iterator[DriverConnection]:
    """A pooled driver connection for prepared reads, with ``read_connection``'s semantics
    (each statement reads the latest committed data; nothing to commit), back to the pool
    (and rolled back there on PostgreSQL) at the end."""
    pooled = engine.raw_connection()
    try:
        yield DriverConnection(engine.dialect, pooled.dbapi_connection)
    finally:
        pooled.close()


class UnitOfWork:
    """One transaction (see the module docstring). ``connection``: run it on this connection,
    which the caller opened on ``engine`` and closes, instead of one from the pool; for a
    job that runs many transactions and wants to keep what the connection holds between
    them (the CDR loader's page cache)."""

    def __init__(
        self, engine: Engine, *, write: bool = False, connection: Connection | None = None
    ) -> None:
        self._engine = engine
        self._write = write
        self._committed = False
        self._given = connection
        self.conn: Connection

    def __enter__(self) -> UnitOfWork:
        self._writers = _writers(self._engine) if self._write and is_sqlite(self._engine) else None
        # Checked out before the lock: less time holding it.
        conn = self._given if self._given is not None else self._engine.connect()
        try:
            if self._writers is not None:
                block = _no_waiting.get()
                wait = block is None or block.wrote
                conn = conn.execution_options(sqlite_begin="IMMEDIATE", sqlite_nowait=not wait)
                if not self._writers.lock.acquire(blocking=wait):
                    raise WriterBusy("another writer of this process holds the lock")
            try:
                self._tx = conn.begin()
            except BaseException:
                if self._writers is not None:
                    self._writers.lock.release()
                raise
        except BaseException:
            if self._given is None:
                conn.close()
            raise
        self.conn = conn
        return self

    def commit(self) -> None:
        self._tx.commit()
        self._committed = True
        if self._write and (block := _no_waiting.get()) is not None:
            block.wrote = True

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            try:
                if not self._committed and self._tx.is_active:
                    self._tx.rollback()  # before the lock is released: it ends SQLite's lock
            finally:
                if self._writers is not None:
                    self._writers.lock.release()
            if self._writers is not None and self._committed:
                self._writers.committed(self._engine)
        finally:
            if self._given is None:
                self.conn.close()  # back to the pool, outside the lock

    @property
    def is_postgres(self) -> bool:
        return self._engine.dialect.name == "postgresql"

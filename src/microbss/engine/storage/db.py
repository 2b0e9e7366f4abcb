"""Database engines. SQLite gets WAL, foreign keys, a busy timeout and explicit BEGIN IMMEDIATE
for write transactions (so two writers queue instead of failing on a lock upgrade)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

SQLITE_BUSY_TIMEOUT_MS = 30_000
# WAL pages after which a commit checkpoints by itself (SQLite's default: 1000). UnitOfWork
# checkpoints from a side thread long before (uow.py); this is the safety net.
SQLITE_AUTOCHECKPOINT_PAGES = 4000


class WriterBusy(Exception):
    """A write transaction asked not to wait (``sqlite_nowait``) found the write lock taken."""


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an Engine for ``url``; for SQLite files the parent folder is created."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            # Connections kept open: the API's worker threads (MICROBSS_ENGINE_WORKERS) and
            # event loop, plus room for jobs. Beyond them more are opened, never waited for:
            # the API reads and writes on its event loop on SQLite (api/interceptors.py), and
            # a checkout that waited there would stall every call of the server for the pool
            # timeout. A SQLite connection costs a file handle; threads bound how many exist.
            kwargs.setdefault("pool_size", 20)
            kwargs.setdefault("max_overflow", -1)
        engine = create_engine(
            url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs
        )
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    return create_engine(url, **kwargs)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to us: pysqlite's implicit BEGIN cannot be IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_AUTOCHECKPOINT_PAGES}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        options = connection.get_execution_options()
        mode = options.get("sqlite_begin", "DEFERRED")
        if not mode:  # "" (uow.read_connection): no transaction, each statement reads on its own
            return
        # Straight to the driver: pysqlite keeps no transaction state of its own here
        # (isolation_level None), and it spares every transaction a full SQLAlchemy execute.
        driver = connection.connection.driver_connection
        if options.get("sqlite_nowait"):
            _begin_without_waiting(driver, mode)
        else:
            driver.execute(f"BEGIN {mode}")


def _begin_without_waiting(driver: sqlite3.Connection, mode: str) -> None:
    """BEGIN with the busy timeout off: WriterBusy at once if another connection writes."""
    driver.execute("PRAGMA busy_timeout=0")
    try:
        driver.execute(f"BEGIN {mode}")
    except sqlite3.OperationalError as err:
        if driver.in_transaction or "locked" not in str(err):
            raise
        raise WriterBusy("another connection holds the SQLite write lock") from err
    finally:
        driver.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")

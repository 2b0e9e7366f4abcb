"""UnitOfWork's write transactions on SQLite inside no_waiting(): they fail fast with
WriterBusy, having written nothing, instead of queueing for the write lock."""

from __future__ import annotations

import sqlite3
import threading

import pytest
from sqlalchemy import func, insert, select

from microbss.engine.deps import Deps
from microbss.engine.domain.periods import utcnow
from microbss.engine.storage.db import SQLITE_BUSY_TIMEOUT_MS, make_engine
from microbss.engine.storage.tables import throttle_events
from microbss.engine.storage.uow import UnitOfWork, WriterBusy, no_waiting


@pytest.fixture
def sqlite_deps(deps: Deps) -> Deps:
    if deps.db.dialect.name != "sqlite":
        pytest.skip("SQLite's database-wide write lock")
    return deps


def _add_throttle_event(deps: Deps) -> None:
    with UnitOfWork(deps.db, write=True) as uow:
        uow.conn.execute(insert(throttle_events).values(key="k", at=utcnow()))
        uow.commit()


def _throttle_events(deps: Deps) -> int:
    with deps.db.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(throttle_events)).scalar_one())


def test_a_write_that_must_not_wait_fails_fast_while_another_process_writes(
    sqlite_deps: Deps,
) -> None:
    other = sqlite3.connect(sqlite_deps.db.url.database or "", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with no_waiting(), pytest.raises(WriterBusy):
            _add_throttle_event(sqlite_deps)
    finally:
        other.rollback()
        other.close()

    assert _throttle_events(sqlite_deps) == 0
    _add_throttle_event(sqlite_deps)  # the lock is free again, and the busy timeout restored
    assert _throttle_events(sqlite_deps) == 1


def test_a_write_that_must_not_wait_fails_fast_while_a_thread_of_this_process_writes(
    sqlite_deps: Deps,
) -> None:
    holding, release = threading.Event(), threading.Event()

    def writer() -> None:
        with UnitOfWork(sqlite_deps.db, write=True):
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=writer)
    thread.start()
    holding.wait(10)
    try:
        with no_waiting(), pytest.raises(WriterBusy):
            _add_throttle_event(sqlite_deps)
    finally:
        release.set()
        thread.join()

    assert _throttle_events(sqlite_deps) == 0


def test_outside_no_waiting_a_write_queues_for_the_lock_and_succeeds(sqlite_deps: Deps) -> None:
    other = sqlite3.connect(
        sqlite_deps.db.url.database or "", isolation_level=None, check_same_thread=False
    )
    other.execute("BEGIN IMMEDIATE")
    releaser = threading.Timer(0.3, other.rollback)
    releaser.start()
    try:
        _add_throttle_event(sqlite_deps)
    finally:
        releaser.join()
        other.close()

    assert _throttle_events(sqlite_deps) == 1


def test_once_a_write_committed_inside_no_waiting_a_later_write_waits_instead_of_failing(
    sqlite_deps: Deps,
) -> None:
    """WriterBusy tells the caller to run the whole operation again elsewhere; after a
    committed write that would write it twice (two throttle rows, two credits), so a later
    write in the same block queues for the lock like any other."""
    other = sqlite3.connect(
        sqlite_deps.db.url.database or "", isolation_level=None, check_same_thread=False
    )
    with no_waiting():
        _add_throttle_event(sqlite_deps)
        other.execute("BEGIN IMMEDIATE")
        releaser = threading.Timer(0.3, other.rollback)
        releaser.start()
        try:
            _add_throttle_event(sqlite_deps)
        finally:
            releaser.join()
            other.close()

    assert _throttle_events(sqlite_deps) == 2


def test_a_write_that_must_not_wait_leaves_the_connection_with_its_busy_timeout(
    sqlite_deps: Deps,
) -> None:
    """The busy timeout is off only for the BEGIN: it is back on the pooled connection after
    WriterBusy and after a BEGIN that failed for another reason, or later writers using that
    connection would fail at once instead of queueing."""
    engine = make_engine(str(sqlite_deps.db.url), pool_size=1)  # one connection, reused
    try:

        def busy_timeout_ms() -> int:
            with engine.connect() as conn:
                return int(conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one())

        other = sqlite3.connect(sqlite_deps.db.url.database or "", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            with no_waiting(), pytest.raises(WriterBusy), UnitOfWork(engine, write=True):
                pass
        finally:
            other.rollback()
            other.close()
        after_busy = busy_timeout_ms()

        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA query_only=1")  # BEGIN IMMEDIATE now fails otherwise
        with (
            no_waiting(),
            pytest.raises(sqlite3.OperationalError, match="readonly"),
            UnitOfWork(engine, write=True),
        ):
            pass
        after_error = busy_timeout_ms()
    finally:
        engine.dispose()

    assert after_busy == after_error == SQLITE_BUSY_TIMEOUT_MS


def test_transactions_on_a_given_connection_commit_and_roll_back_on_it_and_leave_it_open(
    deps: Deps,
) -> None:
    with deps.db.connect() as conn:
        with UnitOfWork(deps.db, write=True, connection=conn) as uow:
            uow.conn.execute(insert(throttle_events).values(key="kept", at=utcnow()))
            uow.commit()
        with UnitOfWork(deps.db, write=True, connection=conn) as uow:
            uow.conn.execute(insert(throttle_events).values(key="dropped", at=utcnow()))
        assert not conn.closed
        assert conn.execute(select(throttle_events.c.key)).scalars().all() == ["kept"]

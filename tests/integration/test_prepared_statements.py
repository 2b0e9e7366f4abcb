"""Prepared statements (storage/prepared.py) read and write exactly what SQLAlchemy's own execute
does, on SQLite and on PostgreSQL: the hot API paths depend on it."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import bindparam, insert, or_, select, update

from microbss.engine.deps import Deps
from microbss.engine.storage.prepared import Prepared
from microbss.engine.storage.tables import throttle_events, vouchers
from microbss.engine.storage.uow import UnitOfWork, read_connection

CREATED = datetime(2026, 11, 1, 9, 30, 15, 123456)
EXPIRES = datetime(2026, 12, 31, 23, 59, 59)


def _seed_vouchers(deps: Deps) -> None:
    with UnitOfWork(deps.db, write=True) as uow:
        uow.conn.execute(
            insert(vouchers),
            [
                {
                    "serial": f"P-{n}",
                    "batch": "PREP",
                    "value_minor": 100 * n,
                    "currency": "EUR",
                    "pin_hash": f"hash-{n}",
                    "state": 1,
                    "created_at": CREATED,
                    "state_changed_at": CREATED,
                    "expires_at": EXPIRES if n % 2 else None,
                }
                for n in range(1, 5)
            ],
        )
        uow.commit()


_BY_BATCH = Prepared(
    select(vouchers.c.serial, vouchers.c.created_at, vouchers.c.expires_at, vouchers.c.value_minor)
    .where(
        vouchers.c.batch == bindparam("batch"),
        # the same parameter twice, and a literal constant
        or_(vouchers.c.expires_at.is_(None), vouchers.c.expires_at > bindparam("now")),
        vouchers.c.created_at <= bindparam("now"),
        vouchers.c.state == 1,
    )
    .order_by(vouchers.c.serial)
)


def test_prepared_select_returns_the_rows_and_types_sqlalchemy_returns(deps: Deps) -> None:
    _seed_vouchers(deps)
    now = datetime(2026, 11, 27, 12, 0)
    with read_connection(deps.db) as conn:
        rows = _BY_BATCH.all(conn, {"batch": "PREP", "now": now})
        expected = conn.execute(_BY_BATCH._statement, {"batch": "PREP", "now": now}).all()
    assert [tuple(r) for r in rows] == [tuple(r) for r in expected]
    assert rows[0].serial == "P-1" and rows[0].created_at == CREATED  # microseconds kept
    assert isinstance(rows[0].created_at, datetime)
    assert rows[0].expires_at == EXPIRES and rows[1].expires_at is None


def test_prepared_select_of_nothing_gives_no_rows_and_first_none(deps: Deps) -> None:
    with read_connection(deps.db) as conn:
        assert _BY_BATCH.all(conn, {"batch": "NONE", "now": CREATED}) == []
        assert _BY_BATCH.first(conn, {"batch": "NONE", "now": CREATED}) is None


def test_prepared_update_counts_rows_and_rolls_back_with_its_unit_of_work(deps: Deps) -> None:
    _seed_vouchers(deps)
    withdraw = Prepared(
        update(vouchers)
        .where(vouchers.c.batch == bindparam("batch"), vouchers.c.state == 1)
        .values(state=3, state_changed_at=bindparam("at"))
    )
    with UnitOfWork(deps.db, write=True) as uow:
        assert withdraw.rowcount(uow.conn, {"batch": "PREP", "at": EXPIRES}) == 4
        # not committed: the unit of work rolls the driver-level update back too
    with read_connection(deps.db) as conn:
        states = conn.execute(select(vouchers.c.state)).scalars().all()
    assert states == [1, 1, 1, 1]
    with UnitOfWork(deps.db, write=True) as uow:
        withdraw.rowcount(uow.conn, {"batch": "PREP", "at": EXPIRES})
        uow.commit()
    with read_connection(deps.db) as conn:
        changed = conn.execute(select(vouchers.c.state, vouchers.c.state_changed_at)).all()
    assert set(changed) == {(3, EXPIRES)}


def test_prepared_insert_writes_datetimes_that_sqlalchemy_reads_back(deps: Deps) -> None:
    add = Prepared(insert(throttle_events).values(key=bindparam("key"), at=bindparam("at")))
    with UnitOfWork(deps.db, write=True) as uow:
        assert add.rowcount(uow.conn, {"key": "k", "at": CREATED}) == 1
        uow.commit()
    with read_connection(deps.db) as conn:
        found = conn.execute(
            select(throttle_events.c.key).where(throttle_events.c.at == CREATED)
        ).scalar_one()
    assert found == "k"


def test_prepared_statement_missing_a_parameter_fails_instead_of_binding_null(deps: Deps) -> None:
    with read_connection(deps.db) as conn, pytest.raises(TypeError, match="batch"):
        _BY_BATCH.all(conn, {"now": CREATED})

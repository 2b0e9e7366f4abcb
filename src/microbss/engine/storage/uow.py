"""Unit of work: one connection and one transaction that rolls back unless committed.

    with UnitOfWork(engine, write=True) as uow:
        uow.conn.execute(...)
        uow.commit()

``write=True`` takes SQLite's write lock at BEGIN (BEGIN IMMEDIATE), so concurrent writers wait
for each other instead of failing half-way; on PostgreSQL it is an ordinary transaction and
writers rely on row locks, conditional updates and unique constraints.
"""

from __future__ import annotations

from types import TracebackType

from sqlalchemy import Connection, Engine

from microbss.engine.storage.db import is_sqlite


class UnitOfWork:
    def __init__(self, engine: Engine, *, write: bool = False) -> None:
        self._engine = engine
        self._write = write
        self._committed = False
        self.conn: Connection

    def __enter__(self) -> UnitOfWork:
        conn = self._engine.connect()
        if self._write and is_sqlite(self._engine):
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        self.conn = conn
        self._tx = conn.begin()
        return self

    def commit(self) -> None:
        self._tx.commit()
        self._committed = True

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if not self._committed and self._tx.is_active:
                self._tx.rollback()
        finally:
            self.conn.close()

    @property
    def is_postgres(self) -> bool:
        return self._engine.dialect.name == "postgresql"

"""Prepared statements for the hottest API calls: written in SQLAlchemy Core, compiled once per
dialect, run on the driver's own cursor.

GetSubscriber and RedeemVoucher run one to six small statements each. Measured in-process on
SQLite, SQLAlchemy's per-execute work (execution context, events, cache key, result object) took
about 80 us a statement: more than the statements themselves, and most of those calls' server
time. A :class:`Prepared` statement keeps its definition in Core (typed columns from tables.py,
one SQL text per dialect, compiled by SQLAlchemy) and skips only that per-call machinery:

- parameters are bound in the compiled order, through the same bind processors SQLAlchemy would
  use (on SQLite a DateTime becomes SQLAlchemy's own text format, so every reader sees one);
- result columns go through the same result processors (SQLite's DateTime/Date text back to
  datetime/date), into a named tuple per statement.

It runs inside the caller's SQLAlchemy connection and transaction (the driver connection is the
same one), so unit-of-work semantics are unchanged; or, for reads made only of prepared
statements, on a :class:`DriverConnection` from ``uow.driver_connection``, which also skips
SQLAlchemy's Connection object (27 -> 14 us a checkout and return; connection handling was ~12%
of the server's GIL time in GetSubscriber). Statements with "expanding" IN lists cannot be
prepared this way; the caller renders one statement per list length instead.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement


@dataclass(frozen=True, slots=True)
class DriverConnection:
    """A pooled driver connection (sqlite3 / psycopg) and the dialect it speaks."""

    dialect: Dialect
    driver: Any


AnyConnection = Connection | DriverConnection


@dataclass(frozen=True, slots=True)
class _Plan:
    """One statement compiled for one dialect."""

    sql: str
    order: tuple[str, ...] | None  # parameter names in placeholder order; None: named style
    required: frozenset[str]  # parameters the caller must give
    defaults: dict[str, Any]  # the literal values of constants in the statement
    binds: tuple[tuple[str, Callable[[Any], Any]], ...]  # parameters that need a processor
    results: tuple[tuple[int, Callable[[Any], Any]], ...]  # (column index, its processor)
    row: type | None  # named tuple of the result columns; None: the statement returns no rows


class Prepared:
    """A Core statement run through the driver: ``all``, ``first`` or ``rowcount``."""

    def __init__(self, statement: ClauseElement) -> None:
        self._statement = statement
        self._plans: dict[str, _Plan] = {}

    def all(self, conn: AnyConnection, params: Mapping[str, Any]) -> list[Any]:
        plan, cursor = self._run(conn, params)
        try:
            rows = cursor.fetchall()
        finally:
            cursor.close()
        assert plan.row is not None, "statement returns no rows"
        make, results = plan.row._make, plan.results  # type: ignore[attr-defined]
        if not results:
            return [make(row) for row in rows]
        return [make(_processed(row, results)) for row in rows]

    def first(self, conn: AnyConnection, params: Mapping[str, Any]) -> Any | None:
        rows = self.all(conn, params)
        return rows[0] if rows else None

    def rowcount(self, conn: AnyConnection, params: Mapping[str, Any]) -> int:
        """Rows changed by an INSERT/UPDATE/DELETE without RETURNING."""
        _, cursor = self._run(conn, params)
        try:
            return int(cursor.rowcount)
        finally:
            cursor.close()

    def _run(self, conn: AnyConnection, params: Mapping[str, Any]) -> tuple[_Plan, Any]:
        dialect = conn.dialect
        driver = conn.driver if isinstance(conn, DriverConnection) else _driver_of(conn)
        plan = self._plans.get(dialect.name)
        if plan is None:
            plan = self._plans[dialect.name] = _compile(self._statement, dialect)
        if not plan.required <= params.keys():
            missing = ", ".join(sorted(plan.required - params.keys()))
            raise TypeError(f"prepared statement needs parameters: {missing}")
        values = {**plan.defaults, **params}
        for name, process in plan.binds:
            values[name] = process(values[name])
        cursor = driver.cursor()
        try:
            if plan.order is None:
                cursor.execute(plan.sql, values)
            else:
                cursor.execute(plan.sql, [values[name] for name in plan.order])
        except BaseException:
            cursor.close()
            raise
        return plan, cursor


def _driver_of(conn: Connection) -> Any:
    return conn.connection.dbapi_connection


def _processed(
    row: tuple[Any, ...], results: tuple[tuple[int, Callable[[Any], Any]], ...]
) -> list[Any]:
    values = list(row)
    for index, process in results:  # only the columns that need it (SQLite: the times)
        value = values[index]
        if value is not None:
            values[index] = process(value)
    return values


def _compile(statement: ClauseElement, dialect: Dialect) -> _Plan:
    compiled = statement.compile(dialect=dialect)
    assert isinstance(compiled, SQLCompiler)
    # Name as rendered -> parameter; a parameter used twice (":now" in two places) is one entry.
    named = list({name: bind for bind, name in compiled.bind_names.items()}.items())
    binds = tuple(
        (name, bind.type.dialect_impl(dialect).bind_processor(dialect)) for name, bind in named
    )
    columns = list(getattr(statement, "exported_columns", ()))
    results = tuple(
        column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
    )
    return _Plan(
        sql=compiled.string,
        order=tuple(compiled.positiontup or ()) if compiled.positional else None,
        required=frozenset(name for name, bind in named if bind.required),
        defaults={name: compiled.params[name] for name, bind in named if not bind.required},
        binds=tuple((name, process) for name, process in binds if process is not None),
        results=tuple((index, p) for index, p in enumerate(results) if p is not None),
        row=namedtuple("Row", [c.key for c in columns]) if columns else None,
    )

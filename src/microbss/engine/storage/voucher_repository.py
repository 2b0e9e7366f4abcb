"""Voucher queries: listing with filters and paging, manual state changes, the conditional
redemption update, and the wrong-PIN throttle counters. No query ever selects ``pin_hash``
into a domain object: callers look vouchers up by hash but only get public fields back."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, or_, select, update

from microbss.engine.domain.paging import Page, PageRequest, make_page
from microbss.engine.domain.voucher import Voucher, VoucherState
from microbss.engine.storage.prepared import AnyConnection, Prepared
from microbss.engine.storage.tables import throttle_events, vouchers

_PUBLIC_COLUMNS = [c for c in vouchers.c if c.name != "pin_hash"]


def voucher_from_row(row: Any) -> Voucher:
    return Voucher(
        serial=row.serial,
        batch=row.batch,
        value_minor=row.value_minor,
        currency=row.currency,
        state=VoucherState(row.state),
        created_at=row.created_at,
        expires_at=row.expires_at,
        state_changed_at=row.state_changed_at,
        state_reason=row.state_reason,
        redeemed_by_subscriber_id=row.redeemed_by_subscriber_id,
        redeemed_at=row.redeemed_at,
        redeemed_by_actor=row.redeemed_by_actor,
    )


def select_vouchers(
    conn: Connection,
    *,
    state: VoucherState | None,
    batch: str,
    serial_prefix: str,
    page: PageRequest,
) -> Page[Voucher]:
    """Vouchers matching every given filter, in serial order."""
    where: list[Any] = []
    if state is not None:
        where.append(vouchers.c.state == int(state))
    if batch:
        where.append(vouchers.c.batch == batch)
    if serial_prefix:
        where.append(vouchers.c.serial.startswith(serial_prefix, autoescape=True))
    total = conn.execute(select(func.count()).select_from(vouchers).where(*where)).scalar_one()
    query = select(*_PUBLIC_COLUMNS).where(*where)
    if page.after is not None:
        query = query.where(vouchers.c.serial > str(page.after))
    rows = conn.execute(query.order_by(vouchers.c.serial).limit(page.size + 1)).all()
    return make_page([voucher_from_row(r) for r in rows], page, total, key=lambda v: v.serial)


def get_voucher(conn: Connection, serial: str) -> Voucher | None:
    row = conn.execute(select(*_PUBLIC_COLUMNS).where(vouchers.c.serial == serial)).first()
    return voucher_from_row(row) if row else None


def batch_exists(conn: Connection, batch: str) -> bool:
    return (
        conn.execute(select(vouchers.c.id).where(vouchers.c.batch == batch).limit(1)).first()
        is not None
    )


def vouchers_of_batch(conn: Connection, batch: str, limit: int) -> list[Voucher]:
    rows = conn.execute(
        select(*_PUBLIC_COLUMNS)
        .where(vouchers.c.batch == batch)
        .order_by(vouchers.c.serial)
        .limit(limit)
    )
    return [voucher_from_row(r) for r in rows]


def change_state(
    conn: Connection,
    *,
    serial: str | None = None,
    batch: str | None = None,
    from_states: Sequence[VoucherState],
    new_state: VoucherState,
    reason: str,
    at: datetime,
) -> int:
    """Move the voucher (by serial) or every voucher of a batch that is in ``from_states``."""
    target = vouchers.c.serial == serial if serial is not None else vouchers.c.batch == batch
    result = conn.execute(
        update(vouchers)
        .where(target, vouchers.c.state.in_([int(s) for s in from_states]))
        .values(state=int(new_state), state_reason=reason, state_changed_at=at)
    )
    return int(result.rowcount)


# Redemption runs these on every call: prepared once (storage/prepared.py), so a call only
# binds values.
_REDEEMABLE = Prepared(
    select(vouchers.c.id, vouchers.c.serial, vouchers.c.value_minor, vouchers.c.currency).where(
        vouchers.c.pin_hash == bindparam("pin_hash"),
        vouchers.c.state == int(VoucherState.NEW),
        or_(vouchers.c.expires_at.is_(None), vouchers.c.expires_at > bindparam("now")),
    )
)

_MARK_USED = Prepared(
    update(vouchers)
    .where(
        vouchers.c.id == bindparam("voucher_id"),
        vouchers.c.state == int(VoucherState.NEW),
        or_(vouchers.c.expires_at.is_(None), vouchers.c.expires_at > bindparam("now")),
    )
    .values(
        state=int(VoucherState.USED),
        state_changed_at=bindparam("now"),
        state_reason="redeemed",
        redeemed_by_subscriber_id=bindparam("subscriber_id"),
        redeemed_at=bindparam("now"),
        redeemed_by_actor=bindparam("actor"),
    )
)

_PIN_HASH_EXISTS = Prepared(
    select(vouchers.c.id).where(vouchers.c.pin_hash == bindparam("pin_hash"))
)


@dataclass(frozen=True, slots=True)
class RedeemableVoucher:
    """A NEW, unexpired voucher found by its PIN hash: what redemption needs to take it."""

    id: int
    serial: str
    value_minor: int
    currency: str


def find_redeemable(conn: AnyConnection, pin_hash: str, now: datetime) -> RedeemableVoucher | None:
    """The NEW, unexpired voucher with this PIN hash, if any (a read: nothing is taken yet)."""
    row = _REDEEMABLE.first(conn, {"pin_hash": pin_hash, "now": now})
    if row is None:
        return None
    return RedeemableVoucher(row.id, row.serial, int(row.value_minor), row.currency)


def mark_used(
    conn: Connection, *, voucher_id: int, subscriber_id: int, actor: str, at: datetime
) -> bool:
    """Mark the voucher USED if it is still NEW and unexpired; False when it no longer is.

    The WHERE clause is the guard, so of concurrent redemptions exactly one sees the row.
    """
    changed = _MARK_USED.rowcount(
        conn,
        {"voucher_id": voucher_id, "subscriber_id": subscriber_id, "actor": actor[:150], "now": at},
    )
    return changed == 1


def pin_hash_exists(conn: AnyConnection, pin_hash: str) -> bool:
    return _PIN_HASH_EXISTS.first(conn, {"pin_hash": pin_hash}) is not None


# --- Wrong-PIN throttle ---------------------------------------------------------------------


@functools.cache
def _failures_since(key_count: int) -> Prepared:
    # One statement per number of keys (always 2 today), with plain bind parameters: an
    # "expanding" IN is re-rendered on every call.
    keys: list[Any] = [bindparam(f"key_{i}") for i in range(key_count)]
    return Prepared(
        select(throttle_events.c.key, func.count().label("failures"))
        .where(throttle_events.c.key.in_(keys), throttle_events.c.at > bindparam("since"))
        .group_by(throttle_events.c.key)
    )


def count_failures(conn: AnyConnection, keys: Sequence[str], since: datetime) -> dict[str, int]:
    """Failures per key since ``since`` (keys without any are absent), in one query."""
    params: dict[str, Any] = {f"key_{i}": key for i, key in enumerate(keys)}
    rows = _failures_since(len(keys)).all(conn, {**params, "since": since})
    return {row.key: int(row.failures) for row in rows}


def record_failure(
    conn: Connection, keys: Sequence[str], at: datetime, forget_before: datetime
) -> None:
    """Count one failure under each key, dropping those keys' events that left the window."""
    conn.execute(
        delete(throttle_events).where(
            throttle_events.c.key.in_(list(keys)), throttle_events.c.at <= forget_before
        )
    )
    conn.execute(insert(throttle_events), [{"key": key[:200], "at": at} for key in keys])

"""Voucher use cases: list, withdraw/restore (one serial or a whole batch), and redeem.

Redemption is guarded three ways: the PIN's format is checked before anything else; wrong PINs
are counted per subscriber and per caller, and 5 in 15 minutes lock that key out
(RESOURCE_EXHAUSTED) before the PIN is even looked up; the voucher is taken with one conditional
UPDATE (state NEW and not expired), so of many concurrent redemptions of one PIN exactly one
credits the balance.

An unknown PIN is answered NOT_FOUND ("no voucher has this PIN"), so a CSR can tell a typo from
a spent voucher, and counts as a wrong-PIN failure. A used, withdrawn or expired voucher gets
one FAILED_PRECONDITION message that says nothing about who used it or when.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection

from microbss.engine.deps import Deps
from microbss.engine.domain.catalog import PaymentType
from microbss.engine.domain.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
)
from microbss.engine.domain.money import Money
from microbss.engine.domain.paging import Page, PageRequest
from microbss.engine.domain.subscriber import SubscriberStatus
from microbss.engine.domain.voucher import (
    Redemption,
    Voucher,
    VoucherState,
    check_manual_transition,
    check_target_state,
    hash_pin,
    normalise_pin,
)
from microbss.engine.services.audit import record_audit
from microbss.engine.storage import subscriber_repository, voucher_repository
from microbss.engine.storage.prepared import AnyConnection
from microbss.engine.storage.uow import UnitOfWork, driver_connection

MAX_WRONG_PINS = 5
WRONG_PIN_WINDOW = timedelta(minutes=15)
MAX_VOUCHERS_IN_REPLY = 500
CANNOT_REDEEM = "this voucher cannot be redeemed (already used, withdrawn or expired)"

# --- Listing ---------------------------------------------------------------------------------


def select_vouchers(
    deps: Deps, state: VoucherState | None, batch: str, serial: str, page: PageRequest
) -> Page[Voucher]:
    """Vouchers by state, exact batch name and serial prefix (each optional), in serial order."""
    if len(batch) > 64:
        raise InvalidArgument("must be at most 64 characters", field="batch")
    if len(serial) > 32:
        raise InvalidArgument("must be at most 32 characters", field="serial")
    with deps.db.connect() as conn:
        return voucher_repository.select_vouchers(
            conn, state=state, batch=batch.strip(), serial_prefix=serial.strip(), page=page
        )


# --- Withdraw / restore ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StateChange:
    updated_count: int
    vouchers: list[Voucher]  # as they are now, at most MAX_VOUCHERS_IN_REPLY


def update_voucher_state(
    deps: Deps,
    actor: str,
    *,
    serial: str = "",
    batch: str = "",
    new_state: VoucherState | None,
    reason: str,
) -> StateChange:
    """NEW -> ERROR (withdraw) or ERROR -> NEW (restore) one voucher, or a batch's NEW/ERROR ones.

    USED vouchers never change (FAILED_PRECONDITION for a serial; skipped in a batch).
    """
    if new_state is None:
        raise InvalidArgument("new_state is required (NEW or ERROR)", field="new_state")
    check_target_state(new_state)
    reason = " ".join(reason.split())
    if not reason:
        raise InvalidArgument("a reason is required (it is kept with the voucher)", field="reason")
    if len(reason) > 500:
        raise InvalidArgument("must be at most 500 characters", field="reason")
    serial, batch = serial.strip(), batch.strip()
    if bool(serial) == bool(batch):
        raise InvalidArgument("give either a serial or a batch", field="target")
    now = deps.clock()
    with UnitOfWork(deps.db, write=True) as uow:
        if serial:
            change = _change_one(uow.conn, actor, serial, new_state, reason, now)
        else:
            change = _change_batch(uow.conn, actor, batch, new_state, reason, now)
        uow.commit()
    return change


def _change_one(
    conn: Connection,
    actor: str,
    serial: str,
    new_state: VoucherState,
    reason: str,
    now: datetime,
) -> StateChange:
    voucher = voucher_repository.get_voucher(conn, serial)
    if voucher is None:
        raise NotFound(f"voucher {serial} does not exist", field="serial")
    check_manual_transition(voucher.state, new_state, serial)
    count = 0
    if voucher.state != new_state:
        count = voucher_repository.change_state(
            conn,
            serial=serial,
            from_states=[voucher.state],
            new_state=new_state,
            reason=reason,
            at=now,
        )
        if count == 0:  # redeemed between our read and our update (PostgreSQL)
            current = voucher_repository.get_voucher(conn, serial)
            check_manual_transition(current.state if current else voucher.state, new_state, serial)
        record_audit(
            conn,
            actor=actor,
            action="voucher.state",
            target=f"voucher:{serial}",
            details={"from": voucher.state.name, "to": new_state.name, "reason": reason},
        )
    current = voucher_repository.get_voucher(conn, serial)
    return StateChange(updated_count=count, vouchers=[current] if current else [])


def _change_batch(
    conn: Connection,
    actor: str,
    batch: str,
    new_state: VoucherState,
    reason: str,
    now: datetime,
) -> StateChange:
    if not voucher_repository.batch_exists(conn, batch):
        raise NotFound(f"voucher batch {batch!r} does not exist", field="batch")
    movable = [s for s in (VoucherState.NEW, VoucherState.ERROR) if s != new_state]
    count = voucher_repository.change_state(
        conn, batch=batch, from_states=movable, new_state=new_state, reason=reason, at=now
    )
    record_audit(
        conn,
        actor=actor,
        action="voucher.state",
        target=f"batch:{batch}",
        details={"to": new_state.name, "reason": reason, "updated": count},
    )
    return StateChange(
        updated_count=count,
        vouchers=voucher_repository.vouchers_of_batch(conn, batch, MAX_VOUCHERS_IN_REPLY),
    )


# --- Redemption ------------------------------------------------------------------------------


def redeem_voucher(deps: Deps, actor: str, client: str, subscriber_id: int, pin: str) -> Redemption:
    """Credit the value of the voucher with this PIN to the prepaid subscriber's main balance.

    Everything that only reads (throttle, subscriber, which voucher) runs before the write
    transaction: on SQLite writers queue one at a time, so the write lock is held only for the
    conditional UPDATE that takes the voucher, the balance UPDATE and the audit row.
    """
    normalised = normalise_pin(pin)
    if subscriber_id <= 0:
        raise InvalidArgument("subscriber_id is required", field="subscriber_id")
    now = deps.clock()
    keys = throttle_keys(subscriber_id, actor, client)
    pin_hash = hash_pin(normalised, deps.settings.secret)
    with driver_connection(deps.db) as conn:  # _take_and_credit re-checks what it relies on
        _check_not_throttled(conn, keys, now)
        currency = _prepaid_balance_currency(conn, subscriber_id)
        voucher = voucher_repository.find_redeemable(conn, pin_hash, now)
        known_pin = voucher is not None or voucher_repository.pin_hash_exists(conn, pin_hash)
    if not known_pin:
        _record_wrong_pin(deps, actor, subscriber_id, keys, now)
        raise NotFound("no voucher has this PIN; check it and try again", field="pin")
    if voucher is None:
        raise FailedPrecondition(CANNOT_REDEEM, field="pin")
    if voucher.currency != currency:
        raise FailedPrecondition(
            f"voucher {voucher.serial} is in {voucher.currency} but the balance is in {currency}",
            field="pin",
        )
    with UnitOfWork(deps.db, write=True) as uow:
        redemption = _take_and_credit(uow.conn, actor, subscriber_id, voucher, now)
        uow.commit()
    return redemption


def throttle_keys(subscriber_id: int, actor: str, client: str) -> list[str]:
    """Wrong PINs are counted per subscriber and per caller (client host plus acting user).

    The caller's port is dropped: it changes with every connection.
    """
    host = client.rsplit(":", 1)[0] if client.count(":") >= 2 else client
    return [f"redeem:subscriber:{subscriber_id}", f"redeem:caller:{host}|{actor}"]


def _check_not_throttled(conn: AnyConnection, keys: list[str], now: datetime) -> None:
    failures = voucher_repository.count_failures(conn, keys, now - WRONG_PIN_WINDOW)
    if any(count >= MAX_WRONG_PINS for count in failures.values()):
        minutes = int(WRONG_PIN_WINDOW.total_seconds() // 60)
        raise ResourceExhausted(
            f"too many wrong voucher PINs ({MAX_WRONG_PINS} in {minutes} minutes);"
            " wait before trying again"
        )


def _take_and_credit(
    conn: Connection,
    actor: str,
    subscriber_id: int,
    voucher: voucher_repository.RedeemableVoucher,
    now: datetime,
) -> Redemption:
    taken = voucher_repository.mark_used(
        conn, voucher_id=voucher.id, subscriber_id=subscriber_id, actor=actor, at=now
    )
    if not taken:  # a concurrent redemption or a withdrawal got there first
        raise FailedPrecondition(CANNOT_REDEEM, field="pin")
    value = Money(voucher.value_minor, voucher.currency)
    new_amount = subscriber_repository.credit_prepaid_balance(conn, subscriber_id, value, now)
    if new_amount is None:
        # The subscriber changed since the checks (e.g. terminated): raising rolls back the
        # USED mark, so the voucher stays redeemable.
        _prepaid_balance_currency(conn, subscriber_id)  # raises the precise reason
        raise FailedPrecondition(
            f"subscriber {subscriber_id} can no longer be credited", field="subscriber_id"
        )
    record_audit(
        conn,
        actor=actor,
        action="voucher.redeem",
        target=f"voucher:{voucher.serial}",
        details={
            "subscriber_id": subscriber_id,
            "credited_minor": voucher.value_minor,
            "currency": voucher.currency,
        },
    )
    return Redemption(
        serial=voucher.serial,
        credited_minor=voucher.value_minor,
        currency=voucher.currency,
        balance_minor=new_amount,
        redeemed_at=now,
    )


def _prepaid_balance_currency(conn: AnyConnection, subscriber_id: int) -> str:
    found = subscriber_repository.balance_holder(conn, subscriber_id)
    if found is None:
        raise NotFound(f"subscriber {subscriber_id} does not exist", field="subscriber_id")
    status, payment_type, currency = found
    if status != SubscriberStatus.ACTIVE:
        raise FailedPrecondition(f"subscriber {subscriber_id} is terminated", field="subscriber_id")
    if payment_type != PaymentType.PREPAID:
        raise FailedPrecondition(
            f"subscriber {subscriber_id} is postpaid; vouchers top up prepaid balances only",
            field="subscriber_id",
        )
    if currency is None:
        raise FailedPrecondition(
            f"subscriber {subscriber_id} has no main balance", field="subscriber_id"
        )
    return currency


def _record_wrong_pin(
    deps: Deps, actor: str, subscriber_id: int, keys: list[str], now: datetime
) -> None:
    with UnitOfWork(deps.db, write=True) as uow:
        voucher_repository.record_failure(uow.conn, keys, now, now - WRONG_PIN_WINDOW)
        record_audit(
            uow.conn,
            actor=actor,
            action="voucher.redeem",
            target=f"subscriber:{subscriber_id}",
            result="DENIED",
            details={"reason": "unknown PIN"},
        )
        uow.commit()

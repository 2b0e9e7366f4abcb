"""Voucher batches: create N vouchers of one value and write their PINs, once, to a CSV file for
the printer (`microbss engine vouchers generate`).

Serial numbers are public, 12 digits, consecutive within a batch (a print run is handed out in
serial ranges) and taken from a numbering series in the database, so two batches never share
one. PINs come from ``secrets``; only HMAC-SHA256(secret, PIN) is stored. The PIN file is made
with mode 0600 and never overwrites an existing file.

All or nothing: the file is written and synced inside the database transaction, before its
commit; if the file cannot be written nothing is committed, and if the commit fails the file is
removed.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import IO

from sqlalchemy import Connection, insert

from microbss.engine.deps import Deps
from microbss.engine.domain.errors import AlreadyExists, InvalidArgument
from microbss.engine.domain.money import CURRENCY_EXPONENTS, currency_exponent, format_amount
from microbss.engine.domain.periods import to_local
from microbss.engine.domain.voucher import (
    VoucherState,
    format_pin_for_print,
    generate_pin,
    hash_pin,
)
from microbss.engine.services.audit import record_audit
from microbss.engine.storage.bill_repository import take_invoice_numbers
from microbss.engine.storage.tables import vouchers
from microbss.engine.storage.uow import UnitOfWork
from microbss.engine.storage.voucher_repository import batch_exists

MAX_BATCH_COUNT = 100_000
MAX_VOUCHER_VALUE_MAJOR = 1_000  # a top-up card, not a cheque: catches a slipped decimal point
SERIAL_SERIES = "VOUCHER_SERIAL"
SERIAL_DIGITS = 12
_BATCH_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_INSERT_CHUNK = 5_000


@dataclass(frozen=True)
class VoucherBatch:
    """What a generation made (never the PINs: they are only in the file)."""

    batch: str
    count: int
    value_minor: int
    currency: str
    first_serial: str
    last_serial: str
    expires_at: datetime | None
    valid_through: str  # the expiry as printed on the card, operator's time zone; "" = never
    out_path: Path

    def __str__(self) -> str:
        expiry = f", valid through {self.valid_through}" if self.valid_through else ""
        return (
            f"batch {self.batch}: {self.count} vouchers of "
            f"{format_amount(self.value_minor, self.currency)}, serials {self.first_serial}"
            f" to {self.last_serial}{expiry}\n"
            f"PINs written to {self.out_path} (mode 0600): print them, then delete the file"
        )


@dataclass(frozen=True, slots=True)
class _NewVoucher:
    serial: str
    pin: str


def check_batch_request(
    count: int,
    value_minor: int,
    currency: str,
    batch: str,
    expires_at: datetime | None,
    now: datetime,
) -> None:
    """Raise InvalidArgument naming the first bad parameter of a generation request."""
    if not 1 <= count <= MAX_BATCH_COUNT:
        raise InvalidArgument(
            f"must be between 1 and {MAX_BATCH_COUNT}, got {count}", field="count"
        )
    if currency not in CURRENCY_EXPONENTS:
        raise InvalidArgument(f"unknown currency {currency!r}", field="currency")
    limit = MAX_VOUCHER_VALUE_MAJOR * 10 ** currency_exponent(currency)
    if not 0 < value_minor <= limit:
        raise InvalidArgument(
            f"must be more than 0 and at most {format_amount(limit, currency)}, "
            f"got {format_amount(value_minor, currency)}",
            field="value",
        )
    if not _BATCH_NAME.match(batch):
        raise InvalidArgument("a batch name has 1 to 64 letters, digits, '_' or '-'", field="batch")
    if expires_at is not None and expires_at <= now:
        raise InvalidArgument("the expiry must be in the future", field="expires")


def generate_vouchers(
    deps: Deps,
    count: int,
    value_minor: int,
    currency: str,
    batch: str,
    out_path: Path,
    expires_at: datetime | None,
    actor: str,
) -> VoucherBatch:
    """Create ``count`` vouchers in a new batch and write their PINs to ``out_path``."""
    now = deps.clock()
    check_batch_request(count, value_minor, currency, batch, expires_at, now)
    if out_path.exists():
        raise AlreadyExists(f"{out_path} exists; PIN files are never overwritten", field="out")
    with UnitOfWork(deps.db, write=True) as uow:
        if batch_exists(uow.conn, batch):
            raise AlreadyExists(f"batch {batch} exists already; name the new batch", field="batch")
        first = take_invoice_numbers(uow.conn, count, series=SERIAL_SERIES)
        made = [_NewVoucher(f"{first + i:0{SERIAL_DIGITS}d}", generate_pin()) for i in range(count)]
        _insert_vouchers(uow.conn, made, batch, value_minor, currency, expires_at, now, deps)
        record_audit(
            uow.conn,
            actor=actor,
            action="vouchers.generate",
            target=f"batch:{batch}",
            details={
                "count": count,
                "value_minor": value_minor,
                "currency": currency,
                "first_serial": made[0].serial,
                "last_serial": made[-1].serial,
                "expires_at": expires_at,
            },
        )
        with _pin_file(out_path) as handle:
            _write_pins(handle, made, value_minor, currency, expires_at, deps)
        try:
            uow.commit()
        except BaseException:
            out_path.unlink(missing_ok=True)
            raise
    return VoucherBatch(
        batch=batch,
        count=count,
        value_minor=value_minor,
        currency=currency,
        first_serial=made[0].serial,
        last_serial=made[-1].serial,
        expires_at=expires_at,
        valid_through=valid_through_text(expires_at, deps) if expires_at else "",
        out_path=out_path,
    )


def _insert_vouchers(
    conn: Connection,
    made: list[_NewVoucher],
    batch: str,
    value_minor: int,
    currency: str,
    expires_at: datetime | None,
    now: datetime,
    deps: Deps,
) -> None:
    secret = deps.settings.secret
    for start in range(0, len(made), _INSERT_CHUNK):
        conn.execute(
            insert(vouchers),
            [
                {
                    "serial": v.serial,
                    "batch": batch,
                    "pin_hash": hash_pin(v.pin, secret),
                    "value_minor": value_minor,
                    "currency": currency,
                    "state": int(VoucherState.NEW),
                    "created_at": now,
                    "expires_at": expires_at,
                    "state_changed_at": now,
                }
                for v in made[start : start + _INSERT_CHUNK]
            ],
        )


@contextmanager
def _pin_file(path: Path) -> Iterator[IO[str]]:
    """A new file only the owner can read; removed again if writing it fails."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise AlreadyExists(
            f"{path} exists; PIN files are never overwritten", field="out"
        ) from None
    except OSError as exc:
        raise InvalidArgument(f"cannot create {path}: {exc.strerror}", field="out") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())  # on disk before the vouchers exist in the database
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _write_pins(
    handle: IO[str],
    made: list[_NewVoucher],
    value_minor: int,
    currency: str,
    expires_at: datetime | None,
    deps: Deps,
) -> None:
    value_text = format_amount(value_minor, currency).split(" ")[0]
    expiry_text = valid_through_text(expires_at, deps) if expires_at else ""
    writer = csv.writer(handle)
    writer.writerow(["serial", "pin", "value", "currency", "valid_through"])
    for voucher in made:
        writer.writerow(
            [voucher.serial, format_pin_for_print(voucher.pin), value_text, currency, expiry_text]
        )


def valid_through_text(expires_at: datetime, deps: Deps) -> str:
    """The last moment a voucher is valid as a customer reads it on the card, in the operator's
    time zone: an expiry at local midnight prints as the day before ("2026-12-31")."""
    local = to_local(expires_at, deps.settings.tz)
    if local.time() == time(0):
        return f"{(local - timedelta(days=1)):%Y-%m-%d}"
    return f"{local:%Y-%m-%d %H:%M}"

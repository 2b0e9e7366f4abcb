"""Vouchers: PIN format, keyed hashing, and the state machine NEW(1) / USED(2) / ERROR(3).

The PIN is 16 characters of A-Z and 0-9, made with ``secrets``. Only HMAC-SHA256(secret, PIN) is
stored, so a copy of the database yields no PIN that can be redeemed.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum

from microbss.engine.domain.errors import FailedPrecondition, InvalidArgument

PIN_LENGTH = 16
PIN_ALPHABET = string.ascii_uppercase + string.digits
_PIN = re.compile(rf"^[A-Z0-9]{{{PIN_LENGTH}}}$")


class VoucherState(IntEnum):
    NEW = 1
    USED = 2
    ERROR = 3


# Allowed manual transitions (UpdateVoucherState). USED is reached only by redemption and is final.
_MANUAL_TRANSITIONS = {
    (VoucherState.NEW, VoucherState.ERROR),
    (VoucherState.ERROR, VoucherState.NEW),
}


def check_manual_transition(current: VoucherState, new: VoucherState, serial: str) -> None:
    if current == new:
        return
    if current == VoucherState.USED:
        raise FailedPrecondition(f"voucher {serial} is USED; a used voucher cannot change state")
    if (current, new) not in _MANUAL_TRANSITIONS:
        raise FailedPrecondition(f"voucher {serial} cannot go from {current.name} to {new.name}")


def check_target_state(new: VoucherState) -> None:
    if new not in (VoucherState.NEW, VoucherState.ERROR):
        raise InvalidArgument(
            "new_state must be NEW (restore) or ERROR (withdraw)", field="new_state"
        )


def normalise_pin(raw: str) -> str:
    """Upper-case and drop spaces and dashes, then insist on exactly 16 of A-Z/0-9."""
    pin = re.sub(r"[\s-]", "", raw).upper()
    if not _PIN.match(pin):
        raise InvalidArgument(
            f"a voucher PIN has {PIN_LENGTH} letters A-Z and digits 0-9"
            f" (got {len(pin)} characters)",
            field="pin",
        )
    return pin


def generate_pin() -> str:
    return "".join(secrets.choice(PIN_ALPHABET) for _ in range(PIN_LENGTH))


def hash_pin(pin: str, secret: bytes) -> str:
    return hmac.new(secret, pin.encode("ascii"), hashlib.sha256).hexdigest()


def format_pin_for_print(pin: str) -> str:
    """ "ABCD1234EFGH5678" -> "ABCD-1234-EFGH-5678" (redemption accepts either)."""
    return "-".join(pin[i : i + 4] for i in range(0, PIN_LENGTH, 4))


@dataclass(frozen=True, slots=True)
class Voucher:
    """A voucher as listed to operators: everything except its PIN (which is never stored)."""

    serial: str
    batch: str
    value_minor: int
    currency: str
    state: VoucherState
    created_at: datetime
    expires_at: datetime | None
    state_changed_at: datetime
    state_reason: str = ""
    redeemed_by_subscriber_id: int | None = None
    redeemed_at: datetime | None = None
    redeemed_by_actor: str = ""


@dataclass(frozen=True, slots=True)
class Redemption:
    """The outcome of a successful redemption: what was credited and the balance after it."""

    serial: str
    credited_minor: int
    currency: str
    balance_minor: int
    redeemed_at: datetime

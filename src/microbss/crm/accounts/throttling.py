"""Login throttling: too many failures for one account, or from one client address, lock it.

Counters live in the database (table ``csr_login_throttle``) so every gunicorn worker sees the
same lock and a restart does not lift it. A failure older than the lock window no longer counts.
During a lock the login is refused before the password is even checked, so the right password
does not get through either.

An office of reps often shares one public address, so the per-address limit is higher than the
per-account one: a rep who keeps mistyping locks their own account long before the office.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction

from microbss.crm.accounts.models import LoginThrottle

ADDRESS_LIMIT_FACTOR = 4


@dataclass(frozen=True)
class Lock:
    """An active lock and when it ends."""

    until: datetime

    def minutes_left(self, now: datetime) -> int:
        return max(1, math.ceil((self.until - now).total_seconds() / 60))


def account_key(username: str) -> str:
    return f"user:{username.strip().lower()[:150]}"


def address_key(address: str) -> str:
    return f"addr:{address[:64]}"


def _limits() -> tuple[int, timedelta]:
    return (
        int(settings.MICROBSS_LOGIN_MAX_FAILURES),
        timedelta(minutes=int(settings.MICROBSS_LOGIN_LOCK_MINUTES)),
    )


def active_lock(username: str, address: str, now: datetime) -> Lock | None:
    """The lock on this account or address that is still running, the later one if both are."""
    locks = LoginThrottle.objects.filter(
        key__in=[account_key(username), address_key(address)], locked_until__gt=now
    ).values_list("locked_until", flat=True)
    latest = max(locks, default=None)
    return Lock(latest) if latest is not None else None


def register_failure(username: str, address: str, now: datetime) -> Lock | None:
    """Count one failed attempt against the account and the address; the lock it caused, if any."""
    max_failures, window = _limits()
    locks = [
        _count(account_key(username), max_failures, window, now),
        _count(address_key(address), max_failures * ADDRESS_LIMIT_FACTOR, window, now),
    ]
    until = max((lock for lock in locks if lock is not None), default=None)
    return Lock(until) if until is not None else None


def clear_account(username: str) -> None:
    """Forget the account's failures after a complete login (the address keeps its count)."""
    LoginThrottle.objects.filter(key=account_key(username)).delete()


def _count(key: str, limit: int, window: timedelta, now: datetime) -> datetime | None:
    with transaction.atomic():
        row, created = LoginThrottle.objects.select_for_update().get_or_create(
            key=key, defaults={"failures": 1, "first_failure_at": now}
        )
        if not created:
            if row.first_failure_at <= now - window:
                row.failures, row.first_failure_at, row.locked_until = 1, now, None
            else:
                row.failures += 1
        if row.failures >= limit:
            row.locked_until = now + window
            row.failures, row.first_failure_at = 0, now
        row.save()
        return row.locked_until if row.locked_until and row.locked_until > now else None

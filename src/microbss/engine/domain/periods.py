"""Billing periods and time conventions.

Instants are stored and computed as naive UTC datetimes. A billing period of a bill cycle with
cycle day D runs from local midnight (operator time zone) on day D of one month to local midnight
on day D of the next. Prepaid allowances use calendar months (D = 1).
The bill run's ``--period YYYY-MM`` names the period that *ends* on day D of that month.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

PREPAID_CYCLE_DAY = 1


def utcnow() -> datetime:
    """Now as naive UTC, the storage convention."""
    return datetime.now(UTC).replace(tzinfo=None)


def to_local(instant_utc: datetime, tz: ZoneInfo) -> datetime:
    return instant_utc.replace(tzinfo=UTC).astimezone(tz)


def local_midnight_utc(day: date, tz: ZoneInfo) -> datetime:
    """Naive UTC instant of local midnight starting ``day`` in ``tz``."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC).replace(tzinfo=None)


def _add_months(year: int, month: int, delta: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + delta
    return index // 12, index % 12 + 1


def period_ending_in(
    year: int, month: int, cycle_day: int, tz: ZoneInfo
) -> tuple[datetime, datetime]:
    """The period that ends on ``cycle_day`` of (year, month): [start, end) as naive UTC."""
    prev_year, prev_month = _add_months(year, month, -1)
    start = local_midnight_utc(date(prev_year, prev_month, cycle_day), tz)
    end = local_midnight_utc(date(year, month, cycle_day), tz)
    return start, end


def period_containing(
    instant_utc: datetime, cycle_day: int, tz: ZoneInfo
) -> tuple[datetime, datetime]:
    """The billing period [start, end) that contains ``instant_utc``."""
    local = to_local(instant_utc, tz)
    year, month = local.year, local.month
    if local.day < cycle_day:
        year, month = _add_months(year, month, -1)
    next_year, next_month = _add_months(year, month, 1)
    start = local_midnight_utc(date(year, month, cycle_day), tz)
    end = local_midnight_utc(date(next_year, next_month, cycle_day), tz)
    return start, end

"""Hours of operation: whether an entry is open at an instant, and when it opens next.

An ``HoursConfig`` gives, per weekday of its time zone (0 = Monday), ranges of minutes after local
midnight (start inclusive, end exclusive, end 1440 allowed) plus holidays (local ISO dates) that are
closed all day. The instant is converted to local wall-clock time with ``zoneinfo``, so DST changes
are handled by the time zone database: on a spring-forward day the skipped hour never occurs, on a
fall-back day the repeated hour is open (or closed) twice, as its wall-clock time says.

A range never crosses midnight (the configuration refuses ``22:00-02:00``): write
``fri = "22:00-24:00"`` and ``sat = "00:00-02:00"``. A range whose start is not before its end (a
hand-built configuration) matches nothing.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

from frontdesk.domain.config import EntryConfig, HoursConfig, TenantConfig

MINUTES_PER_DAY = 24 * 60
SEARCH_DAYS = 400  # next_opening looks this far ahead (holidays may close every open day of a year)


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local_time(hours: HoursConfig, at_epoch_secs: float) -> dt.datetime:
    """The instant as wall-clock time in the hours' time zone."""
    return dt.datetime.fromtimestamp(at_epoch_secs, _zone(hours.timezone))


def _day_ranges(hours: HoursConfig, day: dt.date) -> tuple[tuple[int, int], ...]:
    if day.isoformat() in hours.holidays:
        return ()
    weekly = hours.weekly
    return weekly[day.weekday()] if day.weekday() < len(weekly) else ()


def is_open(hours: HoursConfig | None, at_epoch_secs: float) -> bool:
    """Whether the hours are open at the instant; no hours (``None``) is always open."""
    if hours is None:
        return True
    local = local_time(hours, at_epoch_secs)
    minute = local.hour * 60 + local.minute
    return any(start <= minute < end for start, end in _day_ranges(hours, local.date()))


def next_opening(hours: HoursConfig | None, at_epoch_secs: float) -> float | None:
    """The first instant at or after ``at_epoch_secs`` when the hours are open (the instant itself
    when open now); ``None`` when they never open within ``SEARCH_DAYS``."""
    if is_open(hours, at_epoch_secs):
        return at_epoch_secs
    assert hours is not None  # no hours is always open
    zone = _zone(hours.timezone)
    today = local_time(hours, at_epoch_secs).date()
    for offset in range(SEARCH_DAYS):
        day = today + dt.timedelta(days=offset)
        for start, end in _day_ranges(hours, day):
            if not 0 <= start < end or start >= MINUTES_PER_DAY:
                continue
            opening = dt.datetime(day.year, day.month, day.day, start // 60, start % 60, tzinfo=zone).timestamp()
            # a start inside a spring-forward gap maps to a later instant; check it really is open
            if opening > at_epoch_secs and is_open(hours, opening):
                return opening
    return None


def entry_hours(tenant: TenantConfig, entry: EntryConfig) -> HoursConfig | None:
    """The hours an entry keeps (``None``: always open; so is an ``hours`` id the tenant lacks)."""
    return tenant.hours.get(entry.hours) if entry.hours else None

"""Hours of operation: time zones, DST change days, holidays, day boundaries and 24h days."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from frontdesk.domain.config import EntryConfig, HoursConfig, TenantConfig
from frontdesk.domain.hours import entry_hours, is_open, next_opening
from frontdesk.settings import parse_settings

UTC = dt.UTC
CLOSED: tuple[tuple[int, int], ...] = ()
OFFICE = ((9 * 60, 17 * 60),)  # 09:00-17:00


def at(year: int, month: int, day: int, hour: int, minute: int = 0, second: int = 0, tz: str = "UTC",
       fold: int = 0) -> float:
    """Epoch seconds of a wall-clock time in a zone."""
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=ZoneInfo(tz), fold=fold).timestamp()


def utc(year: int, month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> float:
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()


def weekdays(ranges: tuple[tuple[int, int], ...]) -> tuple[tuple[tuple[int, int], ...], ...]:
    """Monday to Friday the given ranges, the weekend closed."""
    return (ranges,) * 5 + (CLOSED, CLOSED)


def test_no_hours_is_always_open() -> None:
    assert is_open(None, 0)
    assert is_open(None, utc(2026, 12, 25, 3))
    assert next_opening(None, 123.0) == 123.0


def test_start_is_inclusive_and_end_exclusive_in_utc() -> None:
    hours = HoursConfig("office", "UTC", weekdays(OFFICE))
    # 2026-03-02 is a Monday
    assert not is_open(hours, utc(2026, 3, 2, 8, 59, 59))
    assert is_open(hours, utc(2026, 3, 2, 9, 0, 0))
    assert is_open(hours, utc(2026, 3, 2, 16, 59, 59))
    assert not is_open(hours, utc(2026, 3, 2, 17, 0, 0))
    # the weekend is closed
    assert not is_open(hours, utc(2026, 3, 7, 12))
    assert not is_open(hours, utc(2026, 3, 8, 12))


def test_several_ranges_in_a_day() -> None:
    hours = HoursConfig("split", "UTC", weekdays(((9 * 60, 12 * 60), (13 * 60, 17 * 60))))
    assert is_open(hours, utc(2026, 3, 3, 11, 59))
    assert not is_open(hours, utc(2026, 3, 3, 12, 30))
    assert is_open(hours, utc(2026, 3, 3, 13, 0))


def test_the_time_zone_decides_the_local_day_and_hour() -> None:
    tokyo = HoursConfig("tokyo", "Asia/Tokyo", weekdays(OFFICE))  # UTC+9, no DST
    # Monday 09:00 in Tokyo is Monday 00:00 UTC; Sunday 23:59 UTC is Monday 08:59 in Tokyo
    assert is_open(tokyo, utc(2026, 3, 2, 0, 0))
    assert not is_open(tokyo, utc(2026, 3, 1, 23, 59))
    # Friday 16:59 in Tokyo is Friday 07:59 UTC; Friday 17:00 local closes
    assert is_open(tokyo, utc(2026, 3, 6, 7, 59))
    assert not is_open(tokyo, utc(2026, 3, 6, 8, 0))
    # a Monday afternoon in UTC is Monday night in Tokyo: closed
    assert not is_open(tokyo, utc(2026, 3, 2, 12, 0))
    # behind UTC: Friday 20:00 UTC is Friday 12:00 in Los Angeles (PST, UTC-8)
    la = HoursConfig("la", "America/Los_Angeles", weekdays(OFFICE))
    assert is_open(la, utc(2026, 1, 9, 20, 0))
    # Saturday 00:30 UTC is still Friday 16:30 in Los Angeles
    assert is_open(la, utc(2026, 1, 10, 0, 30))


def test_opening_follows_the_summer_time_offset() -> None:
    new_york = HoursConfig("ny", "America/New_York", weekdays(OFFICE))
    # winter (EST, UTC-5): 09:00 local is 14:00 UTC
    assert not is_open(new_york, utc(2026, 1, 14, 13, 59))
    assert is_open(new_york, utc(2026, 1, 14, 14, 0))
    # summer (EDT, UTC-4): 09:00 local is 13:00 UTC
    assert not is_open(new_york, utc(2026, 7, 15, 12, 59))
    assert is_open(new_york, utc(2026, 7, 15, 13, 0))


def test_spring_forward_day_skips_the_missing_hour() -> None:
    # Europe/Berlin 2026-03-29 (a Sunday): 02:00 CET jumps to 03:00 CEST
    sunday_only = (CLOSED,) * 6
    gap = HoursConfig("gap", "Europe/Berlin", (*sunday_only, ((2 * 60, 3 * 60),)))
    night = HoursConfig("night", "Europe/Berlin", (*sunday_only, ((1 * 60, 4 * 60),)))
    before = utc(2026, 3, 29, 0, 59)  # 01:59 CET
    after = utc(2026, 3, 29, 1, 0)  # 03:00 CEST, one real minute later
    assert after - before == 60
    # the 02:00-03:00 range does not exist that day: it is never open
    assert not any(is_open(gap, utc(2026, 3, 28, 23) + minute * 60) for minute in range(6 * 60))
    # 01:00-04:00 local lasts only two real hours
    open_minutes = [minute for minute in range(6 * 60) if is_open(night, utc(2026, 3, 28, 23) + minute * 60)]
    assert len(open_minutes) == 120
    assert is_open(night, before) and is_open(night, after)
    assert not is_open(night, utc(2026, 3, 29, 2, 0))  # 04:00 CEST
    # the next opening of the skipped range is a week later, at a real 02:00
    assert next_opening(gap, before) == at(2026, 4, 5, 2, 0, tz="Europe/Berlin")


def test_fall_back_day_repeats_the_hour() -> None:
    # America/New_York 2026-11-01 (a Sunday): 02:00 EDT falls back to 01:00 EST
    hours = HoursConfig("repeat", "America/New_York", ((CLOSED,) * 6) + (((60, 120),),))
    first = at(2026, 11, 1, 1, 30, tz="America/New_York", fold=0)  # 01:30 EDT
    second = at(2026, 11, 1, 1, 30, tz="America/New_York", fold=1)  # 01:30 EST
    assert second - first == 3600
    assert is_open(hours, first) and is_open(hours, second)
    assert is_open(hours, first + 1800)  # 02:00 EDT is 01:00 EST: open again
    # 01:00-02:00 local lasts two real hours on that day
    start = utc(2026, 11, 1, 4, 0)  # 00:00 EDT
    open_minutes = [minute for minute in range(5 * 60) if is_open(hours, start + minute * 60)]
    assert len(open_minutes) == 120


def test_holidays_close_the_whole_local_day() -> None:
    hours = HoursConfig("nz", "Pacific/Auckland", (((0, 1440),),) * 7, holidays=("2026-12-25",))
    # Christmas in Auckland (NZDT, UTC+13) runs from 2026-12-24 11:00 UTC to 2026-12-25 11:00 UTC
    assert is_open(hours, utc(2026, 12, 24, 10, 59))
    assert not is_open(hours, utc(2026, 12, 24, 11, 0))
    assert not is_open(hours, utc(2026, 12, 25, 10, 59))
    assert is_open(hours, utc(2026, 12, 25, 11, 0))
    assert next_opening(hours, utc(2026, 12, 24, 12, 0)) == utc(2026, 12, 25, 11, 0)


def test_a_holiday_only_matters_on_an_otherwise_open_day() -> None:
    hours = HoursConfig("office", "Europe/Berlin", weekdays(OFFICE), holidays=("2026-12-25", "2026-12-27"))
    assert not is_open(hours, at(2026, 12, 25, 10, tz="Europe/Berlin"))  # a Friday
    assert is_open(hours, at(2026, 12, 24, 10, tz="Europe/Berlin"))
    assert not is_open(hours, at(2026, 12, 27, 10, tz="Europe/Berlin"))  # a Sunday anyway
    # the next opening skips the holiday and the weekend
    assert next_opening(hours, at(2026, 12, 24, 18, tz="Europe/Berlin")) == at(2026, 12, 28, 9,
                                                                                  tz="Europe/Berlin")


def test_overnight_service_is_written_as_two_days() -> None:
    friday_late = (CLOSED,) * 4 + (((22 * 60, 1440),), CLOSED, CLOSED)
    hours = HoursConfig("late", "UTC", friday_late)
    assert is_open(hours, utc(2026, 3, 6, 23, 59, 59))  # Friday
    # a range never runs past midnight: Saturday 01:00 is closed
    assert not is_open(hours, utc(2026, 3, 7, 1, 0))
    both = HoursConfig("late", "UTC", (CLOSED,) * 4 + (((22 * 60, 1440),), ((0, 120),), CLOSED))
    assert is_open(hours=both, at_epoch_secs=utc(2026, 3, 7, 0, 0))
    assert is_open(both, utc(2026, 3, 7, 1, 59))
    assert not is_open(both, utc(2026, 3, 7, 2, 0))


def test_a_range_that_wraps_past_midnight_matches_nothing() -> None:
    # the configuration refuses "22:00-02:00"; a hand-built one is never open rather than wrapping
    wrapped = HoursConfig("wrapped", "UTC", (((22 * 60, 2 * 60),),) * 7)
    assert not any(is_open(wrapped, utc(2026, 3, 2, 0) + minute * 60) for minute in range(0, 2 * 1440, 15))
    assert next_opening(wrapped, utc(2026, 3, 2, 0)) is None


def test_24_hours_and_the_end_of_the_day() -> None:
    hours = HoursConfig("always", "Europe/Berlin", (((0, 1440),),) * 7)
    for day in range(1, 8):
        assert is_open(hours, at(2026, 3, day, 0, 0, tz="Europe/Berlin"))
        assert is_open(hours, at(2026, 3, day, 23, 59, 59, tz="Europe/Berlin"))
    # DST days too
    assert is_open(hours, utc(2026, 3, 29, 1, 0))
    assert is_open(hours, utc(2026, 10, 25, 0, 30))
    # "until midnight" includes 23:59:59 and not the next day's 00:00
    evening = HoursConfig("evening", "UTC", (((18 * 60, 1440),), CLOSED, CLOSED, CLOSED, CLOSED, CLOSED, CLOSED))
    assert is_open(evening, utc(2026, 3, 2, 23, 59, 59))
    assert not is_open(evening, utc(2026, 3, 3, 0, 0))


def test_next_opening() -> None:
    hours = HoursConfig("office", "America/New_York", weekdays(OFFICE))
    open_now = utc(2026, 1, 14, 15)
    assert next_opening(hours, open_now) == open_now
    # Wednesday evening: Thursday 09:00 local
    assert next_opening(hours, at(2026, 1, 14, 18, tz="America/New_York")) == at(2026, 1, 15, 9,
                                                                                  tz="America/New_York")
    # Friday evening: Monday 09:00
    assert next_opening(hours, at(2026, 1, 16, 18, tz="America/New_York")) == at(2026, 1, 19, 9,
                                                                                  tz="America/New_York")
    # early the same day
    assert next_opening(hours, at(2026, 1, 14, 7, tz="America/New_York")) == at(2026, 1, 14, 9,
                                                                                 tz="America/New_York")
    never = HoursConfig("never", "UTC")
    assert not is_open(never, utc(2026, 1, 1, 12))
    assert next_opening(never, utc(2026, 1, 1, 12)) is None


def test_entry_hours_lookup() -> None:
    office = HoursConfig("office", "UTC", weekdays(OFFICE))
    tenant = TenantConfig(name="t", hours={"office": office})
    assert entry_hours(tenant, EntryConfig("a", "a", "q", hours="office")) is office
    assert entry_hours(tenant, EntryConfig("a", "a", "q")) is None
    assert entry_hours(tenant, EntryConfig("a", "a", "q", hours="gone")) is None


@pytest.mark.parametrize(("text", "ranges"), [("24h", ((0, 1440),)), ("00:00-24:00", ((0, 1440),)),
                                              ("09:00-12:00,13:00-17:30", ((540, 720), (780, 1050))),
                                              ("closed", ())])
def test_the_configuration_syntax_gives_the_ranges_the_engine_reads(text: str,
                                                                    ranges: tuple[tuple[int, int], ...]) -> None:
    raw = {"tenants": [{"name": "t.example", "queues": [{"id": "general"}],
                        "hours": [{"id": "h", "timezone": "Europe/Berlin", "weekly": {"mon": text}}],
                        "entries": [{"app_id": "web", "queue": "general", "hours": "h"}]}]}
    hours = parse_settings(raw, Path("/nonexistent")).contact_center.tenants["t.example"].hours["h"]
    assert hours.weekly[0] == ranges
    assert hours.weekly[1:] == ((),) * 6

"""Hours of operation: a time zone, a week of opening ranges and holidays (docs/configuration.md)."""

from __future__ import annotations

import datetime
import re
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field

from frontdesk.settings.errors import field_error
from frontdesk.settings.fields import Model, NonEmpty

MINUTES_PER_DAY = 24 * 60
_CLOCK = re.compile(r"([01]\d|2[0-3]):([0-5]\d)|24:00")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

Ranges = tuple[tuple[int, int], ...]


def parse_day(text: str) -> Ranges:
    """One weekday: "closed", "24h" or "HH:MM-HH:MM" ranges separated by commas, in order;
    raises ``ValueError`` with the message of docs/configuration.md."""
    text = text.strip()
    if text == "closed":
        return ()
    if text == "24h":
        return ((0, MINUTES_PER_DAY),)
    ranges: list[tuple[int, int]] = []
    for part in (p.strip() for p in text.split(",")):
        start_text, _, end_text = part.partition("-")
        start, end = _minute(start_text.strip()), _minute(end_text.strip())
        if start is None or end is None or start == MINUTES_PER_DAY:
            raise ValueError(f"expected 'HH:MM-HH:MM' ranges, '24h' or 'closed', got '{part}'")
        if start >= end:
            raise ValueError(f"'{part}' must end after it starts")
        if ranges and start < ranges[-1][1]:
            raise ValueError("ranges must be in order and must not overlap")
        ranges.append((start, end))
    return tuple(ranges)


def format_day(ranges: Ranges) -> str:
    """A weekday's opening ranges as the file writes them ("closed", "24h", "09:00-17:00,…")."""
    if not ranges:
        return "closed"
    if ranges == ((0, MINUTES_PER_DAY),):
        return "24h"
    return ",".join(f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}" for start, end in ranges)


def _minute(text: str) -> int | None:
    if not _CLOCK.fullmatch(text):
        return None
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _day(text: str) -> str:
    try:
        parse_day(text)
    except ValueError as exc:
        raise field_error(str(exc)) from None
    return text


def _zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise field_error(f"unknown time zone '{name}'") from None
    return name


def _date(text: str) -> str:
    try:
        if not _ISO_DATE.fullmatch(text):
            raise ValueError
        return datetime.date.fromisoformat(text).isoformat()
    except ValueError:
        raise field_error(f"expected a date YYYY-MM-DD, got '{text}'") from None


Day = Annotated[str, AfterValidator(_day), Field(description="'closed', '24h' or 'HH:MM-HH:MM' ranges separated "
                                                             "by commas, in order")]


class WeeklyModel(Model):
    mon: Day = "closed"
    tue: Day = "closed"
    wed: Day = "closed"
    thu: Day = "closed"
    fri: Day = "closed"
    sat: Day = "closed"
    sun: Day = "closed"


class HoursModel(Model):
    id: NonEmpty
    timezone: Annotated[str, AfterValidator(_zone), Field(description="an IANA time zone")] = "UTC"
    weekly: WeeklyModel = Field(default_factory=WeeklyModel)
    holidays: list[Annotated[str, AfterValidator(_date), Field(json_schema_extra={"format": "date"})]] = Field(
        default_factory=list)

    def week(self) -> tuple[Ranges, ...]:
        """Per weekday (0 = Monday) the opening ranges in minutes after midnight."""
        w = self.weekly
        return tuple(parse_day(day) for day in (w.mon, w.tue, w.wed, w.thu, w.fri, w.sat, w.sun))

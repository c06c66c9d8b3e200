"""Working out when a delay ends: durations in the workspace time zone, times of day
("tomorrow 14:00"), date fields ± offset, and business hours."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from stageflow.automation.durations import Duration, parse_duration

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_AT = re.compile(
    r"^(?:(?P<day>today|tomorrow|next (?P<weekday>" + "|".join(WEEKDAYS) + r")|"
    r"\+(?P<n>\d{1,3}) (?P<unit>days?|business days?)|next business day)\s+)?"
    r"(?P<hour>\d{1,2}):(?P<minute>\d{2})$"
)


@dataclass(frozen=True)
class WorkCalendar:
    """A workspace's time zone, working days and hours, and holidays."""

    timezone: str = "UTC"
    work_days: frozenset[int] = frozenset(range(5))
    day_start: time = time(9, 0)
    day_end: time = time(17, 0)
    holidays: frozenset[date] = field(default_factory=frozenset)

    @property
    def tz(self) -> ZoneInfo:
        return zone(self.timezone)

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> WorkCalendar:
        hours = settings.get("business_hours") or {}
        return cls(
            timezone=settings.get("timezone", "UTC"),
            work_days=frozenset(hours.get("days", range(5))),
            day_start=time.fromisoformat(hours.get("start", "09:00")),
            day_end=time.fromisoformat(hours.get("end", "17:00")),
            holidays=frozenset(date.fromisoformat(d) for d in settings.get("holidays", [])),
        )

    def is_work_day(self, day: date) -> bool:
        return day.weekday() in self.work_days and day not in self.holidays


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone '{name}'") from None


def add_duration(moment: datetime, duration: Duration, calendar: WorkCalendar) -> datetime:
    """Calendar parts (years…days) on the local wall clock, time parts exactly."""
    local = moment.astimezone(calendar.tz)
    d = duration.delta
    sign = -1 if duration.negative else 1
    from dateutil.relativedelta import relativedelta

    calendar_part = relativedelta(years=d.years, months=d.months, days=d.days)
    local = local + calendar_part if sign > 0 else local - calendar_part
    exact = timedelta(hours=d.hours, minutes=d.minutes, seconds=d.seconds)
    result = local.replace(tzinfo=calendar.tz).astimezone(UTC)
    return result + sign * exact


def check_at(spec: str) -> None:
    if _AT.match(spec.strip().lower()) is None:
        raise ValueError(
            f"'{spec}' is not a time such as '14:00', 'tomorrow 14:00', "
            "'+2 days 09:30', 'next monday 09:00' or 'next business day 09:00'"
        )
    match = _AT.match(spec.strip().lower())
    assert match is not None
    if int(match["hour"]) > 23 or int(match["minute"]) > 59:
        raise ValueError(f"'{spec}' has an impossible time of day")


def at_time(spec: str, now: datetime, calendar: WorkCalendar) -> datetime:
    """The moment a time-of-day spec means, seen from ``now`` in the workspace zone."""
    check_at(spec)
    match = _AT.match(spec.strip().lower())
    assert match is not None
    local_now = now.astimezone(calendar.tz)
    at = time(int(match["hour"]), int(match["minute"]))
    day = local_now.date()
    if match["day"] == "tomorrow":
        day += timedelta(days=1)
    elif match["weekday"]:
        target = WEEKDAYS.index(match["weekday"])
        day += timedelta(days=(target - day.weekday() - 1) % 7 + 1)
    elif match["n"]:
        n = int(match["n"])
        day = (
            _add_business_days(day, n, calendar)
            if "business" in match["unit"]
            else (day + timedelta(days=n))
        )
    elif match["day"] == "next business day":
        day = _add_business_days(day, 1, calendar)
    result = _local(day, at, calendar)
    if match["day"] is None and result <= now:
        result = _local(day + timedelta(days=1), at, calendar)
    return result


def until_field(
    value: Any, offset: str, calendar: WorkCalendar, at: str | None = None
) -> datetime | None:
    """A record's date/datetime value ± offset; a date means midnight (or ``at``) locally."""
    if value in (None, ""):
        return None
    text = str(value)
    if len(text) == 10:
        day = date.fromisoformat(text)
        moment = _local(day, time.fromisoformat(at) if at else time(0, 0), calendar)
    else:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    return add_duration(moment, parse_duration(offset), calendar)


def add_business_time(moment: datetime, duration: Duration, calendar: WorkCalendar) -> datetime:
    """Count days as business days and hours within business hours."""
    if duration.negative:
        raise ValueError("business-hours delays cannot be negative")
    d = duration.delta
    local = moment.astimezone(calendar.tz)
    day = local.date()
    if d.days or d.weeks:
        day = _add_business_days(day, d.days, calendar)
        local = datetime.combine(day, local.time(), calendar.tz)
    remaining = timedelta(hours=d.hours, minutes=d.minutes, seconds=d.seconds)
    cursor = local
    while True:
        day = cursor.date()
        start = datetime.combine(day, calendar.day_start, calendar.tz)
        end = datetime.combine(day, calendar.day_end, calendar.tz)
        if not calendar.is_work_day(day) or cursor >= end:
            cursor = datetime.combine(day + timedelta(days=1), calendar.day_start, calendar.tz)
            continue
        cursor = max(cursor, start)
        if remaining <= end - cursor:
            return (cursor + remaining).astimezone(UTC)
        remaining -= end - cursor
        cursor = datetime.combine(day + timedelta(days=1), calendar.day_start, calendar.tz)


def _add_business_days(day: date, n: int, calendar: WorkCalendar) -> date:
    if not calendar.work_days:
        raise ValueError("the workspace calendar has no working days")
    while n > 0:
        day += timedelta(days=1)
        if calendar.is_work_day(day):
            n -= 1
    return day


def _local(day: date, at: time, calendar: WorkCalendar) -> datetime:
    return datetime.combine(day, at, calendar.tz).astimezone(UTC)

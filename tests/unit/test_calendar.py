"""When delays end: time zones, times of day, date fields, business hours."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from stageflow.automation.calendar import (
    WorkCalendar,
    add_business_time,
    add_duration,
    at_time,
    check_at,
    until_field,
)
from stageflow.automation.durations import parse_duration

ROME = WorkCalendar(timezone="Europe/Rome")
MONDAY_10_ROME = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # 10:00 in Rome


@pytest.mark.parametrize(
    ("spec", "expected_rome"),
    [
        ("14:00", datetime(2026, 3, 2, 14, 0)),
        ("09:00", datetime(2026, 3, 3, 9, 0)),  # already past today: tomorrow
        ("tomorrow 14:00", datetime(2026, 3, 3, 14, 0)),
        ("+2 days 09:30", datetime(2026, 3, 4, 9, 30)),
        ("next monday 09:00", datetime(2026, 3, 9, 9, 0)),
        ("next friday 08:00", datetime(2026, 3, 6, 8, 0)),
        ("+1 business day 09:00", datetime(2026, 3, 3, 9, 0)),
        ("next business day 09:00", datetime(2026, 3, 3, 9, 0)),
    ],
)
def test_times_of_day_in_the_workspace_zone(spec: str, expected_rome: datetime) -> None:
    expected = expected_rome.replace(tzinfo=ROME.tz).astimezone(UTC)
    assert at_time(spec, MONDAY_10_ROME, ROME) == expected


def test_friday_plus_one_business_day_is_monday_and_holidays_are_skipped() -> None:
    friday = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)
    assert at_time("+1 business day 09:00", friday, WorkCalendar()).date() == date(2026, 3, 9)
    holiday = WorkCalendar(holidays=frozenset({date(2026, 3, 9)}))
    assert at_time("+1 business day 09:00", friday, holiday).date() == date(2026, 3, 10)


@pytest.mark.parametrize("spec", ["2pm", "tomorrow", "25:00", "next someday 09:00", "+x days 1:00"])
def test_bad_times_of_day_are_refused(spec: str) -> None:
    with pytest.raises(ValueError, match="time"):
        check_at(spec)


def test_days_keep_the_wall_clock_across_daylight_saving() -> None:
    before = datetime(2026, 3, 28, 8, 0, tzinfo=UTC)  # 09:00 in Rome, winter time
    after = add_duration(before, parse_duration("P1D"), ROME)
    assert after.astimezone(ROME.tz).time() == time(9, 0)
    assert after - before == timedelta(hours=23)


def test_until_a_date_field_means_local_midnight_or_the_given_time() -> None:
    assert until_field("2026-03-10", "-P1D", ROME) == datetime(2026, 3, 8, 23, 0, tzinfo=UTC)
    assert until_field("2026-03-10", "PT0S", ROME, "09:00") == datetime(
        2026, 3, 10, 8, 0, tzinfo=UTC
    )
    assert until_field("2026-03-10T15:00:00+00:00", "PT2H", ROME) == datetime(
        2026, 3, 10, 17, 0, tzinfo=UTC
    )
    assert until_field(None, "P1D", ROME) is None


def test_business_hours_skip_nights_and_weekends() -> None:
    calendar = WorkCalendar()  # Monday to Friday, 09:00-17:00 UTC
    friday_4pm = datetime(2026, 3, 6, 16, 0, tzinfo=UTC)
    assert add_business_time(friday_4pm, parse_duration("PT3H"), calendar) == datetime(
        2026, 3, 9, 11, 0, tzinfo=UTC
    )
    saturday = datetime(2026, 3, 7, 10, 0, tzinfo=UTC)
    assert add_business_time(saturday, parse_duration("PT1H"), calendar) == datetime(
        2026, 3, 9, 10, 0, tzinfo=UTC
    )
    assert add_business_time(friday_4pm, parse_duration("P2D"), calendar) == datetime(
        2026, 3, 10, 16, 0, tzinfo=UTC
    )

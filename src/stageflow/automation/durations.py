"""ISO 8601 durations ("P7D", "PT2H", "P6M", "-P1D") with calendar months and years."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from dateutil.relativedelta import relativedelta

_PATTERN = re.compile(
    r"^(?P<sign>[-+])?P(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?"
    r"(?:(?P<days>\d+)D)?(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)
MAX_YEARS = 100


@dataclass(frozen=True, slots=True)
class Duration:
    """A signed calendar duration; adding "P6M" to 31 August gives 28/29 February."""

    text: str
    delta: relativedelta
    negative: bool

    def after(self, moment: datetime) -> datetime:
        return moment - self.delta if self.negative else moment + self.delta

    @property
    def approximate_seconds(self) -> float:
        d = self.delta
        seconds = (d.years * 365.25 + d.months * 30.44 + d.days) * 86400 + d.hours * 3600
        return seconds + d.minutes * 60 + d.seconds


def parse_duration(text: str) -> Duration:
    """Parse an ISO 8601 duration; raises ValueError naming what is wrong."""
    match = _PATTERN.match(text.strip()) if isinstance(text, str) else None
    if match is None or text.strip().rstrip("T").endswith("P") or text.strip().endswith("T"):
        raise ValueError(f"'{text}' is not an ISO 8601 duration such as P7D, PT2H or P6M")
    parts = {k: int(v) for k, v in match.groupdict().items() if v and k != "sign"}
    if parts.get("years", 0) > MAX_YEARS:
        raise ValueError(f"'{text}' is longer than {MAX_YEARS} years")
    delta = relativedelta(
        years=parts.get("years", 0),
        months=parts.get("months", 0),
        weeks=parts.get("weeks", 0),
        days=parts.get("days", 0),
        hours=parts.get("hours", 0),
        minutes=parts.get("minutes", 0),
        seconds=parts.get("seconds", 0),
    )
    return Duration(text=text.strip(), delta=delta, negative=match.group("sign") == "-")

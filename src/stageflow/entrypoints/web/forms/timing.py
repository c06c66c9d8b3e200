"""A rule's timing (``automation/rules.Timing``) as a form: immediately, after a delay, at a time
relative to a date field, or at a time of day; durations as a number and a unit.

Form names: ``t.kind`` (now, after, field, at), ``t.after.n`` / ``t.after.unit``, ``t.bh``
(business hours), ``t.field``, ``t.offset.n`` / ``t.offset.unit`` / ``t.offset.dir`` (before,
after), ``t.at``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

FormData = Mapping[str, list[str]]
# unit → (ISO designator, whether it is a time part, words)
UNITS = {
    "minutes": ("M", True, "minute"),
    "hours": ("H", True, "hour"),
    "days": ("D", False, "day"),
    "weeks": ("W", False, "week"),
    "months": ("M", False, "month"),
    "years": ("Y", False, "year"),
}
_SIMPLE = re.compile(r"^(?P<sign>-)?P(?P<t>T)?(?P<n>\d+)(?P<d>[YMWDHS])$")


@dataclass
class Amount:
    """A duration as a number and a unit; ``text`` keeps one the boxes cannot show (P1DT2H)."""

    n: str = ""
    unit: str = "days"
    negative: bool = False
    text: str = ""


def to_iso(n: str, unit: str, *, negative: bool = False) -> str:
    """``6`` months → ``P6M``; text that is not a number is passed on for the service to
    refuse in its own words."""
    n = n.strip()
    if unit == "iso" or not n.isdigit():
        return n
    designator, timed, _ = UNITS.get(unit, UNITS["days"])
    return f"{'-' if negative else ''}P{'T' if timed else ''}{n}{designator}"


def from_iso(text: str | None) -> Amount:
    if not text:
        return Amount()
    match = _SIMPLE.match(text)
    if match is None:
        return Amount(text=text, unit="iso", n=text)
    timed = bool(match.group("t"))
    unit = next(
        (u for u, (d, t, _) in UNITS.items() if d == match.group("d") and t == timed), "iso"
    )
    if unit == "iso":
        return Amount(text=text, unit="iso", n=text)
    return Amount(match.group("n"), unit, match.group("sign") == "-")


def words(text: str | None) -> str:
    """``P6M`` → "6 months"; ``-P1D`` → "1 day before"."""
    amount = from_iso(text)
    if amount.unit == "iso":
        return amount.text
    single = UNITS[amount.unit][2]
    said = f"{amount.n} {single}{'' if amount.n == '1' else 's'}"
    return said


def kind_of(timing: Mapping[str, Any]) -> str:
    for kind in ("after", "field", "at"):
        if timing.get(kind):
            return kind
    return "now"


def parse(form: FormData) -> dict[str, Any]:
    """The timing the form describes (``Timing``'s fields; nothing set: immediately)."""

    def one(name: str, default: str = "") -> str:
        return form.get(name, [default])[0]

    kind = one("t.kind", "now")
    if kind == "after":
        after = to_iso(one("t.after.n"), one("t.after.unit", "days"))
        return {"after": after, "business_hours": one("t.bh") != ""} if after else {"after": ""}
    if kind == "field":
        negative = one("t.offset.dir", "after") == "before"
        offset = to_iso(one("t.offset.n") or "0", one("t.offset.unit", "days"), negative=negative)
        return {"field": one("t.field") or None, "offset": offset or "PT0S"}
    if kind == "at":
        return {"at": one("t.at").strip()}
    return {}


def summary(timing: Mapping[str, Any], field_labels: Mapping[str, str]) -> str:
    """When a rule acts, in words: "immediately", "after 6 months", "1 day before Close date",
    "at tomorrow 09:00"."""
    kind = kind_of(timing)
    if kind == "after":
        hours = " (business hours)" if timing.get("business_hours") else ""
        return f"after {words(timing['after'])}{hours}"
    if kind == "field":
        label = field_labels.get(str(timing["field"]), str(timing["field"]))
        offset = from_iso(timing.get("offset") or "PT0S")
        if offset.unit == "iso" or offset.n in ("", "0"):
            return f"on {label}" if offset.unit != "iso" else f"{offset.text} from {label}"
        side = "before" if offset.negative else "after"
        return f"{words(timing['offset'].lstrip('-'))} {side} {label}"
    if kind == "at":
        return f"at {timing['at']}"
    return "immediately"

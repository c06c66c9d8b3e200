"""How a run's page words a run: times with "in 7 days", what started it, and each step's
input, output and error as key/value lists instead of JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from stageflow.entrypoints.web.pages.htmx_helpers import when
from stageflow.services.engine.run_history import RunDetail

LONG = 120  # longer values fold into <details>
STEP_STATUS = {
    "completed": "Done",
    "failed": "Failed",
    "cancelled": "Cancelled",
    "waiting": "Waiting",
    "running": "Due now",
    "retrying": "Retrying",
}


@dataclass(frozen=True, slots=True)
class Pair:
    key: str
    text: str

    @property
    def long(self) -> bool:
        return len(self.text) > LONG or "\n" in self.text


def duration(start: datetime, end: datetime | None) -> str:
    """ "42 s", "5 min", "2 h 10 min", "7 d 0 h"."""
    if end is None:
        return ""
    seconds = int((end - start).total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} d {seconds % 86400 // 3600} h"


def until_text(moment: datetime | None, zone: ZoneInfo, now: datetime) -> str:
    """ "until 11 Dec 14:00 (in 7 days)"."""
    if moment is None:
        return ""
    seconds = (moment - now).total_seconds()
    if seconds <= 0:
        return f"until {when(moment, zone, now)} (due now)"
    if seconds < 3600:
        hint = f"in {max(int(seconds // 60), 1)} min"
    elif seconds < 86400:
        hint = f"in {int(seconds // 3600)} h"
    else:
        days = round(seconds / 86400)
        hint = "in 1 day" if days == 1 else f"in {days} days"
    return f"until {when(moment, zone, now)} ({hint})"


def label(key: str) -> str:
    return key.replace("_", " ").capitalize()


def value_text(value: Any) -> str:
    """A value as a person reads it: no quotes, "yes"/"no", "—" for nothing; lists and
    mappings one item a line."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return "\n".join(f"{label(str(k))}: {value_text(v)}" for k, v in value.items()) or "—"
    if isinstance(value, list):
        if all(not isinstance(v, dict | list) for v in value):
            return ", ".join(value_text(v) for v in value) or "—"
        return "\n".join(json.dumps(v, ensure_ascii=False, default=str) for v in value)
    return str(value)


def pairs(data: Any) -> list[Pair]:
    """A step's input or output as key/value pairs (a bare value is one pair)."""
    if data is None or data == {}:
        return []
    if isinstance(data, dict):
        return [Pair(label(str(k)), value_text(v)) for k, v in data.items()]
    return [Pair("Value", value_text(data))]


def event_words(event_type: str | None) -> str:
    """``StageChanged`` → "stage changed"."""
    if not event_type:
        return ""
    return "".join(f" {c.lower()}" if c.isupper() else c for c in event_type).strip()


def trigger_text(
    trigger: dict[str, Any], users: dict[int, str], stages: dict[int | None, str]
) -> str:
    """What started a run: "Stage changed: New → Proposal (event #12)"; "Started by hand by
    Demo Owner"."""
    event = str(trigger.get("event_type") or "")
    if event == "ManualStart":
        by = users.get(int(trigger.get("by") or 0))
        return f"Started by hand by {by}" if by else "Started by hand"
    if trigger.get("schedule_tick"):
        return "Its schedule"
    words = event_words(event).capitalize() or "An event"
    moved = ""
    if trigger.get("to_stage_id") is not None:
        before = stages.get(trigger.get("from_stage_id"))
        after = stages.get(trigger.get("to_stage_id"), "another stage")
        moved = f": {before} → {after}" if before else f": into {after}"
    elif trigger.get("field"):
        moved = (
            f": {label(str(trigger['field']))} changed from "
            f"{value_text(trigger.get('old_value'))} to {value_text(trigger.get('new_value'))}"
        )
    number = f" (event #{trigger['event_id']})" if trigger.get("event_id") else ""
    return f"{words}{moved}{number}"


def step_views(detail: RunDetail, zone: ZoneInfo, now: datetime) -> list[dict[str, Any]]:
    """Every recorded step, oldest first; then, for a waiting run, the step it waits at."""
    views = []
    for row, info in detail.steps:
        views.append(
            {
                "label": info.label,
                "id": row.step_id,
                "type": info.action or row.type,
                "status": row.status,
                "status_label": STEP_STATUS.get(row.status, row.status.capitalize()),
                "attempts": row.attempts,
                "started": when(row.started_at, zone, now),
                "finished": when(row.finished_at, zone, now),
                "took": duration(row.started_at, row.finished_at),
                "input": pairs(row.input),
                "output": pairs(row.output),
                "error": row.error,
                "iteration": row.iteration,
            }
        )
    run = detail.run
    if run.status in ("waiting", "running") and run.step is not None:
        waits = until_text(run.wake_at, zone, now)
        if run.waiting_for:
            waits = f"for {run.waiting_for.replace('_', ' ')}" + (f", {waits}" if waits else "")
        views.append(
            {
                "label": run.step.label,
                "id": run.step.id,
                "type": run.step.action or run.step.type,
                "status": run.status,
                "status_label": STEP_STATUS[run.status],
                "waits": waits,
                "attempts": detail.attempts,
                "input": [],
                "output": [],
                "error": None,
            }
        )
    return views

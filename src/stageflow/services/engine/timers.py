"""Triggers driven by time, armed as run rows that wait (X1: a row, not memory).

- ``date_reached``: when a record's date field is set, a run is armed for that date ± offset.
  When it wakes it checks the field still holds that date (else it cancels itself, saying so)
  and that the automation's conditions hold then.
- ``schedule``: each active scheduled automation has one *tick* run waiting for the next cron
  time. A tick enrolls the matching records (or runs once without a record), then arms the
  next tick. Ticks missed while no worker ran fire once, late, with the lateness recorded.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from stageflow.automation import calendar as cal
from stageflow.automation.interpreter import RunState
from stageflow.automation.matching import Entry, date_value
from stageflow.domain.errors import StageflowError
from stageflow.domain.events import Event
from stageflow.domain.filters import parse_filter
from stageflow.domain.records import ObjectType
from stageflow.services.crm.records import pages_of_records
from stageflow.services.engine.crm_port import automation_principal
from stageflow.services.engine.run_rows import new_run
from stageflow.services.engine.schedules import next_fire
from stageflow.services.unit_of_work import UnitOfWork


def workspace_calendar(uow: UnitOfWork, workspace_id: int) -> cal.WorkCalendar:
    def load() -> cal.WorkCalendar:
        workspace = uow.workspaces.get(workspace_id)
        return cal.WorkCalendar.from_settings(workspace.settings if workspace else {})

    return uow.memo(("calendar", workspace_id), load)


# date_reached ------------------------------------------------------------------------------


def arm_date(uow: UnitOfWork, event: Event, entry: Entry) -> dict[str, Any] | str:
    """The armed run for a date set by ``event``, or why none is armed."""
    trigger: Any = entry.definition.trigger
    value = date_value(trigger, event)
    assert event.record_id is not None
    return _armed(
        uow,
        event.workspace_id,
        entry.automation_id,
        entry.version_id,
        entry.graph.first,
        entry.definition.variables,
        trigger,
        event.record_id,
        value,
        event_id=event.id,
        depth=event.actor.depth,
    )


def _armed(
    uow: UnitOfWork,
    workspace_id: int,
    automation_id: int,
    version_id: int,
    first_step: str | None,
    variables: dict[str, Any],
    trigger: Any,
    record_id: int,
    value: Any,
    *,
    event_id: int | None,
    depth: int,
) -> dict[str, Any] | str:
    now = uow.clock.now()
    moment = cal.until_field(
        value, trigger.offset, workspace_calendar(uow, workspace_id), trigger.at_time
    )
    if moment is None:
        return "no date"
    if moment < now:
        return "the date has already passed"
    key = f"{version_id}:{record_id}:date:{value}"
    if uow.runs.exists(workspace_id, key):
        return "already armed for this date"
    state = RunState(
        cursor=first_step,
        variables=dict(variables),
        trigger={
            "event_type": "DateReached",
            "date_field": trigger.field,
            "date_value": value,
            "armed": True,
            "event_id": event_id,
        },
    )
    return new_run(
        workspace_id,
        automation_id,
        version_id,
        record_id,
        key,
        state,
        moment,
        now,
        event_id=event_id,
        depth=depth,
    )


def backfill_dates(
    uow: UnitOfWork,
    workspace_id: int,
    automation_id: int,
    version_id: int,
    definition: Any,
    first_step: str | None,
) -> int:
    """On publish, arm the records whose date is still ahead."""
    trigger = definition.trigger
    field = trigger.field
    principal = automation_principal(workspace_id)
    node = parse_filter({"field": field, "op": "is_not_empty"})
    armed = 0
    for records in pages_of_records(uow, principal, ObjectType(trigger.object_type), node):
        rows = []
        for record in records:
            assert record.id is not None
            row = _armed(
                uow,
                workspace_id,
                automation_id,
                version_id,
                first_step,
                definition.variables,
                trigger,
                record.id,
                record.fields.get(field),
                event_id=None,
                depth=0,
            )
            if isinstance(row, dict):
                rows.append(row)
        uow.runs.add_many(rows)
        armed += len(rows)
    uow.runs_created += armed
    return armed


# schedules ---------------------------------------------------------------------------------


def sync_schedule(uow: UnitOfWork, workspace_id: int, automation_id: int) -> None:
    """Cancel the automation's waiting tick and, if it is active on a schedule, arm the next."""
    now = uow.clock.now()
    ticks = uow.runs.waiting_ticks(automation_id)
    uow.runs.save_many(
        [
            {
                "_id": run_id,
                "status": "cancelled",
                "wake_at": None,
                "error": "the schedule changed",
                "finished_at": now,
                "updated_at": now,
            }
            for run_id in ticks
        ]
    )
    automation = uow.automations.get(workspace_id, automation_id)
    if automation is None or automation.status != "active" or not automation.active_version_id:
        return
    version = uow.automations.version(automation.active_version_id)
    assert version is not None
    trigger = version.definition["trigger"]
    if trigger["type"] == "schedule":
        arm_tick(uow, workspace_id, automation_id, version.id, trigger["cron"], now)


def arm_tick(
    uow: UnitOfWork,
    workspace_id: int,
    automation_id: int,
    version_id: int,
    cron: str,
    after: datetime,
    *,
    replacing: int | None = None,
) -> None:
    """Arm the next tick of a schedule unless one is already waiting (other than
    ``replacing``, the tick that is firing now)."""
    calendar = workspace_calendar(uow, workspace_id)
    fire_at = next_fire(cron, after, calendar.timezone)
    state = RunState(cursor=None, trigger={"schedule_tick": True, "fire_at": fire_at.isoformat()})
    # Arming is idempotent through the caller (sync_schedule cancels the waiting tick first;
    # a tick arms its successor once), so the key only needs to be unique: a tick cancelled by
    # a pause must not stop the same time being armed again on resume.
    key = f"{version_id}:tick:{fire_at.isoformat()}:{secrets.token_hex(6)}"
    if not [t for t in uow.runs.waiting_ticks(automation_id) if t != replacing]:
        uow.runs.add_many(
            [
                new_run(
                    workspace_id,
                    automation_id,
                    version_id,
                    None,
                    key,
                    state,
                    fire_at,
                    uow.clock.now(),
                )
            ]
        )
        uow.runs_created += 1


def tick(
    uow: UnitOfWork,
    row: Any,
    definition: Any,
    first_step: str | None,
) -> dict[str, Any]:
    """Fire a schedule: enroll its records (or one record-less run), arm the next tick."""
    now = uow.clock.now()
    fire_at = datetime.fromisoformat(row.state["trigger"]["fire_at"])
    automation = uow.automations.get(row.workspace_id, row.automation_id)
    if (
        automation is None
        or automation.status != "active"
        or automation.active_version_id != row.version_id
    ):
        return {"enrolled": 0, "skipped": "the automation is not active on this version"}
    trigger = definition.trigger
    # The next tick first: whatever happens to this one, the schedule keeps going.
    arm_tick(
        uow,
        row.workspace_id,
        row.automation_id,
        row.version_id,
        trigger.cron,
        max(now, fire_at),
        replacing=row.id,
    )
    record_ids: list[int | None]
    try:
        record_ids = (
            [None]
            if trigger.object_type is None
            else list(_segment(uow, row.workspace_id, trigger))
        )
    except StageflowError as exc:
        return {"enrolled": 0, "fire_at": fire_at.isoformat(), "error": exc.message}
    # Conditions are checked by each run when it starts (they may name the contact etc.).
    state = RunState(
        cursor=first_step,
        variables=dict(definition.variables),
        trigger={
            "event_type": "Schedule",
            "fire_at": fire_at.isoformat(),
            "check_conditions": definition.conditions is not None,
        },
    )
    rows = [
        new_run(
            row.workspace_id,
            row.automation_id,
            row.version_id,
            record_id,
            f"{row.version_id}:{record_id}:cron:{fire_at.isoformat()}",
            state,
            now,
            now,
        )
        for record_id in record_ids
    ]
    for start in range(0, len(rows), 1000):
        uow.runs.add_many(rows[start : start + 1000])
    uow.runs_created += len(rows)
    return {
        "enrolled": len(rows),
        "fire_at": fire_at.isoformat(),
        "late_by_seconds": round((now - fire_at).total_seconds(), 3),
    }


def _segment(uow: UnitOfWork, workspace_id: int, trigger: Any) -> list[int]:
    principal = automation_principal(workspace_id)
    node = parse_filter(trigger.segment) if trigger.segment else None
    pages = pages_of_records(uow, principal, ObjectType(trigger.object_type), node)
    return [r.id for records in pages for r in records if r.id is not None]

"""Activity actions: a task, call or meeting for someone, due when said (SPEC B4).

``schedule_activity`` (any type) and ``create_task`` (a task) are the names the seeds use;
``create_activity`` is the original name and stays.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from stageflow.actions.ports import ActionContext
from stageflow.actions.registry import SaveContext, SettingsInvalid, registry
from stageflow.automation.calendar import (
    add_business_time,
    add_duration,
    at_time,
    check_at,
    until_field,
)
from stageflow.automation.durations import parse_duration
from stageflow.domain.activities import ActivityType
from stageflow.domain.references import RefKind, refers


class CreateActivity(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: ActivityType = ActivityType.TASK
    subject: str = Field(min_length=1, description="Template, e.g. 'Call {{ record.name }}'")
    description: str = ""
    due_in: str | None = Field(None, description="ISO 8601 duration from now, e.g. P2D")
    due_at: str | None = Field(None, description="'tomorrow 14:00', '+2 business days 09:00'")
    due_field: str | None = Field(
        None,
        description="A date field of the record to be due at",
        json_schema_extra=refers(RefKind.FIELD),
    )
    due_offset: str = Field("PT0S", description="With due_field: e.g. -P1D, the day before")
    business_hours: bool = Field(False, description="Count due_in in business hours")
    responsible_id: int | None = Field(
        None, description="Default: the record's owner", json_schema_extra=refers(RefKind.USER)
    )
    complete_on_stage_exit: bool = Field(
        False, description="Complete the activity when the record moves to another stage"
    )

    @model_validator(mode="after")
    def _one_due(self) -> CreateActivity:
        given = [n for n in ("due_in", "due_at", "due_field") if getattr(self, n) is not None]
        if len(given) > 1:
            raise ValueError(f"give one of due_in, due_at and due_field, not {' and '.join(given)}")
        if self.due_in is not None:
            parse_duration(self.due_in)
        if self.due_at is not None:
            check_at(self.due_at)
        parse_duration(self.due_offset)
        return self


def _check(ctx: SaveContext, settings: CreateActivity) -> None:
    if settings.responsible_id is not None and settings.responsible_id not in ctx.user_ids:
        raise SettingsInvalid(f"there is no user {settings.responsible_id}", "responsible_id")
    if settings.due_field is not None and settings.due_field not in ctx.extra.get(
        "date_fields", frozenset()
    ):
        raise SettingsInvalid(
            f"'{settings.due_field}' is not a date field of {ctx.object_type}s", "due_field"
        )
    if settings.complete_on_stage_exit and ctx.object_type not in ("lead", "deal", "opportunity"):
        raise SettingsInvalid(
            f"{ctx.object_type or 'this'} records have no stages to leave",
            "complete_on_stage_exit",
        )


def create_activity(ctx: ActionContext, settings: CreateActivity) -> dict[str, Any]:
    assert ctx.record_id is not None
    record = ctx.crm.record(ctx.record_id)
    due: datetime | None = None
    if settings.due_in is not None:
        duration = parse_duration(settings.due_in)
        due = (
            add_business_time(ctx.now, duration, ctx.calendar)
            if settings.business_hours
            else add_duration(ctx.now, duration, ctx.calendar)
        )
    elif settings.due_at is not None:
        due = at_time(settings.due_at, ctx.now, ctx.calendar)
    elif settings.due_field is not None:
        due = until_field(record.get(settings.due_field), settings.due_offset, ctx.calendar)
    responsible = settings.responsible_id
    if responsible is None:
        responsible = record.get("owner_id")
    activity_id = ctx.crm.log_activity(
        ctx.record_id,
        type=settings.type.value,
        subject=ctx.render(settings.subject),
        description=ctx.render(settings.description) if settings.description else "",
        due_at=due,
        responsible_id=responsible,
        complete_on_stage_exit=settings.complete_on_stage_exit,
    )
    return {"activity_id": activity_id, "due_at": due.isoformat() if due else None}


for _name, _description in (
    ("create_activity", "Create a task, call or meeting on the record"),
    ("schedule_activity", "Schedule a task, call or meeting on the record"),
    ("create_task", "Create a task on the record"),
):
    registry.register(_name, CreateActivity, description=_description, check=_check)(
        create_activity
    )

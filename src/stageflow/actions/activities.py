"""The internal create_activity action: a task, call or meeting for someone, due when said."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from stageflow.actions.ports import ActionContext
from stageflow.actions.registry import SaveContext, SettingsInvalid, registry
from stageflow.automation.calendar import add_business_time, add_duration, at_time, check_at
from stageflow.automation.durations import parse_duration
from stageflow.domain.activities import ActivityType


class CreateActivity(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: ActivityType = ActivityType.TASK
    subject: str = Field(min_length=1, description="Template, e.g. 'Call {{ record.name }}'")
    description: str = ""
    due_in: str | None = Field(None, description="ISO 8601 duration from now, e.g. P2D")
    due_at: str | None = Field(None, description="'tomorrow 14:00', '+2 business days 09:00'")
    business_hours: bool = Field(False, description="Count due_in in business hours")
    responsible_id: int | None = Field(None, description="Default: the record's owner")

    @model_validator(mode="after")
    def _one_due(self) -> CreateActivity:
        if self.due_in is not None and self.due_at is not None:
            raise ValueError("give due_in or due_at, not both")
        if self.due_in is not None:
            parse_duration(self.due_in)
        if self.due_at is not None:
            check_at(self.due_at)
        return self


def _check(ctx: SaveContext, settings: CreateActivity) -> None:
    if settings.responsible_id is not None and settings.responsible_id not in ctx.user_ids:
        raise SettingsInvalid(f"there is no user {settings.responsible_id}", "responsible_id")


@registry.register(
    "create_activity",
    CreateActivity,
    description="Create a task, call or meeting on the record",
    check=_check,
)
def create_activity(ctx: ActionContext, settings: CreateActivity) -> dict[str, Any]:
    assert ctx.record_id is not None
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
    responsible = settings.responsible_id
    if responsible is None:
        responsible = ctx.crm.record(ctx.record_id).get("owner_id")
    activity_id = ctx.crm.log_activity(
        ctx.record_id,
        type=settings.type.value,
        subject=ctx.render(settings.subject),
        description=ctx.render(settings.description) if settings.description else "",
        due_at=due,
        responsible_id=responsible,
    )
    return {"activity_id": activity_id, "due_at": due.isoformat() if due else None}

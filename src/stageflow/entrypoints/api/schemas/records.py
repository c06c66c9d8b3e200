"""Records, their timeline events and activities as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from stageflow.domain.activities import Activity
from stageflow.domain.records import Record


class RecordOut(BaseModel):
    id: int
    object: str
    name: str
    owner_id: int | None
    source: str | None
    pipeline_id: int | None
    stage_id: int | None
    stage_entered_at: datetime | None
    lifecycle_stage_id: int | None
    fields: dict[str, Any]
    associations: dict[str, list[int]]
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, record: Record, associations: dict[str, list[int]]) -> RecordOut:
        assert record.id is not None
        return cls(
            id=record.id,
            object=record.object_type.value,
            name=record.name,
            owner_id=record.owner_id,
            source=record.source,
            pipeline_id=record.pipeline_id,
            stage_id=record.stage_id,
            stage_entered_at=record.stage_entered_at,
            lifecycle_stage_id=record.lifecycle_stage_id,
            fields=record.fields,
            associations=associations,
            version=record.version,
            created_at=record.created_at,
            updated_at=record.updated_at,
        )


class ActorOut(BaseModel):
    kind: str
    id: int | None = Field(description="The user, token, automation… by kind")
    user_id: int | None
    run_id: int | None = Field(None, description="For an automation: the run that made it")
    version: int | None = Field(None, description="For an automation: its version's number")


class EventOut(BaseModel):
    id: int
    type: str
    record_id: int | None
    object: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    data: dict[str, Any]
    actor: ActorOut
    source: str
    depth: int
    occurred_at: datetime

    @classmethod
    def of(cls, row: Any) -> EventOut:
        return cls(
            id=row.id,
            type=row.type,
            record_id=row.record_id,
            object=row.object_type,
            before=row.before,
            after=row.after,
            data=row.data,
            actor=ActorOut(
                kind=row.actor_kind,
                id=row.actor_id,
                user_id=row.user_id,
                run_id=row.run_id,
                version=row.actor_version,
            ),
            source=row.source,
            depth=row.depth,
            occurred_at=row.occurred_at,
        )


class ActivityOut(BaseModel):
    id: int
    record_id: int
    type: str
    subject: str
    description: str
    due_at: datetime | None
    responsible_id: int | None
    status: str
    outcome: str | None
    direction: str | None
    channel: str | None
    completed_at: datetime | None
    complete_on_exit_stage_id: int | None = Field(
        description="Completes itself when the record leaves this stage"
    )
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, a: Activity) -> ActivityOut:
        assert a.id is not None
        return cls(
            id=a.id,
            record_id=a.record_id,
            type=a.type.value,
            subject=a.subject,
            description=a.description,
            due_at=a.due_at,
            responsible_id=a.responsible_id,
            status=a.status.value,
            outcome=a.outcome,
            direction=a.direction.value if a.direction else None,
            channel=a.channel,
            completed_at=a.completed_at,
            complete_on_exit_stage_id=a.complete_on_exit_stage_id,
            version=a.version,
            created_at=a.created_at,
            updated_at=a.updated_at,
        )

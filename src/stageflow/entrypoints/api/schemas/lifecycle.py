"""Lifecycle stages, conversations and messages, segments as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from stageflow.domain.lifecycle import MAX_STAGES, Conversation, LifecycleStage
from stageflow.domain.records import Record
from stageflow.entrypoints.api.schemas.records import RecordOut


class LifecycleSetOut(BaseModel):
    record: RecordOut
    contacts_synced: int = Field(description="Companies: contacts whose stage the sync changed")


class LifecycleStageOut(BaseModel):
    id: int
    name: str
    description: str
    kind: str
    emoji: str | None
    position: int
    is_default: bool

    @classmethod
    def of(cls, stage: LifecycleStage) -> LifecycleStageOut:
        assert stage.id is not None
        return cls(
            id=stage.id,
            name=stage.name,
            description=stage.description,
            kind=stage.kind.value,
            emoji=stage.emoji,
            position=stage.position,
            is_default=stage.is_default,
        )


class LifecycleStagesOut(BaseModel):
    lifecycle: list[LifecycleStageOut]
    lost: list[LifecycleStageOut]
    default_stage_id: int | None
    total: int
    limit: int

    @classmethod
    def of(cls, stages: list[LifecycleStage]) -> LifecycleStagesOut:
        default = next((s.id for s in stages if s.is_default), None)
        return cls(
            lifecycle=[LifecycleStageOut.of(s) for s in stages if s.kind.value == "lifecycle"],
            lost=[LifecycleStageOut.of(s) for s in stages if s.kind.value == "lost"],
            default_stage_id=default,
            total=len(stages),
            limit=MAX_STAGES,
        )


class DeletePreviewOut(BaseModel):
    stage: LifecycleStageOut
    contacts: int
    companies: int
    can_delete: bool
    reason: str | None


class ConversationOut(BaseModel):
    id: int
    contact_id: int
    contact_name: str | None = None
    lifecycle_stage_id: int | None = None
    status: str
    snoozed_until: datetime | None
    assignee_id: int | None
    channel: str | None
    last_message_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, c: Conversation, contact: Record | None = None, **extra: Any) -> ConversationOut:
        assert c.id is not None
        if contact is not None:
            extra = {
                "contact_name": contact.name,
                "lifecycle_stage_id": contact.lifecycle_stage_id,
            }
        return cls(
            id=c.id,
            contact_id=c.contact_id,
            status=c.status.value,
            snoozed_until=c.snoozed_until,
            assignee_id=c.assignee_id,
            channel=c.channel,
            last_message_at=c.last_message_at,
            version=c.version,
            created_at=c.created_at,
            updated_at=c.updated_at,
            **extra,
        )


class MessageOut(BaseModel):
    id: int
    conversation_id: int
    direction: str
    channel: str
    address: str
    text: str
    created_at: datetime


class InboundOut(BaseModel):
    contact: RecordOut
    conversation: ConversationOut
    message_id: int
    contact_created: bool


class SegmentOut(BaseModel):
    id: int
    name: str
    object_type: str
    filter: dict[str, Any]
    created_by: int | None
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Any) -> SegmentOut:
        return cls(
            id=row.id,
            name=row.name,
            object_type=row.object_type,
            filter=row.filter,
            created_by=row.created_by,
            version=row.version,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

"""Response models of the REST API (request bodies are the service commands)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field

from stageflow.domain.activities import Activity
from stageflow.domain.fields import FieldDef
from stageflow.domain.lifecycle import MAX_STAGES, Conversation, LifecycleStage
from stageflow.domain.pipelines import Pipeline
from stageflow.domain.records import Record

T = TypeVar("T")


class ErrorOut(BaseModel):
    code: str
    message: str
    field: str | None = None


class PageOut(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


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
    id: int | None
    user_id: int | None


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
            actor=ActorOut(kind=row.actor_kind, id=row.actor_id, user_id=row.user_id),
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


class StageOut(BaseModel):
    id: int
    name: str
    kind: str
    position: int


class PipelineOut(BaseModel):
    id: int
    object_type: str
    name: str
    is_default: bool
    position: int
    stages: list[StageOut]

    @classmethod
    def of(cls, p: Pipeline) -> PipelineOut:
        assert p.id is not None
        return cls(
            id=p.id,
            object_type=p.object_type.value,
            name=p.name,
            is_default=p.is_default,
            position=p.position,
            stages=[
                StageOut(id=s.id or 0, name=s.name, kind=s.kind.value, position=s.position)
                for s in sorted(p.stages, key=lambda s: s.position)
            ],
        )


class FieldOut(BaseModel):
    key: str
    label: str
    type: str
    options: list[str]
    picklist: str | None
    required: bool
    builtin: bool

    @classmethod
    def of(cls, f: FieldDef) -> FieldOut:
        return cls(
            key=f.key,
            label=f.label,
            type=f.type.value,
            options=list(f.options),
            picklist=f.picklist,
            required=f.required,
            builtin=f.builtin,
        )


class UserOut(BaseModel):
    id: int
    email: str
    name: str
    role: str
    permissions: list[str]
    active: bool
    created_at: datetime

    @classmethod
    def of(cls, row: Any) -> UserOut:
        return cls(
            id=row.id,
            email=row.email,
            name=row.name,
            role=row.role,
            permissions=list(row.permissions),
            active=row.active,
            created_at=row.created_at,
        )


class TokenOut(BaseModel):
    id: int
    user_id: int
    name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: Any) -> TokenOut:
        return cls(
            id=row.id,
            user_id=row.user_id,
            name=row.name,
            prefix=row.prefix,
            created_at=row.created_at,
            revoked_at=row.revoked_at,
        )


class NewTokenOut(BaseModel):
    token: str
    user_id: int
    note: str = "Store this token now: it is shown once and stored only as a hash."


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


class DeliveryOut(BaseModel):
    """One queued external effect (a webhook request, an email) and how its delivery went."""

    id: int
    kind: str
    status: str = Field(description="pending, delivered or failed")
    attempts: int
    max_attempts: int
    next_attempt_at: datetime | None = Field(description="When a pending delivery is tried next")
    idempotency_key: str
    run_id: int | None
    step_id: str | None
    record_id: int | None
    payload: dict[str, Any]
    last_error: str | None
    last_result: dict[str, Any] | None
    created_at: datetime
    delivered_at: datetime | None

    @classmethod
    def of(cls, row: Any) -> DeliveryOut:
        return cls(
            id=row.id,
            kind=row.kind,
            status=row.status,
            attempts=row.attempts,
            max_attempts=row.max_attempts,
            next_attempt_at=row.next_attempt_at if row.status == "pending" else None,
            idempotency_key=row.idempotency_key,
            run_id=row.run_id,
            step_id=row.step_id,
            record_id=row.record_id,
            payload=row.payload,
            last_error=row.last_error,
            last_result=row.last_result,
            created_at=row.created_at,
            delivered_at=row.delivered_at,
        )


class EmailTemplateOut(BaseModel):
    id: int
    name: str
    subject: str
    html: str
    text: str
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Any) -> EmailTemplateOut:
        return cls(
            id=row.id,
            name=row.name,
            subject=row.subject,
            html=row.html,
            text=row.text,
            version=row.version,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


class NotificationOut(BaseModel):
    id: int
    title: str
    body: str
    record_id: int | None
    run_id: int | None
    created_at: datetime
    read_at: datetime | None

    @classmethod
    def of(cls, row: Any) -> NotificationOut:
        return cls(
            id=row.id,
            title=row.title,
            body=row.body,
            record_id=row.record_id,
            run_id=row.run_id,
            created_at=row.created_at,
            read_at=row.read_at,
        )


class ReportTemplateOut(BaseModel):
    id: int
    name: str
    title: str
    html: str
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Any) -> ReportTemplateOut:
        return cls(
            id=row.id,
            name=row.name,
            title=row.title,
            html=row.html,
            version=row.version,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


class FileOut(BaseModel):
    id: int
    record_id: int
    filename: str
    content_type: str
    size: int
    sha256: str
    source: str = Field(description="What made it, e.g. report:quote")
    run_id: int | None
    created_at: datetime

    @classmethod
    def of(cls, row: Any) -> FileOut:
        return cls(
            id=row.id,
            record_id=row.record_id,
            filename=row.filename,
            content_type=row.content_type,
            size=row.size,
            sha256=row.sha256,
            source=row.source,
            run_id=row.run_id,
            created_at=row.created_at,
        )

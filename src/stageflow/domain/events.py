"""Events: the immutable record of every change (SPEC M5, DESIGN "Events")."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class ActorKind(StrEnum):
    """Who made a change."""

    USER = "user"
    TOKEN = "token"
    AUTOMATION = "automation"
    IMPORT = "import"
    SYNC = "sync"
    SYSTEM = "system"


class Source(StrEnum):
    """Through which door a change came in (lead automation's manual lock and lead creation
    depend on it)."""

    API = "api"
    UI = "ui"
    CLI = "cli"
    AUTOMATION = "automation"
    IMPORT = "import"
    SYNC = "sync"
    SYSTEM = "system"


@dataclass(frozen=True, slots=True)
class Actor:
    """The author of a change: a kind, its id, the human behind it (if any), and the source.

    An automation's changes carry its run: ``id`` is the automation, ``version`` the number of
    the version the run is pinned to and ``run_id`` the run, so a timeline entry links to it.
    """

    kind: ActorKind
    source: Source
    id: int | None = None
    user_id: int | None = None
    depth: int = 0
    run_id: int | None = None
    version: int | None = None

    @classmethod
    def system(cls) -> Actor:
        return cls(kind=ActorKind.SYSTEM, source=Source.SYSTEM)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "source": self.source.value,
            "id": self.id,
            "user_id": self.user_id,
            "depth": self.depth,
            "run_id": self.run_id,
            "version": self.version,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Actor:
        return cls(
            kind=ActorKind(raw["kind"]),
            source=Source(raw["source"]),
            id=raw.get("id"),
            user_id=raw.get("user_id"),
            depth=raw.get("depth", 0),
            run_id=raw.get("run_id"),
            version=raw.get("version"),
        )


class EventType(StrEnum):
    """Every kind of event stageflow writes."""

    RECORD_CREATED = "RecordCreated"
    FIELD_CHANGED = "FieldChanged"
    STAGE_CHANGED = "StageChanged"
    RECORD_DELETED = "RecordDeleted"
    ASSOCIATION_ADDED = "AssociationAdded"
    ASSOCIATION_REMOVED = "AssociationRemoved"
    ACTIVITY_LOGGED = "ActivityLogged"
    ACTIVITY_UPDATED = "ActivityUpdated"
    ACTIVITY_COMPLETED = "ActivityCompleted"
    PIPELINE_CREATED = "PipelineCreated"
    PIPELINE_UPDATED = "PipelineUpdated"
    PIPELINE_DELETED = "PipelineDeleted"
    STAGE_CREATED = "StageCreated"
    STAGE_UPDATED = "StageUpdated"
    STAGE_DELETED = "StageDeleted"
    FIELD_DEFINED = "FieldDefined"
    FIELD_UNDEFINED = "FieldUndefined"
    PICKLIST_UPDATED = "PicklistUpdated"
    USER_CREATED = "UserCreated"
    USER_UPDATED = "UserUpdated"
    TOKEN_CREATED = "TokenCreated"
    TOKEN_REVOKED = "TokenRevoked"
    WORKSPACE_CREATED = "WorkspaceCreated"
    WORKSPACE_UPDATED = "WorkspaceUpdated"
    LIFECYCLE_CHANGED = "LifecycleChanged"
    LIFECYCLE_STAGE_CREATED = "LifecycleStageCreated"
    LIFECYCLE_STAGE_UPDATED = "LifecycleStageUpdated"
    LIFECYCLE_STAGE_DELETED = "LifecycleStageDeleted"
    LIFECYCLE_STAGES_REORDERED = "LifecycleStagesReordered"
    MESSAGE_RECEIVED = "MessageReceived"
    CONVERSATION_OPENED = "ConversationOpened"
    CONVERSATION_UPDATED = "ConversationUpdated"
    SEGMENT_CREATED = "SegmentCreated"
    SEGMENT_UPDATED = "SegmentUpdated"
    SEGMENT_DELETED = "SegmentDeleted"
    DELIVERY_SUCCEEDED = "DeliverySucceeded"
    DELIVERY_FAILED = "DeliveryFailed"
    EMAIL_TEMPLATE_SAVED = "EmailTemplateSaved"
    EMAIL_TEMPLATE_DELETED = "EmailTemplateDeleted"
    USER_NOTIFIED = "UserNotified"
    REPORT_TEMPLATE_SAVED = "ReportTemplateSaved"
    REPORT_TEMPLATE_DELETED = "ReportTemplateDeleted"
    FILE_ADDED = "FileAdded"
    SIGNATURE_REQUESTED = "SignatureRequested"
    SIGNATURE_COMPLETED = "SignatureCompleted"
    SIGNATURE_DECLINED = "SignatureDeclined"
    SUBSTATE_OPENED = "SubstateOpened"
    SUBSTATE_CLOSED = "SubstateClosed"
    LEAD_DISQUALIFIED = "LeadDisqualified"
    LEAD_AUTOMATION_SAVED = "LeadAutomationSaved"
    # An automation the record's change triggered did not run for it (its conditions, the loop
    # guard): written on the record's timeline, never dispatched to automations.
    AUTOMATION_SKIPPED = "AutomationSkipped"


@dataclass(slots=True)
class Event:
    """One immutable change. ``record_id`` is None for workspace-level configuration events."""

    type: EventType
    workspace_id: int
    actor: Actor
    occurred_at: datetime
    record_id: int | None = None
    object_type: str | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    data: dict[str, Any] = field(default_factory=dict)
    id: int | None = None

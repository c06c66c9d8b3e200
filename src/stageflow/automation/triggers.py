"""Triggers: which event starts an automation for which record (SPEC W1, issue "triggers")."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from stageflow.domain.activities import ActivityType, Direction
from stageflow.domain.records import ObjectType


class TriggerBase(BaseModel):
    model_config = ConfigDict(extra="forbid")
    allow_reenrollment: bool = Field(
        True, description="May a record that already ran this automation start it again?"
    )


class RecordCreated(TriggerBase):
    type: Literal["record_created"] = "record_created"
    object_type: ObjectType
    pipeline_id: int | None = None
    allow_reenrollment: bool = False


class StageEntered(TriggerBase):
    type: Literal["stage_entered"] = "stage_entered"
    object_type: ObjectType
    pipeline_id: int | None = None
    stage_id: int | None = Field(None, description="Any stage of the pipeline when omitted")
    from_stage_id: int | None = None


class StageExited(TriggerBase):
    type: Literal["stage_exited"] = "stage_exited"
    object_type: ObjectType
    pipeline_id: int | None = None
    stage_id: int | None = None
    to_stage_id: int | None = None


class FieldChanged(TriggerBase):
    type: Literal["field_changed"] = "field_changed"
    object_type: ObjectType
    field: str
    to: Any = Field(None, description="Only when the new value is this")
    from_: Any = Field(None, alias="from", description="Only when the old value was this")
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ActivityLogged(TriggerBase):
    type: Literal["activity_logged"] = "activity_logged"
    object_type: ObjectType | None = None
    activity_type: ActivityType | None = None
    outcome: str | None = None
    direction: Direction | None = None


class MessageReceived(TriggerBase):
    type: Literal["message_received"] = "message_received"
    channel: str | None = None


class SubstateOpened(TriggerBase):
    type: Literal["substate_opened"] = "substate_opened"
    opportunity_type: str | None = None
    substate: str | None = None


class SubstateClosed(TriggerBase):
    type: Literal["substate_closed"] = "substate_closed"
    opportunity_type: str | None = None
    substate: str | None = None


class LifecycleChanged(TriggerBase):
    type: Literal["lifecycle_changed"] = "lifecycle_changed"
    object_type: Literal[ObjectType.CONTACT, ObjectType.COMPANY] = ObjectType.CONTACT
    to_lifecycle_stage_id: int | None = Field(None, description="Any stage when empty")
    to_lifecycle_stage_ids: list[int] | None = Field(
        None, description="Any of these stages (with to_lifecycle_stage_id: that one too)"
    )
    from_lifecycle_stage_id: int | None = Field(None, description="Any stage when empty")
    include_sync: bool = Field(True, description="Also when a company sync caused the change")


Moment = Literal[
    "email_sent",
    "linkedin_message_sent",
    "call_logged",
    "meeting_scheduled",
    "email_reply_received",
    "meeting_completed",
    "call_connected",
]


class LeadActivity(TriggerBase):
    """An activity on a lead that counts as outreach (an email or LinkedIn message sent, a
    call made, a meeting scheduled) or as connecting (an email reply, a meeting completed,
    a call connected)."""

    type: Literal["lead_activity"] = "lead_activity"
    moments: list[Moment] = Field(min_length=1)


class LeadDisqualified(TriggerBase):
    type: Literal["lead_disqualified"] = "lead_disqualified"
    reasons: list[str] = Field(default_factory=list, description="Any reason when empty")


class DateReached(TriggerBase):
    type: Literal["date_reached"] = "date_reached"
    object_type: ObjectType
    field: str = Field(description="A date or datetime field of the record")
    offset: str = Field("PT0S", description="ISO 8601 duration, negative for before: -P1D")
    at_time: str | None = Field(None, description="Time of day for date fields, e.g. 09:00")


class Schedule(TriggerBase):
    type: Literal["schedule"] = "schedule"
    cron: str = Field(description="Five-field cron, in the workspace time zone")
    object_type: ObjectType | None = Field(None, description="Enroll every matching record")
    segment: dict[str, Any] | None = Field(None, description="Filter the records to enroll")


class SignatureCompleted(TriggerBase):
    """A document sent with request_signature was signed (the provider said so)."""

    type: Literal["signature_completed"] = "signature_completed"
    object_type: ObjectType | None = Field(None, description="Any record type when empty")


class SignatureDeclined(TriggerBase):
    type: Literal["signature_declined"] = "signature_declined"
    object_type: ObjectType | None = Field(None, description="Any record type when empty")


class Manual(TriggerBase):
    type: Literal["manual"] = "manual"
    object_type: ObjectType


Trigger = Annotated[
    RecordCreated
    | StageEntered
    | StageExited
    | FieldChanged
    | ActivityLogged
    | MessageReceived
    | SubstateOpened
    | SubstateClosed
    | LifecycleChanged
    | LeadDisqualified
    | LeadActivity
    | DateReached
    | Schedule
    | SignatureCompleted
    | SignatureDeclined
    | Manual,
    Field(discriminator="type"),
]

# Which event types each trigger listens to (the dispatcher's index key).
EVENT_TYPES: dict[str, tuple[str, ...]] = {
    "record_created": ("RecordCreated",),
    "stage_entered": ("StageChanged", "RecordCreated"),
    "stage_exited": ("StageChanged",),
    "field_changed": ("FieldChanged",),
    "activity_logged": ("ActivityLogged",),
    "message_received": ("MessageReceived",),
    "substate_opened": ("SubstateOpened",),
    "substate_closed": ("SubstateClosed",),
    "lifecycle_changed": ("LifecycleChanged",),
    "lead_disqualified": ("LeadDisqualified",),
    "lead_activity": ("ActivityLogged", "ActivityUpdated"),
    "date_reached": ("RecordCreated", "FieldChanged"),
    "signature_completed": ("SignatureCompleted",),
    "signature_declined": ("SignatureDeclined",),
    "schedule": (),
    "manual": (),
}


def trigger_object_type(trigger: Any) -> ObjectType | None:
    """The object type a trigger's records have, when it says."""
    value = getattr(trigger, "object_type", None)
    if value is not None:
        return ObjectType(value)
    if trigger.type in ("substate_opened", "substate_closed"):
        return ObjectType.OPPORTUNITY
    if trigger.type in ("lead_disqualified", "lead_activity"):
        return ObjectType.LEAD
    if trigger.type in ("lifecycle_changed", "message_received"):
        return ObjectType.CONTACT
    return None

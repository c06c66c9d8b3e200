"""Commands: the typed inputs of the service layer (the API uses them as request bodies)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from stageflow.domain.activities import ActivityStatus, ActivityType, Direction
from stageflow.domain.fields import FieldType
from stageflow.domain.lifecycle import ConversationStatus, LifecycleKind
from stageflow.domain.pipelines import StageKind
from stageflow.domain.records import ObjectType
from stageflow.domain.text import check_storable
from stageflow.domain.users import Role

MAX_ID = 2**63 - 1
Id = Annotated[int, Field(ge=1, le=MAX_ID)]


def _in_range(moment: datetime) -> datetime:
    try:
        moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("the datetime is out of range") from None
    return moment


Moment = Annotated[AwareDatetime, AfterValidator(_in_range)]


class Command(BaseModel):
    """Base of every input: unknown keys are refused, and so is text a database cannot store
    (NUL characters, lone surrogates), wherever it hides."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _storable_text(cls, data: Any) -> Any:
        check_storable(data, "")
        return data


class CreateRecord(Command):
    name: str | None = Field(
        None,
        description="Required except for contacts, whose name "
        "defaults to first + last name or email",
    )
    owner_id: Id | None = Field(None, description="Responsible user; defaults to the caller")
    source: str | None = Field(None, description="Source channel (picklist source_channel)")
    pipeline_id: Id | None = None
    stage_id: Id | None = Field(None, description="Defaults to the pipeline's first stage")
    fields: dict[str, Any] = Field(
        default_factory=dict, description="Built-in and custom field values"
    )
    associations: dict[ObjectType, list[Id]] = Field(
        default_factory=dict, description='Associated record ids by type, e.g. {"contact": [1]}'
    )
    lifecycle_stage_id: Id | None = Field(
        None,
        description="Contacts and companies; a new contact gets the default stage if not given",
    )


class UpdateRecord(Command):
    name: str | None = None
    owner_id: Id | None = None
    source: str | None = None
    fields: dict[str, Any] | None = Field(None, description="Fields to set; null clears one")
    associations: dict[ObjectType, list[Id]] | None = Field(
        None, description="Replaces the associations of each type given"
    )
    lifecycle_stage_id: Id | None = Field(
        None, description="Contacts and companies: set, change, or null to clear"
    )
    version: int | None = Field(None, description="The version you read; a stale one is 409")


class MoveRecord(Command):
    stage_id: Id
    pipeline_id: Id | None = Field(None, description="Must be the stage's pipeline if given")
    fields: dict[str, Any] | None = Field(
        None,
        description="Fields set with the move, e.g. a lead's disqualification_reason when it "
        "moves to Disqualified, a deal's or opportunity's lost_reason when it moves to a lost "
        "stage",
    )
    version: int | None = None


class CreateActivity(Command):
    record_id: Id
    type: ActivityType
    subject: str = Field(min_length=1, max_length=500)
    description: str = Field("", max_length=10_000)
    due_at: Moment | None = Field(None, description="With a time zone offset")
    responsible_id: Id | None = Field(None, description="Defaults to the record's owner")
    status: ActivityStatus | None = None
    outcome: str | None = None
    direction: Direction | None = None
    channel: str | None = Field(None, max_length=40)
    complete_on_stage_exit: bool = Field(
        False, description="Complete it when the record leaves its current stage"
    )


class UpdateActivity(Command):
    subject: str | None = Field(None, min_length=1, max_length=500)
    description: str | None = Field(None, max_length=10_000)
    due_at: Moment | None = Field(None, description="With a time zone offset")
    responsible_id: Id | None = None
    status: ActivityStatus | None = None
    outcome: str | None = None
    version: int | None = None


class StageInput(Command):
    name: str = Field(min_length=1, max_length=200)
    kind: StageKind = StageKind.OPEN


class CreatePipeline(Command):
    object_type: ObjectType
    name: str = Field(min_length=1, max_length=200)
    is_default: bool = False
    stages: list[StageInput] = Field(min_length=1)


class UpdatePipeline(Command):
    name: str | None = Field(None, min_length=1, max_length=200)
    is_default: bool | None = None


class CreateStage(Command):
    name: str = Field(min_length=1, max_length=200)
    kind: StageKind = StageKind.OPEN
    position: int | None = Field(None, ge=0, description="0-based; defaults to the end")


class UpdateStage(Command):
    name: str | None = Field(None, min_length=1, max_length=200)
    kind: StageKind | None = None
    position: int | None = Field(None, ge=0)


class DefineField(Command):
    key: str
    label: str = Field("", max_length=200)
    type: FieldType
    options: list[str] = Field(default_factory=list, description="Picklist options")
    required: bool = False


class PicklistOption(Command):
    value: str = Field(min_length=1, max_length=63)
    label: str = Field(min_length=1, max_length=200)


class PutPicklist(Command):
    options: list[PicklistOption] = Field(min_length=1)


class CreateUser(Command):
    email: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    name: str = Field(min_length=1, max_length=200)
    role: Role = Role.AGENT
    permissions: list[str] = Field(default_factory=list)
    password: str | None = Field(None, min_length=8, max_length=200)


class ChangePassword(Command):
    """A user's own new password; ``current_password`` is not asked when choosing the first
    one after a one-time password."""

    current_password: str = Field("", max_length=200)
    new_password: str = Field(max_length=200)


class UpdateUser(Command):
    name: str | None = Field(None, min_length=1, max_length=200)
    role: Role | None = None
    permissions: list[str] | None = None
    active: bool | None = None


class CreateToken(Command):
    name: str = Field(min_length=1, max_length=200)
    user_id: Id | None = Field(None, description="Defaults to the caller")


class CreateLifecycleStage(Command):
    name: str = Field(min_length=1, max_length=100)
    description: str = Field("", max_length=500)
    kind: LifecycleKind = LifecycleKind.LIFECYCLE
    emoji: str | None = Field(None, description="Lost stages only (required for them)")
    is_default: bool = Field(False, description="Make it the default stage of new contacts")
    position: int | None = Field(None, ge=0, description="0-based within its kind; default: last")


class UpdateLifecycleStage(Command):
    name: str | None = Field(None, min_length=1, max_length=100)
    description: str | None = Field(None, max_length=500)
    emoji: str | None = None
    is_default: bool | None = Field(
        None, description="true makes it the default (replacing the old); false leaves none"
    )


class ReorderLifecycleStages(Command):
    order: list[Id] = Field(description="Every stage id, in the new order")


class DeleteLifecycleStage(Command):
    move_to: Id | None = Field(None, description="Where the stage's contacts go")
    clear: bool = Field(False, description="Clear their stage instead of moving them")


class SetLifecycleStage(Command):
    stage_id: Id | None = Field(description="null clears the stage")
    version: int | None = Field(None, description="The version of the record you read")
    sync_contacts: bool | None = Field(
        None,
        description="Companies: also set the stage of their contacts (source 'sync'); "
        "defaults to the workspace setting lifecycle_sync_companies",
    )


class InboundMessage(Command):
    channel: str = Field(description="email, sms, whatsapp, telegram, messenger, web_chat, ...")
    address: str = Field(description="The sender's address on that channel")
    text: str = Field(min_length=1, max_length=10_000)
    name: str | None = Field(None, max_length=500, description="The sender's name, if known")


class UpdateConversation(Command):
    status: ConversationStatus | None = None
    snoozed_until: Moment | None = Field(None, description="Required when snoozing")
    assignee_id: Id | None = Field(None, description="null leaves it unassigned")
    version: int | None = None


class CreateSegment(Command):
    name: str = Field(min_length=1, max_length=200)
    object_type: ObjectType = ObjectType.CONTACT
    filter: dict[str, Any] = Field(
        description='The filter language, e.g. {"field": "lifecycle_stage_id", "op": "eq", '
        '"value": 3}'
    )


class UpdateSegment(Command):
    name: str | None = Field(None, min_length=1, max_length=200)
    filter: dict[str, Any] | None = None


class BusinessHours(Command):
    days: list[int] = Field(description="Working weekdays, 0 = Monday … 6 = Sunday")
    start: str = Field(description="HH:MM, workspace time zone")
    end: str = Field(description="HH:MM, after start")


class UpdateWorkspaceSettings(Command):
    timezone: str | None = Field(None, description="IANA name, e.g. Europe/Rome")
    lifecycle_enabled: bool | None = Field(None, description="Show or hide lifecycle")
    lifecycle_sync_companies: bool | None = Field(
        None, description="A company's lifecycle change also sets its contacts' stage"
    )
    business_hours: BusinessHours | None = None
    holidays: list[str] | None = Field(None, description="ISO dates, YYYY-MM-DD")
    webhook_allowlist: list[str] | None = Field(
        None,
        description="Hosts and networks (e.g. 127.0.0.1, 10.0.0.0/8, crm.internal) webhooks "
        "may reach although they are not public",
        max_length=100,
    )


class CreateEmailTemplate(Command):
    name: str = Field(min_length=1, max_length=120)
    subject: str = Field(min_length=1, max_length=998, description="Template")
    html: str = Field("", max_length=500_000, description="Template; HTML is not escaped")
    text: str = Field("", max_length=500_000, description="Template; made from the HTML if empty")


class UpdateEmailTemplate(Command):
    name: str | None = Field(None, min_length=1, max_length=120)
    subject: str | None = Field(None, min_length=1, max_length=998)
    html: str | None = Field(None, max_length=500_000)
    text: str | None = Field(None, max_length=500_000)


class SmtpSettings(Command):
    host: str = Field(min_length=1, max_length=253)
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = Field(
        "starttls", description="starttls (port 587), ssl (port 465) or none (a local relay)"
    )
    username: str | None = Field(None, max_length=320)
    password: str | None = Field(
        None, max_length=1000, description="Write-only; leave out to keep the stored one"
    )
    from_address: str = Field(min_length=3, max_length=320)
    from_name: str = Field("", max_length=200)
    timeout_seconds: float = Field(20, gt=0, le=120)


class SmsSettings(Command):
    provider: Literal["http", "console"] = Field(
        description="http: a provider's HTTP API (generic JSON); console: written to the log "
        "(for trying things out)"
    )
    url: str | None = Field(None, max_length=2000, description="For http: where to POST")
    authorization: str | None = Field(
        None,
        max_length=2000,
        description="For http: the Authorization header's value; write-only, leave out to "
        "keep the stored one",
    )
    sender: str = Field("", max_length=20, description="The number or name messages come from")


class CreateReportTemplate(Command):
    name: str = Field(min_length=1, max_length=120)
    title: str = Field(min_length=1, max_length=300, description="Template; the PDF's title")
    html: str = Field(
        min_length=1,
        max_length=500_000,
        description="Template: headings, paragraphs, bold/italic, lists, tables, links",
    )


class UpdateReportTemplate(Command):
    name: str | None = Field(None, min_length=1, max_length=120)
    title: str | None = Field(None, min_length=1, max_length=300)
    html: str | None = Field(None, min_length=1, max_length=500_000)


class EsignSettings(Command):
    provider: Literal["http"] = Field(
        "http", description="A provider's HTTP API, spoken in stageflow's generic JSON"
    )
    url: str = Field(min_length=1, max_length=2000, description="Where to POST documents")
    authorization: str | None = Field(
        None, max_length=2000, description="The Authorization header's value; write-only"
    )


class SignatureCallback(Command):
    status: Literal["completed", "declined"]
    signed_document_b64: str | None = Field(
        None, max_length=20_000_000, description="The signed PDF, base64"
    )
    reason: str | None = Field(None, max_length=1000, description="Why it was declined")

"""CRM records: contacts, companies, leads, deals, opportunities (SPEC M2)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from stageflow.domain.errors import ValidationFailed
from stageflow.domain.events import Actor, Event, EventType
from stageflow.domain.fields import FieldContext, FieldDef, FieldType, coerce
from stageflow.domain.lifecycle import LifecycleStage
from stageflow.domain.text import a_or_an


class ObjectType(StrEnum):
    CONTACT = "contact"
    COMPANY = "company"
    LEAD = "lead"
    DEAL = "deal"
    OPPORTUNITY = "opportunity"

    @property
    def plural(self) -> str:
        return {"company": "companies", "opportunity": "opportunities"}.get(
            self.value, self.value + "s"
        )

    @property
    def has_pipeline(self) -> bool:
        return self in PIPELINE_OBJECT_TYPES


PIPELINE_OBJECT_TYPES = frozenset({ObjectType.LEAD, ObjectType.DEAL, ObjectType.OPPORTUNITY})
# Which object types have a lifecycle stage (SPEC L; companies for the sync of L/H).
LIFECYCLE_OBJECT_TYPES = frozenset({ObjectType.CONTACT, ObjectType.COMPANY})


def _f(key: str, type_: FieldType, picklist: str | None = None) -> FieldDef:
    return FieldDef(
        key=key,
        type=type_,
        label=key.replace("_", " ").capitalize(),
        picklist=picklist,
        builtin=True,
    )


BUILTIN_FIELDS: dict[ObjectType, tuple[FieldDef, ...]] = {
    ObjectType.CONTACT: (
        _f("first_name", FieldType.TEXT),
        _f("last_name", FieldType.TEXT),
        _f("email", FieldType.TEXT),
        _f("phone", FieldType.TEXT),
        _f("job_title", FieldType.TEXT),
    ),
    ObjectType.COMPANY: (
        _f("domain", FieldType.TEXT),
        _f("industry", FieldType.TEXT),
        _f("phone", FieldType.TEXT),
        _f("city", FieldType.TEXT),
        _f("country", FieldType.TEXT),
    ),
    ObjectType.LEAD: (
        _f("status", FieldType.PICKLIST, "lead_status"),
        _f("lead_type", FieldType.PICKLIST, "lead_type"),
        _f("disqualification_reason", FieldType.PICKLIST, "disqualification_reasons"),
        _f("email", FieldType.TEXT),
        _f("phone", FieldType.TEXT),
        _f("company_name", FieldType.TEXT),
        # Set when a user moves the lead back a stage: lead automation leaves it alone from
        # then on (SPEC H5). Clear it to let automation move the lead again.
        _f("stage_locked_at", FieldType.DATETIME),
    ),
    ObjectType.DEAL: (
        _f("amount", FieldType.NUMBER),
        _f("currency", FieldType.TEXT),
        _f("close_date", FieldType.DATE),
        _f("probability", FieldType.NUMBER),
        _f("lost_reason", FieldType.PICKLIST, "lost_reasons"),
    ),
    ObjectType.OPPORTUNITY: (
        _f("amount", FieldType.NUMBER),
        _f("close_date", FieldType.DATE),
        _f("opportunity_type", FieldType.TEXT),
        _f("lost_reason", FieldType.PICKLIST, "lost_reasons"),
    ),
}

# The field that says why a record was lost, asked for when it moves to a lost stage.
LOST_REASON_FIELDS: dict[ObjectType, str] = {
    ObjectType.LEAD: "disqualification_reason",
    ObjectType.DEAL: "lost_reason",
    ObjectType.OPPORTUNITY: "lost_reason",
}

# Attributes every record has, kept in their own columns.
CORE_ATTRIBUTES = ("name", "owner_id", "source", "pipeline_id", "stage_id")

# Which object types a record may be associated with.
ASSOCIATION_TARGETS: dict[ObjectType, frozenset[ObjectType]] = {
    ObjectType.CONTACT: frozenset({ObjectType.COMPANY}),
    ObjectType.COMPANY: frozenset(),
    ObjectType.LEAD: frozenset({ObjectType.CONTACT, ObjectType.COMPANY}),
    ObjectType.DEAL: frozenset({ObjectType.CONTACT, ObjectType.COMPANY}),
    ObjectType.OPPORTUNITY: frozenset({ObjectType.CONTACT, ObjectType.COMPANY}),
}

SOURCE_PICKLIST = "source_channel"

# Enum members read on every move, as module constants (EnumType.__getattr__ is slow on 3.11).
_LEAD = ObjectType.LEAD
_LEAD_DISQUALIFIED = EventType.LEAD_DISQUALIFIED


@dataclass(slots=True)
class Record:
    """A CRM record. Changing methods append events; nothing here touches storage."""

    workspace_id: int
    object_type: ObjectType
    name: str
    created_at: datetime
    updated_at: datetime
    owner_id: int | None = None
    source: str | None = None
    pipeline_id: int | None = None
    stage_id: int | None = None
    stage_entered_at: datetime | None = None
    lifecycle_stage_id: int | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    version: int = 1
    id: int | None = None
    events: list[Event] = field(default_factory=list)

    def snapshot(self) -> dict[str, Any]:
        """The record's values as an event payload."""
        return {
            "name": self.name,
            "owner_id": self.owner_id,
            "source": self.source,
            "pipeline_id": self.pipeline_id,
            "stage_id": self.stage_id,
            "lifecycle_stage_id": self.lifecycle_stage_id,
            "fields": dict(self.fields),
        }

    def created(self, actor: Actor) -> None:
        """Record the creation event (called once the record has an id)."""
        self.events.append(
            self._event(
                EventType.RECORD_CREATED, actor, self.created_at, before=None, after=self.snapshot()
            )
        )

    def change(self, changes: Mapping[str, Any], actor: Actor, at: datetime) -> list[str]:
        """Apply already-validated attribute and field changes; return what changed."""
        changed: list[str] = []
        for key, value in changes.items():
            if key == "fields":
                for field_key, field_value in value.items():
                    old = self.fields.get(field_key)
                    if old == field_value:
                        continue
                    if field_value is None:
                        self.fields.pop(field_key, None)
                    else:
                        self.fields[field_key] = field_value
                    changed.append(f"fields.{field_key}")
                    self.events.append(
                        self._event(
                            EventType.FIELD_CHANGED,
                            actor,
                            at,
                            before={field_key: old},
                            after={field_key: field_value},
                            data={"field": field_key},
                        )
                    )
                continue
            if key not in ("name", "owner_id", "source"):
                raise ValueError(f"'{key}' cannot be changed through change()")
            old = getattr(self, key)
            if old == value:
                continue
            setattr(self, key, value)
            changed.append(key)
            self.events.append(
                self._event(
                    EventType.FIELD_CHANGED,
                    actor,
                    at,
                    before={key: old},
                    after={key: value},
                    data={"field": key},
                )
            )
        if changed:
            self._touch(at)
        return changed

    def move(
        self,
        pipeline_id: int,
        stage_id: int,
        actor: Actor,
        at: datetime,
        *,
        stage_kind: str,
        from_stage_kind: str | None,
    ) -> bool:
        """Move to a stage (possibly of another pipeline). Returns False when already there."""
        if (pipeline_id, stage_id) == (self.pipeline_id, self.stage_id):
            return False
        before = {
            "pipeline_id": self.pipeline_id,
            "stage_id": self.stage_id,
            "stage_kind": from_stage_kind,
        }
        self.pipeline_id, self.stage_id = pipeline_id, stage_id
        self.stage_entered_at = at
        self._touch(at)
        self.events.append(
            self._event(
                EventType.STAGE_CHANGED,
                actor,
                at,
                before=before,
                after={"pipeline_id": pipeline_id, "stage_id": stage_id, "stage_kind": stage_kind},
            )
        )
        if stage_kind == "lost" != from_stage_kind and self.object_type is _LEAD:
            self.events.append(
                self._event(
                    _LEAD_DISQUALIFIED,
                    actor,
                    at,
                    before=None,
                    after=None,
                    data={
                        "reason": self.fields.get("disqualification_reason"),
                        "stage_id": stage_id,
                    },
                )
            )
        return True

    def set_lifecycle(
        self,
        stage: LifecycleStage | None,
        previous: LifecycleStage | None,
        actor: Actor,
        at: datetime,
    ) -> bool:
        """Set, change or clear the lifecycle stage (L5, L7); ``previous`` is the current one.
        Returns False when nothing changes."""
        if self.object_type not in LIFECYCLE_OBJECT_TYPES:
            raise ValidationFailed(
                f"{a_or_an(self.object_type.value)} has no lifecycle stage",
                field="lifecycle_stage_id",
            )
        stage_id = stage.id if stage else None
        if stage_id == self.lifecycle_stage_id:
            return False
        self.lifecycle_stage_id = stage_id
        self._touch(at)
        assert self.id is not None
        self.events.append(
            lifecycle_event(
                self.workspace_id, self.id, self.object_type, previous, stage, actor, at
            )
        )
        return True

    def deleted(self, actor: Actor, at: datetime) -> None:
        self.events.append(
            self._event(EventType.RECORD_DELETED, actor, at, before=self.snapshot(), after=None)
        )

    def _touch(self, at: datetime) -> None:
        self.updated_at = at
        self.version += 1

    def _event(
        self,
        type_: EventType,
        actor: Actor,
        at: datetime,
        *,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        data: dict[str, Any] | None = None,
    ) -> Event:
        return Event(
            type=type_,
            workspace_id=self.workspace_id,
            actor=actor,
            occurred_at=at,
            record_id=self.id,
            object_type=self.object_type.value,
            before=before,
            after=after,
            data=data or {},
        )


# Enum members read per call, as module constants: on Python 3.11 reading a member through
# its class runs EnumType.__getattr__'s slow path (~1.5k instructions).
_LIFECYCLE_CHANGED = EventType.LIFECYCLE_CHANGED
_CONTACT = ObjectType.CONTACT


def lifecycle_event(
    workspace_id: int,
    record_id: int,
    object_type: ObjectType,
    previous: LifecycleStage | None,
    stage: LifecycleStage | None,
    actor: Actor,
    at: datetime,
) -> Event:
    """``LifecycleChanged``: ids in before/after, names and kinds in data for triggers."""
    return Event(
        type=_LIFECYCLE_CHANGED,
        workspace_id=workspace_id,
        actor=actor,
        occurred_at=at,
        record_id=record_id,
        object_type=object_type.value,
        before={"lifecycle_stage_id": previous.id if previous else None},
        after={"lifecycle_stage_id": stage.id if stage else None},
        data={
            "from_stage_id": previous.id if previous else None,
            "to_stage_id": stage.id if stage else None,
            "from_stage": previous.name if previous else None,
            "to_stage": stage.name if stage else None,
            "from_kind": previous.kind._value_ if previous else None,
            "to_kind": stage.kind._value_ if stage else None,
        },
    )


def validate_fields(
    values: Mapping[str, Any], definitions: Mapping[str, FieldDef], ctx: FieldContext
) -> dict[str, Any]:
    """Validate a ``fields`` payload: an unknown key is a 422 naming it."""
    result: dict[str, Any] = {}
    for key, value in values.items():
        definition = definitions.get(key)
        if definition is None:
            raise ValidationFailed(f"unknown field '{key}'", field=f"fields.{key}")
        result[key] = coerce(definition, value, ctx, f"fields.{key}")
    return result


def required_missing(fields: Mapping[str, Any], definitions: Mapping[str, FieldDef]) -> None:
    """On create, every required field must have a value."""
    for definition in definitions.values():
        if definition.required and fields.get(definition.key) is None:
            raise ValidationFailed(
                f"field '{definition.key}' is required", field=f"fields.{definition.key}"
            )


def display_name(object_type: ObjectType, name: str | None, fields: Mapping[str, Any]) -> str:
    """A record's name; contacts fall back to first + last name, then email."""
    if name is not None:
        name = name.strip()
        if not name:
            raise ValidationFailed("name must not be blank", field="name")
        if len(name) > 500:
            raise ValidationFailed("name is longer than 500 characters", field="name")
        return name
    if object_type is _CONTACT:
        parts = [fields.get("first_name"), fields.get("last_name")]
        joined = " ".join(p for p in parts if p)
        if joined:
            return joined
        if fields.get("email"):
            return str(fields["email"])
        raise ValidationFailed(
            "a contact needs a name, a first or last name, or an email", field="name"
        )
    raise ValidationFailed(f"{a_or_an(object_type.value)} needs a name", field="name")

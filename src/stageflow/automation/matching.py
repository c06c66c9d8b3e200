"""Which triggers an event fires, found through an index so that the cost of an event does
not grow with automations that listen elsewhere (DESIGN "Events, the outbox and enrollment")."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

from stageflow.automation.definitions import Definition
from stageflow.automation.graph import Graph
from stageflow.automation.triggers import EVENT_TYPES
from stageflow.domain.activities import moments
from stageflow.domain.events import Event, EventType


@dataclass(frozen=True)
class Entry:
    """One active automation version, ready to enroll."""

    automation_id: int
    version_id: int
    definition: Definition
    graph: Graph


@dataclass
class TriggerIndex:
    revision: int
    entries: dict[str, dict[Hashable, list[Entry]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(list))
    )
    size: int = 0

    @classmethod
    def build(cls, revision: int, entries: Iterable[Entry]) -> TriggerIndex:
        index = cls(revision=revision)
        for entry in entries:
            trigger: Any = entry.definition.trigger
            for event_type in EVENT_TYPES[trigger.type]:
                index.entries[event_type][_trigger_key(trigger, event_type)].append(entry)
            index.size += 1
        return index

    def candidates(self, event: Event) -> list[Entry]:
        by_key = self.entries.get(event.type.value)
        if not by_key:
            return []
        found: list[Entry] = []
        for key in _event_keys(event):
            found.extend(by_key.get(key, ()))
        return found


# Enum members read per event or per row, as module constants: on Python 3.11 reading a
# member through its class runs EnumType.__getattr__'s slow path (~1.5k instructions).
_STAGE_CHANGED = EventType.STAGE_CHANGED
_RECORD_CREATED = EventType.RECORD_CREATED
_FIELD_CHANGED = EventType.FIELD_CHANGED
_ACTIVITY_LOGGED = EventType.ACTIVITY_LOGGED


def _trigger_key(trigger: Any, event_type: str) -> Hashable:
    if trigger.type == "stage_entered":
        return ("to", trigger.stage_id)
    if trigger.type == "stage_exited":
        return ("from", trigger.stage_id)
    if trigger.type == "field_changed":
        return ("field", trigger.field)
    if trigger.type == "date_reached" and event_type == "FieldChanged":
        return ("field", trigger.field)
    return None


def _event_keys(event: Event) -> list[Hashable]:
    after, before = event.after or {}, event.before or {}
    if event.type is _STAGE_CHANGED:
        return [
            ("to", after.get("stage_id")),
            ("to", None),
            ("from", before.get("stage_id")),
            ("from", None),
        ]
    if event.type is _RECORD_CREATED:
        return [None, ("to", after.get("stage_id")), ("to", None)]
    if event.type is _FIELD_CHANGED:
        return [("field", event.data.get("field"))]
    return [None]


def matches(trigger: Any, event: Event) -> bool:
    """The full check of a candidate trigger against an event."""
    after, before, data = event.after or {}, event.before or {}, event.data
    object_type = getattr(trigger, "object_type", None)
    if object_type is not None and event.object_type != object_type.value:
        return False
    match trigger.type:
        case "record_created":
            return event.type is _RECORD_CREATED and _same(
                trigger.pipeline_id, after.get("pipeline_id")
            )
        case "stage_entered":
            if event.type is _RECORD_CREATED:
                previous = None
            elif event.type is _STAGE_CHANGED:
                previous = before.get("stage_id")
            else:
                return False
            return (
                after.get("stage_id") is not None
                and _same(trigger.stage_id, after.get("stage_id"))
                and _same(trigger.pipeline_id, after.get("pipeline_id"))
                and _same(trigger.from_stage_id, previous)
            )
        case "stage_exited":
            return (
                event.type is _STAGE_CHANGED
                and before.get("stage_id") is not None
                and _same(trigger.stage_id, before.get("stage_id"))
                and _same(trigger.pipeline_id, before.get("pipeline_id"))
                and _same(trigger.to_stage_id, after.get("stage_id"))
            )
        case "field_changed":
            name = data.get("field")
            return (
                event.type is _FIELD_CHANGED
                and name == trigger.field
                and _same(trigger.to, after.get(name))
                and _same(trigger.from_, before.get(name))
            )
        case "activity_logged":
            return (
                event.type is _ACTIVITY_LOGGED
                and _same(trigger.activity_type and trigger.activity_type.value, after.get("type"))
                and _same(trigger.outcome, after.get("outcome"))
                and _same(trigger.direction and trigger.direction.value, after.get("direction"))
            )
        case "message_received":
            return _same(trigger.channel, data.get("channel"))
        case "substate_opened" | "substate_closed":
            return _same(trigger.opportunity_type, data.get("opportunity_type")) and _same(
                trigger.substate, data.get("substate")
            )
        case "lifecycle_changed":
            if not trigger.include_sync and event.actor.source.value == "sync":
                return False
            to, wanted = data.get("to_stage_id"), trigger.to_lifecycle_stage_ids
            if wanted is not None:
                if to is None or (to not in wanted and to != trigger.to_lifecycle_stage_id):
                    return False  # a cleared stage is no stage entered
            elif not _same(trigger.to_lifecycle_stage_id, to):
                return False
            return _same(trigger.from_lifecycle_stage_id, data.get("from_stage_id"))
        case "date_reached":
            return date_value(trigger, event) is not None
        case "signature_completed" | "signature_declined":
            return True  # the index already chose the event type
        case "lead_activity":
            return event.object_type == "lead" and not moments(event).isdisjoint(trigger.moments)
        case "lead_disqualified":
            return not trigger.reasons or data.get("reason") in trigger.reasons
    return False


def date_value(trigger: Any, event: Event) -> Any:
    """The date a date_reached trigger arms on, when the event sets one."""
    after = event.after or {}
    if event.type is _RECORD_CREATED:
        return (after.get("fields") or {}).get(trigger.field)
    if event.type is _FIELD_CHANGED and event.data.get("field") == trigger.field:
        return after.get(trigger.field)
    return None


def _same(wanted: Any, actual: Any) -> bool:
    """A trigger setting left empty matches anything."""
    return wanted is None or wanted == actual

"""Which triggers an event fires, including those whose events later features emit."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import TypeAdapter

from stageflow.automation.definitions import Definition
from stageflow.automation.graph import compile_graph
from stageflow.automation.matching import Entry, TriggerIndex, matches
from stageflow.automation.triggers import Trigger
from stageflow.domain.events import Actor, ActorKind, Event, EventType, Source

T0 = datetime(2026, 1, 1, tzinfo=UTC)
USER = Actor(kind=ActorKind.USER, source=Source.API, id=1, user_id=1)
SYNC = Actor(kind=ActorKind.SYNC, source=Source.SYNC)
trigger_of = TypeAdapter(Trigger).validate_python


def event(
    type_: EventType,
    object_type: str = "deal",
    *,
    before: Any = None,
    after: Any = None,
    data: Any = None,
    actor: Actor = USER,
) -> Event:
    return Event(
        type_,
        1,
        actor,
        T0,
        record_id=7,
        object_type=object_type,
        before=before,
        after=after,
        data=data or {},
    )


STAGE = event(
    EventType.STAGE_CHANGED,
    before={"pipeline_id": 1, "stage_id": 10},
    after={"pipeline_id": 1, "stage_id": 11},
)


@pytest.mark.parametrize(
    ("trigger", "evt", "fires"),
    [
        ({"type": "stage_entered", "object_type": "deal", "stage_id": 11}, STAGE, True),
        ({"type": "stage_entered", "object_type": "deal", "stage_id": 10}, STAGE, False),
        ({"type": "stage_entered", "object_type": "lead", "stage_id": 11}, STAGE, False),
        ({"type": "stage_entered", "object_type": "deal", "from_stage_id": 9}, STAGE, False),
        ({"type": "stage_exited", "object_type": "deal", "stage_id": 10}, STAGE, True),
        (
            {"type": "stage_exited", "object_type": "deal", "stage_id": 10, "to_stage_id": 12},
            STAGE,
            False,
        ),
        (
            {"type": "stage_entered", "object_type": "deal", "stage_id": 11},
            event(EventType.RECORD_CREATED, after={"stage_id": 11, "pipeline_id": 1, "fields": {}}),
            True,
        ),
        (
            {"type": "field_changed", "object_type": "deal", "field": "amount", "to": 5},
            event(
                EventType.FIELD_CHANGED,
                before={"amount": 1},
                after={"amount": 5},
                data={"field": "amount"},
            ),
            True,
        ),
        (
            {"type": "field_changed", "object_type": "deal", "field": "amount", "from": 2},
            event(
                EventType.FIELD_CHANGED,
                before={"amount": 1},
                after={"amount": 5},
                data={"field": "amount"},
            ),
            False,
        ),
        (
            {"type": "activity_logged", "activity_type": "call", "outcome": "connected"},
            event(
                EventType.ACTIVITY_LOGGED, "lead", after={"type": "call", "outcome": "connected"}
            ),
            True,
        ),
        (
            {"type": "activity_logged", "activity_type": "call", "outcome": "connected"},
            event(EventType.ACTIVITY_LOGGED, "lead", after={"type": "call", "outcome": "busy"}),
            False,
        ),
        (
            {"type": "lead_disqualified", "reasons": ["no_budget"]},
            event(EventType.FIELD_CHANGED, "lead", data={"reason": "no_budget"}),
            True,
        ),
        (
            {"type": "lifecycle_changed", "to_lifecycle_stage_id": 4, "include_sync": False},
            event(EventType.LIFECYCLE_CHANGED, "contact", data={"to_stage_id": 4}, actor=SYNC),
            False,
        ),
        (
            {"type": "lifecycle_changed", "to_lifecycle_stage_id": 4},
            event(EventType.LIFECYCLE_CHANGED, "contact", data={"to_stage_id": 4}, actor=SYNC),
            True,
        ),
        (
            {"type": "substate_opened", "substate": "Pending documentation"},
            event(
                EventType.FIELD_CHANGED, "opportunity", data={"substate": "Pending documentation"}
            ),
            True,
        ),
        (
            {"type": "date_reached", "object_type": "deal", "field": "close_date"},
            event(
                EventType.FIELD_CHANGED,
                after={"close_date": "2026-05-01"},
                data={"field": "close_date"},
            ),
            True,
        ),
    ],
)
def test_matches(trigger: dict[str, Any], evt: Event, fires: bool) -> None:
    assert matches(trigger_of(trigger), evt) is fires


def test_index_finds_only_automations_listening_on_the_stage() -> None:
    def entry(i: int, stage: int) -> Entry:
        definition = Definition.model_validate(
            {
                "trigger": {"type": "stage_entered", "object_type": "deal", "stage_id": stage},
                "steps": [{"id": "x", "type": "end"}],
            }
        )
        return Entry(i, i, definition, compile_graph(definition))

    index = TriggerIndex.build(1, [entry(i, 99) for i in range(10_000)] + [entry(-1, 11)])
    assert [e.automation_id for e in index.candidates(STAGE)] == [-1]

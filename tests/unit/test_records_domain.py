"""Records record their own events; nothing here touches storage."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from stageflow.domain.errors import ValidationFailed
from stageflow.domain.events import Actor, ActorKind, EventType, Source
from stageflow.domain.records import ObjectType, Record, display_name

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = datetime(2026, 1, 2, tzinfo=UTC)
ACTOR = Actor(kind=ActorKind.USER, id=1, user_id=1, source=Source.API)


def _deal() -> Record:
    return Record(
        workspace_id=1,
        object_type=ObjectType.DEAL,
        name="D",
        created_at=T0,
        updated_at=T0,
        pipeline_id=1,
        stage_id=1,
        fields={"amount": 1},
        id=5,
    )


def test_change_writes_one_event_per_changed_field_and_bumps_version() -> None:
    deal = _deal()
    changed = deal.change({"name": "D2", "fields": {"amount": 1, "currency": "EUR"}}, ACTOR, T1)
    assert changed == ["name", "fields.currency"]
    assert [e.type for e in deal.events] == [EventType.FIELD_CHANGED] * 2
    assert deal.events[1].before == {"currency": None}
    assert deal.events[1].after == {"currency": "EUR"}
    assert deal.version == 2 and deal.updated_at == T1


def test_no_op_change_writes_nothing() -> None:
    deal = _deal()
    assert deal.change({"fields": {"amount": 1}}, ACTOR, T1) == []
    assert deal.events == [] and deal.version == 1


def test_move_records_from_and_to() -> None:
    deal = _deal()
    assert deal.move(1, 2, ACTOR, T1, stage_kind="won", from_stage_kind="open")
    event = deal.events[0]
    assert event.type is EventType.STAGE_CHANGED
    assert event.before == {"pipeline_id": 1, "stage_id": 1, "stage_kind": "open"}
    assert event.after == {"pipeline_id": 1, "stage_id": 2, "stage_kind": "won"}
    assert deal.stage_entered_at == T1
    assert not deal.move(1, 2, ACTOR, T1, stage_kind="won", from_stage_kind="won")


def test_contact_names() -> None:
    assert display_name(ObjectType.CONTACT, None, {"first_name": "Ada"}) == "Ada"
    assert display_name(ObjectType.CONTACT, None, {"email": "a@b.c"}) == "a@b.c"
    with pytest.raises(ValidationFailed):
        display_name(ObjectType.CONTACT, None, {})
    with pytest.raises(ValidationFailed):
        display_name(ObjectType.DEAL, None, {})
    with pytest.raises(ValidationFailed):
        display_name(ObjectType.DEAL, "   ", {})

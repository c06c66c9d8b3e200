"""How a run's page words times, triggers and step data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from stageflow.entrypoints.web.run_view import pairs, trigger_text, until_text, value_text

NOW = datetime(2026, 12, 4, 14, 0, tzinfo=UTC)
ROME = ZoneInfo("Europe/Rome")


def test_a_wake_time_reads_in_the_workspace_zone_with_how_far_it_is() -> None:
    assert until_text(NOW + timedelta(days=7), ROME, NOW) == "until 11 Dec 15:00 (in 7 days)"
    assert until_text(NOW + timedelta(hours=3), ROME, NOW) == "until 18:00 (in 3 h)"
    assert until_text(NOW - timedelta(minutes=1), ROME, NOW) == "until 14:59 (due now)"
    assert until_text(None, ROME, NOW) == ""


def test_step_data_reads_as_key_value_pairs_not_json() -> None:
    assert value_text(None) == "—" and value_text(True) == "yes"
    assert value_text({"probability": 20, "lead_status": "open"}) == (
        "Probability: 20\nLead status: open"
    )
    assert value_text(["a", "b"]) == "a, b"
    found = pairs({"fields": {"probability": 20}, "body": "x" * 200})
    assert [(p.key, p.long) for p in found] == [("Fields", False), ("Body", True)]
    assert pairs(None) == [] and pairs("done")[0].text == "done"


def test_what_started_a_run_in_words() -> None:
    stages = {1: "New", 2: "Proposal"}
    users = {7: "Demo Owner"}
    moved = {"event_type": "StageChanged", "from_stage_id": 1, "to_stage_id": 2, "event_id": 12}
    assert trigger_text(moved, users, stages) == "Stage changed: New → Proposal (event #12)"
    created = {"event_type": "RecordCreated", "to_stage_id": 1, "event_id": 3}
    assert trigger_text(created, users, stages) == "Record created: into New (event #3)"
    changed = {"event_type": "FieldChanged", "field": "amount", "old_value": 5, "new_value": 9}
    assert trigger_text(changed, users, stages) == "Field changed: Amount changed from 5 to 9"
    by_hand = {"event_type": "ManualStart", "by": 7}
    assert trigger_text(by_hand, users, stages) == "Started by hand by Demo Owner"

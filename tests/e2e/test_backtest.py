"""Backtesting a draft through the API: stored events replayed against a definition, the
record as it was then, delays and waits in virtual time, nothing executed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from stageflow.domain.clock import VirtualClock
from tests.conftest import Api


def _stages(api: Api) -> dict[str, int]:
    pipeline = next(p for p in api.get("/pipelines?object_type=deal") if p["is_default"])
    return {s["name"]: s["id"] for s in pipeline["stages"]}


def _follow_up(conditions: dict[str, Any] | None = None, *, wait: str = "P7D") -> dict[str, Any]:
    """New deal over 1,000 → a task at once → wait for a stage change up to ``wait`` →
    on timeout a second task."""
    return {
        "trigger": {"type": "record_created", "object_type": "deal"},
        "conditions": conditions or {"field": "amount", "op": "gt", "value": 1000},
        "steps": [
            {
                "id": "call_task",
                "type": "action",
                "action": "create_task",
                "settings": {"subject": "Call about {{ record.name }}"},
            },
            {
                "id": "wait_move",
                "type": "wait_until",
                "event": "StageChanged",
                "timeout": wait,
                "on_timeout": [
                    {
                        "id": "chase",
                        "type": "action",
                        "action": "create_task",
                        "settings": {"subject": "Chase {{ record.name }}"},
                    }
                ],
            },
        ],
    }


def _draft(api: Api, definition: dict[str, Any]) -> int:
    created = api.post("/automations", {"name": "Big deal follow-up", "definition": definition})
    assert created["status"] != "active" and not created["versions"]
    return int(created["id"])


def test_a_draft_is_replayed_on_stored_events_and_nothing_runs(
    api: Api, clock: VirtualClock
) -> None:
    stages = _stages(api)
    small = api.post("/deals", {"name": "Small roof", "fields": {"amount": 500}})
    clock.advance(timedelta(days=1))
    moved = api.post("/deals", {"name": "Moved roof", "fields": {"amount": 2000}})
    clock.advance(timedelta(days=2))
    api.post(f"/deals/{moved['id']}/move", {"stage_id": stages["Proposal"]}, expect=200)
    clock.advance(timedelta(days=1))
    api.post("/deals", {"name": "Quiet roof", "fields": {"amount": 5000}})
    clock.advance(timedelta(days=10))
    automation = _draft(api, _follow_up())
    tasks_before = api.get("/activities")["items"]

    report = api.post(f"/automations/{automation}/backtest", {"days": 30}, expect=200)

    assert report["definition_source"] == "draft"
    assert report["enrolled"] == 2 and report["enrolled_by_type"] == {"deal": 2}
    (skip,) = report["skipped"]
    assert skip["reason"] == "conditions_not_met" and skip["count"] == 1
    assert "amount" in skip["detail"]
    runs = {r["record_name"]: r for r in report["runs"]}
    assert set(runs) == {"Moved roof", "Quiet roof"}
    # The moved deal's wait is satisfied by its stage change two days later.
    moved_steps = [(s["step_id"], s["status"]) for s in runs["Moved roof"]["steps"]]
    assert moved_steps == [("call_task", "completed"), ("wait_move", "completed")]
    assert runs["Moved roof"]["status"] == "completed"
    wait_done = runs["Moved roof"]["steps"][1]
    assert wait_done["output"]["event"] == "StageChanged"
    # The quiet one timed out after 7 days (in the past): the chase task would be made.
    quiet = [s["step_id"] for s in runs["Quiet roof"]["steps"]]
    assert quiet == ["call_task", "wait_move", "chase"]
    assert report["actions"] == {"create_task": 3}
    assert report["action_runs"] == {"create_task": 2}
    assert report["summary"][0].startswith("Would have enrolled 2 deals")
    assert any("1 skipped" in line and "amount" in line for line in report["summary"])
    # Nothing ran: no task, no run.
    assert api.get("/activities")["items"] == tasks_before
    assert api.get(f"/runs?automation={automation}")["items"] == []
    assert small["id"] not in {r["record_id"] for r in report["runs"]}


def test_conditions_see_the_record_as_it_was_when_the_event_happened(
    api: Api, clock: VirtualClock
) -> None:
    deal = api.post("/deals", {"name": "Grew later", "fields": {"amount": 500}})
    clock.advance(timedelta(days=1))
    api.patch(f"/deals/{deal['id']}", {"fields": {"amount": 9000}, "version": deal["version"]})
    automation = _draft(api, _follow_up())

    report = api.post(f"/automations/{automation}/backtest", {"days": 30}, expect=200)

    # Today the deal is over 1,000, but when it was created it was not.
    assert report["enrolled"] == 0
    assert report["skipped"][0]["reason"] == "conditions_not_met"


def test_a_wait_beyond_now_is_reported_as_still_waiting(api: Api, clock: VirtualClock) -> None:
    api.post("/deals", {"name": "Fresh roof", "fields": {"amount": 5000}})
    clock.advance(timedelta(days=2))
    automation = _draft(api, _follow_up(wait="P7D"))

    report = api.post(f"/automations/{automation}/backtest", {"days": 30}, expect=200)

    (run,) = report["runs"]
    assert run["status"] == "waiting" and run["waiting_until"] is not None
    assert [s["step_id"] for s in run["steps"]] == ["call_task"]
    assert report["outcomes"] == {"waiting": 1}


def test_delays_resolve_in_virtual_time_and_later_steps_are_marked_future(
    api: Api, clock: VirtualClock
) -> None:
    won = _stages(api)["Closed Won"]
    deal = api.post("/deals", {"name": "Won roof"})
    api.post(f"/deals/{deal['id']}/move", {"stage_id": won}, expect=200)
    clock.advance(timedelta(days=3))
    definition = {
        "trigger": {"type": "stage_entered", "object_type": "deal", "stage_id": won},
        "steps": [
            {"id": "six_months", "type": "delay", "duration": "P6M"},
            {
                "id": "repeat",
                "type": "action",
                "action": "create_record",
                "settings": {"object_type": "lead", "name": "Repeat: {{ record.name }}"},
            },
        ],
    }
    automation = _draft(api, definition)

    report = api.post(f"/automations/{automation}/backtest", {"days": 7}, expect=200)

    (run,) = report["runs"]
    assert run["status"] == "waiting"
    repeat = run["steps"][-1]
    assert repeat["step_id"] == "repeat" and repeat["future"] is True
    assert repeat["action"] == "create_record"
    assert report["actions"] == {"create_record": 1}
    assert not [ld for ld in api.get("/leads")["items"] if ld["name"] == "Repeat: Won roof"]


def test_a_given_definition_is_backtested_instead_of_the_draft(api: Api) -> None:
    api.post("/deals", {"name": "Small one", "fields": {"amount": 50}})
    automation = _draft(api, _follow_up())
    everything = _follow_up({"field": "amount", "op": "gt", "value": 10})

    report = api.post(
        f"/automations/{automation}/backtest", {"days": 1, "definition": everything}, expect=200
    )

    assert report["definition_source"] == "given" and report["enrolled"] == 1


def test_bad_backtests_are_refused_with_reasons(api: Api, tenant: Any) -> None:
    automation = _draft(api, _follow_up())
    api.post(f"/automations/{automation}/backtest", {"days": 0}, expect=422)
    api.post("/automations/999999/backtest", {"days": 3}, expect=404)
    broken = {"trigger": {"type": "record_created", "object_type": "deal"}, "steps": []}
    api.post(f"/automations/{automation}/backtest", {"definition": broken}, expect=422)
    agent = api.post("/users", {"email": "a@example.com", "name": "Agent A", "role": "agent"})
    token = api.post("/tokens", {"name": "agent", "user_id": agent["id"]})["token"]
    api.as_token(token).post(f"/automations/{automation}/backtest", {"days": 3}, expect=403)

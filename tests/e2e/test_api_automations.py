"""Automations, runs and the virtual clock through the REST API."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api


def _deal_stage(api: Api, name: str) -> int:
    pipeline = next(p for p in api.get("/pipelines?object_type=deal") if p["is_default"])
    return next(s["id"] for s in pipeline["stages"] if s["name"] == name)


def _repeat_lead_rule(won: int) -> dict[str, Any]:
    return {
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


def test_six_month_rule_rehearsed_through_the_api(api: Api) -> None:
    won = _deal_stage(api, "Closed Won")
    automation = api.post(
        "/automations",
        {"name": "Repeat sale", "definition": _repeat_lead_rule(won), "publish": True},
    )
    assert automation["status"] == "active" and len(automation["versions"]) == 1
    deal = api.post("/deals", {"name": "Roof"})
    api.post(f"/deals/{deal['id']}/move", {"stage_id": won}, expect=200)

    api.post("/admin/clock/advance", {"by": "P5M"}, expect=200)
    assert not [ld for ld in api.get("/leads")["items"] if ld["name"] == "Repeat: Roof"]
    result = api.post("/admin/clock/advance", {"by": "P1M"}, expect=200)
    assert result["runs_advanced"] >= 1
    assert [ld["name"] for ld in api.get("/leads")["items"]] == ["Repeat: Roof"]

    (run,) = api.get(f"/runs?record={deal['id']}")["items"]
    detail = api.get(f"/runs/{run['id']}")
    assert detail["status"] == "completed"
    assert [s["step_id"] for s in detail["steps"]] == ["six_months", "repeat"]
    assert detail["trigger"]["event_type"] == "StageChanged"


@pytest.mark.parametrize(
    ("definition", "field", "words"),
    [
        (
            {
                "trigger": {"type": "record_created", "object_type": "deal"},
                "steps": [
                    {
                        "id": "s",
                        "type": "action",
                        "action": "set_field",
                        "settings": {"fields": {"colour": "red"}},
                    }
                ],
            },
            "steps.s.fields.colour",
            "no field 'colour'",
        ),
        (
            {
                "trigger": {"type": "record_created", "object_type": "deal"},
                "steps": [
                    {
                        "id": "t",
                        "type": "action",
                        "action": "create_activity",
                        "settings": {"subject": "Call {{ record.nmae }}"},
                    }
                ],
            },
            "steps.t",
            "record has no field 'nmae'",
        ),
        (
            {
                "trigger": {"type": "record_created", "object_type": "deal"},
                "steps": [
                    {
                        "id": "m",
                        "type": "action",
                        "action": "move_stage",
                        "settings": {"stage_id": 999999},
                    }
                ],
            },
            "steps.m.stage_id",
            "no stage 999999",
        ),
        (
            {
                "trigger": {"type": "stage_entered", "object_type": "deal", "stage_id": 999999},
                "steps": [{"id": "x", "type": "end"}],
            },
            "trigger.stage_id",
            "no stage 999999",
        ),
        (
            {
                "trigger": {"type": "record_created", "object_type": "deal"},
                "conditions": {"field": "budget", "op": "gt", "value": 1},
                "steps": [{"id": "x", "type": "end"}],
            },
            "conditions",
            "unknown field 'budget'",
        ),
        (
            {
                "trigger": {"type": "record_created", "object_type": "deal"},
                "steps": [{"id": "d", "type": "delay", "duration": "seven days"}],
            },
            "steps.d.duration",
            "not an ISO 8601 duration",
        ),
        (
            {
                "trigger": {"type": "record_created", "object_type": "deal"},
                "steps": [{"id": "a", "type": "action", "action": "teleport"}],
            },
            "steps.a.action",
            "unknown action 'teleport'",
        ),
        (
            {
                "trigger": {"type": "record_created", "object_type": "deal"},
                "steps": [{"id": "x", "type": "end"}, {"id": "x", "type": "end"}],
            },
            "steps.x",
            "two steps have the id 'x'",
        ),
        (
            {
                "trigger": {"type": "record_created", "object_type": "deal"},
                "steps": [
                    {
                        "id": "i",
                        "type": "action",
                        "action": "create_activity",
                        "settings": {"subject": "{{ ''.__class__.__mro__ }}"},
                    }
                ],
            },
            "steps.i",
            "cannot be used in a template",
        ),
    ],
)
def test_bad_definitions_are_refused_naming_step_and_field(
    api: Api, definition: dict[str, Any], field: str, words: str
) -> None:
    error = api.post("/automations", {"name": "bad", "definition": definition}, expect=422)
    assert error["field"] == field, error
    assert words in error["message"]
    assert api.get("/automations?kind=workflow")["items"] == []


def test_drafts_publish_as_new_versions(api: Api) -> None:
    definition = {
        "trigger": {"type": "record_created", "object_type": "deal"},
        "steps": [
            {
                "id": "s",
                "type": "action",
                "action": "set_field",
                "settings": {"fields": {"currency": "EUR"}},
            }
        ],
    }
    created = api.post("/automations", {"name": "Currency", "definition": definition})
    assert created["status"] == "draft" and created["active_version_id"] is None
    api.post("/deals", {"name": "Before publishing"})
    published = api.post(f"/automations/{created['id']}/publish", expect=200)
    definition["steps"][0]["settings"]["fields"]["currency"] = "PLN"
    api.patch(
        f"/automations/{created['id']}", {"definition": definition, "version": published["version"]}
    )
    stale = api.patch(
        f"/automations/{created['id']}", {"name": "x", "version": published["version"]}, expect=409
    )
    assert stale["code"] == "stale_version"
    again = api.post(f"/automations/{created['id']}/publish", expect=200)
    assert [v["number"] for v in again["versions"]] == [1, 2]
    v1 = api.get(f"/automations/{created['id']}/versions/1")
    assert v1["definition"]["steps"][0]["settings"]["fields"]["currency"] == "EUR"
    paused = api.post(f"/automations/{created['id']}/pause", expect=200)
    assert paused["status"] == "paused"


def test_why_nothing_ran_and_manual_start(api: Api) -> None:
    definition = {
        "trigger": {"type": "record_created", "object_type": "deal"},
        "conditions": {"field": "amount", "op": "gt", "value": 100},
        "steps": [
            {
                "id": "s",
                "type": "action",
                "action": "set_field",
                "settings": {"fields": {"probability": 50}},
            }
        ],
    }
    automation = api.post(
        "/automations", {"name": "Big deals", "definition": definition, "publish": True}
    )
    deal = api.post("/deals", {"name": "Tiny", "fields": {"amount": 1}})
    (skip,) = api.get(f"/runs/skipped?record={deal['id']}")
    assert skip["reason"] == "conditions_not_met"
    assert skip["automation_id"] == automation["id"]
    started = api.post(
        f"/automations/{automation['id']}/start", {"record_ids": [deal["id"]]}, expect=200
    )
    assert started == {"started": 1}
    api.post("/admin/clock/advance", {"by": "PT1S"}, expect=200)
    assert api.get(f"/deals/{deal['id']}")["fields"]["probability"] == 50
    segment = {"field": "name", "op": "eq", "value": "Tiny"}
    assert api.post(f"/automations/{automation['id']}/start", {"segment": segment}, expect=200) == {
        "started": 1
    }


def test_agents_cannot_edit_automations_or_move_the_clock(api: Api) -> None:
    agent = api.post("/users", {"email": "agent@example.com", "name": "Agent", "role": "agent"})
    token = api.post("/tokens", {"name": "agent", "user_id": agent["id"]})["token"]
    as_agent = api.as_token(token)
    definition = {
        "trigger": {"type": "record_created", "object_type": "deal"},
        "steps": [{"id": "x", "type": "end"}],
    }
    denied = as_agent.post("/automations", {"name": "x", "definition": definition}, expect=403)
    assert "automations.edit" in denied["message"]
    as_agent.post("/admin/clock/advance", {"by": "P1D"}, expect=403)


def test_clock_endpoint_answers_with_the_virtual_time(api: Api) -> None:
    before = api.get("/admin/clock")
    assert before["virtual"] is True
    after = api.post("/admin/clock/advance", {"to": "2030-01-01T00:00:00Z"}, expect=200)
    assert after["now"].startswith("2030-01-01T00:00:00")
    error = api.post("/admin/clock/advance", {"to": "2029-01-01T00:00:00Z"}, expect=422)
    assert "backwards" in error["message"]
    api.post("/admin/clock/advance", {"by": "P1D", "to": "2031-01-01T00:00:00Z"}, expect=422)


def test_actions_list_their_settings_schema(api: Api) -> None:
    actions = api.get("/actions")
    assert {"set_field", "move_stage", "create_record", "create_activity"} <= set(actions)
    assert "subject" in actions["create_activity"]["settings"]["properties"]


def test_the_real_clock_cannot_be_moved(app: Any, tenant: Any) -> None:
    from fastapi.testclient import TestClient

    from stageflow.bootstrap import App
    from stageflow.domain.clock import SystemClock
    from stageflow.entrypoints.api.app import create_app
    from tests.conftest import Api

    real = App(settings=app.settings, engine=app.engine, clock=SystemClock())
    with TestClient(create_app(real)) as client:
        api = Api(client, tenant.token)
        assert api.get("/admin/clock")["virtual"] is False
        error = api.post("/admin/clock/advance", {"by": "P1D"}, expect=409)
        assert "--virtual-clock" in error["message"]

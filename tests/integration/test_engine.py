"""The engine end to end on SQLite and PostgreSQL, with the virtual clock (issue: engine)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from stageflow.bootstrap import App
from tests.conftest import Tenant
from tests.integration.engine_helpers import Engine


@pytest.fixture
def engine(app: App, tenant: Tenant) -> Engine:
    return Engine(app, tenant)


def set_field(step_id: str, **fields: object) -> dict[str, object]:
    return {"id": step_id, "type": "action", "action": "set_field", "settings": {"fields": fields}}


BUSINESS_PROCESS = {
    "trigger": {"type": "record_created", "object_type": "lead"},
    "steps": [
        {
            "id": "by_source",
            "type": "branch",
            "branches": [
                {
                    "name": "web form",
                    "condition": {"field": "source", "op": "eq", "value": "web_form"},
                    "steps": [set_field("auto", status="auto_processing")],
                },
                {
                    "name": "message",
                    "condition": {"field": "name", "op": "contains", "value": "message"},
                    "steps": [set_field("msg", status="in_progress")],
                },
            ],
        },
        {"id": "week", "type": "delay", "duration": "P7D"},
        {
            "id": "changed",
            "type": "branch",
            "branches": [
                {
                    "condition": {"field": "status", "op": "neq", "value": "auto_processing"},
                    "steps": [{"id": "stop", "type": "end", "reason": "the lead was handled"}],
                }
            ],
        },
        {
            "id": "follow_up",
            "type": "action",
            "action": "create_activity",
            "settings": {
                "type": "task",
                "subject": "Follow up {{ record.name }}",
                "due_at": "tomorrow 14:00",
            },
        },
    ],
}


def test_business_process_follow_up_after_seven_days(engine: Engine) -> None:
    automation = engine.publish(BUSINESS_PROCESS)
    lead = engine.create("lead", name="Roof enquiry", source="web_form")
    engine.run_due()
    assert engine.record(lead).fields["status"] == "auto_processing"
    (run,) = engine.runs(automation)
    assert run.status == "waiting"
    assert run.wake_at == engine.clock.now() + timedelta(days=7)

    engine.advance("P6D")
    assert engine.runs(automation)[0].status == "waiting"
    engine.advance("P1D")
    (run,) = engine.runs(automation)
    assert run.status == "completed"
    steps = [s.step_id for s in engine.steps(run.id)]
    assert steps == ["by_source", "auto", "week", "changed", "follow_up"]
    follow_up = engine.steps(run.id)[-1].output
    assert follow_up["due_at"].endswith("14:00:00+00:00")


def test_business_process_stops_if_status_changed(engine: Engine) -> None:
    automation = engine.publish(BUSINESS_PROCESS)
    lead = engine.create("lead", name="Roof enquiry", source="web_form")
    engine.run_due()
    engine.advance("P2D")
    engine.update(lead, fields={"status": "in_progress"})
    engine.advance("P5D")
    (run,) = engine.runs(automation)
    assert run.status == "cancelled" or run.status == "completed"
    steps = [s.step_id for s in engine.steps(run.id)]
    assert steps[-1] == "stop" and "follow_up" not in steps


def test_while_loop_with_counter_runs_exactly_n_times(engine: Engine) -> None:
    automation = engine.publish(
        {
            "trigger": {"type": "record_created", "object_type": "deal"},
            "variables": {"i": 0},
            "steps": [
                {
                    "id": "loop",
                    "type": "loop",
                    "while": {"field": "vars.i", "op": "lt", "value": 4},
                    "steps": [
                        {"id": "inc", "type": "set_variable", "variable": "i", "increment": 1},
                        set_field("write", probability="{{ vars.i }}"),
                    ],
                }
            ],
        }
    )
    deal = engine.create("deal", name="Loop")
    engine.run_due()
    (run,) = engine.runs(automation)
    assert run.status == "completed" and run.state["variables"]["i"] == 4
    writes = [s for s in engine.steps(run.id) if s.step_id == "write"]
    assert [s.iteration for s in writes] == [f"loop:{n}" for n in range(1, 5)]
    assert engine.record(deal).fields["probability"] == 4

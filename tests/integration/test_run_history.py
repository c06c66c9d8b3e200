"""The reads the run screens use, on SQLite and PostgreSQL: runs per day counted by the
database in the workspace's zone, the run list with names and an agent's view of it, what a
clock advance fired, and skips in sentences."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from stageflow.bootstrap import App
from stageflow.domain.errors import PermissionDenied
from stageflow.domain.users import Principal, Role
from stageflow.services.engine import run_history, runs
from tests.conftest import Api, Tenant
from tests.integration.engine_helpers import Engine

SET_PROBABILITY = {
    "trigger": {"type": "record_created", "object_type": "deal"},
    "conditions": {"field": "amount", "op": "gt", "value": 1000},
    "steps": [
        {
            "id": "probability",
            "name": "Set probability",
            "type": "action",
            "action": "set_field",
            "settings": {"fields": {"probability": 20}},
        },
        {"id": "wait", "name": "Wait a week", "type": "delay", "duration": "P7D"},
        {
            "id": "raise",
            "type": "action",
            "action": "set_field",
            "settings": {"fields": {"probability": 60}},
        },
    ],
}


@pytest.fixture
def crm(app: App, tenant: Tenant) -> Engine:
    return Engine(app, tenant)


def _agent(api: Api, tenant: Tenant) -> Principal:
    body = {"email": "agent@example.com", "name": "Agent A", "role": "agent"}
    user_id = api.post("/users", body)["id"]
    return Principal(workspace_id=tenant.id, user_id=user_id, role=Role.AGENT)


def test_runs_per_day_fall_on_the_workspace_zones_days_even_a_half_hour_zone(
    app: App, crm: Engine, tenant: Tenant
) -> None:
    crm.publish(
        {
            "trigger": {"type": "record_created", "object_type": "deal"},
            "steps": [{"id": "s", "type": "action", "action": "set_field",
                       "settings": {"fields": {"probability": 5}}}],
        }
    )  # fmt: skip
    kolkata = ZoneInfo("Asia/Kolkata")  # UTC+05:30: its midnight is 18:30 UTC
    local_today = crm.clock.now().astimezone(kolkata).date()
    midnight = datetime.combine(local_today + timedelta(days=1), time.min, kolkata)
    crm.advance_delta(midnight - timedelta(minutes=10) - crm.clock.now())
    crm.create("deal", name="Before midnight")
    crm.run_due()
    crm.advance_delta(timedelta(minutes=20))
    crm.create("deal", name="After midnight")
    crm.run_due()
    with app.uow(read_only=True) as uow:
        local = runs.runs_per_day(uow, tenant.owner, days=3, zone=kolkata)
        utc = runs.runs_per_day(uow, tenant.owner, days=3, zone=UTC)
        one = runs.runs_per_day(uow, tenant.owner, days=1, zone=kolkata)
    assert [d.day for d in local][-1] == local_today + timedelta(days=1)
    assert [d.completed for d in local] == [0, 1, 1]
    assert [d.completed for d in utc] == [0, 0, 2]  # both on one UTC day
    assert [(d.day, d.completed) for d in one] == [(local_today + timedelta(days=1), 1)]


def test_the_run_list_has_names_and_an_agent_sees_only_their_records_runs(
    app: App, api: Api, crm: Engine, tenant: Tenant
) -> None:
    automation_id = crm.publish(SET_PROBABILITY, name="Big deal follow-up")
    agent = _agent(api, tenant)
    mine = crm.create("deal", name="Agent's deal", owner_id=agent.user_id,
                      fields={"amount": 5000})  # fmt: skip
    crm.create("deal", name="Owner's deal", fields={"amount": 5000})
    crm.create("deal", name="Small deal", fields={"amount": 10})
    crm.run_due()
    with app.uow(read_only=True) as uow:
        everything = run_history.list_summaries(uow, tenant.owner)
        as_agent = run_history.list_summaries(uow, agent)
        waiting = run_history.list_summaries(uow, tenant.owner, status="waiting")
        later = run_history.list_summaries(
            uow, tenant.owner, started_from=crm.clock.now() + timedelta(seconds=1)
        )
        skips = run_history.skipped(uow, tenant.owner, None)
        with pytest.raises(PermissionDenied):
            run_history.skipped(uow, agent, None)
    assert [r.record.name for r in everything.items if r.record] == ["Owner's deal", "Agent's deal"]
    first = everything.items[0]
    assert first.automation.label == "Workflow 'Big deal follow-up' (version 1)"
    assert first.automation.id == automation_id
    assert first.status == "waiting" and first.step is not None
    assert first.step.label == "Wait a week (delay)"
    assert first.record is not None and first.record.path.startswith("/deals/")
    assert [r.record.id for r in as_agent.items if r.record] == [mine]
    assert len(waiting.items) == 2 and later.items == []
    (skip,) = skips
    assert skip.record is not None and skip.record.name == "Small deal"
    assert skip.sentence == "Amount was 10; the automation needs it to be more than 1000."


def test_what_a_clock_advance_fired(app: App, crm: Engine, tenant: Tenant) -> None:
    crm.publish(SET_PROBABILITY, name="Big deal follow-up")
    crm.create("deal", name="Waits", fields={"amount": 5000})
    crm.run_due()
    with app.uow(read_only=True) as uow:
        before = run_history.mark(uow)
    crm.advance("P1D")
    with app.uow(read_only=True) as uow:
        assert run_history.fired_since(uow, tenant.owner, before) == ([], 0)
        before = run_history.mark(uow)
    crm.create("deal", name="Starts", fields={"amount": 5000})
    crm.advance("P6D")  # "Waits" wakes a week after it started; "Starts" waits on
    with app.uow(read_only=True) as uow:
        fired, total = run_history.fired_since(uow, tenant.owner, before)
        detail = run_history.run_detail(uow, tenant.owner, fired[-1][0].id)
    assert total == 2
    assert [(r.record.name if r.record else None, r.status, new) for r, new in fired] == [
        ("Starts", "waiting", True),
        ("Waits", "completed", False),
    ]
    assert [info.label for _, info in detail.steps] == [
        "Set probability (set field)", "Wait a week (delay)", "Set field",
    ]  # fmt: skip

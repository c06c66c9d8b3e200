"""The reads the web app's inbox and dashboard use and the API does not offer as such: the
inbox's rows with their last message, won and lost of the last 30 days per pipeline, and
automation runs per day with the latest failures."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

import pytest
from pydantic import BaseModel

from stageflow.actions import registry
from stageflow.actions.ports import ActionContext
from stageflow.bootstrap import App
from stageflow.domain.errors import PermissionDenied, ValidationFailed
from stageflow.domain.lifecycle import ConversationStatus
from stageflow.domain.pipelines import StageKind
from stageflow.domain.records import ObjectType
from stageflow.domain.users import Principal, Role
from stageflow.services.crm import conversations
from stageflow.services.crm.pipelines import outcomes_since
from stageflow.services.engine import runs
from tests.conftest import Api, Tenant
from tests.integration.engine_helpers import Engine


class Refuse(BaseModel):
    reason: str


@registry.register("test_refuse", Refuse, description="Always fails, not retryable")
def refuse(ctx: ActionContext, settings: Refuse) -> dict[str, Any]:
    raise ValidationFailed(settings.reason)


@pytest.fixture
def crm(app: App, tenant: Tenant) -> Engine:
    return Engine(app, tenant)


def test_inbox_rows_carry_the_last_message_and_an_agent_sees_only_theirs(
    app: App, api: Api, tenant: Tenant
) -> None:
    body = {"channel": "email", "address": "ann@example.com", "text": "First"}
    first = api.post("/messages/inbound", body)
    api.post("/messages/inbound", {**body, "text": "Second, newer"})
    api.post("/messages/inbound", {**body, "address": "bob@example.com", "text": "Hey"})
    agent = api.post("/users", {"email": "agent@example.com", "name": "Agent A", "role": "agent"})[
        "id"
    ]
    api.patch(f"/contacts/{first['contact']['id']}", {"owner_id": agent})
    with app.uow(read_only=True) as uow:
        page = conversations.inbox(uow, tenant.owner, status=ConversationStatus.OPEN)
        as_agent = conversations.inbox(
            uow,
            Principal(workspace_id=tenant.id, user_id=agent, role=Role.AGENT),
            status=ConversationStatus.OPEN,
        )
        messages = conversations.messages(uow, tenant.owner, first["conversation"]["id"])
    by_name = {row.contact_name: row for row in page.items}
    assert by_name["ann@example.com"].last_message.text == "Second, newer"
    assert by_name["bob@example.com"].last_message.text == "Hey"
    assert [row.contact_name for row in as_agent.items] == ["ann@example.com"]
    assert [m.text for m in messages.items] == ["Second, newer", "First"]


def test_won_and_lost_count_what_entered_those_stages_in_the_window(
    app: App, crm: Engine, tenant: Tenant
) -> None:
    stages = crm.stages("deal")
    won = crm.create("deal", name="Won deal", fields={"amount": 1000, "currency": "EUR"})
    lost = crm.create("deal", name="Lost deal", fields={"amount": 300, "currency": "EUR"})
    crm.create("deal", name="Still open", fields={"amount": 50, "currency": "EUR"})
    crm.move(won, stages["Closed Won"])
    crm.move(lost, stages["Closed Lost"])

    def outcomes() -> dict[StageKind, Any]:
        with app.uow(read_only=True) as uow:
            pipeline = uow.pipelines.default_for(tenant.id, ObjectType.DEAL)
            assert pipeline is not None
            return outcomes_since(uow, tenant.owner, pipeline, uow.clock.now() - timedelta(days=30))

    now = outcomes()
    assert (now[StageKind.WON].count, now[StageKind.WON].amounts) == (1, {"EUR": 1000.0})
    assert (now[StageKind.LOST].count, now[StageKind.LOST].amounts) == (1, {"EUR": 300.0})
    crm.clock.advance(timedelta(days=31))
    later = outcomes()
    assert later[StageKind.WON].count == later[StageKind.LOST].count == 0


def test_runs_per_day_and_the_latest_failures(app: App, crm: Engine, tenant: Tenant) -> None:
    trigger = {"type": "record_created", "object_type": "deal"}
    crm.publish(
        {
            "trigger": trigger,
            "steps": [
                {
                    "id": "tag",
                    "type": "action",
                    "action": "set_field",
                    "settings": {"fields": {"currency": "EUR"}},
                }
            ],
        },
        name="Set currency",
    )
    crm.publish(
        {
            "trigger": trigger,
            "steps": [
                {
                    "id": "check",
                    "type": "action",
                    "action": "test_refuse",
                    "settings": {"reason": "the deal has no contact"},
                }
            ],
        },
        name="Needs a contact",
    )
    crm.create("deal", name="One")
    crm.run_due()
    with app.uow(read_only=True) as uow:
        days = runs.runs_per_day(uow, tenant.owner, days=3, zone=UTC)
        failures = runs.latest_failures(uow, tenant.owner)
    assert len(days) == 3 and days[-1].day == crm.clock.now().date()
    assert (days[-1].completed, days[-1].failed, days[-1].waiting) == (1, 1, 0)
    assert sum(d.completed + d.failed for d in days[:-1]) == 0
    (failure,) = failures
    assert failure.automation_name == "Needs a contact"
    assert failure.error == "the deal has no contact" and failure.failed_step == "check"
    agent = Principal(workspace_id=tenant.id, user_id=tenant.new.owner_id, role=Role.AGENT)
    with app.uow(read_only=True) as uow, pytest.raises(PermissionDenied):
        runs.runs_per_day(uow, agent, days=3, zone=UTC)

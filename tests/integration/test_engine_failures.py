"""Failures: retryable ones back off and retry, others stop the run with the error shown, and
a failed run can be retried from its failed step (X2, issue: engine)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import BaseModel

from stageflow.actions import registry
from stageflow.actions.ports import ActionContext
from stageflow.bootstrap import App
from stageflow.domain.errors import StageflowError
from stageflow.services.engine import runs
from tests.conftest import Tenant
from tests.integration.engine_helpers import Engine

# key -> how many attempts fail. Deciding by attempt keeps the action deterministic, as
# actions must be: the worker may run an action again after rolling its batch back.
FAILURES: dict[str, int] = {}


class Flaky(BaseModel):
    key: str
    retryable: bool = True


class Unavailable(StageflowError):
    code = "unavailable"
    retryable = True


@registry.register("test_flaky", Flaky, description="Fails the first FAILURES[key] attempts")
def flaky(ctx: ActionContext, settings: Flaky) -> dict[str, Any]:
    if ctx.attempt <= FAILURES.get(settings.key, 0):
        error = Unavailable("the provider answered 503")
        error.retryable = settings.retryable
        raise error
    return {"ok": True}


@pytest.fixture
def engine(app: App, tenant: Tenant) -> Engine:
    return Engine(app, tenant)


def _automation(key: str, retryable: bool = True) -> dict[str, Any]:
    return {
        "trigger": {"type": "record_created", "object_type": "deal"},
        "steps": [
            {
                "id": "before",
                "type": "action",
                "action": "set_field",
                "settings": {"fields": {"currency": "EUR"}},
            },
            {
                "id": "call",
                "type": "action",
                "action": "test_flaky",
                "settings": {"key": key, "retryable": retryable},
                "retry": {"max_attempts": 4, "initial_backoff": "PT30S"},
            },
            {
                "id": "after",
                "type": "action",
                "action": "set_field",
                "settings": {"fields": {"probability": 1}},
            },
        ],
    }


def test_retryable_failures_back_off_exponentially_then_succeed(
    engine: Engine, tenant: Tenant
) -> None:
    key = f"retry-{tenant.id}"
    FAILURES[key] = 2
    automation = engine.publish(_automation(key))
    deal = engine.create("deal", name="Flaky")
    started = engine.clock.now()
    engine.run_due()
    (run,) = engine.runs(automation)
    assert (run.status, run.attempts, run.wake_at) == (
        "waiting",
        1,
        started + timedelta(seconds=30),
    )
    assert run.error == "the provider answered 503" and run.failed_step == "call"
    engine.advance("PT30S")
    (run,) = engine.runs(automation)
    assert (run.attempts, run.wake_at) == (2, started + timedelta(seconds=90))
    engine.advance("PT1M")
    (run,) = engine.runs(automation)
    assert run.status == "completed" and run.error is None
    steps = {s.step_id: s for s in engine.steps(run.id)}
    assert steps["call"].attempts == 3 and steps["call"].status == "completed"
    assert steps["before"].attempts == 1, "steps before the failure are not repeated"
    assert engine.record(deal).fields == {"currency": "EUR", "probability": 1}


def test_retries_run_out_and_the_run_fails_visibly(engine: Engine, tenant: Tenant) -> None:
    key = f"out-{tenant.id}"
    FAILURES[key] = 100
    automation = engine.publish(_automation(key))
    engine.create("deal", name="Doomed")
    engine.advance("PT1H")
    (run,) = engine.runs(automation)
    assert run.status == "failed" and run.attempts == 4
    assert run.error == "the provider answered 503" and run.failed_step == "call"


def test_a_failed_run_is_retried_from_its_failed_step(engine: Engine, tenant: Tenant) -> None:
    key = f"manual-{tenant.id}"
    FAILURES[key] = 1
    automation = engine.publish(_automation(key, retryable=False))
    deal = engine.create("deal", name="Manual")
    engine.run_due()
    (run,) = engine.runs(automation)
    assert run.status == "failed" and run.attempts == 1
    with engine.app.uow() as uow:
        runs.retry(uow, engine.principal, run.id)
        uow.commit()
    engine.run_due()
    (run,) = engine.runs(automation)
    assert run.status == "completed"
    assert [s.step_id for s in engine.steps(run.id)] == ["before", "call", "after"]
    assert engine.record(deal).version == 3  # created, currency, probability: once each


class HalfDone(BaseModel):
    fail_for: str


@registry.register(
    "test_half_done", HalfDone, description="Writes, then fails for one record name (tests)"
)
def half_done(ctx: ActionContext, settings: HalfDone) -> dict[str, Any]:
    assert ctx.record_id is not None
    ctx.crm.update_record(ctx.record_id, fields={"currency": "HALF"})
    if ctx.crm.record(ctx.record_id)["name"] == settings.fail_for:
        raise StageflowError("failed after writing")
    return {"ok": True}


def test_a_failing_run_costs_only_itself_and_leaves_no_half_write(engine: Engine) -> None:
    automation = engine.publish(
        {
            "trigger": {"type": "record_created", "object_type": "deal"},
            "steps": [
                {
                    "id": "half",
                    "type": "action",
                    "action": "test_half_done",
                    "settings": {"fail_for": "Bad"},
                }
            ],
        }
    )
    good = [engine.create("deal", name=f"Good {i}") for i in range(5)]
    bad = engine.create("deal", name="Bad")
    engine.run_due()
    runs = {r.record_id: r for r in engine.runs(automation)}
    assert runs[bad].status == "failed" and runs[bad].error == "failed after writing"
    assert all(runs[g].status == "completed" for g in good)
    assert "currency" not in engine.record(bad).fields, "the failed action's write is undone"
    assert all(engine.record(g).fields["currency"] == "HALF" for g in good)

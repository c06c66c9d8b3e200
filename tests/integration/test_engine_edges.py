"""Edge cases found in review: several events in one commit, failures in odd places, pauses,
republishing, long loops. Each was a real bug once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel

from stageflow.actions import registry
from stageflow.actions.ports import ActionContext
from stageflow.bootstrap import App
from stageflow.domain.errors import StageflowError
from stageflow.services.authoring import automations
from stageflow.services.engine.enrollment import Enroller
from tests.conftest import Tenant, make_tenant
from tests.integration.engine_helpers import Engine


@pytest.fixture
def engine(app: App, tenant: Tenant) -> Engine:
    return Engine(app, tenant)


def set_field(step_id: str, **fields: object) -> dict[str, object]:
    return {"id": step_id, "type": "action", "action": "set_field", "settings": {"fields": fields}}


class Fails(BaseModel):
    times: int


class Busy(StageflowError):
    retryable = True


@registry.register("test_fails_first", Fails, description="Fails the first N attempts")
def fails_first(ctx: ActionContext, settings: Fails) -> dict[str, Any]:
    if ctx.attempt <= settings.times:
        raise Busy("busy")
    return {"attempt": ctx.attempt}


def test_cancel_and_wake_in_the_same_commit(engine: Engine) -> None:
    stages = engine.stages()
    bound = engine.publish(
        {
            "trigger": {
                "type": "stage_entered",
                "object_type": "deal",
                "stage_id": stages["Proposal"],
            },
            "steps": [
                {"id": "wait", "type": "delay", "duration": "P3D"},
                set_field("m", currency="X"),
            ],
        }
    )
    waiter = engine.publish(
        {
            "trigger": {"type": "record_created", "object_type": "deal"},
            "steps": [
                {"id": "w", "type": "wait_until", "event": "StageChanged", "timeout": "P7D"},
                set_field("done", probability=1),
            ],
        },
        "waiter",
    )
    deal = engine.create("deal", name="Both")
    engine.move(deal, stages["Proposal"])
    engine.run_due()
    engine.move(deal, stages["Negotiation"])  # cancels one run and wakes the other
    engine.run_due()
    assert engine.runs(bound)[0].status == "cancelled"
    assert engine.runs(waiter)[0].status == "completed"


def test_leaving_the_stage_during_a_retry_backoff(engine: Engine) -> None:
    stages = engine.stages()
    rule = engine.publish(
        {
            "trigger": {
                "type": "stage_entered",
                "object_type": "deal",
                "stage_id": stages["Proposal"],
            },
            "steps": [
                {
                    "id": "call",
                    "type": "action",
                    "action": "test_fails_first",
                    "settings": {"times": 5},
                }
            ],
        }
    )
    deal = engine.create("deal", name="Backoff")
    engine.move(deal, stages["Proposal"])
    engine.run_due()
    assert engine.runs(rule)[0].attempts == 1
    engine.move(deal, stages["Negotiation"])
    (run,) = engine.runs(rule)
    assert run.status == "cancelled"
    assert {(s.step_id, s.status) for s in engine.steps(run.id)} == {
        ("call", "failed"),
        ("call", "cancelled"),
    }


def test_retries_are_counted_per_step(engine: Engine) -> None:
    automation = engine.publish(
        {
            "trigger": {"type": "record_created", "object_type": "deal"},
            "steps": [
                {
                    "id": "a",
                    "type": "action",
                    "action": "test_fails_first",
                    "settings": {"times": 2},
                    "retry": {"max_attempts": 3},
                },
                {
                    "id": "b",
                    "type": "action",
                    "action": "test_fails_first",
                    "settings": {"times": 2},
                    "retry": {"max_attempts": 3},
                },
            ],
        }
    )
    engine.create("deal", name="Steps")
    engine.advance("PT1H")
    (run,) = engine.runs(automation)
    assert run.status == "completed"
    assert [(s.step_id, s.attempts) for s in engine.steps(run.id)] == [("a", 3), ("b", 3)]


def test_every_event_of_a_commit_can_wake_a_wait(engine: Engine) -> None:
    contact = engine.create("contact", name="C")
    automation = engine.publish(
        {
            "trigger": {"type": "record_created", "object_type": "deal"},
            "steps": [
                {"id": "w", "type": "wait_until", "event": "FieldChanged", "timeout": "P7D"},
                set_field("done", probability=1),
            ],
        }
    )
    deal = engine.create("deal", name="Many")
    engine.run_due()
    # one update: a FieldChanged, then an AssociationAdded
    engine.update(deal, fields={"currency": "EUR"}, associations={"contact": [contact]})
    engine.run_due()
    assert engine.runs(automation)[0].status == "completed"


def test_a_date_set_back_and_forth_in_one_commit_arms_once(engine: Engine) -> None:
    engine.clock.set(datetime(2026, 3, 1, tzinfo=UTC))
    reminder = engine.publish(
        {
            "trigger": {"type": "date_reached", "object_type": "deal", "field": "close_date"},
            "steps": [set_field("r", currency="EUR")],
        },
        "reminder",
    )
    engine.publish(
        {
            "trigger": {"type": "record_created", "object_type": "deal"},
            "steps": [
                set_field("a", close_date="2026-04-01"),
                set_field("b", close_date="2026-05-01"),
                set_field("c", close_date="2026-04-01"),
            ],
        },
        "juggler",
    )
    deal = engine.create("deal", name="Juggled")
    engine.run_due()
    assert [r.status for r in engine.runs(reminder)].count("waiting") == 2  # April and May
    engine.advance("P90D")
    assert engine.record(deal).fields["currency"] == "EUR"
    statuses = sorted(r.status for r in engine.runs(reminder))
    assert statuses == ["cancelled", "completed"]


def test_a_rule_enrolled_and_left_in_one_commit_is_cancelled(engine: Engine) -> None:
    stages = engine.stages()
    rule = engine.publish(
        {
            "trigger": {
                "type": "stage_entered",
                "object_type": "deal",
                "stage_id": stages["Proposal"],
            },
            "steps": [
                {"id": "wait", "type": "delay", "duration": "P1D"},
                set_field("m", currency="PROPOSAL"),
            ],
        },
        "rule",
    )
    engine.publish(
        {
            "trigger": {"type": "record_created", "object_type": "deal"},
            "steps": [
                {
                    "id": "p",
                    "type": "action",
                    "action": "move_stage",
                    "settings": {"stage_id": stages["Proposal"]},
                },
                {
                    "id": "n",
                    "type": "action",
                    "action": "move_stage",
                    "settings": {"stage_id": stages["Negotiation"]},
                },
            ],
        },
        "mover",
    )
    deal = engine.create("deal", name="Passing through")
    engine.advance("P2D")
    assert engine.runs(rule)[0].status == "cancelled"
    assert "currency" not in engine.record(deal).fields


def test_pausing_and_resuming_a_schedule_keeps_it_going(engine: Engine) -> None:
    engine.clock.set(datetime(2026, 3, 2, 7, 0, tzinfo=UTC))
    deal = engine.create("deal", name="Daily", fields={"probability": 0})
    automation = engine.publish(
        {
            "trigger": {"type": "schedule", "cron": "0 9 * * *", "object_type": "deal"},
            "steps": [set_field("t", probability="{{ record.probability + 1 }}")],
        }
    )
    for status in ("paused", "active"):
        with engine.app.uow() as uow:
            automations.set_status(uow, engine.principal, automation, status)
            uow.commit()
    engine.advance("P3D")
    assert engine.record(deal).fields["probability"] == 3


def test_a_failing_schedule_tick_still_arms_the_next(engine: Engine) -> None:
    from stageflow.services.engine import timers

    engine.clock.set(datetime(2026, 3, 2, 7, 0, tzinfo=UTC))
    automation = engine.publish(
        {
            "trigger": {"type": "schedule", "cron": "0 9 * * *", "object_type": "deal"},
            "steps": [set_field("t", currency="EUR")],
        }
    )
    original = timers._segment

    def broken(*args: Any) -> list[int]:
        raise StageflowError("the segment cannot be read")

    timers._segment = broken  # type: ignore[assignment]
    try:
        engine.advance("P1D")
    finally:
        timers._segment = original  # type: ignore[assignment]
    ticks = [r for r in engine.runs(automation) if r.record_id is None]
    assert [r.status for r in ticks] == ["completed", "waiting"]
    assert engine.steps(ticks[0].id)[0].output["error"] == "the segment cannot be read"


def test_scheduled_runs_respect_the_conditions(engine: Engine) -> None:
    engine.clock.set(datetime(2026, 3, 2, 7, 0, tzinfo=UTC))
    small = engine.create("deal", name="Small", fields={"amount": 50})
    big = engine.create("deal", name="Big", fields={"amount": 500})
    engine.publish(
        {
            "trigger": {"type": "schedule", "cron": "0 9 * * *", "object_type": "deal"},
            "conditions": {"field": "amount", "op": "gt", "value": 100},
            "steps": [set_field("t", currency="BIG")],
        }
    )
    engine.advance("PT3H")
    assert engine.record(big).fields.get("currency") == "BIG"
    assert engine.record(small).fields.get("currency") is None


def test_date_runs_follow_republishing_and_archiving(engine: Engine) -> None:
    engine.clock.set(datetime(2026, 3, 1, tzinfo=UTC))
    definition = {
        "trigger": {"type": "date_reached", "object_type": "deal", "field": "close_date"},
        "steps": [
            {
                "id": "t",
                "type": "action",
                "action": "create_activity",
                "settings": {"subject": "Close date of {{ record.name }}"},
            }
        ],
    }
    republished = engine.publish(definition, "republished")
    deal = engine.create("deal", name="D", fields={"close_date": "2026-03-10"})
    with engine.app.uow() as uow:
        automations.publish(uow, engine.principal, republished, engine.actor)
        uow.commit()
    archived = engine.publish(definition, "archived")
    with engine.app.uow() as uow:
        automations.set_status(uow, engine.principal, archived, "archived")
        uow.commit()
    engine.advance("P15D")
    with engine.app.uow(read_only=True) as uow:
        tasks = uow.activities.list(engine.tenant.id, where=[], before_id=None, limit=50)
    assert [a.subject for a in tasks if a.record_id == deal] == ["Close date of D"]


def test_a_date_trigger_without_reenrollment_follows_a_changed_date(engine: Engine) -> None:
    engine.clock.set(datetime(2026, 1, 2, tzinfo=UTC))
    automation = engine.publish(
        {
            "trigger": {
                "type": "date_reached",
                "object_type": "deal",
                "field": "close_date",
                "allow_reenrollment": False,
            },
            "steps": [set_field("t", currency="EUR")],
        }
    )
    deal = engine.create("deal", name="Moved", fields={"close_date": "2026-01-10"})
    engine.update(deal, fields={"close_date": "2026-01-20"})
    engine.advance("P30D")
    assert engine.record(deal).fields["currency"] == "EUR"
    assert sorted(r.status for r in engine.runs(automation)) == ["cancelled", "completed"]


def test_a_long_loop_continues_over_several_batches(engine: Engine) -> None:
    automation = engine.publish(
        {
            "trigger": {"type": "record_created", "object_type": "deal"},
            "variables": {"i": 0},
            "steps": [
                {
                    "id": "loop",
                    "type": "loop",
                    "max_iterations": 6000,
                    "while": {"field": "vars.i", "op": "lt", "value": 6000},
                    "steps": [
                        {"id": "inc", "type": "set_variable", "variable": "i", "increment": 1}
                    ],
                }
            ],
        }
    )
    engine.create("deal", name="Long")
    engine.run_due()
    (run,) = engine.runs(automation)
    assert run.status == "completed" and run.state["variables"]["i"] == 6000


def test_a_run_that_cannot_commit_does_not_hold_up_other_workspaces(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = Engine(engine.app, make_tenant(engine.app, "Other"))
    definition = {
        "trigger": {"type": "record_created", "object_type": "deal"},
        "steps": [set_field("m", currency="EUR")],
    }
    engine.publish(definition)
    other.publish(definition)
    poisoned = engine.create("deal", name="Poison")
    healthy = other.create("deal", name="Healthy")
    original = Enroller.before_commit

    def before_commit(self: Enroller, uow: Any, events: list[Any]) -> None:
        if any(e.workspace_id == engine.tenant.id for e in events):
            raise RuntimeError("enrollment exploded")
        original(self, uow, events)

    monkeypatch.setattr(Enroller, "before_commit", before_commit)
    engine.run_due()
    assert other.record(healthy).fields["currency"] == "EUR"
    (run,) = engine.runs()
    assert run.status == "failed" and "enrollment exploded" in run.error
    assert "currency" not in engine.record(poisoned).fields


def test_a_date_run_whose_record_was_deleted_cancels_beside_healthy_runs(engine: Engine) -> None:
    from stageflow.domain.records import ObjectType
    from stageflow.services.crm import records

    engine.clock.set(datetime(2026, 1, 2, tzinfo=UTC))
    dated = engine.publish(
        {
            "trigger": {"type": "date_reached", "object_type": "deal", "field": "close_date"},
            "steps": [set_field("r", currency="EUR")],
        },
        "dated",
    )
    waits = engine.publish(
        {
            "trigger": {"type": "record_created", "object_type": "deal"},
            "steps": [
                {"id": "d1", "type": "delay", "duration": "P10D"},
                set_field("p", probability=10),
                {"id": "d2", "type": "delay", "duration": "P10D"},
            ],
        },
        "waits",
    )
    gone = engine.create("deal", name="Gone", fields={"close_date": "2026-01-12"})
    keep = engine.create("deal", name="Keep")
    engine.run_due()
    with engine.app.uow() as uow:
        records.delete_record(uow, engine.principal, ObjectType.DEAL, gone, engine.actor)
        uow.commit()
    engine.advance("P10D")  # both fall due in one batch
    (armed,) = engine.runs(dated)
    assert armed.status == "cancelled" and armed.error == "the record was deleted"
    kept = next(r for r in engine.runs(waits) if r.record_id == keep)
    assert kept.status == "waiting" and kept.state["cursor"] == "d2"
    assert engine.record(keep).fields["probability"] == 10
    engine.advance("P10D")
    kept = next(r for r in engine.runs(waits) if r.record_id == keep)
    assert kept.status == "completed"


def test_an_event_after_the_deadline_does_not_satisfy_a_wait(engine: Engine) -> None:
    stages = engine.stages()
    automation = engine.publish(
        {
            "trigger": {"type": "record_created", "object_type": "deal"},
            "steps": [
                {
                    "id": "w",
                    "type": "wait_until",
                    "event": "StageChanged",
                    "timeout": "P1D",
                    "on_timeout": [set_field("late", currency="LATE")],
                }
            ],
        }
    )
    deal = engine.create("deal", name="Late")
    engine.run_due()
    engine.clock.advance(timedelta(days=2))  # no worker meanwhile
    engine.move(deal, stages["Proposal"])  # the event comes after the deadline
    engine.run_due()
    assert engine.record(deal).fields["currency"] == "LATE"
    (run,) = engine.runs(automation)
    assert engine.steps(run.id)[0].output["timed_out"] is True


def test_leaving_the_stage_while_a_worker_holds_the_run_still_cancels_it(
    engine: Engine,
) -> None:
    """PostgreSQL: the stage-exit cancel waits for the worker that has the run locked; once
    that worker has moved the run on to its next wait, the cancel still applies to what is
    left (it used to be dropped because the run no longer looked as it was read)."""
    import threading

    from stageflow.adapters.db import tables as t

    stages = engine.stages()
    rule = engine.publish(
        {
            "trigger": {
                "type": "stage_entered",
                "object_type": "deal",
                "stage_id": stages["Proposal"],
            },
            "steps": [
                {"id": "first", "type": "delay", "duration": "P1D"},
                {"id": "second", "type": "delay", "duration": "P1D"},
                set_field("late", currency="LATE"),
            ],
        },
        "rule",
    )
    deal = engine.create("deal", name="Racer", stage_id=stages["Proposal"])
    engine.run_due()
    engine.clock.advance(timedelta(days=1))
    done = threading.Event()
    failure: list[BaseException] = []

    def leave() -> None:
        try:
            engine.move(deal, stages["Negotiation"])
        except BaseException as exc:
            failure.append(exc)
        done.set()

    with engine.app.uow() as uow:  # a worker's batch, by hand: claim, move on, commit
        [row] = uow.runs.claim_due(engine.clock.now(), 10)
        later = engine.clock.now() + timedelta(microseconds=1)
        uow.connection.execute(
            t.runs.update()
            .where(t.runs.c.id == row.id)
            .values(updated_at=later, wake_at=later + timedelta(days=1))
        )
        thread = threading.Thread(target=leave)
        thread.start()
        if engine.app.engine.dialect.name == "postgresql":
            assert not done.wait(timeout=0.3), "the move did not wait for the worker"
        uow.commit()
    thread.join(timeout=10)
    assert failure == []
    [run] = engine.runs(rule)
    assert run.status == "cancelled"
    engine.advance("P3D")
    assert "currency" not in engine.record(deal).fields

"""The engine end to end on SQLite and PostgreSQL, with the virtual clock (issue: engine)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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


def _stage_rule(
    stage_id: int, steps: list[dict[str, object]], **extra: object
) -> dict[str, object]:
    return {
        "trigger": {"type": "stage_entered", "object_type": "deal", "stage_id": stage_id},
        "steps": steps,
        **extra,
    }


def test_leaving_the_stage_cancels_pending_rules_visibly(engine: Engine) -> None:
    stages = engine.stages()
    automation = engine.publish(
        _stage_rule(
            stages["Proposal"],
            [
                {"id": "wait", "type": "delay", "duration": "P3D"},
                {
                    "id": "task",
                    "type": "action",
                    "action": "create_activity",
                    "settings": {"subject": "Chase the proposal"},
                },
            ],
        )
    )
    deal = engine.create("deal", name="Bound")
    engine.move(deal, stages["Proposal"])
    engine.run_due()
    engine.advance("P1D")
    engine.move(deal, stages["Negotiation"])
    engine.advance("P5D")
    (run,) = engine.runs(automation)
    assert run.status == "cancelled" and "left stage" in run.error
    (step,) = engine.steps(run.id)
    assert (step.step_id, step.type, step.status) == ("wait", "cancel", "cancelled")


def test_a_rule_may_opt_out_of_cancellation(engine: Engine) -> None:
    stages = engine.stages()
    automation = engine.publish(
        _stage_rule(
            stages["Proposal"],
            [{"id": "wait", "type": "delay", "duration": "P3D"}, set_field("mark", currency="EUR")],
            stage_bound=False,
        )
    )
    deal = engine.create("deal", name="Free")
    engine.move(deal, stages["Proposal"])
    engine.run_due()
    engine.move(deal, stages["Negotiation"])
    engine.advance("P3D")
    assert engine.runs(automation)[0].status == "completed"
    assert engine.record(deal).fields["currency"] == "EUR"


def test_a_rule_never_refires_on_its_own_write(engine: Engine) -> None:
    automation = engine.publish(
        {
            "trigger": {"type": "field_changed", "object_type": "deal", "field": "amount"},
            "steps": [set_field("double", amount=2000)],
        }
    )
    deal = engine.create("deal", name="Self", fields={"amount": 1})
    engine.update(deal, fields={"amount": 1000})
    engine.run_due()
    assert len(engine.runs(automation)) == 1
    assert engine.record(deal).fields["amount"] == 2000
    assert [s.reason for s in engine.skips(deal)] == ["own_write"]


def test_automations_triggering_each_other_stop_at_the_loop_guard(engine: Engine) -> None:
    ping = engine.publish(
        {
            "trigger": {"type": "field_changed", "object_type": "deal", "field": "amount"},
            "steps": [set_field("p", probability="{{ record.probability + 1 }}")],
        },
        "ping",
    )
    pong = engine.publish(
        {
            "trigger": {"type": "field_changed", "object_type": "deal", "field": "probability"},
            "steps": [set_field("q", amount="{{ record.amount + 1 }}")],
        },
        "pong",
    )
    deal = engine.create("deal", name="Loop", fields={"amount": 0, "probability": 0})
    engine.update(deal, fields={"amount": 1})
    engine.advance("PT1H")
    runs = engine.runs()
    assert {r.automation_id for r in runs} == {ping, pong}
    assert len(runs) == 10 and max(r.depth for r in runs) == 9
    guard = [s for s in engine.skips(deal) if s.reason == "loop_guard"]
    assert len(guard) == 1 and "limit is 10" in guard[0].detail


def test_reenrollment_follows_the_trigger_setting(engine: Engine) -> None:
    stages = engine.stages()
    again = engine.publish(_stage_rule(stages["Proposal"], [set_field("a", currency="EUR")]))
    once = engine.publish(
        _stage_rule(stages["Proposal"], [set_field("b", probability=1)])
        | {
            "trigger": {
                "type": "stage_entered",
                "object_type": "deal",
                "stage_id": stages["Proposal"],
                "allow_reenrollment": False,
            }
        }
    )
    deal = engine.create("deal", name="Twice")
    for _ in range(2):
        engine.move(deal, stages["Proposal"])
        engine.move(deal, stages["New"])
    engine.run_due()
    assert len(engine.runs(again)) == 2 and len(engine.runs(once)) == 1
    assert "already_enrolled" in [s.reason for s in engine.skips(deal)]


def test_conditions_not_met_are_recorded(engine: Engine) -> None:
    automation = engine.publish(
        {
            "trigger": {"type": "record_created", "object_type": "deal"},
            "conditions": {"field": "amount", "op": "gt", "value": 10_000},
            "steps": [set_field("vip", probability=90)],
        }
    )
    small = engine.create("deal", name="Small", fields={"amount": 5})
    big = engine.create("deal", name="Big", fields={"amount": 50_000})
    engine.run_due()
    assert [r.record_id for r in engine.runs(automation)] == [big]
    (skip,) = engine.skips(small)
    assert skip.reason == "conditions_not_met" and skip.automation_id == automation


def test_in_flight_runs_finish_on_their_version(engine: Engine) -> None:
    from stageflow.services.authoring import automations

    definition = {
        "trigger": {"type": "record_created", "object_type": "deal"},
        "steps": [
            {"id": "wait", "type": "delay", "duration": "P1D"},
            set_field("mark", currency="V1"),
        ],
    }
    automation = engine.publish(definition)
    old = engine.create("deal", name="Old")
    engine.run_due()
    definition["steps"][1] = set_field("mark", currency="V2")  # type: ignore[index]
    with engine.app.uow() as uow:
        automations.update_automation(
            uow,
            engine.principal,
            automation,
            automations.UpdateAutomation(definition=definition),
            engine.actor,
        )
        automations.publish(uow, engine.principal, automation, engine.actor)
        uow.commit()
    new = engine.create("deal", name="New")
    engine.advance("P1D")
    assert engine.record(old).fields["currency"] == "V1"
    assert engine.record(new).fields["currency"] == "V2"
    versions = {r.record_id: r.version_id for r in engine.runs(automation)}
    assert versions[old] != versions[new]


def test_wait_until_an_event_or_the_timeout(engine: Engine) -> None:
    stages = engine.stages()
    automation = engine.publish(
        {
            "trigger": {"type": "record_created", "object_type": "deal"},
            "steps": [
                {
                    "id": "wait",
                    "type": "wait_until",
                    "event": "StageChanged",
                    "timeout": "P7D",
                    "on_timeout": [set_field("late", currency="LATE")],
                },
                set_field("done", probability=100),
            ],
        }
    )
    moved = engine.create("deal", name="Moves")
    idle = engine.create("deal", name="Idle")
    engine.run_due()
    engine.advance("P2D")
    engine.move(moved, stages["Proposal"])
    engine.run_due()
    by_record = {r.record_id: r for r in engine.runs(automation)}
    assert by_record[moved].status == "completed" and by_record[idle].status == "waiting"
    assert "currency" not in engine.record(moved).fields
    engine.advance("P5D")
    assert engine.record(idle).fields == {"currency": "LATE", "probability": 100}


def test_delay_until_a_date_field_and_until_tomorrow_at_14_in_the_workspace_zone(
    engine: Engine,
) -> None:
    with engine.app.uow() as uow:
        workspace = uow.workspaces.get(engine.tenant.id)
        assert workspace is not None
        uow.workspaces.update_settings(
            engine.tenant.id, {**workspace.settings, "timezone": "Europe/Rome"}
        )
        uow.commit()
    automation = engine.publish(
        {
            "trigger": {"type": "record_created", "object_type": "deal"},
            "steps": [
                {
                    "id": "before_close",
                    "type": "delay",
                    "until_field": "close_date",
                    "offset": "-P1D",
                },
                {"id": "at_two", "type": "delay", "at": "tomorrow 14:00"},
                set_field("ping", currency="EUR"),
            ],
        }
    )
    engine.clock.set(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    engine.create("deal", name="Closing", fields={"close_date": "2026-03-10"})
    engine.run_due()
    (run,) = engine.runs(automation)
    # 10 March 00:00 in Rome, one day earlier, is 8 March 23:00 UTC.
    assert run.wake_at == datetime(2026, 3, 8, 23, 0, tzinfo=UTC)
    engine.advance_delta(run.wake_at - engine.clock.now())
    (run,) = engine.runs(automation)
    # "tomorrow" seen from 9 March 00:00 Rome: 10 March 14:00 Rome = 13:00 UTC.
    assert run.wake_at == datetime(2026, 3, 10, 13, 0, tzinfo=UTC)


def test_create_record_action_makes_a_repeat_lead_from_a_deal(engine: Engine) -> None:
    contact = engine.create("contact", fields={"first_name": "Maria", "last_name": "Rossi"})
    automation = engine.publish(
        {
            "trigger": {"type": "record_created", "object_type": "deal"},
            "steps": [
                {
                    "id": "repeat",
                    "type": "action",
                    "action": "create_record",
                    "settings": {
                        "object_type": "lead",
                        "name": "Repeat sale: {{ contact.name }} ({{ record.name }})",
                        "fields": {"lead_type": "existing_business"},
                    },
                }
            ],
        }
    )
    deal = engine.create("deal", name="Solar", associations={"contact": [contact]})
    engine.run_due()
    (run,) = engine.runs(automation)
    created = engine.steps(run.id)[0].output["created"]
    lead = engine.record(created["id"])
    assert lead.name == "Repeat sale: Maria Rossi (Solar)"
    assert lead.fields == {"lead_type": "existing_business"}
    with engine.app.uow(read_only=True) as uow:
        assert uow.records.associations([lead.id])[lead.id] == {"contact": [contact]}
        timeline = uow.events.timeline(engine.tenant.id, lead.id, before_id=None, limit=5)
    assert timeline[-1].actor_kind == "automation" and timeline[-1].run_id == run.id
    assert deal != lead.id


def test_deleting_the_record_cancels_its_waiting_runs(engine: Engine) -> None:
    from stageflow.domain.records import ObjectType
    from stageflow.services.crm import records

    automation = engine.publish(
        {
            "trigger": {"type": "record_created", "object_type": "deal"},
            "steps": [
                {"id": "wait", "type": "delay", "duration": "P30D"},
                set_field("x", currency="EUR"),
            ],
        }
    )
    deal = engine.create("deal", name="Gone")
    engine.run_due()
    with engine.app.uow() as uow:
        records.delete_record(uow, engine.principal, ObjectType.DEAL, deal, engine.actor)
        uow.commit()
    engine.advance("P31D")
    (run,) = engine.runs(automation)
    assert run.status == "cancelled" and run.error == "the record was deleted"


def test_date_reached_fires_a_day_before_and_follows_date_changes(engine: Engine) -> None:
    engine.clock.set(datetime(2026, 3, 1, 8, 0, tzinfo=UTC))
    automation = engine.publish(
        {
            "trigger": {
                "type": "date_reached",
                "object_type": "deal",
                "field": "close_date",
                "offset": "-P1D",
                "at_time": "09:00",
            },
            "steps": [set_field("remind", currency="EUR")],
        }
    )
    moved = engine.create("deal", name="Moved", fields={"close_date": "2026-03-10"})
    kept = engine.create("deal", name="Kept", fields={"close_date": "2026-03-05"})
    engine.create("deal", name="No date")
    engine.create("deal", name="Past", fields={"close_date": "2026-02-01"})
    engine.update(moved, fields={"close_date": "2026-03-20"})
    engine.advance("P5D")
    assert engine.record(kept).fields.get("currency") == "EUR"
    assert engine.record(moved).fields.get("currency") is None
    engine.advance("P20D")
    assert engine.record(moved).fields.get("currency") == "EUR"
    runs = engine.runs(automation)
    by_status = sorted((r.record_id, r.status) for r in runs)
    assert by_status == sorted([(kept, "completed"), (moved, "cancelled"), (moved, "completed")])
    cancelled = next(r for r in runs if r.status == "cancelled")
    assert "date changed" in cancelled.error
    fired = next(r for r in runs if r.record_id == kept)
    assert fired.finished_at == datetime(2026, 3, 4, 9, 0, tzinfo=UTC)


def test_publishing_a_date_trigger_arms_existing_records(engine: Engine) -> None:
    engine.clock.set(datetime(2026, 3, 1, 8, 0, tzinfo=UTC))
    deal = engine.create("deal", name="Earlier", fields={"close_date": "2026-03-03"})
    automation = engine.publish(
        {
            "trigger": {"type": "date_reached", "object_type": "deal", "field": "close_date"},
            "steps": [set_field("remind", currency="EUR")],
        }
    )
    (run,) = engine.runs(automation)
    assert run.wake_at == datetime(2026, 3, 3, 0, 0, tzinfo=UTC)
    engine.advance("P3D")
    assert engine.record(deal).fields["currency"] == "EUR"


def test_schedule_enrolls_its_segment_each_time_and_catches_up_once(engine: Engine) -> None:
    from stageflow.services.authoring import automations

    engine.clock.set(datetime(2026, 3, 2, 7, 0, tzinfo=UTC))  # a Monday
    big = engine.create("deal", name="Big", fields={"amount": 5000})
    engine.create("deal", name="Small", fields={"amount": 5})
    automation = engine.publish(
        {
            "trigger": {
                "type": "schedule",
                "cron": "0 9 * * 1-5",
                "object_type": "deal",
                "segment": {"field": "amount", "op": "gt", "value": 1000},
            },
            "steps": [set_field("touch", probability="{{ (record.probability or 0) + 1 }}")],
        }
    )
    engine.advance("PT3H")  # Monday 09:00 fires
    assert engine.record(big).fields["probability"] == 1
    engine.advance("P4D")  # Tuesday to Friday
    assert engine.record(big).fields["probability"] == 5
    engine.advance("P2D")  # the weekend: nothing
    assert engine.record(big).fields["probability"] == 5
    ticks = [r for r in engine.runs(automation) if r.record_id is None]
    assert [r.status for r in ticks].count("completed") == 5
    assert [r.status for r in ticks].count("waiting") == 1

    with engine.app.uow() as uow:
        automations.set_status(uow, engine.principal, automation, "paused")
        uow.commit()
    engine.advance("P7D")
    assert engine.record(big).fields["probability"] == 5
    with engine.app.uow() as uow:
        automations.set_status(uow, engine.principal, automation, "active")
        uow.commit()
    engine.clock.advance(timedelta(days=3))  # no worker ran meanwhile: ticks fall due
    engine.run_due()
    assert engine.record(big).fields["probability"] == 6, "missed ticks fire once, late"
    late = [r for r in engine.runs(automation) if r.record_id is None and r.status == "completed"]
    output = engine.steps(late[-1].id)[0].output
    assert output["late_by_seconds"] > 0 and output["enrolled"] == 1

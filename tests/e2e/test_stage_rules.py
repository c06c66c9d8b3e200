"""Stage rules through the API (SPEC B1-B6): the three scenarios of the issue, timing, "after
the previous rule", conditions, leaving the stage, versions in flight and permissions."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.conftest import Api
from tests.e2e.test_api_permissions import add_member


def _deal_pipeline(api: Api) -> dict[str, Any]:
    return next(p for p in api.get("/pipelines?object_type=deal") if p["is_default"])  # type: ignore[no-any-return]


def _stage(pipeline: dict[str, Any], name: str) -> int:
    return next(s["id"] for s in pipeline["stages"] if s["name"] == name)  # type: ignore[no-any-return]


def _rules(pipeline: dict[str, Any], stage: str) -> str:
    return f"/pipelines/{pipeline['id']}/stages/{_stage(pipeline, stage)}/rules"


def _deal(api: Api, name: str = "Roof", **extra: Any) -> dict[str, Any]:
    contact = api.post(
        "/contacts", {"fields": {"first_name": "Ann", "last_name": "Lee", "email": "ann@x.example"}}
    )
    return api.post(  # type: ignore[no-any-return]
        "/deals",
        {
            "name": name,
            "fields": {"amount": 1200, "currency": "EUR"},
            "associations": {"contact": [contact["id"]]},
            **extra,
        },
    )


def _move(api: Api, deal: dict[str, Any], stage_id: int) -> None:
    api.post(f"/deals/{deal['id']}/move", {"stage_id": stage_id}, expect=200)
    api.post("/admin/clock/advance", {"by": "PT0S"}, expect=200)


def _now(api: Api) -> datetime:
    return datetime.fromisoformat(api.get("/admin/clock")["now"])


def _leads(api: Api) -> list[dict[str, Any]]:
    return api.get("/leads")["items"]  # type: ignore[no-any-return]


# The scenarios of the issue -------------------------------------------------------------------


def test_closed_won_makes_a_repeat_lead_six_months_later(api: Api) -> None:
    """B2: a repeat lead named from the client's name, for the configured user, six months on."""
    pipeline = _deal_pipeline(api)
    seller = add_member(api, "agent", name="Sam Seller")
    rule = api.post(
        _rules(pipeline, "Closed Won"),
        {
            "name": "Repeat sale",
            "group": "Repeat sales",
            "timing": {"after": "P6M"},
            "action": "create_record",
            "settings": {
                "object_type": "lead",
                "name": "Repeat sale: {{ contact.first_name }} {{ contact.last_name }}",
                "owner_id": seller.id,
            },
        },
    )
    assert rule["position"] == 1 and rule["group"] == "Repeat sales"
    assert rule["automation_id"] is not None
    deal = _deal(api)
    _move(api, deal, _stage(pipeline, "Closed Won"))

    api.post("/admin/clock/advance", {"by": "P6M"}, expect=200)
    (lead,) = _leads(api)
    assert lead["name"] == "Repeat sale: Ann Lee"
    assert lead["owner_id"] == seller.id
    assert lead["associations"]["contact"] == deal["associations"]["contact"]

    (run,) = api.get(f"/runs?record={deal['id']}")["items"]
    assert run["automation_id"] == rule["automation_id"]
    steps = api.get(f"/runs/{run['id']}")["steps"]
    assert [s["step_id"] for s in steps] == [f"rule-{rule['id']}-wait", f"rule-{rule['id']}"]


def test_nothing_is_made_before_six_months_and_leaving_cancels(api: Api) -> None:
    pipeline = _deal_pipeline(api)
    api.post(
        _rules(pipeline, "Closed Won"),
        {
            "name": "Repeat sale",
            "timing": {"after": "P6M"},
            "action": "create_record",
            "settings": {"object_type": "lead", "name": "Repeat: {{ record.name }}"},
        },
    )
    stays, leaves = _deal(api, "Stays"), _deal(api, "Leaves")
    for deal in (stays, leaves):
        _move(api, deal, _stage(pipeline, "Closed Won"))
    api.post("/admin/clock/advance", {"by": "P1M"}, expect=200)
    _move(api, leaves, _stage(pipeline, "Negotiation"))  # reopened: its pending rule is cancelled
    api.post("/admin/clock/advance", {"by": "P4M25D"}, expect=200)
    assert _leads(api) == []  # not yet six months
    api.post("/admin/clock/advance", {"by": "P1M"}, expect=200)
    assert [ld["name"] for ld in _leads(api)] == ["Repeat: Stays"]
    (run,) = api.get(f"/runs?record={leaves['id']}")["items"]
    assert run["status"] == "cancelled"
    detail = api.get(f"/runs/{run['id']}")
    assert "left" in (detail["error"] or "") + str(detail["steps"])


def test_a_rule_that_keeps_on_exit_still_acts(api: Api) -> None:
    pipeline = _deal_pipeline(api)
    api.post(
        _rules(pipeline, "Closed Won"),
        {
            "name": "Repeat sale",
            "timing": {"after": "P6M"},
            "keep_on_exit": True,
            "action": "create_record",
            "settings": {"object_type": "lead", "name": "Repeat: {{ record.name }}"},
        },
    )
    deal = _deal(api)
    _move(api, deal, _stage(pipeline, "Closed Won"))
    _move(api, deal, _stage(pipeline, "Negotiation"))
    api.post("/admin/clock/advance", {"by": "P6M"}, expect=200)
    assert [ld["name"] for ld in _leads(api)] == ["Repeat: Roof"]


def test_closed_won_deal_is_copied_into_the_delivery_pipeline(api: Api) -> None:
    """B3: the copy lands in the Delivery pipeline's first stage as '<name> Copy', all fields."""
    pipeline = _deal_pipeline(api)
    delivery = api.post(
        "/pipelines",
        {
            "object_type": "deal",
            "name": "Delivery",
            "stages": [
                {"name": "Planning"},
                {"name": "Installing"},
                {"name": "Done", "kind": "won"},
            ],
        },
    )
    api.post(
        _rules(pipeline, "Closed Won"),
        {
            "name": "Hand over to delivery",
            "group": "Delivery",
            "action": "copy_record",
            "settings": {"pipeline_id": delivery["id"]},
        },
    )
    deal = _deal(api)
    _move(api, deal, _stage(pipeline, "Closed Won"))
    original = api.get(f"/deals/{deal['id']}")
    (copy,) = [d for d in api.get("/deals")["items"] if d["id"] != deal["id"]]
    assert copy["name"] == "Roof Copy"
    assert copy["pipeline_id"] == delivery["id"]
    assert copy["stage_id"] == delivery["stages"][0]["id"]
    assert copy["fields"] == original["fields"] == {"amount": 1200, "currency": "EUR"}
    assert copy["owner_id"] == original["owner_id"]


def test_contract_approval_schedules_a_call_done_when_the_deal_moves_to_invoice(api: Api) -> None:
    """B4: 'call the client' due tomorrow 14:00 for the deal's owner, completed on leaving."""
    contracts = api.post(
        "/pipelines",
        {
            "object_type": "deal",
            "name": "Contracts",
            "stages": [
                {"name": "New"},
                {"name": "Contract approval"},
                {"name": "Invoice"},
                {"name": "Paid", "kind": "won"},
            ],
        },
    )
    api.post(
        _rules(contracts, "Contract approval"),
        {
            "name": "Call the client",
            "group": "Communication",
            "action": "schedule_activity",
            "settings": {
                "type": "call",
                "subject": "Call the client",
                "description": "Talk {{ contact.first_name }} through the contract for "
                "{{ record.name }}",
                "due_at": "tomorrow 14:00",
                "complete_on_stage_exit": True,
            },
        },
    )
    owner = add_member(api, "agent", name="Olga Owner")
    deal = _deal(api, pipeline_id=contracts["id"], owner_id=owner.id)
    _move(api, deal, _stage(contracts, "Contract approval"))
    now = _now(api)
    (call,) = api.get(f"/activities?record_id={deal['id']}")["items"]
    assert call["type"] == "call" and call["subject"] == "Call the client"
    assert call["description"] == "Talk Ann through the contract for Roof"
    tomorrow = (now + timedelta(days=1)).date()
    assert datetime.fromisoformat(call["due_at"]) == datetime(
        tomorrow.year, tomorrow.month, tomorrow.day, 14, tzinfo=now.tzinfo
    )
    assert call["responsible_id"] == owner.id and call["status"] == "open"

    _move(api, deal, _stage(contracts, "Invoice"))
    assert api.get(f"/activities/{call['id']}")["status"] == "completed"


# Order, chains and conditions ----------------------------------------------------------------


def _tag_rule(name: str, **extra: Any) -> dict[str, Any]:
    """A rule that appends to the deal's currency field, to see the order rules ran in."""
    return {
        "name": name,
        "action": "set_field",
        "settings": {"fields": {"currency": "{{ record.currency }}" + name}},
        **extra,
    }


def test_rules_list_in_order_and_positions_move(api: Api) -> None:
    pipeline = _deal_pipeline(api)
    base = _rules(pipeline, "Proposal")
    a = api.post(base, _tag_rule("A"))
    b = api.post(base, _tag_rule("B", group="Other"))
    c = api.post(base, _tag_rule("C", position=1))
    assert [r["name"] for r in api.get(base)] == ["C", "A", "B"]
    assert [r["position"] for r in api.get(base)] == [1, 2, 3]
    api.patch(f"{base}/{b['id']}", {"position": 1})
    assert [r["name"] for r in api.get(base)] == ["B", "C", "A"]
    api.delete(f"{base}/{c['id']}")
    assert [(r["name"], r["position"]) for r in api.get(base)] == [("B", 1), ("A", 2)]
    assert api.get(f"{base}/{a['id']}")["group"] == "General"
    api.get(f"{base}/{c['id']}", expect=404)
    other = _rules(pipeline, "Negotiation")
    api.get(f"{other}/{a['id']}", expect=404)  # a rule is found only under its own stage


def test_a_rule_after_the_previous_one_waits_for_it(api: Api) -> None:
    """B5: 'after the previous rule' runs once the previous rule of the stage has finished."""
    pipeline = _deal_pipeline(api)
    base = _rules(pipeline, "Proposal")
    first = api.post(base, _tag_rule("1", timing={"after": "P2D"}))
    second = api.post(base, _tag_rule("2", after_previous=True))
    alone = api.post(base, _tag_rule("3"))
    rules = api.get(base)
    assert rules[1]["automation_id"] == rules[0]["automation_id"] == first["automation_id"]
    assert rules[2]["automation_id"] not in (None, first["automation_id"])
    assert second["id"] != alone["id"]
    deal = _deal(api)
    _move(api, deal, _stage(pipeline, "Proposal"))
    assert api.get(f"/deals/{deal['id']}")["fields"]["currency"] == "EUR3"  # 1 and 2 wait
    api.post("/admin/clock/advance", {"by": "P2D"}, expect=200)
    assert api.get(f"/deals/{deal['id']}")["fields"]["currency"] == "EUR312"


def test_conditions_are_checked_when_the_rule_acts(api: Api) -> None:
    pipeline = _deal_pipeline(api)
    base = _rules(pipeline, "Proposal")
    api.post(
        base,
        _tag_rule(
            "big",
            timing={"after": "P1D"},
            conditions={"field": "amount", "op": "gt", "value": 1000},
        ),
    )
    api.post(base, _tag_rule("next", after_previous=True))
    small, big = _deal(api, "Small"), _deal(api, "Big")
    api.patch(f"/deals/{small['id']}", {"fields": {"amount": 10}})
    for deal in (small, big):
        _move(api, deal, _stage(pipeline, "Proposal"))
    api.patch(f"/deals/{big['id']}", {"fields": {"amount": 5000}})
    api.post("/admin/clock/advance", {"by": "P1D"}, expect=200)
    # A rule whose conditions fail is skipped; the rule after it still runs.
    assert api.get(f"/deals/{small['id']}")["fields"]["currency"] == "EURnext"
    assert api.get(f"/deals/{big['id']}")["fields"]["currency"] == "EURbignext"


def test_switched_off_rules_do_not_run_and_switch_back_on(api: Api) -> None:
    pipeline = _deal_pipeline(api)
    base = _rules(pipeline, "Proposal")
    rule = api.post(base, _tag_rule("x"))
    off = api.patch(f"{base}/{rule['id']}", {"enabled": False, "version": rule["version"]})
    assert off["enabled"] is False and off["automation_id"] is None
    deal = _deal(api)
    _move(api, deal, _stage(pipeline, "Proposal"))
    assert api.get(f"/deals/{deal['id']}")["fields"]["currency"] == "EUR"
    on = api.patch(f"{base}/{rule['id']}", {"enabled": True})
    assert on["automation_id"] == rule["automation_id"]  # the same automation, published again
    _move(api, deal, _stage(pipeline, "Negotiation"))
    _move(api, deal, _stage(pipeline, "Proposal"))
    assert api.get(f"/deals/{deal['id']}")["fields"]["currency"] == "EURx"
    api.patch(f"{base}/{rule['id']}", {"enabled": False, "version": rule["version"]}, expect=409)


def test_runs_in_flight_keep_the_rule_they_started_with(api: Api) -> None:
    """X5: changing a rule publishes a new version; a waiting run finishes on its own."""
    pipeline = _deal_pipeline(api)
    base = _rules(pipeline, "Proposal")
    rule = api.post(base, _tag_rule("old", timing={"after": "P1D"}))
    early = _deal(api, "Early")
    _move(api, early, _stage(pipeline, "Proposal"))
    api.patch(f"{base}/{rule['id']}", {"settings": {"fields": {"currency": "new"}}})
    late = _deal(api, "Late")
    _move(api, late, _stage(pipeline, "Proposal"))
    api.post("/admin/clock/advance", {"by": "P1D"}, expect=200)
    assert api.get(f"/deals/{early['id']}")["fields"]["currency"] == "EURold"
    assert api.get(f"/deals/{late['id']}")["fields"]["currency"] == "new"
    automation = api.get(f"/automations/{rule['automation_id']}")
    assert automation["kind"] == "stage_rule" and len(automation["versions"]) == 2


def test_a_deleted_rule_starts_nothing_new(api: Api) -> None:
    pipeline = _deal_pipeline(api)
    base = _rules(pipeline, "Proposal")
    rule = api.post(base, _tag_rule("x"))
    api.delete(f"{base}/{rule['id']}")
    assert api.get(f"/automations/{rule['automation_id']}")["status"] == "archived"
    deal = _deal(api)
    _move(api, deal, _stage(pipeline, "Proposal"))
    assert api.get(f"/deals/{deal['id']}")["fields"]["currency"] == "EUR"


# Checks on save ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "field", "words"),
    [
        (
            {"action": "set_field", "settings": {"fields": {"colour": "red"}}},
            "settings.fields.colour",
            "no field 'colour'",
        ),
        ({"action": "no_such_action"}, "action", "no_such_action"),
        (
            {"action": "move_stage", "settings": {"stage_id": 999_999}},
            "settings.stage_id",
            "no stage 999999",
        ),
        (
            {"action": "set_field", "settings": {"fields": {"currency": "{{ record.colour }}"}}},
            "settings",
            "colour",
        ),
        (
            {
                "action": "set_field",
                "settings": {"fields": {"currency": "x"}},
                "conditions": {"field": "colour", "op": "eq", "value": 1},
            },
            "conditions",
            "colour",
        ),
        (
            {
                "action": "set_field",
                "settings": {"fields": {"currency": "x"}},
                "timing": {"field": "amount"},
            },
            "timing",
            "not a date field",
        ),
        (
            {
                "action": "set_field",
                "settings": {"fields": {"currency": "x"}},
                "timing": {"after": "six months"},
            },
            "timing",
            "six months",
        ),
        (
            {
                "action": "send_email",
                "settings": {"template": "welcome", "to": [{"role": "contact"}]},
            },
            "settings",
            "",
        ),
    ],
)
def test_bad_rules_are_refused_naming_the_setting(
    api: Api, rule: dict[str, Any], field: str, words: str
) -> None:
    pipeline = _deal_pipeline(api)
    error = api.post(_rules(pipeline, "Proposal"), {"name": "Bad", **rule}, expect=422)
    assert error["field"].startswith(field), error
    assert words in error["message"], error
    assert api.get(_rules(pipeline, "Proposal")) == []


@pytest.mark.parametrize(
    ("timing", "field"),
    [({"after": "six months"}, "timing.after"), ({"field": "amount"}, "timing.field")],
)
def test_a_timing_error_names_the_timing_setting(
    api: Api, timing: dict[str, Any], field: str
) -> None:
    rule = {"action": "set_field", "settings": {"fields": {"currency": "x"}}, "timing": timing}
    error = api.post(_rules(_deal_pipeline(api), "Proposal"), {"name": "Bad", **rule}, expect=422)
    assert error["field"] == field, error
    assert error["message"].startswith(f"{field}: "), error


def test_timing_takes_one_kind(api: Api) -> None:
    pipeline = _deal_pipeline(api)
    error = api.post(
        _rules(pipeline, "Proposal"),
        _tag_rule("x", timing={"after": "P1D", "at": "tomorrow 09:00"}),
        expect=422,
    )
    assert "one of" in error["message"]


def test_rules_after_another_are_cancelled_with_it(api: Api) -> None:
    pipeline = _deal_pipeline(api)
    base = _rules(pipeline, "Proposal")
    api.post(base, _tag_rule("1"))
    error = api.post(base, _tag_rule("2", after_previous=True, keep_on_exit=True), expect=422)
    assert error["field"] == "keep_on_exit"
    assert len(api.get(base)) == 1


def test_unknown_places_are_not_found(api: Api) -> None:
    pipeline = _deal_pipeline(api)
    api.get(f"/pipelines/{pipeline['id']}/stages/999999/rules", expect=404)
    api.get(f"/pipelines/999999/stages/{pipeline['stages'][0]['id']}/rules", expect=404)
    leads = next(p for p in api.get("/pipelines?object_type=lead") if p["is_default"])
    api.get(f"/pipelines/{pipeline['id']}/stages/{leads['stages'][0]['id']}/rules", expect=404)


def test_compiled_automations_are_changed_through_their_rules(api: Api) -> None:
    pipeline = _deal_pipeline(api)
    rule = api.post(_rules(pipeline, "Proposal"), _tag_rule("x"))
    automation = api.get(f"/automations/{rule['automation_id']}")
    assert automation["kind"] == "stage_rule"
    assert automation["definition"]["trigger"]["stage_id"] == _stage(pipeline, "Proposal")
    error = api.patch(f"/automations/{rule['automation_id']}", {"name": "Renamed"}, expect=409)
    assert "rules" in error["message"]
    api.post(f"/automations/{rule['automation_id']}/publish", expect=409)
    error = api.post(
        "/automations",
        {"name": "Sneaky", "kind": "stage_rule", "definition": automation["definition"]},
        expect=422,
    )
    assert error["field"] == "kind"


def test_deleting_the_stage_removes_its_rules(api: Api) -> None:
    pipeline = _deal_pipeline(api)
    stage = api.post(f"/pipelines/{pipeline['id']}/stages", {"name": "Review"})
    pipeline = api.get(f"/pipelines/{pipeline['id']}")
    rule = api.post(_rules(pipeline, "Review"), _tag_rule("x"))
    api.delete(f"/pipelines/{pipeline['id']}/stages/{stage['id']}")
    assert api.get(f"/automations/{rule['automation_id']}")["status"] == "archived"


def test_only_automation_editors_change_rules_and_lead_rules_need_h9(api: Api) -> None:
    pipeline = _deal_pipeline(api)
    base = _rules(pipeline, "Proposal")
    agent = add_member(api, "agent")
    manager = add_member(api, "manager")
    agent.api.post(base, _tag_rule("x"), expect=403)
    assert agent.api.get(base) == []  # reading is open to members
    manager.api.post(base, _tag_rule("x"))
    leads = next(p for p in api.get("/pipelines?object_type=lead") if p["is_default"])
    lead_rules = _rules(leads, "Connected")
    rule = {"name": "Tag", "action": "set_field", "settings": {"fields": {"company_name": "x"}}}
    error = manager.api.post(lead_rules, rule, expect=403)
    assert "lead_automation.edit" in error["message"]
    api.post(lead_rules, rule)


def test_compiled_automations_are_not_switched_through_the_workflow_api(api: Api) -> None:
    """A paused or resumed compiled automation would disagree with its rules."""
    pipeline = _deal_pipeline(api)
    base = _rules(pipeline, "Proposal")
    rule = api.post(base, _tag_rule("x"))
    for verb in ("pause", "archive"):
        error = api.post(f"/automations/{rule['automation_id']}/{verb}", expect=409)
        assert "rules" in error["message"]
    api.delete(f"{base}/{rule['id']}")
    api.post(f"/automations/{rule['automation_id']}/resume", expect=409)
    deal = _deal(api)
    _move(api, deal, _stage(pipeline, "Proposal"))
    assert api.get(f"/deals/{deal['id']}")["fields"]["currency"] == "EUR"

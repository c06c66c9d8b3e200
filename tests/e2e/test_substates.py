"""Opportunity sub-states: opened and closed by hand or by the open_substate/close_substate
actions, each change a SubstateOpened/SubstateClosed event that sub-state automations start on
(SPEC E1, E3)."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api


def _opportunity(api: Api) -> dict[str, Any]:
    return api.post(  # type: ignore[no-any-return]
        "/opportunities", {"name": "Solar roof", "fields": {"opportunity_type": "solar"}}
    )


def test_substates_open_and_close_independently(api: Api) -> None:
    opp = _opportunity(api)
    base = f"/opportunities/{opp['id']}/substates"
    assert api.post(f"{base}/survey/open", {}, expect=200)["changed"] is True
    assert api.post(f"{base}/survey/open", {}, expect=200)["changed"] is False
    api.post(f"{base}/permits/open", {}, expect=200)
    after = api.post(f"{base}/survey/close", {}, expect=200)
    assert {s["substate"]: s["status"] for s in after["substates"]} == {
        "survey": "closed",
        "permits": "open",
    }
    assert api.post(f"{base}/never/close", {}, expect=200)["changed"] is False
    types = [e["type"] for e in api.get(f"/opportunities/{opp['id']}/timeline")["items"]]
    assert types.count("SubstateOpened") == 2 and types.count("SubstateClosed") == 1
    deal = api.post("/deals", {"name": "Not an opportunity"})
    error = api.post(f"/opportunities/{deal['id']}/substates/x/open", {}, expect=404)
    assert error["code"] == "not_found"


def test_actions_open_the_next_substate_when_one_closes(api: Api) -> None:
    """A sub-state action: when "survey" closes on a solar opportunity, "installation" opens."""
    definition = {
        "trigger": {"type": "substate_closed", "opportunity_type": "solar", "substate": "survey"},
        "steps": [
            {
                "id": "next",
                "type": "action",
                "action": "open_substate",
                "settings": {"substate": "installation"},
            },
            {
                "id": "done",
                "type": "action",
                "action": "close_substate",
                "settings": {"substate": "permits"},
            },
        ],
    }
    api.post("/automations", {"name": "Next", "definition": definition, "publish": True})
    opp = _opportunity(api)
    base = f"/opportunities/{opp['id']}/substates"
    api.post(f"{base}/survey/open", {}, expect=200)
    api.post(f"{base}/permits/open", {}, expect=200)
    api.post(f"{base}/survey/close", {}, expect=200)
    api.post("/admin/clock/advance", {"by": "PT0S"}, expect=200)
    states = {s["substate"]: s["status"] for s in api.get(base)}
    assert states == {"survey": "closed", "permits": "closed", "installation": "open"}


def test_substate_actions_are_for_opportunities(api: Api) -> None:
    definition = {
        "trigger": {"type": "record_created", "object_type": "deal"},
        "steps": [
            {
                "id": "next",
                "type": "action",
                "action": "open_substate",
                "settings": {"substate": "installation"},
            }
        ],
    }
    error = api.post(
        "/automations", {"name": "Bad", "definition": definition, "publish": True}, expect=422
    )
    assert "only opportunities have sub-states" in error["message"]

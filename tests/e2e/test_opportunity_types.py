"""Opportunity types through the API (SPEC E1, E6): states and sub-states, who may change them,
and opportunities of a defined type keeping to its sub-states."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api
from tests.e2e.test_api_permissions import add_member

SOLAR: dict[str, Any] = {
    "name": "Solar installation",
    "states": ["Documentation", "Installation"],
    "substates": [
        {"name": "Pending documentation", "state": "Documentation"},
        {"name": "Documentation validation", "state": "Documentation"},
        {"name": "Site survey"},
    ],
}


def _opportunity(api: Api, type_name: str) -> dict[str, Any]:
    return api.post(  # type: ignore[no-any-return]
        "/opportunities", {"name": "Roof", "fields": {"opportunity_type": type_name}}
    )


def test_a_type_is_created_read_changed_and_deleted(api: Api) -> None:
    made = api.post("/opportunity-types", SOLAR)
    assert made["name"] == "Solar installation"
    assert made["states"] == ["Documentation", "Installation"]
    assert made["substates"][2] == {"name": "Site survey", "state": None}
    assert made["version"] == 1
    assert api.get(f"/opportunity-types/{made['id']}") == made
    assert [t["name"] for t in api.get("/opportunity-types")] == ["Solar installation"]

    changed = api.patch(
        f"/opportunity-types/{made['id']}",
        {"states": ["Documentation", "Installation", "Done"], "version": 1},
    )
    assert changed["states"][-1] == "Done" and changed["version"] == 2
    assert changed["substates"] == made["substates"]  # what is not given stays
    stale = api.patch(f"/opportunity-types/{made['id']}", {"name": "x", "version": 1}, expect=409)
    assert stale["code"] == "stale_version"

    duplicate = api.post("/opportunity-types", SOLAR, expect=409)
    assert "another opportunity type is named 'Solar installation'" in duplicate["message"]

    api.delete(f"/opportunity-types/{made['id']}")
    api.get(f"/opportunity-types/{made['id']}", expect=404)


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        (
            {"name": "T", "states": ["A"], "substates": [{"name": "s", "state": "B"}]},
            "substates.0.state",
            "sub-state 's' belongs to state 'B', which is not one of the type's states ('A')",
        ),
        ({"name": "T", "states": ["A", "a"]}, "states.1", "the state 'a' is listed twice"),
        (
            {"name": "T", "substates": [{"name": "x"}, {"name": "x"}]},
            "substates.1",
            "the sub-state 'x' is listed twice",
        ),
        ({"name": "  "}, "name", "an opportunity type is named in 1 to 100 characters"),
    ],
)
def test_a_type_of_the_wrong_shape_is_refused_naming_the_entry(
    api: Api, body: dict[str, Any], field: str, words: str
) -> None:
    error = api.post("/opportunity-types", body, expect=422)
    assert error["field"] == field and words in error["message"], error


@pytest.mark.parametrize("role", ["agent", "manager"])
def test_changing_types_needs_opportunity_states_edit(api: Api, role: str) -> None:
    """E6: members without the permission read types but cannot change them."""
    made = api.post("/opportunity-types", SOLAR)
    member = add_member(api, role).api
    assert member.get(f"/opportunity-types/{made['id']}")["name"] == SOLAR["name"]
    for error in (
        member.post("/opportunity-types", {**SOLAR, "name": "Other"}, expect=403),
        member.patch(f"/opportunity-types/{made['id']}", {"states": []}, expect=403),
        member.call("DELETE", f"/opportunity-types/{made['id']}", 403),
    ):
        assert error["code"] == "permission_denied"
        assert "opportunity_states.edit" in error["message"]
    granted = add_member(api, role, permissions=("opportunity_states.edit",)).api
    granted.post("/opportunity-types", {**SOLAR, "name": "Other"})


def test_an_opportunity_of_a_defined_type_has_only_its_substates(api: Api) -> None:
    api.post("/opportunity-types", SOLAR)
    opp = _opportunity(api, "Solar installation")
    base = f"/opportunities/{opp['id']}/substates"
    api.post(f"{base}/Pending documentation/open", {}, expect=200)
    for verb in ("open", "close"):
        error = api.post(f"{base}/Paperwork/{verb}", {}, expect=422)
        assert error["field"] == "substate"
        assert error["message"] == (
            "opportunity type 'Solar installation' has no sub-state 'Paperwork' (its "
            "sub-states: 'Pending documentation', 'Documentation validation', 'Site survey')"
        )
    # An opportunity of no defined type keeps any sub-state it is given.
    free = _opportunity(api, "Wind")
    api.post(f"/opportunities/{free['id']}/substates/Paperwork/open", {}, expect=200)


def test_a_type_opportunities_name_is_not_renamed(api: Api) -> None:
    made = api.post("/opportunity-types", SOLAR)
    _opportunity(api, "Solar installation")
    error = api.patch(f"/opportunity-types/{made['id']}", {"name": "Solar"}, expect=409)
    assert "opportunities are of type 'Solar installation'" in error["message"]
    unused = api.post("/opportunity-types", {**SOLAR, "name": "Heat pump"})
    renamed = api.patch(f"/opportunity-types/{unused['id']}", {"name": "Heat pumps"})
    assert renamed["name"] == "Heat pumps"


def test_an_open_substate_the_type_dropped_can_still_be_closed(api: Api) -> None:
    kind = api.post("/opportunity-types", SOLAR)
    opp = _opportunity(api, "Solar installation")
    base = f"/opportunities/{opp['id']}/substates"
    api.post(f"{base}/Site survey/open", {}, expect=200)
    kept = [s for s in SOLAR["substates"] if s["name"] != "Site survey"]
    api.patch(f"/opportunity-types/{kind['id']}", {"substates": kept})
    api.post(f"{base}/Site survey/open", {}, expect=422)  # opening it again is refused
    out = api.post(f"{base}/Site survey/close", {}, expect=200)
    assert out["changed"] is True

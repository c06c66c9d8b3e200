"""The contact lifecycle through the REST API (SPEC L1-L9, issue 4 points 1-5, 7-9)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from stageflow.bootstrap import App
from stageflow.domain.clock import VirtualClock
from tests.conftest import Api, Tenant


def _stages(api: Api) -> dict[str, Any]:
    stages = api.get("/lifecycle/stages")
    return {s["name"]: s for s in stages["lifecycle"] + stages["lost"]}


def _contact(api: Api, name: str = "Ann", **extra: Any) -> Any:
    return api.post("/contacts", {"name": name, **extra})


def _timeline_types(api: Api, contact_id: int) -> list[str]:
    return [e["type"] for e in api.get(f"/contacts/{contact_id}/timeline")["items"]]


def _counts(api: Api) -> dict[str, int]:
    board = api.get("/dashboard/lifecycle")
    return {c["name"]: c["contacts"] for c in board["lifecycle"] + board["lost"]}


def test_new_workspace_has_lifecycle_on_with_the_default_stages(api: Api) -> None:
    stages = api.get("/lifecycle/stages")
    assert [s["name"] for s in stages["lifecycle"]] == [
        "New Lead",
        "Hot Lead",
        "Payment",
        "Customer",
    ]
    assert [(s["name"], s["emoji"]) for s in stages["lost"]] == [("Cold Lead", "❄️")]
    assert all(s["description"] for s in stages["lifecycle"] + stages["lost"])
    assert stages["default_stage_id"] == _stages(api)["New Lead"]["id"]
    assert (stages["total"], stages["limit"]) == (5, 20)
    assert api.get("/me")["workspace"]["settings"]["lifecycle_enabled"] is True


def test_stages_are_created_renamed_and_reordered(api: Api) -> None:
    qualified = api.post(
        "/lifecycle/stages", {"name": "Qualified", "description": "Fits", "position": 1}
    )
    assert qualified["kind"] == "lifecycle" and qualified["emoji"] is None
    lost = api.post(
        "/lifecycle/stages",
        {"name": "Lost to competitor", "kind": "lost", "emoji": "🏳️", "description": "Chose B"},
    )
    names = [s["name"] for s in api.get("/lifecycle/stages")["lifecycle"]]
    assert names == ["New Lead", "Qualified", "Hot Lead", "Payment", "Customer"]
    renamed = api.patch(f"/lifecycle/stages/{qualified['id']}", {"name": "Sales qualified"})
    assert renamed["name"] == "Sales qualified"
    api.patch(f"/lifecycle/stages/{lost['id']}", {"emoji": "🥈", "description": "Went elsewhere"})
    assert _stages(api)["Lost to competitor"]["emoji"] == "🥈"

    by_name = _stages(api)
    order = ["Customer", "Payment", "Hot Lead", "Sales qualified", "New Lead"]
    lost_order = ["Lost to competitor", "Cold Lead"]
    result = api.put("/lifecycle/order", {"order": [by_name[n]["id"] for n in order + lost_order]})
    assert [s["name"] for s in result["lifecycle"]] == order
    assert [s["name"] for s in result["lost"]] == lost_order
    assert [s["position"] for s in result["lifecycle"]] == [0, 1, 2, 3, 4]


def test_a_bad_reorder_changes_nothing(api: Api) -> None:
    ids = [s["id"] for s in _stages(api).values()]
    before = api.get("/lifecycle/stages")
    error = api.put("/lifecycle/order", {"order": ids[:-1]}, expect=422)
    assert error["field"] == "order" and "missing" in error["message"]
    assert api.put("/lifecycle/order", {"order": [*ids, ids[0]]}, expect=422)["field"] == "order"
    assert api.put("/lifecycle/order", {"order": [*ids[:-1], 999999]}, expect=422)
    assert api.get("/lifecycle/stages") == before


def test_at_most_twenty_stages_in_total(api: Api) -> None:
    for i in range(15):
        kind = {"kind": "lost", "emoji": "🥶"} if i % 2 else {}
        api.post("/lifecycle/stages", {"name": f"Stage {i}", **kind})
    error = api.post("/lifecycle/stages", {"name": "One too many"}, expect=409)
    assert "at most 20" in error["message"]
    assert api.get("/lifecycle/stages")["total"] == 20


def test_stage_input_is_validated(api: Api) -> None:
    assert api.post("/lifecycle/stages", {"name": "new lead"}, expect=409)["field"] == "name"
    lost = {"name": "Gone", "kind": "lost"}
    assert api.post("/lifecycle/stages", lost, expect=422)["field"] == "emoji"
    assert api.post("/lifecycle/stages", {**lost, "emoji": "no"}, expect=422)["field"] == "emoji"
    assert (
        api.post("/lifecycle/stages", {"name": "X", "emoji": "🥶"}, expect=422)["field"] == "emoji"
    )
    assert api.post("/lifecycle/stages", {"name": "   "}, expect=422)["field"] == "name"
    assert api.post("/lifecycle/stages", {"name": "x" * 101}, expect=422)
    error = api.post("/lifecycle/stages", {**lost, "emoji": "🥶", "is_default": True}, expect=422)
    assert error["field"] == "is_default"
    assert api.get("/lifecycle/stages/999999", expect=404)["code"] == "not_found"


def test_one_default_stage_and_every_new_contact_gets_it(api: Api) -> None:
    stages = _stages(api)
    assert _contact(api)["lifecycle_stage_id"] == stages["New Lead"]["id"]
    result = api.put("/lifecycle/default", {"stage_id": stages["Hot Lead"]["id"]})
    assert result["default_stage_id"] == stages["Hot Lead"]["id"]
    assert [s["name"] for s in result["lifecycle"] if s["is_default"]] == ["Hot Lead"]
    assert _contact(api, "Bob")["lifecycle_stage_id"] == stages["Hot Lead"]["id"]
    error = api.put("/lifecycle/default", {"stage_id": stages["Cold Lead"]["id"]}, expect=422)
    assert "lost stage" in error["message"]
    assert api.get("/lifecycle/stages")["default_stage_id"] == stages["Hot Lead"]["id"]
    assert api.put("/lifecycle/default", {"stage_id": None})["default_stage_id"] is None
    assert _contact(api, "Cy")["lifecycle_stage_id"] is None
    explicit = _contact(api, "Di", lifecycle_stage_id=stages["Payment"]["id"])
    assert explicit["lifecycle_stage_id"] == stages["Payment"]["id"]
    # A new default through PATCH replaces the old one too.
    api.patch(f"/lifecycle/stages/{stages['Customer']['id']}", {"is_default": True})
    api.patch(f"/lifecycle/stages/{stages['Payment']['id']}", {"is_default": True})
    assert api.get("/lifecycle/stages")["default_stage_id"] == stages["Payment"]["id"]


def test_leads_and_deals_have_no_lifecycle_stage(api: Api) -> None:
    stage = _stages(api)["Hot Lead"]["id"]
    lead = api.post("/leads", {"name": "L"})
    assert lead["lifecycle_stage_id"] is None
    assert api.post("/leads", {"name": "L2", "lifecycle_stage_id": stage}, expect=422)
    assert api.patch(f"/leads/{lead['id']}", {"lifecycle_stage_id": stage}, expect=422)
    api.put(f"/leads/{lead['id']}/lifecycle", {"stage_id": stage}, expect=404)


def test_a_contacts_stage_is_set_changed_and_cleared_with_events(
    app: App, api: Api, tenant: Tenant
) -> None:
    stages = _stages(api)
    contact = _contact(api)
    out = api.put(f"/contacts/{contact['id']}/lifecycle", {"stage_id": stages["Hot Lead"]["id"]})
    assert out["record"]["lifecycle_stage_id"] == stages["Hot Lead"]["id"]
    moved = api.patch(
        f"/contacts/{contact['id']}", {"lifecycle_stage_id": stages["Cold Lead"]["id"]}
    )
    assert moved["lifecycle_stage_id"] == stages["Cold Lead"]["id"]
    cleared = api.put(f"/contacts/{contact['id']}/lifecycle", {"stage_id": None})
    assert cleared["record"]["lifecycle_stage_id"] is None
    same = api.put(f"/contacts/{contact['id']}/lifecycle", {"stage_id": None})
    assert same["record"]["version"] == cleared["record"]["version"]  # nothing changed

    events = [
        e
        for e in api.get(f"/contacts/{contact['id']}/timeline")["items"]
        if e["type"] == "LifecycleChanged"
    ]
    assert [(e["data"]["from_stage"], e["data"]["to_stage"]) for e in events] == [
        ("Cold Lead", None),
        ("Hot Lead", "Cold Lead"),
        ("New Lead", "Hot Lead"),
        (None, "New Lead"),
    ]
    assert all(e["actor"]["user_id"] == tenant.new.owner_id for e in events)
    assert all(e["occurred_at"] for e in events)
    stale = {"stage_id": stages["Payment"]["id"], "version": 1}
    assert (
        api.put(f"/contacts/{contact['id']}/lifecycle", stale, expect=409)["code"]
        == "stale_version"
    )
    bad = api.put(f"/contacts/{contact['id']}/lifecycle", {"stage_id": 999999}, expect=422)
    assert bad["field"] == "lifecycle_stage_id"


def test_deleting_a_stage_previews_and_moves_its_contacts(api: Api) -> None:
    stages = _stages(api)
    hot = stages["Hot Lead"]["id"]
    contacts = [_contact(api, f"C{i}", lifecycle_stage_id=hot)["id"] for i in range(3)]
    company = api.post("/companies", {"name": "Acme", "lifecycle_stage_id": hot})
    preview = api.get(f"/lifecycle/stages/{hot}/delete-preview")
    assert (preview["contacts"], preview["companies"], preview["can_delete"]) == (3, 1, True)

    error = api.delete(f"/lifecycle/stages/{hot}", expect=422)
    assert "3 contacts" in error["message"] and error["field"] == "move_to"
    assert api.delete(f"/lifecycle/stages/{hot}?move_to={hot}", expect=422)
    assert api.delete(f"/lifecycle/stages/{hot}?move_to=999999", expect=422)
    assert api.get(f"/lifecycle/stages/{hot}")["name"] == "Hot Lead"  # nothing happened

    payment = stages["Payment"]["id"]
    done = api.delete(f"/lifecycle/stages/{hot}?move_to={payment}", expect=200)
    assert done["contacts"] == 3
    assert api.get(f"/lifecycle/stages/{hot}", expect=404)
    for contact_id in contacts:
        assert api.get(f"/contacts/{contact_id}")["lifecycle_stage_id"] == payment
        event = api.get(f"/contacts/{contact_id}/timeline")["items"][0]
        assert event["type"] == "LifecycleChanged"
        assert (event["data"]["from_stage"], event["data"]["to_stage"]) == ("Hot Lead", "Payment")
    assert api.get(f"/companies/{company['id']}")["lifecycle_stage_id"] == payment
    assert _counts(api)["Payment"] == 3


def test_deleting_a_stage_may_clear_its_contacts(api: Api) -> None:
    cold = _stages(api)["Cold Lead"]["id"]
    contact = _contact(api, lifecycle_stage_id=cold)
    api.delete(f"/lifecycle/stages/{cold}?clear=true", expect=200)
    assert api.get(f"/contacts/{contact['id']}")["lifecycle_stage_id"] is None
    assert api.get("/dashboard/lifecycle")["no_stage"]["contacts"] == 1
    assert api.get("/lifecycle/stages")["lost"] == []


def test_the_last_lifecycle_stage_cannot_be_deleted(api: Api) -> None:
    stages = _stages(api)
    for name in ("New Lead", "Hot Lead", "Payment"):
        api.delete(f"/lifecycle/stages/{stages[name]['id']}", expect=200)
    last = stages["Customer"]["id"]
    preview = api.get(f"/lifecycle/stages/{last}/delete-preview")
    assert preview["can_delete"] is False and "last lifecycle stage" in preview["reason"]
    assert "last lifecycle stage" in api.delete(f"/lifecycle/stages/{last}", expect=409)["message"]
    # the default went with its stage: zero defaults is allowed
    assert api.get("/lifecycle/stages")["default_stage_id"] is None
    api.delete(f"/lifecycle/stages/{stages['Cold Lead']['id']}", expect=200)  # lost: may go


def test_contacts_are_filtered_by_lifecycle_or_lost_stage(api: Api) -> None:
    stages = _stages(api)
    _contact(api, "New")
    cold = _contact(api, "Cold", lifecycle_stage_id=stages["Cold Lead"]["id"])
    hot = _contact(api, "Hot", lifecycle_stage_id=stages["Hot Lead"]["id"])

    def names(filter_: dict[str, Any]) -> list[str]:
        page = api.get("/contacts", params={"filter": json.dumps(filter_)})
        return sorted(r["name"] for r in page["items"])

    lost = {"field": "lifecycle_stage_id", "op": "eq", "value": stages["Cold Lead"]["id"]}
    assert names(lost) == ["Cold"]
    either = [stages["Hot Lead"]["id"], stages["Cold Lead"]["id"]]
    assert names({"field": "lifecycle_stage_id", "op": "in", "value": either}) == ["Cold", "Hot"]
    assert names({"not": lost}) == ["Hot", "New"]
    assert cold["lifecycle_stage_id"] != hot["lifecycle_stage_id"]


def test_dashboard_counts_contacts_per_stage_without_lost_stages(
    app: App, api: Api, tenant: Tenant, clock: VirtualClock
) -> None:
    stages = _stages(api)
    for i in range(3):
        _contact(api, f"N{i}")
    hot = _contact(api, "H")
    api.put(f"/contacts/{hot['id']}/lifecycle", {"stage_id": stages["Hot Lead"]["id"]})
    gone = _contact(api, "G", lifecycle_stage_id=stages["Cold Lead"]["id"])
    api.delete(f"/contacts/{_contact(api, 'D')['id']}")
    board = api.get("/dashboard/lifecycle")
    assert board["enabled"] is True
    assert [c["name"] for c in board["lifecycle"]] == [
        "New Lead",
        "Hot Lead",
        "Payment",
        "Customer",
    ]
    assert {c["name"]: c["contacts"] for c in board["lifecycle"]} == {
        "New Lead": 3,
        "Hot Lead": 1,
        "Payment": 0,
        "Customer": 0,
    }
    assert [(c["name"], c["contacts"]) for c in board["lost"]] == [("Cold Lead", 1)]
    hot_card = next(c for c in board["lifecycle"] if c["name"] == "Hot Lead")
    assert (hot_card["entered_30d"], hot_card["left_30d"]) == (1, 0)
    steps = {s["stage"]: s for s in board["conversion_30d"]["steps"]}
    assert steps["New Lead"]["entered"] == 5  # created into it (one was deleted since)
    assert steps["New Lead"]["advanced"] == 1
    assert steps["New Lead"]["advanced_rate"] == round(1 / 5, 4)
    transitions = {
        (t["from_stage"], t["to_stage"]): t["changes"]
        for t in board["conversion_30d"]["transitions"]
    }
    assert transitions[("New Lead", "Hot Lead")] == 1
    assert transitions[(None, "Cold Lead")] == 1
    assert gone

    clock.advance(timedelta(days=31))
    later = api.get("/dashboard/lifecycle")
    assert later["conversion_30d"]["transitions"] == []
    assert {c["name"]: c["contacts"] for c in later["lifecycle"]}["New Lead"] == 3
    assert api.post("/lifecycle/recount", expect=200) == {"stages_corrected": []}


def test_company_stage_syncs_to_its_contacts_with_source_sync(api: Api, tenant: Tenant) -> None:
    stages = _stages(api)
    company = api.post("/companies", {"name": "Acme"})
    assert company["lifecycle_stage_id"] is None  # the default is for contacts
    staff = [
        _contact(api, f"S{i}", associations={"company": [company["id"]]})["id"] for i in range(2)
    ]
    outsider = _contact(api, "Other")
    customer = stages["Customer"]["id"]
    out = api.put(f"/companies/{company['id']}/lifecycle", {"stage_id": customer})
    assert out["contacts_synced"] == 0  # the workspace setting is off by default
    out = api.put(
        f"/companies/{company['id']}/lifecycle",
        {"stage_id": stages["Payment"]["id"], "sync_contacts": True},
    )
    assert out["contacts_synced"] == 2
    for contact_id in staff:
        assert api.get(f"/contacts/{contact_id}")["lifecycle_stage_id"] == stages["Payment"]["id"]
        event = api.get(f"/contacts/{contact_id}/timeline")["items"][0]
        assert event["type"] == "LifecycleChanged" and event["source"] == "sync"
        assert event["actor"]["kind"] == "sync" and event["actor"]["id"] == company["id"]
    assert api.get(f"/contacts/{outsider['id']}")["lifecycle_stage_id"] == stages["New Lead"]["id"]
    assert _counts(api)["Payment"] == 2


def test_agents_cannot_change_stages_and_see_no_dashboard(api: Api, client: Any) -> None:
    agent = api.post("/users", {"email": "a@example.com", "name": "Agent", "role": "agent"})
    token = api.post("/tokens", {"name": "t", "user_id": agent["id"]})["token"]
    as_agent = api.as_token(token)
    assert as_agent.get("/lifecycle/stages")["total"] == 5
    assert as_agent.post("/lifecycle/stages", {"name": "Mine"}, expect=403)["code"]
    assert as_agent.get("/dashboard/lifecycle", expect=403)
    own = as_agent.post("/contacts", {"name": "Mine"})
    hot = _stages(api)["Hot Lead"]["id"]
    assert as_agent.put(f"/contacts/{own['id']}/lifecycle", {"stage_id": hot})["record"]


def test_filters_are_saved_as_segments_that_list_their_members(api: Api) -> None:
    stages = _stages(api)
    cold_id = stages["Cold Lead"]["id"]
    for i in range(3):
        _contact(api, f"Cold {i}", lifecycle_stage_id=cold_id)
    _contact(api, "Warm")
    lost = {"field": "lifecycle_stage_id", "op": "eq", "value": cold_id}
    segment = api.post("/segments", {"name": "Gone cold", "filter": lost})
    assert (segment["object_type"], segment["filter"]) == ("contact", lost)
    first = api.get(f"/segments/{segment['id']}/members", params={"limit": 2})
    rest = api.get(
        f"/segments/{segment['id']}/members", params={"limit": 2, "cursor": first["next_cursor"]}
    )
    names = [r["name"] for r in first["items"] + rest["items"]]
    assert names == ["Cold 2", "Cold 1", "Cold 0"] and rest["next_cursor"] is None

    # a contact that warms up leaves the segment: members are computed when asked
    warmed = first["items"][0]["id"]
    api.put(f"/contacts/{warmed}/lifecycle", {"stage_id": stages["Hot Lead"]["id"]})
    assert len(api.get(f"/segments/{segment['id']}/members")["items"]) == 2

    assert api.post("/segments", {"name": "Gone cold", "filter": lost}, expect=409)
    bad = {"field": "nope", "op": "eq", "value": 1}
    assert api.post("/segments", {"name": "Bad", "filter": bad}, expect=422)["field"] == "filter"
    assert api.post("/segments", {"name": "Bad", "filter": {"op": "x"}}, expect=422)
    renamed = api.patch(f"/segments/{segment['id']}", {"name": "Cold ones"})
    assert renamed["name"] == "Cold ones" and renamed["version"] == 2
    assert [s["name"] for s in api.get("/segments")] == ["Cold ones"]
    api.delete(f"/segments/{segment['id']}")
    assert api.get(f"/segments/{segment['id']}", expect=404)


def test_workspace_settings_show_or_hide_lifecycle(api: Api) -> None:
    settings = api.patch("/workspace/settings", {"lifecycle_enabled": False})
    assert settings["lifecycle_enabled"] is False
    assert api.get("/dashboard/lifecycle")["enabled"] is False
    assert _contact(api)["lifecycle_stage_id"] is not None  # hidden, still working
    assert api.patch("/workspace/settings", {"timezone": "Mars/Olympus"}, expect=422)["field"] == (
        "timezone"
    )
    hours = {"days": [0, 1, 2, 3], "start": "18:00", "end": "09:00"}
    assert api.patch("/workspace/settings", {"business_hours": hours}, expect=422)
    assert api.patch("/workspace/settings", {"holidays": ["2026-13-01"]}, expect=422)
    assert api.patch("/workspace/settings", {"timezone": None}, expect=422)
    rome = api.patch("/workspace/settings", {"timezone": "Europe/Rome"})
    assert rome["timezone"] == "Europe/Rome" and rome["lifecycle_enabled"] is False
    assert api.get("/me")["workspace"]["settings"]["timezone"] == "Europe/Rome"


def test_company_sync_follows_the_workspace_setting(api: Api) -> None:
    api.patch("/workspace/settings", {"lifecycle_sync_companies": True})
    company = api.post("/companies", {"name": "Acme"})
    staff = _contact(api, associations={"company": [company["id"]]})
    customer = _stages(api)["Customer"]["id"]
    out = api.put(f"/companies/{company['id']}/lifecycle", {"stage_id": customer})
    assert out["contacts_synced"] == 1
    assert api.get(f"/contacts/{staff['id']}")["lifecycle_stage_id"] == customer
    again = api.put(
        f"/companies/{company['id']}/lifecycle", {"stage_id": None, "sync_contacts": False}
    )
    assert again["contacts_synced"] == 0


def test_automations_react_to_lifecycle_changes_and_messages(app: App, api: Api) -> None:
    customer = _stages(api)["Customer"]["id"]
    for name, trigger in (
        ("won", {"type": "lifecycle_changed", "to_lifecycle_stage_id": customer}),
        ("wrote", {"type": "message_received", "channel": "telegram"}),
    ):
        automation = api.post(
            "/automations",
            {
                "name": name,
                "definition": {
                    "trigger": trigger,
                    "steps": [
                        {
                            "id": "note",
                            "type": "action",
                            "action": "set_field",
                            "settings": {"fields": {"job_title": name}},
                        }
                    ],
                },
            },
        )
        api.post(f"/automations/{automation['id']}/publish", expect=200)
    bad = {"type": "lifecycle_changed", "to_lifecycle_stage_id": 999999}
    steps = [{"id": "stop", "type": "end"}]
    error = api.post(
        "/automations", {"name": "bad", "definition": {"trigger": bad, "steps": steps}}, expect=422
    )
    assert error["field"] == "trigger.to_lifecycle_stage_id"
    contact = _contact(api)
    api.put(f"/contacts/{contact['id']}/lifecycle", {"stage_id": customer})
    writer = api.post(
        "/messages/inbound", {"channel": "telegram", "address": "@ann", "text": "hello"}
    )["contact"]
    app.worker().run_until_idle()
    assert api.get(f"/contacts/{contact['id']}")["fields"]["job_title"] == "won"
    assert api.get(f"/contacts/{writer['id']}")["fields"]["job_title"] == "wrote"


def test_the_30_day_window_is_exact_to_the_moment(api: Api, clock: VirtualClock) -> None:
    """Whole days come from daily sums, the first day of the window from the changes
    themselves: a change just before the window's start is out, one just after is in."""
    stages = _stages(api)
    hot, paid = stages["Hot Lead"]["id"], stages["Payment"]["id"]
    start = clock.now().replace(hour=10, minute=0, second=0, microsecond=0) + timedelta(days=1)
    early, late = _contact(api, "Early"), _contact(api, "Late")
    clock.set(start + timedelta(hours=1))  # 11:00 on day 0
    api.put(f"/contacts/{early['id']}/lifecycle", {"stage_id": hot})
    clock.set(start + timedelta(hours=3))  # 13:00 on day 0
    api.put(f"/contacts/{late['id']}/lifecycle", {"stage_id": hot})
    clock.set(start + timedelta(days=5))
    api.put(f"/contacts/{late['id']}/lifecycle", {"stage_id": paid})
    clock.set(start + timedelta(days=30, hours=2))  # the window starts at 12:00 on day 0
    moves = {
        (t["from_stage"], t["to_stage"]): t["changes"]
        for t in api.get("/dashboard/lifecycle")["conversion_30d"]["transitions"]
    }
    assert moves == {("New Lead", "Hot Lead"): 1, ("Hot Lead", "Payment"): 1}
    assert api.post("/lifecycle/recount", expect=200) == {"stages_corrected": []}
    again = api.get("/dashboard/lifecycle")["conversion_30d"]["transitions"]
    assert {(t["from_stage"], t["to_stage"]): t["changes"] for t in again} == moves


def test_agents_are_kept_to_what_they_may_see_and_edit(api: Api) -> None:
    agent = api.post("/users", {"email": "ag@example.com", "name": "Ag", "role": "agent"})
    as_agent = api.as_token(api.post("/tokens", {"name": "t", "user_id": agent["id"]})["token"])
    stages = _stages(api)
    cold = stages["Cold Lead"]["id"]
    assert as_agent.get(f"/lifecycle/stages/{cold}/delete-preview", expect=403)
    company = as_agent.post("/companies", {"name": "Agent Co"})
    theirs = _contact(api, "Owner's", associations={"company": [company["id"]]})
    mine = as_agent.post(
        "/contacts", {"name": "Mine", "associations": {"company": [company["id"]]}}
    )
    out = as_agent.put(
        f"/companies/{company['id']}/lifecycle", {"stage_id": cold, "sync_contacts": True}
    )
    assert out["contacts_synced"] == 1
    assert api.get(f"/contacts/{mine['id']}")["lifecycle_stage_id"] == cold
    assert api.get(f"/contacts/{theirs['id']}")["lifecycle_stage_id"] == stages["New Lead"]["id"]


def test_text_operators_on_ids_are_refused_not_a_server_error(api: Api) -> None:
    bad = {"field": "lifecycle_stage_id", "op": "contains", "value": "1"}
    assert api.post("/segments", {"name": "bad", "filter": bad}, expect=422)["field"] == "filter"
    assert api.get("/contacts", params={"filter": json.dumps(bad)}, expect=422)

"""Inbound messages and conversations through the REST API (SPEC L4, L5, L9, L10)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from stageflow.bootstrap import App
from stageflow.domain.clock import VirtualClock
from tests.conftest import Api


def _message(
    api: Api,
    address: str = "ann@example.com",
    channel: str = "email",
    expect: int = 201,
    **extra: Any,
) -> Any:
    body = {"channel": channel, "address": address, "text": "Hi!", **extra}
    return api.post("/messages/inbound", body, expect=expect)


def _stage_id(api: Api, name: str) -> int:
    stages = api.get("/lifecycle/stages")
    return next(s["id"] for s in stages["lifecycle"] + stages["lost"] if s["name"] == name)


def _card(api: Api, name: str) -> dict[str, Any]:
    board = api.get("/dashboard/lifecycle")
    return next(c for c in board["lifecycle"] + board["lost"] if c["name"] == name)


def test_an_unknown_sender_becomes_a_contact_in_the_default_stage(api: Api) -> None:
    out = _message(api, "Ann@Example.com", name="Ann Smith")
    assert out["contact_created"] is True
    contact = out["contact"]
    assert contact["name"] == "Ann Smith" and contact["fields"]["email"] == "ann@example.com"
    assert contact["lifecycle_stage_id"] == _stage_id(api, "New Lead")
    conversation = out["conversation"]
    assert (conversation["status"], conversation["assignee_id"]) == ("open", None)
    assert conversation["contact_id"] == contact["id"] and conversation["channel"] == "email"
    types = [e["type"] for e in api.get(f"/contacts/{contact['id']}/timeline")["items"]]
    assert types[:2] == ["MessageReceived", "ConversationOpened"]
    assert "LifecycleChanged" in types and "RecordCreated" in types
    messages = api.get(f"/conversations/{conversation['id']}/messages")["items"]
    assert [(m["direction"], m["text"]) for m in messages] == [("inbound", "Hi!")]


def test_a_known_sender_is_found_again_on_any_phone_channel(api: Api) -> None:
    first = _message(api, "+1 (555) 010-0000", channel="sms")
    again = _message(api, "+15550100000", channel="whatsapp", text="Second")
    assert again["contact_created"] is False
    assert again["contact"]["id"] == first["contact"]["id"]
    assert again["conversation"]["id"] == first["conversation"]["id"]
    assert again["conversation"]["channel"] == "whatsapp"
    assert len(api.get(f"/conversations/{first['conversation']['id']}/messages")["items"]) == 2
    assert first["contact"]["fields"]["phone"] == "+15550100000"


def test_a_contact_created_with_an_email_receives_its_messages(api: Api) -> None:
    contact = api.post("/contacts", {"name": "Bo", "fields": {"email": "BO@example.com"}})
    out = _message(api, "bo@example.com")
    assert out["contact_created"] is False and out["contact"]["id"] == contact["id"]
    api.patch(f"/contacts/{contact['id']}", {"fields": {"email": "bo@new.example"}})
    assert _message(api, "bo@new.example")["contact"]["id"] == contact["id"]
    assert _message(api, "bo@example.com")["contact_created"] is True  # the old address is free


def test_inbound_input_is_validated_and_nothing_is_left_behind(api: Api) -> None:
    assert _message(api, channel="pigeon", expect=422)["field"] == "channel"
    assert _message(api, "not-an-email", expect=422)["field"] == "address"
    assert _message(api, "12", channel="sms", expect=422)["field"] == "address"
    assert _message(api, "   ", expect=422)["field"] == "address"
    body = {"channel": "email", "address": "x@example.com", "text": ""}
    assert api.post("/messages/inbound", body, expect=422)
    assert api.get("/contacts")["items"] == []
    assert api.get("/conversations")["items"] == []


def test_conversations_open_snooze_close_and_assign(
    api: Api, app: App, clock: VirtualClock
) -> None:
    conversation = _message(api)["conversation"]
    path = f"/conversations/{conversation['id']}"
    me = api.get("/me")["user"]["id"]
    assigned = api.patch(path, {"assignee_id": me})
    assert assigned["assignee_id"] == me and assigned["version"] == 2
    until = (clock.now() + timedelta(hours=3)).isoformat()
    snoozed = api.patch(path, {"status": "snoozed", "snoozed_until": until})
    assert snoozed["status"] == "snoozed" and snoozed["snoozed_until"]
    assert api.patch(path, {"status": "snoozed"}, expect=200)["status"] == "snoozed"
    past = (clock.now() - timedelta(minutes=1)).isoformat()
    assert api.patch(path, {"status": "snoozed", "snoozed_until": past}, expect=422)
    closed = api.patch(path, {"status": "closed"})
    assert (closed["status"], closed["snoozed_until"]) == ("closed", None)
    assert (
        api.patch(path, {"status": "closed", "version": 1}, expect=409)["code"] == "stale_version"
    )
    assert api.patch(path, {"assignee_id": 999999}, expect=422)["field"] == "assignee_id"

    again = _message(api, text="Back again")
    assert again["conversation"]["status"] == "open"  # a new message reopens it
    events = api.get(f"/contacts/{conversation['contact_id']}/timeline")["items"]
    updates = [e for e in events if e["type"] == "ConversationUpdated"]
    assert updates[0]["after"] == {"status": "closed", "snoozed_until": None}
    assert events[1]["type"] == "ConversationOpened"


def test_a_snooze_runs_out_and_the_conversation_reopens(
    api: Api, app: App, clock: VirtualClock
) -> None:
    conversation = _message(api)["conversation"]
    until = (clock.now() + timedelta(hours=3)).isoformat()
    api.patch(f"/conversations/{conversation['id']}", {"status": "snoozed", "snoozed_until": until})
    assert _card(api, "New Lead")["snoozed_conversations"] == 1
    clock.advance(timedelta(hours=3))
    app.worker().run_until_idle()
    assert api.get(f"/conversations/{conversation['id']}")["status"] == "open"
    card = _card(api, "New Lead")
    assert (card["open_conversations"], card["snoozed_conversations"]) == (1, 0)
    reopened = api.get(f"/contacts/{conversation['contact_id']}/timeline")["items"][0]
    assert reopened["type"] == "ConversationUpdated" and reopened["actor"]["kind"] == "system"


def test_dashboard_counts_open_snoozed_and_unassigned_per_stage(
    api: Api, clock: VirtualClock
) -> None:
    me = api.get("/me")["user"]["id"]
    ids = [_message(api, f"c{i}@example.com")["conversation"]["id"] for i in range(4)]
    api.patch(f"/conversations/{ids[0]}", {"assignee_id": me})
    until = (clock.now() + timedelta(days=1)).isoformat()
    api.patch(f"/conversations/{ids[1]}", {"status": "snoozed", "snoozed_until": until})
    api.patch(f"/conversations/{ids[2]}", {"status": "closed"})
    card = _card(api, "New Lead")
    assert (
        card["contacts"],
        card["open_conversations"],
        card["snoozed_conversations"],
        card["unassigned_conversations"],
    ) == (4, 2, 1, 2)
    # moving the contact from its conversation carries its conversation's counts along
    hot = _stage_id(api, "Hot Lead")
    out = api.put(f"/conversations/{ids[3]}/lifecycle", {"stage_id": hot})
    assert out["record"]["lifecycle_stage_id"] == hot
    hot_card = _card(api, "Hot Lead")
    assert (hot_card["contacts"], hot_card["open_conversations"]) == (1, 1)
    assert hot_card["unassigned_conversations"] == 1
    assert _card(api, "New Lead")["unassigned_conversations"] == 1
    listed = api.get("/conversations", params={"lifecycle_stage_id": hot})["items"]
    assert [c["id"] for c in listed] == [ids[3]]
    unassigned = api.get("/conversations", params={"unassigned": "true"})["items"]
    assert sorted(c["id"] for c in unassigned) == sorted([ids[1], ids[3]])
    assert [c["id"] for c in api.get("/conversations", params={"status": "closed"})["items"]] == [
        ids[2]
    ]
    # deleting a contact takes its conversation out of the counts
    contact_id = api.get(f"/conversations/{ids[0]}")["contact_id"]
    api.delete(f"/contacts/{contact_id}")
    assert _card(api, "New Lead")["open_conversations"] == 0
    assert api.get(f"/conversations/{ids[0]}", expect=404)
    assert api.post("/lifecycle/recount", expect=200) == {"stages_corrected": []}


def test_conversation_pages(api: Api) -> None:
    for i in range(5):
        _message(api, f"p{i}@example.com")
    first = api.get("/conversations", params={"limit": 2})
    second = api.get("/conversations", params={"limit": 2, "cursor": first["next_cursor"]})
    third = api.get("/conversations", params={"limit": 2, "cursor": second["next_cursor"]})
    ids = [c["id"] for page in (first, second, third) for c in page["items"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 5
    assert third["next_cursor"] is None


def _agent(api: Api, email: str = "agent@example.com") -> tuple[Api, int]:
    agent = api.post("/users", {"email": email, "name": "Agent", "role": "agent"})
    token = api.post("/tokens", {"name": "t", "user_id": agent["id"]})["token"]
    return api.as_token(token), agent["id"]


def test_agents_cannot_reach_others_contacts_through_conversations(api: Api) -> None:
    as_agent, agent_id = _agent(api)
    api.post("/contacts", {"name": "VIP", "fields": {"email": "vip@example.com"}})
    error = as_agent.post(
        "/messages/inbound",
        {"channel": "email", "address": "vip@example.com", "text": "hi"},
        expect=403,
    )
    assert error["code"] == "permission_denied"
    me = api.get("/me")["user"]["id"]
    api.post("/contacts", {"name": "Nobody's", "owner_id": None, "fields": {"email": "x@x.io"}})
    conversation = _message(api, "x@x.io")["conversation"]
    api.patch(f"/conversations/{conversation['id']}", {"assignee_id": me})
    # the agent may see it (unowned contact) but not take it from the owner, nor unassign it
    path = f"/conversations/{conversation['id']}"
    assert as_agent.patch(path, {"assignee_id": None}, expect=403)["code"] == "permission_denied"
    assert as_agent.patch(path, {"assignee_id": agent_id}, expect=403)
    assert api.get(path)["assignee_id"] == me
    api.patch(path, {"assignee_id": None})
    assert as_agent.patch(path, {"assignee_id": agent_id})["assignee_id"] == agent_id


def test_an_expired_snooze_does_not_block_other_changes(api: Api, clock: VirtualClock) -> None:
    conversation = _message(api)["conversation"]
    path = f"/conversations/{conversation['id']}"
    until = (clock.now() + timedelta(hours=1)).isoformat()
    api.patch(path, {"status": "snoozed", "snoozed_until": until})
    clock.advance(timedelta(hours=2))  # no worker has woken it yet
    me = api.get("/me")["user"]["id"]
    assert api.patch(path, {"assignee_id": me})["assignee_id"] == me

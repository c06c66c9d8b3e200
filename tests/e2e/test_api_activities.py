"""Activities through the REST API: tasks, calls, meetings, emails, notes (SPEC M3, M5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from stageflow.domain.clock import VirtualClock
from tests.conftest import Api


def _at(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00"))


def _agent(api: Api, name: str = "Alex Agent") -> int:
    email = name.lower().replace(" ", ".") + "@example.com"
    user_id: int = api.post("/users", {"email": email, "name": name, "role": "agent"})["id"]
    return user_id


def _deal(api: Api, name: str = "Windmills", **extra: Any) -> dict[str, Any]:
    deal: dict[str, Any] = api.post("/deals", {"name": name, **extra})
    return deal


def _timeline_types(api: Api, deal_id: int) -> list[str]:
    return [e["type"] for e in api.get(f"/deals/{deal_id}/timeline")["items"]]


def _all_pages(api: Api, query: dict[str, Any]) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {**query, **({"cursor": cursor} if cursor else {})}
        page = api.get("/activities", params=params)
        seen.extend(page["items"])
        if not (cursor := page["next_cursor"]):
            return seen


# logging each type -----------------------------------------------------------------------


def test_task_has_due_time_and_defaults_to_the_record_owner(api: Api) -> None:
    agent = _agent(api)
    deal = _deal(api, owner_id=agent)
    due = "2026-01-05T14:00:00Z"
    task = api.post(
        "/activities",
        {"record_id": deal["id"], "type": "task", "subject": "Send the quote", "due_at": due},
    )
    assert task["type"] == "task"
    assert task["record_id"] == deal["id"]
    assert task["responsible_id"] == agent  # the deal's owner, not the caller
    assert task["status"] == "open"
    assert task["completed_at"] is None
    assert task["outcome"] is None
    assert _at(task["due_at"]) == datetime(2026, 1, 5, 14, 0, tzinfo=UTC)

    stored = api.get(f"/activities/{task['id']}")
    assert _at(stored["due_at"]) == datetime(2026, 1, 5, 14, 0, tzinfo=UTC)
    assert stored["responsible_id"] == agent
    assert stored["subject"] == "Send the quote"
    assert _timeline_types(api, deal["id"]) == ["ActivityLogged", "RecordCreated"]


def test_task_with_an_explicit_responsible_and_offset_due_time(api: Api) -> None:
    agent = _agent(api)
    deal = _deal(api)
    task = api.post(
        "/activities",
        {
            "record_id": deal["id"],
            "type": "task",
            "subject": "Call back",
            "due_at": "2026-01-05T16:00:00+02:00",
            "responsible_id": agent,
        },
    )
    assert task["responsible_id"] == agent
    assert _at(api.get(f"/activities/{task['id']}")["due_at"]) == datetime(
        2026, 1, 5, 14, 0, tzinfo=UTC
    )


def test_unknown_responsible_is_422(api: Api) -> None:
    deal = _deal(api)
    error = api.post(
        "/activities",
        {"record_id": deal["id"], "type": "task", "subject": "Ghost", "responsible_id": 999_999},
        expect=422,
    )
    assert error["field"] == "responsible_id"


def test_call_with_an_outcome_is_completed_at_once(api: Api, clock: VirtualClock) -> None:
    now = clock.advance(timedelta(hours=1))
    deal = _deal(api)
    call = api.post(
        "/activities",
        {
            "record_id": deal["id"],
            "type": "call",
            "subject": "Intro call",
            "outcome": "connected",
            "direction": "outbound",
        },
    )
    assert call["outcome"] == "connected"
    assert call["direction"] == "outbound"
    assert call["status"] == "completed"
    assert _at(call["completed_at"]) == now
    assert _timeline_types(api, deal["id"]) == [
        "ActivityCompleted",
        "ActivityLogged",
        "RecordCreated",
    ]
    events = api.get(f"/deals/{deal['id']}/timeline")["items"]
    assert [e["data"]["activity_id"] for e in events[:2]] == [call["id"], call["id"]]
    assert events[1]["after"]["outcome"] == "connected"


def test_scheduled_meeting_stays_open(api: Api) -> None:
    deal = _deal(api)
    meeting = api.post(
        "/activities",
        {
            "record_id": deal["id"],
            "type": "meeting",
            "subject": "Demo",
            "due_at": "2026-02-01T10:00:00Z",
            "outcome": "scheduled",
        },
    )
    assert (meeting["status"], meeting["outcome"], meeting["completed_at"]) == (
        "open",
        "scheduled",
        None,
    )
    assert _timeline_types(api, deal["id"]) == ["ActivityLogged", "RecordCreated"]


@pytest.mark.parametrize("type_", ["email", "note"])
def test_email_and_note_are_born_completed(api: Api, clock: VirtualClock, type_: str) -> None:
    now = clock.now()
    deal = _deal(api)
    activity = api.post(
        "/activities",
        {"record_id": deal["id"], "type": type_, "subject": "Recap", "description": "Went well"},
    )
    assert activity["status"] == "completed"
    assert _at(activity["completed_at"]) == now
    assert activity["description"] == "Went well"
    assert _timeline_types(api, deal["id"]) == ["ActivityLogged", "RecordCreated"]


# invalid outcomes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_", "outcome"),
    [("call", "scheduled"), ("call", "maybe"), ("meeting", "busy"), ("meeting", "")],
)
def test_outcome_not_allowed_for_the_type_is_422(api: Api, type_: str, outcome: str) -> None:
    deal = _deal(api)
    error = api.post(
        "/activities",
        {"record_id": deal["id"], "type": type_, "subject": "Bad", "outcome": outcome},
        expect=422,
    )
    assert error["field"] == "outcome"
    assert type_ in error["message"]
    assert api.get("/activities", params={"record_id": deal["id"]})["items"] == []


@pytest.mark.parametrize("type_", ["task", "note", "email"])
def test_outcome_on_a_type_without_outcomes_is_422(api: Api, type_: str) -> None:
    deal = _deal(api)
    error = api.post(
        "/activities",
        {"record_id": deal["id"], "type": type_, "subject": "Bad", "outcome": "connected"},
        expect=422,
    )
    assert error["field"] == "outcome"
    assert api.get("/activities", params={"record_id": deal["id"]})["items"] == []


def test_invalid_outcome_on_update_is_422(api: Api) -> None:
    deal = _deal(api)
    call = api.post("/activities", {"record_id": deal["id"], "type": "call", "subject": "Later"})
    assert call["status"] == "open"
    error = api.patch(f"/activities/{call['id']}", {"outcome": "scheduled"}, expect=422)
    assert error["field"] == "outcome"
    assert api.get(f"/activities/{call['id']}")["outcome"] is None


def test_activity_on_a_missing_record_is_404(api: Api) -> None:
    api.post(
        "/activities", {"record_id": 999_999, "type": "note", "subject": "Nowhere"}, expect=404
    )


# completing -------------------------------------------------------------------------------


def test_completing_a_task_writes_updated_and_completed_events(
    api: Api, clock: VirtualClock
) -> None:
    deal = _deal(api)
    task = api.post(
        "/activities",
        {
            "record_id": deal["id"],
            "type": "task",
            "subject": "Follow up",
            "due_at": "2026-01-02T09:00:00Z",
        },
    )
    done_at = clock.advance(timedelta(days=1, hours=3))
    done = api.patch(
        f"/activities/{task['id']}", {"status": "completed", "version": task["version"]}
    )
    assert done["status"] == "completed"
    assert _at(done["completed_at"]) == done_at
    assert done["version"] == task["version"] + 1
    assert api.get(f"/activities/{task['id']}")["status"] == "completed"

    events = api.get(f"/deals/{deal['id']}/timeline")["items"]
    assert [e["type"] for e in events] == [
        "ActivityCompleted",
        "ActivityUpdated",
        "ActivityLogged",
        "RecordCreated",
    ]
    completed, updated = events[0], events[1]
    assert updated["before"]["status"] == "open"
    assert updated["after"]["status"] == "completed"
    assert completed["data"] == {"activity_id": task["id"], "activity_type": "task"}
    assert updated["data"]["activity_id"] == task["id"]
    assert _at(completed["occurred_at"]) == done_at
    assert completed["actor"]["kind"] == "token" and completed["source"] == "api"

    # Completing again changes nothing and writes nothing.
    again = api.patch(f"/activities/{task['id']}", {"status": "completed"})
    assert again["version"] == done["version"]
    assert len(api.get(f"/deals/{deal['id']}/timeline")["items"]) == 4


def test_stale_version_on_patch_is_409(api: Api) -> None:
    deal = _deal(api)
    task = api.post("/activities", {"record_id": deal["id"], "type": "task", "subject": "v1"})
    api.patch(f"/activities/{task['id']}", {"subject": "v2", "version": task["version"]})
    error = api.patch(
        f"/activities/{task['id']}", {"subject": "v3", "version": task["version"]}, expect=409
    )
    assert error["code"] == "stale_version" and error["field"] == "version"
    stored = api.get(f"/activities/{task['id']}")
    assert stored["subject"] == "v2"
    assert stored["version"] == task["version"] + 1
    assert _timeline_types(api, deal["id"]).count("ActivityUpdated") == 1


# listing ----------------------------------------------------------------------------------


def test_list_by_record_status_and_type(api: Api) -> None:
    first, second = _deal(api, "First"), _deal(api, "Second")

    def log(deal: dict[str, Any], type_: str, **extra: Any) -> int:
        body = {"record_id": deal["id"], "type": type_, "subject": f"{type_} on {deal['name']}"}
        activity_id: int = api.post("/activities", {**body, **extra})["id"]
        return activity_id

    task1 = log(first, "task")
    call1 = log(first, "call", outcome="no_answer")
    note1 = log(first, "note")
    task2 = log(second, "task")
    meeting2 = log(second, "meeting", outcome="scheduled")

    def ids(**query: Any) -> list[int]:
        return [a["id"] for a in api.get("/activities", params=query)["items"]]

    assert ids(record_id=first["id"]) == [note1, call1, task1]  # newest first
    assert ids(record_id=second["id"]) == [meeting2, task2]
    assert ids(status="open") == [meeting2, task2, task1]
    assert ids(status="completed") == [note1, call1]
    assert ids(type="task") == [task2, task1]
    assert ids(type="call") == [call1]
    assert ids(record_id=first["id"], status="open") == [task1]
    assert ids(record_id=second["id"], type="meeting", status="open") == [meeting2]
    api.get("/activities", params={"status": "pending"}, expect=422)
    api.get("/activities", params={"type": "fax"}, expect=422)


def test_list_is_paginated_without_gaps_or_repeats(api: Api) -> None:
    deal = _deal(api)
    created = [
        api.post("/activities", {"record_id": deal["id"], "type": "note", "subject": f"Note {i}"})[
            "id"
        ]
        for i in range(7)
    ]
    first_page = api.get("/activities", params={"record_id": deal["id"], "limit": 3})
    assert [a["id"] for a in first_page["items"]] == created[::-1][:3]
    assert first_page["next_cursor"]

    seen = [a["id"] for a in _all_pages(api, {"record_id": deal["id"], "limit": 3})]
    assert seen == created[::-1]

    everything = [a["id"] for a in _all_pages(api, {"limit": 2})]
    assert everything == created[::-1]  # a fresh workspace: nothing else is there
    api.get("/activities", params={"limit": 0}, expect=422)
    api.get("/activities", params={"cursor": "not-a-cursor"}, expect=422)

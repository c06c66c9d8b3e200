"""Record actions of the action library through the API: copy_record (SPEC B3)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api


def _won(api: Api) -> int:
    pipeline = next(p for p in api.get("/pipelines?object_type=deal") if p["is_default"])
    return next(s["id"] for s in pipeline["stages"] if s["name"] == "Closed Won")  # type: ignore[no-any-return]


def _delivery_pipeline(api: Api) -> dict[str, Any]:
    return api.post(  # type: ignore[no-any-return]
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


def _copy_rule(won: int, **settings: Any) -> dict[str, Any]:
    return {
        "trigger": {"type": "stage_entered", "object_type": "deal", "stage_id": won},
        "steps": [{"id": "copy", "type": "action", "action": "copy_record", "settings": settings}],
    }


def _won_deal(api: Api) -> dict[str, Any]:
    contact = api.post("/contacts", {"fields": {"first_name": "Ann", "email": "ann@x.example"}})
    deal = api.post(
        "/deals",
        {"name": "Roof", "fields": {"amount": 1200}, "associations": {"contact": [contact["id"]]}},
    )
    api.post(f"/deals/{deal['id']}/move", {"stage_id": _won(api)}, expect=200)
    api.post("/admin/clock/advance", {"by": "PT0S"}, expect=200)
    return deal  # type: ignore[no-any-return]


def test_won_deal_is_copied_into_the_delivery_pipeline(api: Api) -> None:
    delivery = _delivery_pipeline(api)
    api.post(
        "/automations",
        {
            "name": "Hand over",
            "definition": _copy_rule(_won(api), pipeline_id=delivery["id"]),
            "publish": True,
        },
    )
    deal = _won_deal(api)
    copy = next(d for d in api.get("/deals")["items"] if d["id"] != deal["id"])
    original = api.get(f"/deals/{deal['id']}")
    assert copy["name"] == "Roof Copy"
    assert copy["pipeline_id"] == delivery["id"]
    assert copy["stage_id"] == delivery["stages"][0]["id"]
    assert copy["fields"] == original["fields"]
    assert copy["owner_id"] == original["owner_id"]
    assert copy["associations"] == original["associations"]
    (run,) = api.get(f"/runs?record={deal['id']}")["items"]
    step = api.get(f"/runs/{run['id']}")["steps"][-1]
    assert step["output"]["copy"] == {"object_type": "deal", "id": copy["id"]}


def test_copy_takes_a_name_template_a_stage_and_no_associations(api: Api) -> None:
    delivery = _delivery_pipeline(api)
    installing = delivery["stages"][1]["id"]
    api.post(
        "/automations",
        {
            "name": "Hand over",
            "definition": _copy_rule(
                _won(api),
                pipeline_id=delivery["id"],
                stage_id=installing,
                name="Install: {{ record.name }} ({{ record.amount }})",
                copy_associations=False,
            ),
            "publish": True,
        },
    )
    deal = _won_deal(api)
    copy = next(d for d in api.get("/deals")["items"] if d["id"] != deal["id"])
    assert copy["name"] == "Install: Roof (1200)"
    assert copy["stage_id"] == installing
    assert copy["associations"].get("contact", []) == []


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"pipeline_id": 999_999}, "no deal pipeline 999999"),
        ({"stage_id": 999_999}, "no stage 999999"),
        ({"owner_id": 999_999}, "no user 999999"),
        ({"name": "{{ record.colour }}"}, "colour"),
    ],
)
def test_copy_settings_are_checked_on_save(api: Api, settings: dict[str, Any], words: str) -> None:
    error = api.post(
        "/automations",
        {"name": "Bad", "definition": _copy_rule(_won(api), **settings), "publish": True},
        expect=422,
    )
    assert words in error["message"]


def test_a_stage_of_another_pipeline_is_refused(api: Api) -> None:
    delivery = _delivery_pipeline(api)
    default = next(p for p in api.get("/pipelines?object_type=deal") if p["is_default"])
    error = api.post(
        "/automations",
        {
            "name": "Bad",
            "definition": _copy_rule(
                _won(api), pipeline_id=delivery["id"], stage_id=default["stages"][0]["id"]
            ),
            "publish": True,
        },
        expect=422,
    )
    assert f"pipeline {delivery['id']}" in error["message"]


def _notify_rule(**settings: Any) -> dict[str, Any]:
    return {
        "trigger": {"type": "record_created", "object_type": "deal"},
        "steps": [{"id": "tell", "type": "action", "action": "notify_user", "settings": settings}],
    }


def test_users_are_notified_in_the_app(api: Api) -> None:
    installer = api.post(
        "/users", {"email": "ivan@installers.example", "name": "Ivan", "role": "agent"}
    )
    installer_api = Api(
        api.client, api.post("/tokens", {"name": "t", "user_id": installer["id"]})["token"]
    )
    api.post("/fields/deal", {"key": "installer", "type": "user"})
    api.post(
        "/automations",
        {
            "name": "Tell",
            "definition": _notify_rule(
                users=[{"role": "owner"}, {"role": "user_field", "field": "installer"}],
                title="New deal: {{ record.name }}",
                body="Amount {{ record.amount }}",
            ),
            "publish": True,
        },
    )
    deal = api.post(
        "/deals", {"name": "Roof", "fields": {"amount": 900, "installer": installer["id"]}}
    )
    api.post("/admin/clock/advance", {"by": "PT0S"}, expect=200)

    (mine,) = api.get("/notifications")["items"]
    (theirs,) = installer_api.get("/notifications?unread=true")["items"]
    for note in (mine, theirs):
        assert note["title"] == "New deal: Roof" and note["body"] == "Amount 900"
        assert note["record_id"] == deal["id"] and note["read_at"] is None
    read = api.post(f"/notifications/{mine['id']}/read", {}, expect=200)
    assert read["read_at"] is not None
    assert api.get("/notifications?unread=true")["items"] == []
    installer_api.post(f"/notifications/{mine['id']}/read", {}, expect=404)  # not theirs
    assert installer_api.post("/notifications/read-all", {}, expect=200) == {"marked": 1}
    timeline = api.get(f"/deals/{deal['id']}/timeline")["items"]
    assert "UserNotified" in [e["type"] for e in timeline]


def test_notify_settings_are_checked_on_save(api: Api) -> None:
    for users, words in (
        ([{"role": "user", "user_id": 999_999}], "no user 999999"),
        ([{"role": "user_field", "field": "amount"}], "not a user field"),
        ([{"role": "user"}], "needs 'user_id'"),
    ):
        error = api.post(
            "/automations",
            {"name": "Bad", "definition": _notify_rule(users=users, title="x"), "publish": True},
            expect=422,
        )
        assert words in error["message"], error


def test_an_action_runs_only_for_its_channels(api: Api) -> None:
    """SPEC E4: each action applies to chosen channels (the record's source); default all."""
    definition = {
        "trigger": {"type": "record_created", "object_type": "deal"},
        "steps": [
            {
                "id": "web_only",
                "type": "action",
                "action": "set_field",
                "settings": {"fields": {"amount": 1}},
                "channels": ["web_form"],
            },
            {
                "id": "every_channel",
                "type": "action",
                "action": "set_field",
                "settings": {"fields": {"name": "{{ record.name }}!"}},
            },
        ],
    }
    api.post("/automations", {"name": "Channels", "definition": definition, "publish": True})
    web = api.post("/deals", {"name": "Web", "source": "web_form"})
    phone = api.post("/deals", {"name": "Phone", "source": "phone"})
    api.post("/admin/clock/advance", {"by": "PT0S"}, expect=200)
    assert api.get(f"/deals/{web['id']}")["fields"].get("amount") == 1
    assert api.get(f"/deals/{phone['id']}")["fields"].get("amount") is None
    assert api.get(f"/deals/{phone['id']}")["name"] == "Phone!"
    (run,) = api.get(f"/runs?record={phone['id']}")["items"]
    skipped = api.get(f"/runs/{run['id']}")["steps"][0]
    assert "came through phone" in skipped["output"]["skipped"]

    definition["steps"][0]["channels"] = ["carrier_pigeon"]
    error = api.post(
        "/automations", {"name": "Bad", "definition": definition, "publish": True}, expect=422
    )
    assert "'carrier_pigeon' is not a channel" in error["message"]


def _deal_stage(api: Api, name: str) -> int:
    pipeline = next(p for p in api.get("/pipelines?object_type=deal") if p["is_default"])
    return next(s["id"] for s in pipeline["stages"] if s["name"] == name)  # type: ignore[no-any-return]


def test_scheduled_call_is_due_tomorrow_at_14_and_completes_when_the_deal_moves_on(
    api: Api,
) -> None:
    """SPEC B4: "call the client" due tomorrow 14:00 for the deal's owner, completed
    automatically when the deal leaves the stage."""
    api.patch("/workspace/settings", {"timezone": "Europe/Rome"})
    negotiation = _deal_stage(api, "Negotiation")
    definition = {
        "trigger": {"type": "stage_entered", "object_type": "deal", "stage_id": negotiation},
        "steps": [
            {
                "id": "call",
                "type": "action",
                "action": "schedule_activity",
                "settings": {
                    "type": "call",
                    "subject": "Call the client about {{ record.name }}",
                    "due_at": "tomorrow 14:00",
                    "complete_on_stage_exit": True,
                },
            },
            {
                "id": "note",
                "type": "action",
                "action": "create_task",
                "settings": {"subject": "Send the contract", "due_in": "P2D"},
            },
        ],
    }
    api.post("/automations", {"name": "Call", "definition": definition, "publish": True})
    deal = api.post("/deals", {"name": "Roof"})
    api.post(f"/deals/{deal['id']}/move", {"stage_id": negotiation}, expect=200)
    now = api.post("/admin/clock/advance", {"by": "PT0S"}, expect=200)["now"]

    activities = api.get(f"/activities?record_id={deal['id']}")["items"]
    call = next(a for a in activities if a["type"] == "call")
    task = next(a for a in activities if a["type"] == "task")
    owner = api.get("/me")["user"]["id"]
    assert call["subject"] == "Call the client about Roof"
    assert call["responsible_id"] == owner and call["status"] == "open"
    assert call["complete_on_exit_stage_id"] == negotiation
    assert _rome_time(call["due_at"]) == (_rome_date(now, days=1), "14:00")

    api.post(f"/deals/{deal['id']}/move", {"stage_id": _deal_stage(api, "Closed Won")}, expect=200)
    after = {a["id"]: a for a in api.get(f"/activities?record_id={deal['id']}")["items"]}
    assert after[call["id"]]["status"] == "completed"
    assert after[task["id"]]["status"] == "open"  # not bound to the stage
    timeline = api.get(f"/deals/{deal['id']}/timeline")["items"]
    assert "ActivityCompleted" in [e["type"] for e in timeline]


def _rome_time(stamp: str) -> tuple[str, str]:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    local = datetime.fromisoformat(stamp).astimezone(ZoneInfo("Europe/Rome"))
    return local.date().isoformat(), local.strftime("%H:%M")


def _rome_date(stamp: str, *, days: int) -> str:
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    local = datetime.fromisoformat(stamp).astimezone(ZoneInfo("Europe/Rome"))
    return (local.date() + timedelta(days=days)).isoformat()


def test_an_activity_can_be_due_relative_to_a_date_field(api: Api) -> None:
    api.post("/fields/deal", {"key": "install_date", "type": "date"})
    definition = {
        "trigger": {"type": "record_created", "object_type": "deal"},
        "steps": [
            {
                "id": "remind",
                "type": "action",
                "action": "schedule_activity",
                "settings": {
                    "subject": "Confirm the installers",
                    "due_field": "install_date",
                    "due_offset": "-P1D",
                },
            }
        ],
    }
    api.post("/automations", {"name": "Remind", "definition": definition, "publish": True})
    deal = api.post("/deals", {"name": "Roof", "fields": {"install_date": "2031-03-10"}})
    api.post("/admin/clock/advance", {"by": "PT0S"}, expect=200)
    (task,) = api.get(f"/activities?record_id={deal['id']}")["items"]
    assert task["due_at"].startswith("2031-03-09")

    definition["steps"][0]["settings"]["due_field"] = "amount"
    error = api.post(
        "/automations", {"name": "Bad", "definition": definition, "publish": True}, expect=422
    )
    assert "'amount' is not a date field" in error["message"]

"""Sub-state automatic actions through the API (SPEC E2-E7), against a real SMTP server: the
issue's scenario, channels, prerequisite errors, permissions and copying to another type."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api
from tests.e2e.conftest import Mailbox
from tests.e2e.test_api_permissions import add_member

PENDING = "Pending documentation"
VALIDATION = "Documentation validation"
SOLAR: dict[str, Any] = {
    "name": "Solar installation",
    "states": ["Documentation", "Installation"],
    "substates": [
        {"name": PENDING, "state": "Documentation"},
        {"name": VALIDATION, "state": "Documentation"},
        {"name": "Installation scheduled", "state": "Installation"},
    ],
}
REMINDER: dict[str, Any] = {
    "name": "Remind the customer",
    "group": "scheduled",
    "after": "P4D",
    "action": "send_email",
    "settings": {"template": "documentation-reminder", "to": [{"role": "contact"}]},
}
OPEN_VALIDATION: dict[str, Any] = {
    "name": "Validate the documents",
    "group": "on_close",
    "action": "open_substate",
    "settings": {"substate": VALIDATION},
}


def _smtp(api: Api, box: Mailbox) -> None:
    api.put(
        "/workspace/smtp",
        {
            "host": "127.0.0.1",
            "port": box.port,
            "security": "none",
            "username": None,
            "password": "not-shown",
            "from_address": "office@sun.example",
            "from_name": "Sun Office",
        },
    )


def _template(api: Api) -> None:
    api.post(
        "/email-templates",
        {
            "name": "documentation-reminder",
            "subject": "Your documents for {{ record.name }}",
            "html": "<p>Dear {{ contact.first_name }}, we still need your documents.</p>",
            "text": "Dear {{ contact.first_name }}, we still need your documents.",
        },
    )


def _actions(type_id: int, substate: str = PENDING) -> str:
    return f"/opportunity-types/{type_id}/substates/{substate}/actions"


def _opportunity(api: Api, source: str | None = None) -> dict[str, Any]:
    contact = api.post(
        "/contacts", {"fields": {"first_name": "Ann", "email": "ann@customer.example"}}
    )
    body: dict[str, Any] = {
        "name": "Roof 12",
        "fields": {"opportunity_type": "Solar installation"},
        "associations": {"contact": [contact["id"]]},
    }
    if source is not None:
        body["source"] = source
    return api.post("/opportunities", body)  # type: ignore[no-any-return]


def _substate(api: Api, opp: dict[str, Any], name: str, verb: str) -> None:
    api.post(f"/opportunities/{opp['id']}/substates/{name}/{verb}", {}, expect=200)
    _advance(api, "PT0S")


def _advance(api: Api, by: str) -> None:
    api.post("/admin/clock/advance", {"by": by}, expect=200)
    api.post("/admin/clock/advance", {"by": "PT0S"}, expect=200)  # deliver what was sent


def _states(api: Api, opp: dict[str, Any]) -> dict[str, str]:
    return {s["substate"]: s["status"] for s in api.get(f"/opportunities/{opp['id']}/substates")}


@pytest.fixture
def solar(api: Api, mailbox: Mailbox) -> dict[str, Any]:
    """The scenario's type with its two actions on "Pending documentation"."""
    _smtp(api, mailbox)
    _template(api)
    kind = api.post("/opportunity-types", SOLAR)
    api.post(_actions(kind["id"]), OPEN_VALIDATION)
    api.post(_actions(kind["id"]), REMINDER)
    return kind  # type: ignore[no-any-return]


# The scenario ----------------------------------------------------------------------


def test_the_reminder_arrives_four_days_after_opening(
    api: Api, mailbox: Mailbox, solar: dict[str, Any]
) -> None:
    opp = _opportunity(api)
    _substate(api, opp, PENDING, "open")
    _advance(api, "P3DT23H")
    assert mailbox.accepted == []

    _advance(api, "PT1H")
    ((envelope, message),) = mailbox.accepted
    assert envelope == ["ann@customer.example"]
    assert message["Subject"] == "Your documents for Roof 12"
    text = message.get_body(("plain",))
    assert text is not None and "Dear Ann, we still need your documents." in text.get_content()

    _advance(api, "P30D")
    assert len(mailbox.accepted) == 1  # once, not again


def test_closing_before_the_reminder_falls_due_opens_validation_and_sends_nothing(
    api: Api, mailbox: Mailbox, solar: dict[str, Any]
) -> None:
    opp = _opportunity(api)
    _substate(api, opp, PENDING, "open")
    _advance(api, "P2D")
    _substate(api, opp, PENDING, "close")
    assert _states(api, opp) == {PENDING: "closed", VALIDATION: "open"}

    _advance(api, "P10D")
    assert mailbox.accepted == []
    runs = api.get(f"/runs?record={opp['id']}")["items"]
    (reminder,) = [r for r in runs if r["status"] == "cancelled"]
    assert reminder["error"] == (
        "the sub-state 'Pending documentation' was closed before this action fell due"
    )
    (step,) = api.get(f"/runs/{reminder['id']}")["steps"]
    assert step["type"] == "cancel" and step["status"] == "cancelled"


def test_reopening_starts_a_new_wait_and_the_closed_one_stays_cancelled(
    api: Api, mailbox: Mailbox, solar: dict[str, Any]
) -> None:
    opp = _opportunity(api)
    _substate(api, opp, PENDING, "open")
    _advance(api, "P1D")
    _substate(api, opp, PENDING, "close")
    _substate(api, opp, PENDING, "open")
    _advance(api, "P3D")
    assert mailbox.accepted == []  # four days after the first opening: that one was closed
    _advance(api, "P1D")
    assert len(mailbox.accepted) == 1  # four days after the second


# Groups, order and listing -----------------------------------------------------------------


def test_actions_are_listed_by_group_and_compiled_onto_the_engine(
    api: Api, solar: dict[str, Any]
) -> None:
    base = _actions(solar["id"])
    first = api.post(
        base,
        {
            "name": "Survey",
            "group": "on_open",
            "action": "open_substate",
            "settings": {"substate": "Installation scheduled"},
            "comment": "the installer plans the visit",
        },
    )
    second = api.post(
        base,
        {
            "name": "Note",
            "group": "on_open",
            "action": "create_task",
            "settings": {"subject": "Call about the documents"},
            "position": 1,
        },
    )
    listed = api.get(base)
    assert [(a["group"], a["name"], a["position"]) for a in listed] == [
        ("on_open", "Note", 1),
        ("on_open", "Survey", 2),
        ("on_close", "Validate the documents", 1),
        ("scheduled", "Remind the customer", 1),
    ]
    assert listed[0]["automation_id"] == listed[1]["automation_id"] is not None
    assert listed[3]["after"] == "P4D" and listed[1]["comment"] == "the installer plans the visit"
    automation = api.get(f"/automations/{second['automation_id']}")
    assert automation["kind"] == "substate_action"
    assert automation["name"] == "Solar installation / Pending documentation: on opening"
    assert automation["status"] == "active"
    assert automation["definition"]["trigger"] == {
        "type": "substate_opened",
        "opportunity_type": "Solar installation",
        "substate": PENDING,
        "allow_reenrollment": True,
    }
    assert [s["id"] for s in automation["definition"]["steps"]] == [
        f"action-{second['id']}",
        f"action-{first['id']}",
    ]

    off = api.patch(f"{base}/{first['id']}", {"enabled": False})
    assert off["automation_id"] is None and off["enabled"] is False
    api.delete(f"{base}/{second['id']}")
    assert [a["name"] for a in api.get(base)] == [
        "Survey",
        "Validate the documents",
        "Remind the customer",
    ]
    error = api.patch(
        f"/automations/{second['automation_id']}",
        {"definition": {"trigger": {"type": "manual", "object_type": "deal"}, "steps": []}},
        expect=409,
    )
    assert "the sub-state's actions" in error["message"]


def test_on_open_actions_act_in_order_when_the_substate_opens(
    api: Api, solar: dict[str, Any]
) -> None:
    api.post(
        _actions(solar["id"]),
        {
            "name": "Schedule",
            "group": "on_open",
            "action": "open_substate",
            "settings": {"substate": "Installation scheduled"},
        },
    )
    opp = _opportunity(api)
    _substate(api, opp, PENDING, "open")
    assert _states(api, opp) == {PENDING: "open", "Installation scheduled": "open"}


# E4: channels --------------------------------------------------------------------------------


def test_an_action_acts_only_for_its_channels(api: Api, solar: dict[str, Any]) -> None:
    api.post(
        _actions(solar["id"]),
        {
            "name": "Web only",
            "group": "on_open",
            "action": "open_substate",
            "settings": {"substate": "Installation scheduled"},
            "channels": ["web_form"],
        },
    )
    web, phone = _opportunity(api, "web_form"), _opportunity(api, "phone")
    for opp in (web, phone):
        _substate(api, opp, PENDING, "open")
    assert _states(api, web) == {PENDING: "open", "Installation scheduled": "open"}
    assert _states(api, phone) == {PENDING: "open"}

    error = api.post(
        _actions(solar["id"]), {**OPEN_VALIDATION, "channels": ["carrier_pigeon"]}, expect=422
    )
    assert error["field"] == "channels" and "'carrier_pigeon' is not a channel" in error["message"]


# E5 and other checks on save -----------------------------------------------------------------


def test_an_action_is_not_saved_without_what_it_needs(api: Api) -> None:
    kind = api.post("/opportunity-types", SOLAR)
    base = _actions(kind["id"])
    no_smtp = api.post(base, REMINDER, expect=422)
    assert "no SMTP server" in no_smtp["message"] and "/workspace/smtp" in no_smtp["message"]
    api.put(
        "/workspace/smtp",
        {"host": "127.0.0.1", "port": 2525, "security": "none", "from_address": "a@b.example"},
    )
    no_template = api.post(base, REMINDER, expect=422)
    assert "no email template named 'documentation-reminder'" in no_template["message"]

    report = {
        "name": "Report",
        "group": "on_close",
        "action": "generate_report",
        "settings": {"template": "survey-report"},
    }
    assert (
        "no report template named 'survey-report'" in api.post(base, report, expect=422)["message"]
    )
    criteria = {
        "name": "Installer",
        "group": "on_open",
        "action": "assign_owner",
        "settings": {"strategy": "criteria", "criteria": []},
    }
    assert "needs assignment criteria" in api.post(base, criteria, expect=422)["message"]


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (
            {"settings": {"substate": "Paperwork"}},
            "settings.substate",
            "opportunity type 'Solar installation' has no sub-state 'Paperwork'",
        ),
        ({"group": "scheduled"}, "after", "a scheduled action needs after"),
        ({"after": "P1D"}, "after", "after is for scheduled actions"),
        ({"group": "scheduled", "after": "soon"}, "after", "soon"),
        ({"action": "teleport"}, "action", "teleport"),
    ],
)
def test_mistakes_are_refused_naming_the_setting(
    api: Api, change: dict[str, Any], field: str, words: str
) -> None:
    kind = api.post("/opportunity-types", SOLAR)
    error = api.post(_actions(kind["id"]), {**OPEN_VALIDATION, **change}, expect=422)
    assert error["field"] == field and words in error["message"], error


def test_a_substate_the_type_lacks_has_no_actions(api: Api) -> None:
    kind = api.post("/opportunity-types", SOLAR)
    error = api.get(_actions(kind["id"], "Paperwork"), expect=404)
    assert "has no sub-state 'Paperwork'" in error["message"]
    api.post(_actions(kind["id"]), OPEN_VALIDATION)
    removing = api.patch(f"/opportunity-types/{kind['id']}", {"substates": []}, expect=422)
    assert "sub-state 'Pending documentation' has 1 automatic action(s)" in removing["message"]
    used = api.patch(
        f"/opportunity-types/{kind['id']}",
        {"substates": [s for s in SOLAR["substates"] if s["name"] != VALIDATION]},
        expect=422,
    )
    assert used["message"] == (
        "action 'Validate the documents' of sub-state 'Pending documentation' uses sub-state "
        "'Documentation validation': change or delete it before removing that sub-state"
    )


def test_a_workflow_on_a_defined_type_opens_only_its_substates(api: Api) -> None:
    """The save-time check of open_substate knows the type when the trigger names it."""
    api.post("/opportunity-types", SOLAR)
    definition = {
        "trigger": {
            "type": "substate_closed",
            "opportunity_type": "Solar installation",
            "substate": PENDING,
        },
        "steps": [
            {
                "id": "next",
                "type": "action",
                "action": "open_substate",
                "settings": {"substate": "Paperwork"},
            }
        ],
    }
    error = api.post("/automations", {"name": "Next", "definition": definition}, expect=422)
    assert error["field"] == "steps.next.substate"
    assert "opportunity type 'Solar installation' has no sub-state 'Paperwork'" in error["message"]
    definition["trigger"]["opportunity_type"] = "Wind"  # no such type: any sub-state
    api.post("/automations", {"name": "Next", "definition": definition})


# E6: permissions -----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["agent", "manager"])
def test_changing_actions_needs_opportunity_states_edit(
    api: Api, solar: dict[str, Any], role: str
) -> None:
    base = _actions(solar["id"])
    (first, *_) = api.get(base)
    member = add_member(api, role).api
    assert len(member.get(base)) == 2
    for error in (
        member.post(base, OPEN_VALIDATION, expect=403),
        member.patch(f"{base}/{first['id']}", {"enabled": False}, expect=403),
        member.call("DELETE", f"{base}/{first['id']}", 403),
        member.post(f"{base}/{first['id']}/copy", {"opportunity_type_id": solar["id"]}, expect=403),
    ):
        assert error["code"] == "permission_denied"
        assert "opportunity_states.edit" in error["message"]


# E7: copy to another type --------------------------------------------------------------------


def test_an_action_is_copied_to_another_type(api: Api, solar: dict[str, Any]) -> None:
    wind = api.post("/opportunity-types", {**SOLAR, "name": "Wind turbine"})
    reminder = next(a for a in api.get(_actions(solar["id"])) if a["group"] == "scheduled")
    copy = api.post(
        f"{_actions(solar['id'])}/{reminder['id']}/copy", {"opportunity_type_id": wind["id"]}
    )
    assert copy["opportunity_type"] == "Wind turbine" and copy["substate"] == PENDING
    assert (copy["name"], copy["after"], copy["settings"]) == (
        reminder["name"],
        "P4D",
        reminder["settings"],
    )
    assert copy["id"] != reminder["id"] and copy["automation_id"] != reminder["automation_id"]
    assert [a["id"] for a in api.get(_actions(wind["id"]))] == [copy["id"]]

    bare = api.post("/opportunity-types", {"name": "Bare", "substates": [{"name": PENDING}]})
    on_close = next(a for a in api.get(_actions(solar["id"])) if a["group"] == "on_close")
    error = api.post(
        f"{_actions(solar['id'])}/{on_close['id']}/copy",
        {"opportunity_type_id": bare["id"]},
        expect=422,
    )
    assert "opportunity type 'Bare' has no sub-state 'Documentation validation'" in error["message"]
    other = api.post(
        f"{_actions(solar['id'])}/{on_close['id']}/copy",
        {"opportunity_type_id": bare["id"], "substate": "Elsewhere"},
        expect=422,
    )
    assert other["field"] == "substate"


# Changes of the type -------------------------------------------------------------------------


def test_renaming_a_type_moves_its_actions_and_deleting_it_stops_them(
    api: Api, solar: dict[str, Any]
) -> None:
    renamed = api.patch(f"/opportunity-types/{solar['id']}", {"name": "Solar roofs"})
    listed = api.get(_actions(solar["id"]))
    assert {a["opportunity_type"] for a in listed} == {"Solar roofs"}
    for action in listed:
        automation = api.get(f"/automations/{action['automation_id']}")
        assert automation["definition"]["trigger"]["opportunity_type"] == "Solar roofs"
        assert automation["name"].startswith("Solar roofs / Pending documentation")

    api.delete(f"/opportunity-types/{renamed['id']}")
    for action in listed:
        assert api.get(f"/automations/{action['automation_id']}")["status"] == "archived"


def test_a_workflow_opening_a_substate_the_type_lacks_fails_naming_it(
    api: Api, solar: dict[str, Any]
) -> None:
    """When the trigger does not name the type, it is known only when the action runs."""
    definition = {
        "trigger": {"type": "record_created", "object_type": "opportunity"},
        "steps": [
            {
                "id": "open",
                "type": "action",
                "action": "open_substate",
                "settings": {"substate": "Paperwork"},
            }
        ],
    }
    api.post("/automations", {"name": "Open", "definition": definition, "publish": True})
    opp = _opportunity(api)
    _advance(api, "PT0S")
    (run,) = api.get(f"/runs?record={opp['id']}")["items"]
    assert run["status"] == "failed"
    assert "opportunity type 'Solar installation' has no sub-state 'Paperwork'" in run["error"]

"""Lead pipeline automation through the API (SPEC H1-H9): the built-in moves, the manual
regression lock, the lead creators, per-stage custom actions and who may change them."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from stageflow.bootstrap import App
from stageflow.domain.records import ObjectType
from stageflow.services.authoring import lead_automation
from stageflow.services.authoring.lead_automation import install_missing
from tests.conftest import Api, Tenant
from tests.e2e.test_api_permissions import add_member


def _pipeline(api: Api) -> dict[str, Any]:
    return next(p for p in api.get("/pipelines?object_type=lead") if p["is_default"])  # type: ignore[no-any-return]


def _stage(api: Api, name: str) -> int:
    return next(s["id"] for s in _pipeline(api)["stages"] if s["name"] == name)  # type: ignore[no-any-return]


def _lead(api: Api, name: str = "Ann Lee", **extra: Any) -> dict[str, Any]:
    return api.post("/leads", {"name": name, **extra})  # type: ignore[no-any-return]


def _settle(api: Api) -> None:
    api.post("/admin/clock/advance", {"by": "PT0S"}, expect=200)


def _log(api: Api, lead: dict[str, Any], kind: str, **extra: Any) -> dict[str, Any]:
    activity = api.post(
        "/activities", {"record_id": lead["id"], "type": kind, "subject": kind, **extra}
    )
    _settle(api)
    return activity  # type: ignore[no-any-return]


def _stage_of(api: Api, lead: dict[str, Any]) -> str:
    stage_id = api.get(f"/leads/{lead['id']}")["stage_id"]
    return next(s["name"] for s in _pipeline(api)["stages"] if s["id"] == stage_id)  # type: ignore[no-any-return]


def _move(api: Api, lead: dict[str, Any], stage: str, **extra: Any) -> None:
    api.post(f"/leads/{lead['id']}/move", {"stage_id": _stage(api, stage), **extra}, expect=200)
    _settle(api)


def test_every_workspace_starts_with_both_moves_on_and_the_creators_off(api: Api) -> None:
    settings = api.get("/lead-automation")
    assert settings["pipeline_id"] == _pipeline(api)["id"]
    attempting, connected = settings["attempting"], settings["connected"]
    assert attempting["enabled"] and connected["enabled"]
    assert attempting["from_stage_ids"] == [_stage(api, "New")]
    assert attempting["to_stage_id"] == _stage(api, "Attempting")
    assert attempting["moments"] == [
        "email_sent",
        "linkedin_message_sent",
        "call_logged",
        "meeting_scheduled",
    ]
    assert connected["from_stage_ids"] == [_stage(api, "New"), _stage(api, "Attempting")]
    assert connected["moments"] == ["email_reply_received", "meeting_completed", "call_connected"]
    assert not settings["create_lead"]["enabled"] and not settings["follow_up_lead"]["enabled"]
    for key in ("attempting", "connected"):
        automation = api.get(f"/automations/{settings['automation_ids'][key]}")
        assert automation["kind"] == "lead_automation" and automation["status"] == "active"


@pytest.mark.parametrize(
    "activity",
    [
        {"type": "email", "direction": "outbound"},
        {"type": "email"},
        {"type": "message", "channel": "linkedin", "direction": "outbound"},
        {"type": "call", "outcome": "no_answer"},
        {"type": "meeting", "outcome": "scheduled"},
    ],
)
def test_outreach_moves_a_new_lead_to_attempting(api: Api, activity: dict[str, Any]) -> None:
    """H2."""
    lead = _lead(api)
    assert _stage_of(api, lead) == "New"
    activity = dict(activity)  # the parameters are shared by both backends' runs
    _log(api, lead, activity.pop("type"), **activity)
    assert _stage_of(api, lead) == "Attempting"
    (run,) = api.get(f"/runs?record={lead['id']}")["items"]
    assert run["status"] == "completed"


@pytest.mark.parametrize(
    "activity",
    [
        {"type": "note"},
        {"type": "task"},
        {"type": "message", "channel": "whatsapp", "direction": "outbound"},
    ],
)
def test_other_activities_do_not_count(api: Api, activity: dict[str, Any]) -> None:
    lead = _lead(api)
    activity = dict(activity)  # the parameters are shared by both backends' runs
    _log(api, lead, activity.pop("type"), **activity)
    assert _stage_of(api, lead) == "New"


@pytest.mark.parametrize(
    "planned",
    [
        {"type": "call", "due_at": "2026-02-01T10:00:00Z"},
        {
            "type": "email",
            "direction": "outbound",
            "status": "open",
            "due_at": "2026-02-01T10:00:00Z",
        },
        {"type": "message", "channel": "linkedin", "direction": "outbound", "status": "open"},
    ],
)
def test_planned_outreach_counts_once_it_is_completed(api: Api, planned: dict[str, Any]) -> None:
    """H2 "completes outreach": an open call or an email due next month is not outreach yet."""
    lead = _lead(api)
    planned = dict(planned)  # the parameters are shared by both backends' runs
    activity = _log(api, lead, planned.pop("type"), **planned)
    assert activity["status"] == "open"
    assert _stage_of(api, lead) == "New"
    assert not api.get(f"/runs?record={lead['id']}")["items"]

    api.patch(f"/activities/{activity['id']}", {"status": "completed"})
    _settle(api)
    assert _stage_of(api, lead) == "Attempting"


def test_connecting_moves_the_lead_to_connected(api: Api) -> None:
    """H3: an email reply, a meeting completed, a call logged as connected."""
    replied, met, called = _lead(api, "Replied"), _lead(api, "Met"), _lead(api, "Called")
    _log(api, replied, "email", direction="outbound")
    assert _stage_of(api, replied) == "Attempting"
    _log(api, replied, "email", direction="inbound")
    assert _stage_of(api, replied) == "Connected"

    meeting = _log(api, met, "meeting", outcome="scheduled")
    assert _stage_of(api, met) == "Attempting"
    api.patch(f"/activities/{meeting['id']}", {"outcome": "completed"})
    _settle(api)
    assert _stage_of(api, met) == "Connected"

    _log(api, called, "call", outcome="connected")  # outreach and connecting at once
    assert _stage_of(api, called) == "Connected"


def test_automation_only_moves_forward_and_only_in_the_default_pipeline(api: Api) -> None:
    ahead = _lead(api, "Ahead")
    _move(api, ahead, "Connected")
    _log(api, ahead, "email", direction="outbound")
    assert _stage_of(api, ahead) == "Connected"  # outreach never moves it back to Attempting

    other = api.post(
        "/pipelines",
        {"object_type": "lead", "name": "Partners", "stages": [{"name": "New"}, {"name": "Met"}]},
    )
    elsewhere = _lead(api, "Elsewhere", pipeline_id=other["id"])
    _log(api, elsewhere, "call", outcome="connected")
    assert api.get(f"/leads/{elsewhere['id']}")["stage_id"] == other["stages"][0]["id"]


def test_a_lead_moved_back_by_hand_is_never_moved_again(api: Api) -> None:
    """H5: auto-moved to Connected, manually back to New: a later connected call changes
    nothing, and the lock shows on the lead and in the why-nothing-ran history."""
    lead = _lead(api)
    _log(api, lead, "call", outcome="connected")
    assert _stage_of(api, lead) == "Connected"
    _move(api, lead, "New")
    locked = api.get(f"/leads/{lead['id']}")
    assert locked["fields"]["stage_locked_at"]

    _log(api, lead, "call", outcome="connected")
    assert _stage_of(api, lead) == "New"
    skips = api.get(f"/runs/skipped?record={lead['id']}")
    assert skips and all(s["reason"] == "conditions_not_met" for s in skips)
    assert "stage_locked_at" in skips[0]["detail"]
    assert any(
        e["type"] == "FieldChanged" for e in api.get(f"/leads/{lead['id']}/timeline")["items"]
    )

    # Clearing the lock lets automation move the lead again.
    api.patch(f"/leads/{lead['id']}", {"fields": {"stage_locked_at": None}})
    _log(api, lead, "email", direction="outbound")
    assert _stage_of(api, lead) == "Attempting"


def test_a_locked_leads_skipped_automation_shows_on_its_timeline(api: Api) -> None:
    lead = _lead(api)
    _move(api, lead, "Attempting")
    _move(api, lead, "New")  # back by hand: locked
    _log(api, lead, "call", status="completed")
    assert _stage_of(api, lead) == "New"

    attempting = api.get("/lead-automation")["automation_ids"]["attempting"]
    timeline = api.get(f"/leads/{lead['id']}/timeline")["items"]
    (skipped,) = [e for e in timeline if e["type"] == "AutomationSkipped"]
    assert skipped["data"]["automation_id"] == attempting
    assert skipped["data"]["reason"] == "conditions_not_met"
    assert "stage_locked_at" in skipped["data"]["detail"]
    assert skipped["data"]["trigger_event_type"] == "ActivityLogged"
    assert timeline.index(skipped) < next(
        i for i, e in enumerate(timeline) if e["type"] == "ActivityLogged"
    )  # newest first: after the activity that triggered it
    assert [s["reason"] for s in api.get(f"/runs/skipped?record={lead['id']}")] == [
        "conditions_not_met"
    ]


def test_moving_forward_by_hand_does_not_lock(api: Api) -> None:
    lead = _lead(api)
    _move(api, lead, "Attempting")
    assert "stage_locked_at" not in api.get(f"/leads/{lead['id']}")["fields"]
    _log(api, lead, "email", direction="inbound")
    assert _stage_of(api, lead) == "Connected"


def test_a_locked_lead_is_not_moved_by_any_automation(api: Api) -> None:
    lead = _lead(api)
    _move(api, lead, "Attempting")
    _move(api, lead, "New")
    api.post(
        "/automations",
        {
            "name": "Push",
            "definition": {
                "trigger": {"type": "field_changed", "object_type": "lead", "field": "phone"},
                "steps": [
                    {
                        "id": "push",
                        "type": "action",
                        "action": "move_stage",
                        "settings": {"stage_id": _stage(api, "Qualified")},
                    }
                ],
            },
            "publish": True,
        },
    )
    api.patch(f"/leads/{lead['id']}", {"fields": {"phone": "+34 600 000 000"}})
    _settle(api)
    assert _stage_of(api, lead) == "New"
    (run,) = [r for r in api.get(f"/runs?record={lead['id']}")["items"] if r["status"]]
    step = api.get(f"/runs/{run['id']}")["steps"][-1]
    assert step["output"]["moved"] is False and "moved the lead back" in step["output"]["why"]


def test_moves_can_be_switched_off_and_configured(api: Api) -> None:
    """H4."""
    api.patch("/lead-automation", {"attempting": {"enabled": False}})
    lead = _lead(api)
    _log(api, lead, "email", direction="outbound")
    assert _stage_of(api, lead) == "New"
    automation_id = api.get("/lead-automation")["automation_ids"]["attempting"]
    assert api.get(f"/automations/{automation_id}")["status"] == "paused"

    api.patch("/lead-automation", {"attempting": {"enabled": True, "moments": ["call_logged"]}})
    _log(api, lead, "email", direction="outbound")
    assert _stage_of(api, lead) == "New"
    _log(api, lead, "call", status="completed")  # a call made (an open one is only planned)
    assert _stage_of(api, lead) == "Attempting"
    assert api.get("/lead-automation")["automation_ids"]["attempting"] == automation_id

    api.patch(
        "/lead-automation",
        {
            "connected": {
                "from_stage_ids": [_stage(api, "Attempting")],
                "to_stage_id": _stage(api, "Qualified"),
            }
        },
    )
    _log(api, lead, "email", direction="inbound")
    assert _stage_of(api, lead) == "Qualified"


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        (
            {"connected": {"to_stage_id": "New"}},
            "connected.from_stage_ids",
            "only moves leads forward",
        ),
        ({"attempting": {"to_stage_id": 999_999}}, "attempting.to_stage_id", "no stage 999999"),
        ({"attempting": {"moments": ["smoke_signal"]}}, "attempting.moments", "smoke_signal"),
        ({"attempting": {"moments": []}}, "attempting.moments", "at least 1"),
        ({"create_lead": {"enabled": True}}, "create_lead.lifecycle_stage_ids", "choose"),
        ({"follow_up_lead": {"lead_type": "nope"}}, "follow_up_lead.lead_type", "'nope'"),
        ({"follow_up_lead": {"reasons": ["nope"]}}, "follow_up_lead.reasons", "'nope'"),
        ({"surprise": {}}, "surprise", "unknown lead automation"),
    ],
)
def test_bad_settings_are_refused(
    api: Api, changes: dict[str, Any], field: str, words: str
) -> None:
    changes = copy.deepcopy(changes)  # the parameters are shared by both backends' runs
    for section in changes.values():
        if section.get("to_stage_id") == "New":
            section["to_stage_id"] = _stage(api, "New")
    before = api.get("/lead-automation")
    error = api.patch("/lead-automation", changes, expect=422)
    assert error["field"].startswith(field), error
    assert words in error["message"], error
    assert api.get("/lead-automation") == before


def test_contacts_entering_chosen_lifecycle_stages_get_a_lead_except_by_sync(api: Api) -> None:
    """H6."""
    stages = {s["name"]: s["id"] for s in api.get("/lifecycle/stages")["lifecycle"]}
    api.patch(
        "/lead-automation",
        {
            "create_lead": {
                "enabled": True,
                "lifecycle_stage_ids": [stages["Hot Lead"]],
                "lead_type": "new_business",
            }
        },
    )
    contact = api.post("/contacts", {"fields": {"first_name": "Ann", "last_name": "Lee"}})
    api.put(f"/contacts/{contact['id']}/lifecycle", {"stage_id": stages["Payment"]})
    _settle(api)
    assert api.get("/leads")["items"] == []
    api.put(f"/contacts/{contact['id']}/lifecycle", {"stage_id": stages["Hot Lead"]})
    _settle(api)
    (lead,) = api.get("/leads")["items"]
    assert lead["name"] == "Ann Lee"
    assert lead["fields"]["lead_type"] == "new_business"
    assert lead["associations"]["contact"] == [contact["id"]]
    assert lead["stage_id"] == _stage(api, "New")

    company = api.post("/companies", {"name": "Acme"})
    staff = api.post(
        "/contacts",
        {"fields": {"first_name": "Bo"}, "associations": {"company": [company["id"]]}},
    )
    out = api.put(
        f"/companies/{company['id']}/lifecycle",
        {"stage_id": stages["Hot Lead"], "sync_contacts": True},
    )
    assert out["contacts_synced"] == 1
    _settle(api)
    assert api.get(f"/contacts/{staff['id']}")["lifecycle_stage_id"] == stages["Hot Lead"]
    assert len(api.get("/leads")["items"]) == 1  # the synced contact got none


def test_disqualified_leads_get_a_follow_up_lead_for_chosen_reasons(api: Api) -> None:
    """H7."""
    api.patch(
        "/lead-automation",
        {"follow_up_lead": {"enabled": True, "lead_type": "follow_up", "reasons": ["bad_timing"]}},
    )
    contact = api.post("/contacts", {"fields": {"first_name": "Ann"}})
    later = _lead(api, "Later", associations={"contact": [contact["id"]]})
    never = _lead(api, "Never")
    _move(api, later, "Disqualified", fields={"disqualification_reason": "bad_timing"})
    _move(api, never, "Disqualified", fields={"disqualification_reason": "no_budget"})
    names = {ld["name"]: ld for ld in api.get("/leads")["items"]}
    assert set(names) == {"Later", "Never", "Follow-up: Later"}
    follow_up = names["Follow-up: Later"]
    assert follow_up["fields"]["lead_type"] == "follow_up"
    assert follow_up["associations"]["contact"] == [contact["id"]]
    assert follow_up["stage_id"] == _stage(api, "New")
    events = api.get(f"/leads/{later['id']}/timeline")["items"]
    (disqualified,) = [e for e in events if e["type"] == "LeadDisqualified"]
    assert disqualified["data"]["reason"] == "bad_timing"


def test_per_stage_custom_actions(api: Api) -> None:
    """H8: add, edit, comment on, delete one, delete it and all after it; the same actions
    open as a workflow."""
    connected = _stage(api, "Connected")
    base = f"/lead-automation/stages/{connected}/actions"
    assert api.get(base) == {"stage_id": connected, "automation_id": None, "actions": []}
    task = {
        "type": "action",
        "action": "create_task",
        "settings": {"subject": "Qualify {{ record.name }}", "due_in": "P1D"},
    }
    first = api.post(base, task)
    assert [a["id"] for a in first["actions"]] == ["a1"]
    api.post(base, {"type": "delay", "duration": "P2D"})
    api.post(base, {**task, "settings": {"subject": "Follow up {{ record.name }}"}})
    api.post(base, {**task, "id": "first", "position": 1})
    view = api.get(base)
    assert [a["id"] for a in view["actions"]] == ["first", "a1", "a2", "a3"]
    api.patch(f"{base}/a1", {"comment": "Agreed with sales"})
    assert api.get(base)["actions"][1]["comment"] == "Agreed with sales"

    workflow = api.get(f"/automations/{view['automation_id']}")
    assert workflow["kind"] == "lead_automation" and workflow["status"] == "active"
    # It opens in the workflow API; it changes here (H9 guards it), not through /automations.
    api.patch(f"/automations/{view['automation_id']}", {"name": "Mine"}, expect=409)
    api.post(f"/automations/{view['automation_id']}/pause", expect=409)
    assert [s["id"] for s in workflow["definition"]["steps"]] == ["first", "a1", "a2", "a3"]

    out = api.delete(f"{base}/first", expect=200)
    assert out["deleted"] == 1
    out = api.delete(f"{base}/a2?and_following=true", expect=200)
    assert out["deleted"] == 2 and [a["id"] for a in out["actions"]] == ["a1"]

    lead = _lead(api)
    _log(api, lead, "call", outcome="connected")
    tasks = api.get(f"/activities?record_id={lead['id']}&type=task")["items"]
    assert [t["subject"] for t in tasks] == ["Qualify Ann Lee"]

    api.delete(f"{base}/a1", expect=200)
    assert api.get(base)["actions"] == []
    assert api.get(f"/automations/{view['automation_id']}")["status"] == "archived"


def test_bad_custom_actions_are_refused(api: Api) -> None:
    base = f"/lead-automation/stages/{_stage(api, 'New')}/actions"
    error = api.post(
        base,
        {"type": "action", "action": "set_field", "settings": {"fields": {"colour": 1}}},
        expect=422,
    )
    assert "colour" in error["message"]
    api.post(base, {"type": "end"})
    api.post(base, {"type": "end", "id": "a1"}, expect=422)
    api.patch(f"{base}/nope", {"comment": "x"}, expect=404)
    api.get("/lead-automation/stages/999999/actions", expect=404)


def test_only_owner_and_admin_change_lead_automation(api: Api) -> None:
    """H9: managers may edit workflows but not lead automation."""
    base = f"/lead-automation/stages/{_stage(api, 'New')}/actions"
    for role in ("agent", "manager"):
        member = add_member(api, role)
        error = member.api.patch("/lead-automation", {"attempting": {"enabled": False}}, expect=403)
        assert "lead_automation.edit" in error["message"]
        member.api.post(base, {"type": "end"}, expect=403)
        assert member.api.get("/lead-automation")["attempting"]["enabled"]
    admin = add_member(api, "admin")
    admin.api.patch("/lead-automation", {"attempting": {"enabled": False}})
    granted = add_member(api, "manager", permissions=("lead_automation.edit",))
    granted.api.patch("/lead-automation", {"attempting": {"enabled": True}})


def test_built_in_automations_change_only_through_their_settings(api: Api) -> None:
    automation_id = api.get("/lead-automation")["automation_ids"]["attempting"]
    error = api.patch(f"/automations/{automation_id}", {"name": "Mine"}, expect=409)
    assert "/lead-automation" in error["message"]
    for verb in ("pause", "archive", "publish"):
        api.post(f"/automations/{automation_id}/{verb}", expect=409)
    api.patch("/lead-automation", {"attempting": {"enabled": False}})
    api.post(f"/automations/{automation_id}/resume", expect=409)
    assert api.get(f"/automations/{automation_id}")["status"] == "paused"


def test_clearing_a_contacts_stage_creates_no_lead(api: Api) -> None:
    stages = {s["name"]: s["id"] for s in api.get("/lifecycle/stages")["lifecycle"]}
    api.patch(
        "/lead-automation",
        {"create_lead": {"enabled": True, "lifecycle_stage_ids": [stages["Hot Lead"]]}},
    )
    contact = api.post("/contacts", {"fields": {"first_name": "Ann"}})
    api.put(f"/contacts/{contact['id']}/lifecycle", {"stage_id": None})
    _settle(api)
    assert api.get("/leads")["items"] == []


def test_stages_and_the_default_pipeline_lead_automation_uses_stay(api: Api) -> None:
    pipeline = _pipeline(api)
    error = api.delete(
        f"/pipelines/{pipeline['id']}/stages/{_stage(api, 'Attempting')}", expect=409
    )
    assert "attempting" in error["message"]
    other = api.post(
        "/pipelines",
        {"object_type": "lead", "name": "Partners", "stages": [{"name": "A"}, {"name": "B"}]},
    )
    error = api.patch(f"/pipelines/{other['id']}", {"is_default": True}, expect=409)
    assert "switch it off" in error["message"]
    api.patch(
        "/lead-automation", {"attempting": {"enabled": False}, "connected": {"enabled": False}}
    )
    api.patch(f"/pipelines/{other['id']}", {"is_default": True})


def test_a_removed_picklist_option_blocks_only_the_creator_that_uses_it(api: Api) -> None:
    options = api.get("/picklists")["lead_type"]
    kept = [o for o in options if o["value"] != "follow_up"]
    api.put("/picklists/lead_type", {"options": kept})
    api.patch("/lead-automation", {"attempting": {"enabled": False}})  # not blocked
    error = api.patch(
        "/lead-automation",
        {"follow_up_lead": {"enabled": True, "reasons": ["bad_timing"]}},
        expect=422,
    )
    assert error["field"] == "follow_up_lead.lead_type"


def test_workspaces_made_before_lead_automation_get_it_at_start(app: App, tenant: Tenant) -> None:
    """A database upgraded from before lead automation: starting stageflow installs it."""
    with app.uow() as uow:
        workspace = uow.workspaces.get(tenant.id)
        assert workspace is not None
        settings = dict(workspace.settings)
        old_ids = settings.pop("lead_automation")["automations"]
        uow.workspaces.update_settings(tenant.id, settings)
        uow.commit()
    with app.uow() as uow:
        assert install_missing(uow) >= 1
        uow.commit()
    with app.uow(read_only=True) as uow:
        view = lead_automation.view(uow, tenant.owner)
        assert view["attempting"]["enabled"] and not view["create_lead"]["enabled"]
        assert view["automation_ids"]["attempting"] not in old_ids.values()
        assert install_missing(uow) == 0


def test_renamed_stages_fall_back_to_the_first_three_open_ones(app: App, tenant: Tenant) -> None:
    with app.uow() as uow:
        (pipeline,) = uow.pipelines.list(tenant.id, ObjectType.LEAD)
        ordered = sorted(pipeline.stages, key=lambda s: s.position)
        ids = [s.id for s in ordered]
        for stage, name in zip(ordered, ("Fresh", "Trying", "Talking"), strict=False):
            stage.name = name
            uow.pipelines.update_stage(stage)
        workspace = uow.workspaces.get(tenant.id)
        assert workspace is not None
        settings = {k: v for k, v in workspace.settings.items() if k != "lead_automation"}
        uow.workspaces.update_settings(tenant.id, settings)
        uow.commit()
    with app.uow() as uow:
        assert install_missing(uow) >= 1
        uow.commit()
    with app.uow(read_only=True) as uow:
        view = lead_automation.view(uow, tenant.owner)
        assert view["attempting"]["from_stage_ids"] == [ids[0]]
        assert view["connected"]["to_stage_id"] == ids[2]


def test_an_email_reply_from_the_leads_contact_connects_it(api: Api) -> None:
    """H3 "replies to an email": an inbound email from the contact shows on its open leads as
    an inbound email activity, and that connects them."""
    contact = api.post("/contacts", {"fields": {"first_name": "Ann", "email": "ann@x.example"}})
    lead = _lead(api, associations={"contact": [contact["id"]]})
    closed = _lead(api, "Closed", associations={"contact": [contact["id"]]})
    _move(api, closed, "Qualified")
    _log(api, lead, "email", direction="outbound")
    assert _stage_of(api, lead) == "Attempting"
    api.post(
        "/messages/inbound",
        {"channel": "email", "address": "ANN@x.example", "text": "Sounds good, call me"},
    )
    _settle(api)
    assert _stage_of(api, lead) == "Connected"
    (reply,) = api.get(f"/activities?record_id={lead['id']}&type=email&status=completed")["items"][
        :1
    ]
    assert reply["direction"] == "inbound" and reply["description"] == "Sounds good, call me"
    assert api.get(f"/activities?record_id={closed['id']}")["items"] == []  # not open: left alone

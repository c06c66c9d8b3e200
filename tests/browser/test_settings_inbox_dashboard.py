"""Settings, inbox and dashboard as a person uses them: lifecycle stages dragged and deleted
with their contacts moved, a contact's stage set from its conversation, the dashboard's
numbers, pipeline stages and picklists, users and tokens."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.conftest import (
    AGENT_EMAIL,
    AGENT_PASSWORD,
    ConsoleWatch,
    Server,
    check_accessibility,
    screenshot,
    sign_in,
)


def _api(server: Server, method: str, path: str, **kwargs: Any) -> Any:
    with server.api() as api:
        response = api.request(method, path, **kwargs)
        assert response.is_success, response.text
        return response.json() if response.content else None


def _stages(server: Server) -> list[dict[str, Any]]:
    found = _api(server, "GET", "/lifecycle/stages")
    items: list[dict[str, Any]] = found["lifecycle"] + found["lost"]
    return items


def _stage_id(server: Server, name: str) -> int:
    return next(int(s["id"]) for s in _stages(server) if s["name"] == name)


def _names_in_column(page: Page, kind: str) -> list[str]:
    rows = page.locator(f'.stage-list[data-kind="{kind}"] .stage-row .stage-name')
    return [text.strip() for text in rows.all_inner_texts()]


def _lifecycle_names(server: Server) -> list[str]:
    ordered = sorted(
        (s for s in _stages(server) if s["kind"] == "lifecycle"), key=lambda s: s["position"]
    )
    return [s["name"] for s in ordered]


# lifecycle settings ---------------------------------------------------------------------------


def test_reorder_lifecycle_stages_by_dragging_and_the_order_persists(
    owner_page: Page, server: Server
) -> None:
    page = owner_page
    page.goto("/settings/lifecycle")
    expect(page.get_by_role("heading", name="Lifecycle", exact=True)).to_be_visible()
    expect(page.locator("#stage-limit")).to_contain_text(f"{len(_stages(server))} of 20 stages")
    check_accessibility(page)
    screenshot(page, "settings-lifecycle")

    before = _names_in_column(page, "lifecycle")
    assert before == _lifecycle_names(server)
    moving, onto = before[2], before[0]
    page.locator(f'.stage-row:has-text("{moving}") .drag-handle').drag_to(
        page.locator(f'.stage-row:has-text("{onto}")')
    )
    expect(page.get_by_role("status")).to_contain_text("Saved the new order")
    after = _names_in_column(page, "lifecycle")
    assert after != before and after.index(moving) < before.index(moving), after
    page.reload()
    assert _names_in_column(page, "lifecycle") == after
    assert _lifecycle_names(server) == after

    # the keyboard alternative: "Move … down" keeps the focus on the button it pressed
    first = after[0]
    button = page.get_by_role("button", name=f"Move {first} down")
    button.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text(f"Moved '{first}' down")
    expect(page.locator(".stage-list[data-kind=lifecycle] .stage-row").nth(1)).to_contain_text(
        first
    )
    expect(page.get_by_role("button", name=f"Move {first} down")).to_be_focused()
    assert _lifecycle_names(server)[1] == first


def test_add_a_lost_stage_shows_the_services_error_at_the_field(
    owner_page: Page, server: Server, console: ConsoleWatch
) -> None:
    console.allow(r"status of 422")  # the form coming back with its error
    page = owner_page
    page.goto("/settings/lifecycle")
    page.locator("section", has_text="Lost stages").get_by_role("button", name="Add stage").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Add a lost stage")
    dialog.get_by_label("Name").fill("No answer")
    dialog.get_by_label("Description").fill("Several follow-ups, still no reply.")
    dialog.get_by_role("button", name="Add stage").click()
    emoji = dialog.get_by_label("Emoji")
    expect(emoji).to_have_attribute("aria-invalid", "true")
    expect(dialog).to_contain_text("A lost stage needs an emoji")
    expect(emoji).to_be_focused()
    emoji.fill("☹")
    dialog.get_by_role("button", name="Add stage").click()
    expect(page.get_by_role("status")).to_contain_text("Added 'No answer' to the lost stages")
    expect(page.get_by_role("dialog")).to_be_hidden()
    assert "No answer" in _names_in_column(page, "lost")[-1]


def test_delete_a_used_stage_moves_its_contacts_to_the_chosen_stage(
    owner_page: Page, server: Server
) -> None:
    page = owner_page
    trial = _api(server, "POST", "/lifecycle/stages", json={"name": "Trial"})["id"]
    target = _stage_id(server, "Customer")
    contacts = [
        _api(server, "POST", "/contacts", json={"name": name, "lifecycle_stage_id": trial})["id"]
        for name in ("Paola Neri", "Marco Villa")
    ]
    page.goto("/settings/lifecycle")
    row = page.locator(f"#lc-stage-{trial}")
    row.get_by_label("Actions for Trial").click()
    row.get_by_role("button", name="Delete…").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Delete 'Trial'?")
    expect(dialog).to_contain_text("2 contacts use this stage")
    dialog.get_by_label("Stage to move them to").select_option(label="Customer")
    check_accessibility(page)
    screenshot(page, "settings-lifecycle-delete")
    dialog.get_by_role("button", name="Delete stage").click()
    expect(page.get_by_role("status")).to_contain_text(
        "Deleted 'Trial'; its 2 contacts are now in 'Customer'"
    )
    expect(page.locator(f"#lc-stage-{trial}")).to_have_count(0)
    for contact in contacts:
        assert _api(server, "GET", f"/contacts/{contact}")["lifecycle_stage_id"] == target


def test_an_agent_sees_settings_read_only_or_refused(
    page: Page, server: Server, console: ConsoleWatch
) -> None:
    console.allow(r"status of 403")  # the users page refuses an agent
    sign_in(page, AGENT_EMAIL, AGENT_PASSWORD)
    page.goto("/settings/lifecycle")
    expect(page.get_by_role("note")).to_contain_text("needs the 'lifecycle.edit' permission")
    expect(page.get_by_role("button", name="Add stage")).to_have_count(0)
    expect(page.locator(".drag-handle")).to_have_count(0)
    expect(page.get_by_label("Show lifecycle stages in the inbox and contacts")).to_be_disabled()
    token = page.locator('meta[name="csrf-token"]').get_attribute("content") or ""
    form = {"order": "1", "csrf_token": token}
    refused = page.request.post("/settings/lifecycle/order", form=form)
    assert refused.status == 403
    check_accessibility(page)

    page.goto("/settings/pipelines")  # read-only as well
    expect(page.get_by_text("needs the 'pipelines.edit' permission")).to_be_visible()
    expect(page.get_by_role("button", name="Add stage")).to_have_count(0)
    expect(page.get_by_text("needs the 'picklists.edit' permission")).to_be_visible()
    page.goto("/settings/users")  # refused: owners and admins only
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()


# inbox ----------------------------------------------------------------------------------------


def _inbound(server: Server, address: str, name: str, text: str) -> dict[str, Any]:
    received: dict[str, Any] = _api(
        server,
        "POST",
        "/messages/inbound",
        json={"channel": "whatsapp", "address": address, "name": name, "text": text},
    )
    return received


def _dashboard_row(server: Server, stage_id: int) -> dict[str, Any]:
    found = _api(server, "GET", "/dashboard/lifecycle")
    row: dict[str, Any] = next(s for s in found["lifecycle"] if s["id"] == stage_id)
    return row


def test_set_a_contacts_stage_from_its_conversation_moves_the_dashboard_count(
    owner_page: Page, server: Server
) -> None:
    page = owner_page
    _inbound(server, "+39 333 100 2000", "Giulia Ferri", "Hello, do you install heat pumps?")
    received = _inbound(
        server, "+39 333 100 2001", "Luca Moretti", "Hi! Could you send a quote for 6 kW panels?"
    )
    conversation = received["conversation"]["id"]
    new_lead = _stage_id(server, "New Lead")
    hot_lead = _stage_id(server, "Hot Lead")
    assert received["contact"]["lifecycle_stage_id"] == new_lead  # the default stage

    page.goto("/inbox")
    row = page.locator(f"#conv-{conversation}")
    expect(row).to_contain_text("Luca Moretti")
    expect(row).to_contain_text("New Lead")
    expect(row).to_contain_text("Could you send a quote")
    check_accessibility(page)
    screenshot(page, "inbox")

    before_new, before_hot = _dashboard_row(server, new_lead), _dashboard_row(server, hot_lead)
    page.goto("/dashboard")
    hot_cell = page.locator(
        f'#lifecycle-table tr[data-stage-id="{hot_lead}"] [data-count=contacts]'
    )
    expect(hot_cell).to_have_text(str(before_hot["contacts"]))
    page.goto("/inbox")
    page.locator(f"#conv-{conversation}").get_by_role("link", name="Luca Moretti").click()
    expect(page).to_have_url(re.compile(rf"/inbox/{conversation}$"))
    expect(page.get_by_role("heading", name="Luca Moretti")).to_be_visible()
    expect(page.locator(".message").last).to_contain_text("6 kW panels")
    page.get_by_label("Change the stage").select_option(label="Hot Lead")
    page.get_by_role("button", name="Set stage").click()
    expect(page.get_by_role("status")).to_contain_text("Luca Moretti is now in 'Hot Lead'")
    expect(page.locator(".current-stage")).to_have_text("Hot Lead")
    after_new, after_hot = _dashboard_row(server, new_lead), _dashboard_row(server, hot_lead)
    assert after_hot["contacts"] == before_hot["contacts"] + 1
    assert after_hot["open_conversations"] == before_hot["open_conversations"] + 1
    assert after_new["contacts"] == before_new["contacts"] - 1
    page.goto("/dashboard")
    expect(hot_cell).to_have_text(str(before_hot["contacts"] + 1))
    page.go_back()
    check_accessibility(page)
    screenshot(page, "inbox-conversation")

    page.get_by_label("Assign to").select_option(label="Demo Owner (me)")
    page.get_by_role("button", name="Assign").click()
    expect(page.get_by_role("status")).to_contain_text("Assigned to Demo Owner")
    page.get_by_role("button", name="Close conversation").click()
    expect(page.locator(".conv-status")).to_have_text("Closed")
    assert (
        _dashboard_row(server, hot_lead)["open_conversations"] == before_hot["open_conversations"]
    )
    page.get_by_role("button", name="Reopen").click()
    expect(page.locator(".conv-status")).to_have_text("Open")
    page.get_by_role("button", name="Clear the stage").click()
    expect(page.get_by_role("status")).to_contain_text("Cleared the lifecycle stage")
    expect(page.locator(".current-stage")).to_have_text("No stage")
    contact = _api(server, "GET", f"/contacts/{received['contact']['id']}")
    assert contact["lifecycle_stage_id"] is None
    timeline = _api(server, "GET", f"/contacts/{contact['id']}/timeline")["items"]
    changes = [e for e in timeline if e["type"] == "LifecycleChanged" and e["source"] == "ui"]
    assert len(changes) == 2, changes  # set to Hot Lead, then cleared, by the user in the app
    assert all(e["actor"]["kind"] == "user" for e in changes)


def test_snooze_needs_a_future_time_and_shows_it(
    owner_page: Page, server: Server, console: ConsoleWatch
) -> None:
    console.allow(r"status of 422")  # the form coming back with its error
    page = owner_page
    received = _inbound(server, "+39 333 100 2002", "Sara Galli", "Call me next week please")
    page.goto(f"/inbox/{received['conversation']['id']}")
    page.get_by_label("Snooze until").fill("2020-01-01T09:00")
    page.get_by_role("button", name="Snooze").click()
    expect(page.locator("#snooze-error")).to_contain_text("The snooze time must be in the future")
    page.get_by_label("Snooze until").fill("2099-01-05T09:00")
    page.get_by_role("button", name="Snooze").click()
    expect(page.locator(".conv-status")).to_contain_text("Snoozed until 5 Jan 2099")
    page.goto("/inbox?status=snoozed")
    expect(page.locator(f"#conv-{received['conversation']['id']}")).to_contain_text("Sara Galli")
    page.goto("/inbox?status=open&who=mine")
    expect(page.locator(".empty-state, table.inbox")).to_be_visible()


# dashboard ------------------------------------------------------------------------------------


def test_the_dashboards_numbers_equal_the_apis(owner_page: Page, server: Server) -> None:
    page = owner_page
    _inbound(server, "+39 333 100 2003", "Elena Costa", "Is the offer still valid?")
    page.goto("/dashboard")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    api = _api(server, "GET", "/dashboard/lifecycle")
    keys = {
        "contacts": "contacts",
        "open": "open_conversations",
        "snoozed": "snoozed_conversations",
        "unassigned": "unassigned_conversations",
    }
    for stage in api["lifecycle"] + api["lost"]:
        row = page.locator(f'#lifecycle-table tr[data-stage-id="{stage["id"]}"]')
        for cell, key in keys.items():
            expect(row.locator(f"[data-count={cell}]")).to_have_text(str(stage[key]))
    none = page.locator('#lifecycle-table tr[data-stage-id="none"]')
    for cell, key in keys.items():
        expect(none.locator(f"[data-count={cell}]")).to_have_text(str(api["no_stage"][key]))
    shown = page.locator("#lifecycle-table tbody tr").count()
    assert shown == len(api["lifecycle"]) + len(api["lost"]) + 1
    rows = [*api["lifecycle"], *api["lost"], api["no_stage"]]
    page.goto("/inbox")  # the inbox's counts are the dashboard's
    for tab, key in keys.items():
        if tab != "contacts":
            total = sum(r[key] for r in rows)
            expect(page.locator(f"#count-{tab}")).to_have_text(str(total))
    page.goto("/dashboard")
    expect(page.locator("#lifecycle-chart")).to_be_visible()
    with server.api() as client:
        deals = client.get("/deals", params={"limit": 200}).json()["items"]
    funnel = page.locator(".funnel").first
    expect(funnel.locator(".funnel-title")).to_contain_text(f"deals · {len(deals)}")
    check_accessibility(page)
    page.set_viewport_size({"width": 1360, "height": 1300})
    screenshot(page, "dashboard")


def test_an_agent_sees_only_their_part_of_the_dashboard(page: Page, server: Server) -> None:
    sign_in(page, AGENT_EMAIL, AGENT_PASSWORD)
    page.goto("/dashboard")
    expect(page.get_by_text("need the 'records.read_all' permission")).to_be_visible()
    expect(page.get_by_text("need the 'automations.edit' permission")).to_be_visible()
    expect(page.locator("#lifecycle-table")).to_have_count(0)
    expect(page.locator(".funnel").first).to_be_visible()


# pipeline settings ----------------------------------------------------------------------------


def _pipeline_stages(server: Server, pipeline_id: int) -> list[tuple[str, str]]:
    pipeline = _api(server, "GET", f"/pipelines/{pipeline_id}")
    ordered = sorted(pipeline["stages"], key=lambda s: s["position"])
    return [(s["name"], s["kind"]) for s in ordered]


def test_pipeline_stages_are_added_renamed_reordered_and_given_a_kind(
    owner_page: Page, server: Server, console: ConsoleWatch
) -> None:
    console.allow(r"status of 422")  # the duplicate name, shown at its field
    page = owner_page
    created = _api(
        server,
        "POST",
        "/pipelines",
        json={
            "object_type": "deal",
            "name": "Installations",
            "stages": [
                {"name": "Scheduled", "kind": "open"},
                {"name": "Installed", "kind": "open"},
                {"name": "Cancelled", "kind": "lost"},
            ],
        },
    )
    pipeline = created["id"]
    page.goto("/settings/pipelines")
    page.get_by_label("Pipeline", exact=True).select_option(label="Deals: Installations")
    expect(page.get_by_role("heading", name="Installations")).to_be_visible()

    page.get_by_label("New stage", exact=True).fill("Site survey")
    page.get_by_role("button", name="Add stage").click()
    expect(page.get_by_role("status")).to_contain_text("Added the stage 'Site survey'")
    page.get_by_label("New stage", exact=True).fill("scheduled")
    page.get_by_role("button", name="Add stage").click()
    expect(page.locator("#new-stage-error")).to_contain_text("Two stages named 'scheduled'")
    expect(page.get_by_label("New stage", exact=True)).to_be_focused()

    # drag "Site survey" (last) to the top, then one place down with the keyboard
    rows = page.locator(".pipeline-stages .stage-row")
    rows.last.locator(".drag-handle").drag_to(rows.first)
    expect(page.get_by_role("status")).to_contain_text("Moved 'Site survey' to place 1")
    assert _pipeline_stages(server, pipeline)[0] == ("Site survey", "open")
    page.get_by_role("button", name="Move Site survey down").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("Moved 'Site survey' to place 2")
    expect(page.get_by_role("button", name="Move Site survey down")).to_be_focused()

    page.get_by_label("Name of stage Installed").fill("Installed and paid")
    page.get_by_label("Kind of stage Installed").select_option("won")
    page.locator("#pl-stage-" + str(_stage_of(server, pipeline, "Installed"))).get_by_role(
        "button", name="Save"
    ).click()
    expect(page.get_by_role("status")).to_contain_text("Saved the stage 'Installed and paid'")
    assert _pipeline_stages(server, pipeline) == [
        ("Scheduled", "open"),
        ("Site survey", "open"),
        ("Installed and paid", "won"),
        ("Cancelled", "lost"),
    ]
    check_accessibility(page)
    page.evaluate("document.getElementById('toasts').replaceChildren()")
    screenshot(page, "settings-pipelines")


def _stage_of(server: Server, pipeline_id: int, name: str) -> int:
    pipeline = _api(server, "GET", f"/pipelines/{pipeline_id}")
    return int(next(s["id"] for s in pipeline["stages"] if s["name"] == name))


def test_a_picklist_gets_a_new_option(owner_page: Page, server: Server) -> None:
    page = owner_page
    page.goto("/settings/pipelines")
    form = page.locator("#picklist-disqualification_reasons")
    form.get_by_label("Disqualification reasons: new option").fill("Too far away")
    form.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Saved the disqualification reasons")
    options = _api(server, "GET", "/picklists")["disqualification_reasons"]
    assert {"value": "too_far_away", "label": "Too far away"} in options
    expect(form.get_by_label("Disqualification reasons: label of 'too_far_away'")).to_have_value(
        "Too far away"
    )


# users and tokens -----------------------------------------------------------------------------


def test_add_a_user_with_a_password_shown_once_and_sign_in_with_it(
    owner_page: Page, server: Server, browser: Any, console: ConsoleWatch
) -> None:
    console.allow(r"status of 422")  # the duplicate email, shown at its field
    page = owner_page
    page.goto("/settings/users")
    expect(page.get_by_role("heading", name="Users & tokens")).to_be_visible()
    page.get_by_role("button", name="Add user").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Name").fill("Chiara Rossi")
    dialog.get_by_label("Email").fill(server.email)
    dialog.get_by_role("button", name="Add user").click()
    expect(dialog.locator("#user-email-error")).to_contain_text("A user with email")
    dialog.get_by_label("Email").fill("chiara.rossi@demo.stageflow.local")
    dialog.get_by_label("Role").select_option("manager")
    dialog.get_by_role("button", name="Add user").click()
    expect(page.get_by_role("status")).to_contain_text("Added Chiara Rossi as manager")
    password = page.locator("#new-password").inner_text()
    assert len(password) >= 12
    row = page.locator("tr", has_text="chiara.rossi@demo.stageflow.local")
    expect(row.get_by_label("Role of Chiara Rossi")).to_have_value("manager")

    row.get_by_label("Role of Chiara Rossi").select_option("agent")
    row.locator("summary").click()
    row.get_by_label("lifecycle.edit").check()
    row.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Saved Chiara Rossi: agent")
    saved = next(u for u in _api(server, "GET", "/users") if u["email"].startswith("chiara.rossi"))
    assert saved["role"] == "agent" and saved["permissions"] == ["lifecycle.edit"]
    page.reload()
    expect(page.locator("#new-password")).to_have_count(0)  # shown once

    other = browser.new_context(base_url=server.url)
    try:
        visitor = other.new_page()
        visitor.goto("/sign-in")
        visitor.get_by_label("Email").fill("chiara.rossi@demo.stageflow.local")
        visitor.get_by_label("Password").fill(password)
        visitor.get_by_role("button", name="Sign in").click()
        # the password was one-time: she chooses her own first
        expect(visitor.get_by_role("heading", name="Choose your password")).to_be_visible()
        visitor.get_by_label("New password", exact=True).fill("chiara-own-password")
        visitor.get_by_label("New password again").fill("chiara-own-password")
        visitor.get_by_role("button", name="Save and go on").click()
        visitor.wait_for_url(re.compile(r"/boards/"))
        visitor.goto("/settings/users")
        expect(visitor.get_by_role("heading", name="Not allowed")).to_be_visible()
        expect(visitor.get_by_text("needs the 'users.manage' permission")).to_be_visible()
        visitor.goto("/settings/lifecycle")  # the extra permission lets her edit stages
        expect(visitor.get_by_role("button", name="Add stage").first).to_be_visible()
    finally:
        other.close()


def test_create_a_token_shown_once_and_revoke_it(owner_page: Page, server: Server) -> None:
    page = owner_page
    page.goto("/settings/users")
    page.get_by_label("New token").fill("Website form")
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_role("status")).to_contain_text("Created the token 'Website form'")
    secret = page.locator("#new-token").inner_text()
    check_accessibility(page)
    screenshot(page, "settings-users")
    import httpx

    me = httpx.get(
        server.url + "/api/v1/me", headers={"Authorization": f"Bearer {secret}"}, timeout=10
    )
    assert me.status_code == 200
    page.locator("tr", has_text="Website form").get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("status")).to_contain_text("Revoked the token")
    expect(page.locator("tr", has_text="Website form")).to_contain_text("Revoked")
    again = httpx.get(
        server.url + "/api/v1/me", headers={"Authorization": f"Bearer {secret}"}, timeout=10
    )
    assert again.status_code == 401


def test_set_as_default_and_hide_lifecycle(owner_page: Page, server: Server) -> None:
    page = owner_page
    _inbound(server, "+39 333 100 2004", "Franco Bassi", "Buongiorno")
    page.goto("/settings/lifecycle")
    row = page.locator(f"#lc-stage-{_stage_id(server, 'Hot Lead')}")
    row.get_by_label("Actions for Hot Lead").click()
    row.get_by_role("button", name="Set as default").click()
    expect(page.get_by_role("status")).to_contain_text("New contacts now start in 'Hot Lead'")
    expect(page.locator(f"#lc-stage-{_stage_id(server, 'Hot Lead')} .badge")).to_have_text(
        "Default"
    )
    assert _api(server, "GET", "/lifecycle/stages")["default_stage_id"] == _stage_id(
        server, "Hot Lead"
    )
    row = page.locator(f"#lc-stage-{_stage_id(server, 'New Lead')}")
    row.get_by_label("Actions for New Lead").click()
    row.get_by_role("button", name="Set as default").click()
    expect(page.get_by_role("status")).to_contain_text("New contacts now start in 'New Lead'")

    switch = page.get_by_label("Show lifecycle stages in the inbox and contacts")
    switch.uncheck()
    expect(page.get_by_role("status")).to_contain_text("Lifecycle is hidden")
    assert _api(server, "GET", "/me")["workspace"]["settings"]["lifecycle_enabled"] is False
    page.goto("/inbox")
    expect(page.get_by_role("columnheader", name="Lifecycle stage")).to_have_count(0)
    page.goto("/settings/lifecycle")
    page.get_by_label("Show lifecycle stages in the inbox and contacts").check()
    expect(page.get_by_role("status")).to_contain_text("Lifecycle is shown")
    page.goto("/inbox")
    expect(page.get_by_role("columnheader", name="Lifecycle stage")).to_be_visible()

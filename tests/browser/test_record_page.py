"""The record page: fields edited in place (errors and conflicts at the field), the stage,
associations, activities, an opportunity's sub-states, the automation runs and the timeline."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import (
    AGENT_EMAIL,
    AGENT_PASSWORD,
    ConsoleWatch,
    Server,
    check_accessibility,
    screenshot,
    sign_in,
    stage_ids,
)


@pytest.fixture(autouse=True)
def _forms_come_back_with_errors(console: ConsoleWatch) -> None:
    console.allow(r"status of 422")  # a refused change: the form again, the error at its field


def _users(server: Server) -> dict[str, int]:
    with server.api() as api:
        return {u["name"]: u["id"] for u in api.get("/users").json()}


def _create(server: Server, plural: str, **values: Any) -> dict[str, Any]:
    with server.api() as api:
        created = api.post(f"/{plural}", json=values)
        assert created.status_code == 201, created.text
        return dict(created.json())


def _get(server: Server, plural: str, record_id: int) -> dict[str, Any]:
    with server.api() as api:
        found = api.get(f"/{plural}/{record_id}")
        assert found.status_code == 200, found.text
        return dict(found.json())


def _contact_id(server: Server, name: str) -> int:
    with server.api() as api:
        items = api.get("/contacts", params={"limit": 200}).json()["items"]
    return int(next(c["id"] for c in items if c["name"] == name))


def _edit(page: Page, label: str) -> None:
    page.get_by_role("button", name=re.compile(rf"^{label}: .*Edit$")).click()
    expect(page.get_by_label(label, exact=True)).to_be_focused()


def test_edit_a_field_and_see_the_change_on_the_timeline(owner_page: Page, server: Server) -> None:
    page = owner_page
    deal = _create(
        server, "deals", name="Ferrari carport", fields={"amount": 5000, "currency": "EUR"}
    )
    page.goto(f"/deals/{deal['id']}")
    expect(page.get_by_role("heading", name="Ferrari carport")).to_be_visible()

    _edit(page, "Amount")
    page.get_by_label("Amount", exact=True).fill("7,500")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".toast").last).to_contain_text("Saved Amount of 'Ferrari carport'")
    expect(page.get_by_role("button", name=re.compile(r"^Amount: €7,500"))).to_be_focused()
    newest = page.locator(".timeline li").first
    expect(newest).to_contain_text("Changed")
    expect(newest).to_contain_text("Amount: 5000 → 7500")
    expect(newest).to_contain_text("by Demo Owner in the app")
    assert _get(server, "deals", deal["id"])["fields"]["amount"] == 7500

    # A date and the owner, by their own kind of input; the timeline names the user.
    _edit(page, "Close date")
    page.get_by_label("Close date", exact=True).fill("2027-03-31")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".timeline li").first).to_contain_text("Close date: empty → 2027-03-31")
    _edit(page, "Owner")
    page.get_by_label("Owner", exact=True).select_option(label="Alex Agent")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".timeline li").first).to_contain_text("Owner: Demo Owner → Alex Agent")
    users = _users(server)
    assert _get(server, "deals", deal["id"])["owner_id"] == users["Alex Agent"]

    # Cancel puts the value back without saving.
    _edit(page, "Name")
    page.get_by_label("Name", exact=True).fill("Not saved")
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("button", name=re.compile(r"^Name: Ferrari carport"))).to_be_visible()
    assert _get(server, "deals", deal["id"])["name"] == "Ferrari carport"


def test_an_invalid_value_is_refused_at_its_field(owner_page: Page, server: Server) -> None:
    page = owner_page
    deal = _create(
        server, "deals", name="Marino solar farm", fields={"amount": 64000, "currency": "EUR"}
    )
    page.goto(f"/deals/{deal['id']}")
    _edit(page, "Amount")
    field = page.get_by_label("Amount", exact=True)
    field.fill("abc")
    page.get_by_role("button", name="Save").click()
    error = page.locator("#error-amount")
    expect(error).to_contain_text("must be a number")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_value("abc")
    expect(field).to_be_focused()
    check_accessibility(page)
    screenshot(page, "record-edit-error")
    assert _get(server, "deals", deal["id"])["fields"]["amount"] == 64000
    expect(page.locator(".timeline li").first).not_to_contain_text("Changed")


def test_a_stale_edit_shows_the_conflict_at_the_field(owner_page: Page, server: Server) -> None:
    page = owner_page
    deal = _create(server, "deals", name="Fontana battery", fields={"amount": 3000})
    page.goto(f"/deals/{deal['id']}")
    with server.api() as api:
        changed = api.patch(f"/deals/{deal['id']}", json={"fields": {"amount": 3100}})
        assert changed.is_success, changed.text
    _edit(page, "Amount")
    page.get_by_label("Amount", exact=True).fill("3500")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#error-amount")).to_contain_text(
        "Someone else changed this deal since the page was loaded"
    )
    assert _get(server, "deals", deal["id"])["fields"]["amount"] == 3100


def test_move_a_lead_to_a_lost_stage_asks_for_the_reason(owner_page: Page, server: Server) -> None:
    page = owner_page
    lead = _create(server, "leads", name="Rinaldi garage roof")
    page.goto(f"/leads/{lead['id']}")
    page.get_by_label("Stage", exact=True).select_option(label="Disqualified (lost)")
    page.get_by_role("button", name="Move", exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Move to Disqualified?")
    reason = dialog.get_by_label("Disqualification reason")
    reason.select_option(index=1)
    chosen = reason.locator("option:checked").inner_text()
    dialog.get_by_role("button", name="Move").click()
    expect(page.locator(".stage-badge")).to_contain_text("Disqualified")
    expect(page.locator(".timeline")).to_contain_text(f"Disqualified: {chosen}")
    expect(page.locator(".timeline")).to_contain_text("Moved from New to Disqualified")


def test_log_a_connected_call_on_a_lead_and_complete_a_task(
    owner_page: Page, server: Server
) -> None:
    page = owner_page
    lead = _create(server, "leads", name="Moretti school roof")
    page.goto(f"/leads/{lead['id']}")
    expect(page.get_by_text("Nothing planned.")).to_be_visible()

    page.locator("summary", has_text="Log activity").click()
    form = page.locator("#activity-form")
    form.get_by_label("Type").select_option("call")
    form.get_by_label("Outcome").select_option("connected")
    form.get_by_label("Subject").fill("Intro call")
    form.get_by_role("button", name="Save activity").click()
    expect(page.locator(".toast").last).to_contain_text("Logged call: Intro call")
    expect(page.locator(".timeline")).to_contain_text("Logged a call: Intro call")
    expect(page.locator(".timeline")).to_contain_text("Outcome: connected")
    with server.api() as api:
        calls = api.get("/activities", params={"record_id": lead["id"]}).json()["items"]
    assert [(a["type"], a["outcome"], a["status"]) for a in calls] == [
        ("call", "connected", "completed")
    ]

    # A task without a subject is refused at the subject; with one, it is planned.
    page.locator("summary", has_text="Log activity").click()
    form = page.locator("#activity-form")
    form.get_by_label("Type").select_option("task")
    form.get_by_role("button", name="Save activity").click()
    expect(form.locator("#log-subject-error")).to_be_visible()
    form.get_by_label("Subject").fill("Send the brochure")
    form.get_by_label("Due / at").fill("2030-01-15T10:30")
    form.get_by_role("button", name="Save activity").click()
    expect(page.locator(".toast").last).to_contain_text("Planned task: Send the brochure")
    task = page.locator(".activity", has_text="Send the brochure")
    expect(task).to_contain_text("15 Jan 2030, 10:30")
    task.get_by_role("button", name="Complete 'Send the brochure'").click()
    expect(page.locator(".timeline li").first).to_contain_text(
        "Completed a task: Send the brochure"
    )
    expect(page.locator(".activity", has_text="Send the brochure")).to_have_count(0)


def test_link_and_unlink_a_contact(owner_page: Page, server: Server) -> None:
    page = owner_page
    deal = _create(server, "deals", name="Galli pergola panels")
    page.goto(f"/deals/{deal['id']}")
    expect(page.get_by_text("Not linked to any company or contact yet.")).to_be_visible()
    page.get_by_label("Link a contact").select_option(label="Maria Rossi")
    page.locator("#link-contact").get_by_role("button", name="Link").click()
    expect(page.locator(".toast").last).to_contain_text("Linked 'Galli pergola panels'")
    expect(page.locator(".links")).to_contain_text("Maria Rossi")
    expect(page.locator(".timeline li").first).to_contain_text("Linked to Maria Rossi")
    rossi = _contact_id(server, "Maria Rossi")
    assert _get(server, "deals", deal["id"])["associations"]["contact"] == [rossi]

    page.get_by_role("button", name="Unlink Maria Rossi").click()
    expect(page.locator(".timeline li").first).to_contain_text("Unlinked from Maria Rossi")
    expect(page.locator(".links")).to_have_count(0)
    assert not _get(server, "deals", deal["id"])["associations"].get("contact")

    # Nothing chosen: said at the select.
    page.locator("#link-contact").get_by_role("button", name="Link").click()
    expect(page.locator("#link-contact-error")).to_contain_text("Choose the contact to link")


def test_open_and_close_an_opportunity_substate(owner_page: Page, server: Server) -> None:
    page = owner_page
    with server.api() as api:
        created = api.post(
            "/opportunity-types",
            json={
                "name": "Solar install",
                "substates": [{"name": "Site survey"}, {"name": "Pending documentation"}],
            },
        )
        assert created.status_code == 201, created.text
    opportunity = _create(
        server,
        "opportunities",
        name="Bruno rooftop",
        fields={"amount": 21000, "opportunity_type": "Solar install"},
    )
    page.goto(f"/opportunities/{opportunity['id']}")
    expect(page.get_by_text("No sub-state opened yet.")).to_be_visible()
    panel = page.locator("section", has=page.get_by_role("heading", name="Sub-states"))
    expect(panel).to_contain_text("Opportunity type: Solar install")

    page.get_by_role("button", name="Open", exact=True).click()
    expect(page.locator("#substate-error")).to_be_visible()

    page.get_by_label("Open a sub-state").select_option("Site survey")
    page.get_by_role("button", name="Open", exact=True).click()
    expect(page.locator(".toast").last).to_contain_text("Opened sub-state 'Site survey'")
    page.get_by_label("Open a sub-state").select_option("Pending documentation")
    page.get_by_role("button", name="Open", exact=True).click()
    expect(page.locator(".substates li")).to_have_count(2)
    page.get_by_role("button", name="Close sub-state Site survey").click()
    expect(page.locator(".toast").last).to_contain_text("Closed sub-state 'Site survey'")
    survey = page.locator(".substates li", has_text="Site survey")
    expect(survey).to_contain_text("Closed")
    expect(survey).to_contain_text("closed")
    expect(page.locator(".timeline li").first).to_contain_text("Closed sub-state 'Site survey'")
    with server.api() as api:
        rows = api.get(f"/opportunities/{opportunity['id']}/substates").json()
    states = {r["substate"]: r["status"] for r in rows}
    assert states == {"Site survey": "closed", "Pending documentation": "open"}
    page.reload()  # the picture without the toasts
    check_accessibility(page)
    screenshot(page, "record-opportunity-substates")


def test_deal_with_activities_contacts_and_runs(owner_page: Page, server: Server) -> None:
    page = owner_page
    with server.api() as api:
        deals = api.get("/deals", params={"limit": 200}).json()["items"]
    deal = next(d for d in deals if d["name"] == "Acme rooftop installation")
    page.goto(f"/deals/{deal['id']}")
    links = page.locator("section", has=page.get_by_role("heading", name="Associations"))
    expect(links.get_by_role("link", name="Maria Rossi")).to_be_visible()
    expect(links.get_by_role("link", name="Acme Solar")).to_be_visible()
    runs = page.locator("section", has=page.get_by_role("heading", name="Automation runs"))
    expect(runs.get_by_role("link", name="Why didn't an automation run?")).to_have_attribute(
        "href", f"/runs/skipped?record_id={deal['id']}"
    )
    page.locator("summary", has_text="Log activity").click()
    form = page.locator("#activity-form")
    form.get_by_label("Type").select_option("meeting")
    form.get_by_label("Subject").fill("Roof inspection with Maria")
    soon = datetime.now(ZoneInfo("UTC")) + timedelta(days=2)
    form.get_by_label("Due / at").fill(soon.strftime("%Y-%m-%dT09:00"))
    form.get_by_role("button", name="Save activity").click()
    expect(page.locator(".activity", has_text="Roof inspection with Maria")).to_be_visible()
    page.reload()
    check_accessibility(page)
    screenshot(page, "record-deal")


def test_an_agent_cannot_open_or_change_another_users_deal(
    page: Page, server: Server, console: ConsoleWatch
) -> None:
    console.allow(r"status of 404")
    console.allow(r"status of 403")
    users = _users(server)
    theirs = _create(server, "deals", name="Caruso wind turbine")
    mine = _create(server, "deals", name="Sam's carport", owner_id=users["Sam Seller"])
    sign_in(page, AGENT_EMAIL, AGENT_PASSWORD)

    response = page.goto(f"/deals/{theirs['id']}")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    response = page.goto(f"/deals/{theirs['id']}/fields/amount/edit")
    assert response is not None and response.status == 404

    # Their own deal they edit; giving it away is refused at the owner, as the API refuses.
    page.goto(f"/deals/{mine['id']}")
    _edit(page, "Amount")
    page.get_by_label("Amount", exact=True).fill("4200")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".timeline li").first).to_contain_text("Amount: empty → 4200")
    _edit(page, "Owner")
    owner = page.get_by_label("Owner", exact=True)
    expect(owner.locator("option", has_text="Demo Owner")).to_be_disabled()
    expect(owner.locator("option", has_text="No owner")).to_be_enabled()
    # Sent anyway (an old page, a crafted form): refused at the owner, in the API's words.
    owner.evaluate(
        "(select, id) => { select.querySelector(`option[value='${id}']`).disabled = false;"
        " select.value = String(id); }",
        users["Demo Owner"],
    )
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#error-owner_id")).to_contain_text("needs 'records.edit_all'")
    assert _get(server, "deals", mine["id"])["owner_id"] == users["Sam Seller"]


def test_a_rules_change_names_the_rule_and_links_its_run(owner_page: Page, server: Server) -> None:
    page = owner_page
    stages = stage_ids(server, "deal")
    with server.api() as api:
        found = api.get("/pipelines", params={"object_type": "deal"}).json()
        items = found["items"] if isinstance(found, dict) else found
        pipeline = next(p["id"] for p in items if p["is_default"] and p["object_type"] == "deal")
        rules = f"/pipelines/{pipeline}/stages/{stages['Negotiation']}/rules"
        rule = api.post(
            rules,
            json={
                "name": "Hot deal",
                "action": "set_field",
                "settings": {"fields": {"probability": 80}},
            },
        )
        assert rule.status_code == 201, rule.text
    try:
        deal = _create(server, "deals", name="Conti greenhouse panels")
        page.goto(f"/deals/{deal['id']}")
        page.get_by_label("Stage", exact=True).select_option(label="Negotiation")
        page.get_by_role("button", name="Move", exact=True).click()
        expect(page.locator(".stage-badge")).to_contain_text("Negotiation")
        for _ in range(50):  # the worker runs the rule within a moment
            if _get(server, "deals", deal["id"])["fields"].get("probability") == 80:
                break
            page.wait_for_timeout(200)
        page.reload()
        with server.api() as api:
            (run,) = api.get("/runs", params={"record": deal["id"]}).json()["items"]
        entry = page.locator(".timeline li", has_text="Probability: empty → 80")
        link = entry.get_by_role(
            "link", name=re.compile(r"^Rule '.*Hot deal' \(version \d+, run #")
        )
        expect(link).to_have_attribute("href", f"/runs/{run['id']}")
        runs = page.locator("section", has=page.get_by_role("heading", name="Automation runs"))
        expect(runs.get_by_role("link", name=re.compile(r"^Rule '.*Hot deal'$"))).to_have_attribute(
            "href", f"/runs/{run['id']}"
        )
        expect(runs).to_contain_text("completed")
    finally:
        with server.api() as api:
            assert api.delete(f"{rules}/{rule.json()['id']}").is_success


def test_a_contacts_custom_field_and_its_company(owner_page: Page, server: Server) -> None:
    page = owner_page
    with server.api() as api:
        defined = api.post(
            "/fields/contact",
            json={"key": "roof_type", "label": "Roof type", "type": "picklist",
                  "options": ["flat", "pitched"]},
        )  # fmt: skip
        assert defined.status_code == 201, defined.text
    try:
        contact = _create(server, "contacts", fields={"first_name": "Luca", "last_name": "Bassi"})
        page.goto(f"/contacts/{contact['id']}")
        expect(page.get_by_role("heading", name="Luca Bassi")).to_be_visible()
        _edit(page, "Roof type")
        page.get_by_label("Roof type", exact=True).select_option("pitched")
        page.get_by_role("button", name="Save").click()
        expect(page.locator(".timeline li").first).to_contain_text("Roof type: empty → pitched")
        assert _get(server, "contacts", contact["id"])["fields"]["roof_type"] == "pitched"

        # A contact links to a company; the company's page lists it (linked from its side).
        page.get_by_label("Link a company").select_option(label="Acme Solar")
        page.locator("#link-company").get_by_role("button", name="Link").click()
        expect(page.locator(".timeline li").first).to_contain_text("Linked to Acme Solar")
        page.get_by_role("link", name="Acme Solar").click()
        expect(page.get_by_role("heading", name="Acme Solar")).to_be_visible()
        links = page.locator("section", has=page.get_by_role("heading", name="Associations"))
        expect(links.get_by_role("link", name="Luca Bassi")).to_be_visible()
        expect(links.get_by_role("button", name="Unlink Luca Bassi")).to_have_count(0)
        check_accessibility(page)
    finally:
        with server.api() as api:
            assert api.delete("/fields/contact/roof_type").is_success

"""Stage rules as a sales-ops person builds them in the browser: a Closed Won rule that creates
a repeat lead six months later (and, on the virtual-clock server, the lead appearing on the
leads board after six months), a rule that cannot be saved showing why at its field, rules
reordered by dragging and by the keyboard, and an agent seeing the rules read-only."""

from __future__ import annotations

import re
from collections.abc import Callable
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
    stage_ids,
)


def _api(server: Server, method: str, path: str, **kwargs: Any) -> Any:
    with server.api() as api:
        response = api.request(method, path, **kwargs)
        assert response.is_success, response.text
        return response.json() if response.content else None


def _default_pipeline(server: Server, object_type: str) -> dict[str, Any]:
    found = _api(server, "GET", "/pipelines", params={"object_type": object_type})
    items: list[dict[str, Any]] = found["items"] if isinstance(found, dict) else found
    return next(p for p in items if p["is_default"] and p["object_type"] == object_type)


def _rules(server: Server, stage_name: str) -> list[dict[str, Any]]:
    pipeline = _default_pipeline(server, "deal")
    stage = stage_ids(server, "deal")[stage_name]
    rules: list[dict[str, Any]] = _api(
        server, "GET", f"/pipelines/{pipeline['id']}/stages/{stage}/rules"
    )
    return rules


def _column(page: Page, stage_name: str) -> Any:
    return page.locator(".rules-column").filter(
        has=page.get_by_role("heading", name=stage_name, exact=True)
    )


def _redraw(page: Page, action: Callable[[], Any]) -> None:
    """Do what redraws the rule form (add a row, pick an object type or a condition's
    field) and wait until the new form is in place."""
    with page.expect_response(re.compile(r"/form$")):
        action()
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')"
    )


def _open_rules(page: Page) -> None:
    page.goto("/boards/deal")
    page.get_by_role("link", name="Automation rules").click()
    page.wait_for_url(re.compile(r"/automations/rules/deal\?pipeline=\d+"))


def _add_renewal_rule(page: Page, *, shots: bool = False) -> None:
    """Through the UI alone: on Closed Won, create a lead 'Renewal: {{ contact.name }}' six
    months later, only for deals over 1000."""
    page.get_by_role("button", name="Add rule to Closed Won").click()
    dialog = page.locator("#rule-dialog")
    expect(dialog.get_by_role("heading", name="Add a rule to Closed Won")).to_be_visible()
    if shots:
        check_accessibility(page)
        screenshot(page, "stage-rules-catalogue")
    dialog.get_by_role("button", name=re.compile(r"^Create record")).click()
    form = dialog.locator("#rule-form")
    expect(form.get_by_role("heading", name=re.compile("New rule on Closed Won"))).to_be_visible()
    form.get_by_label("Rule name").fill("Renewal lead")
    _redraw(page, lambda: form.get_by_label("Object type").select_option("lead"))
    name = form.locator("#f-s-name")
    expect(name).to_be_visible()
    name.fill("Renewal: ")
    form.locator('select.field-picker[data-insert-into="f-s-name"]').select_option(
        label="Contact: Name"
    )
    expect(name).to_have_value("Renewal: {{ contact.name }}")
    if shots:
        form.get_by_role(
            "heading", name=re.compile("New rule on Closed Won")
        ).scroll_into_view_if_needed()
        screenshot(page, "stage-rules-form")
    form.get_by_label("After a delay of").check()
    form.get_by_label("Delay", exact=True).fill("6")
    form.get_by_label("Delay unit").select_option("months")
    _redraw(page, lambda: form.get_by_role("button", name="Add a condition").click())
    _redraw(page, lambda: form.get_by_label("Condition 1: field").select_option(label="Amount"))
    _redraw(
        page, lambda: form.get_by_label("Condition 1: operator").select_option(label="is more than")
    )
    form.get_by_label("Condition 1: value").fill("1000")
    if shots:
        check_accessibility(page)
        form.locator("#rule-timing").scroll_into_view_if_needed()
        screenshot(page, "stage-rules-conditions")
    form.get_by_role("button", name="Save rule").click()
    expect(page.get_by_role("status")).to_contain_text("Added the rule 'Renewal lead'")
    expect(dialog).to_be_hidden()
    card = _column(page, "Closed Won").locator(".rule-card", has_text="Renewal lead")
    expect(card).to_contain_text("Create a lead 'Renewal: [Contact: Name]' · after 6 months")
    expect(card).to_contain_text("Only if Amount is more than 1000")


def test_add_a_repeat_lead_rule_on_closed_won_through_the_ui(
    owner_page: Page, server: Server
) -> None:
    page = owner_page
    _open_rules(page)
    board_stages = list(stage_ids(server, "deal"))
    heads = page.locator(".rules-column h2").all_inner_texts()
    assert heads == board_stages  # a column per stage, in the board's order
    expect(_column(page, "Closed Won")).to_contain_text("No rules on this stage yet")
    _add_renewal_rule(page, shots=True)

    (rule,) = _rules(server, "Closed Won")
    assert rule["name"] == "Renewal lead" and rule["action"] == "create_record"
    assert rule["settings"]["object_type"] == "lead"
    assert rule["settings"]["name"] == "Renewal: {{ contact.name }}"
    assert rule["timing"]["after"] == "P6M"
    assert rule["conditions"] == {"all": [{"field": "amount", "op": "gt", "value": 1000}]}
    assert rule["group"] == "Repeat sales" and rule["enabled"] is True
    check_accessibility(page)
    screenshot(page, "stage-rules")

    # editing fills the form with what was saved
    page.get_by_role("button", name="Edit Renewal lead").click()
    form = page.locator("#rule-form")
    expect(form.locator("#f-s-name")).to_have_value("Renewal: {{ contact.name }}")
    expect(form.get_by_label("Delay", exact=True)).to_have_value("6")
    expect(form.get_by_label("Delay unit")).to_have_value("months")
    expect(form.get_by_label("Condition 1: value")).to_have_value("1000")
    form.get_by_label("Rule name").fill("Renewal lead (6 months)")
    form.get_by_role("button", name="Save rule").click()
    expect(page.get_by_role("status")).to_contain_text("Saved the rule 'Renewal lead (6 months)'")
    (rule,) = _rules(server, "Closed Won")
    assert rule["name"] == "Renewal lead (6 months)" and rule["timing"]["after"] == "P6M"

    # switch off and on, then delete (confirmed)
    page.get_by_role("button", name="Turn off Renewal lead (6 months)").click()
    expect(page.get_by_role("status")).to_contain_text("Turned off")
    expect(_column(page, "Closed Won").locator(".rule-card")).to_contain_text("Off")
    assert _rules(server, "Closed Won")[0]["enabled"] is False
    page.get_by_role("button", name="Turn on Renewal lead (6 months)").click()
    expect(page.get_by_role("status")).to_contain_text("Turned on")
    assert _rules(server, "Closed Won")[0]["enabled"] is True
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Delete Renewal lead (6 months)").click()
    expect(page.get_by_role("status")).to_contain_text("Deleted the rule")
    assert _rules(server, "Closed Won") == []


def test_the_repeat_lead_appears_six_months_later_in_virtual_time(
    rehearsal_page: Page, rehearsal_server: Server
) -> None:
    page, server = rehearsal_page, rehearsal_server
    _open_rules(page)
    _add_renewal_rule(page)
    contacts = _api(server, "GET", "/contacts")
    items = contacts["items"] if isinstance(contacts, dict) else contacts
    rossi = next(c for c in items if "Rossi" in c["name"])
    deal = _api(
        server,
        "POST",
        "/deals",
        json={
            "name": "Rossi carport",
            "fields": {"amount": 5000, "currency": "EUR"},
            "associations": {"contact": [rossi["id"]]},
        },
    )
    won = stage_ids(server, "deal")["Closed Won"]
    _api(server, "POST", f"/deals/{deal['id']}/move", json={"stage_id": won})
    lead_name = f"Renewal: {rossi['name']}"
    page.goto("/boards/lead")
    expect(page.locator(".card", has_text=lead_name)).to_have_count(0)
    _api(server, "POST", "/admin/clock/advance", json={"by": "P6M1D"})
    page.goto("/boards/lead")
    expect(page.locator(".card", has_text=lead_name)).to_be_visible()


def test_a_rule_that_cannot_be_saved_says_why_at_the_field(
    owner_page: Page, server: Server, console: ConsoleWatch
) -> None:
    console.allow(r"status of 422")  # the form coming back with its errors
    page = owner_page
    _open_rules(page)
    dialog = page.locator("#rule-dialog")

    # send email with no SMTP settings
    _api(
        server,
        "POST",
        "/email-templates",
        json={"name": "proposal", "subject": "Your proposal", "text": "Hello {{ contact.name }}"},
    )
    page.get_by_role("button", name="Add rule to Proposal").click()
    dialog.get_by_role("button", name=re.compile(r"^Send email")).click()
    form = dialog.locator("#rule-form")
    form.locator("#f-s-template").select_option("proposal")
    _redraw(page, lambda: form.get_by_role("button", name="Add to To").click())
    expect(form.get_by_label("Role")).to_have_value("contact")
    form.get_by_role("button", name="Save rule").click()
    error = form.locator(".field-error").first
    expect(error).to_contain_text("SMTP")
    assert _rules(server, "Proposal") == []
    form.get_by_role("button", name="Cancel").click()

    # set a field the deal does not have
    page.get_by_role("button", name="Add rule to Proposal").click()
    dialog.get_by_role("button", name=re.compile(r"^Set field")).click()
    form = dialog.locator("#rule-form")
    _redraw(page, lambda: form.get_by_role("button", name="Add to Fields").click())
    key = form.get_by_label("Fields 1: field")
    key.select_option(index=0)
    # a field that is not there (e.g. renamed meanwhile): typed into the form as the API would
    key.evaluate(
        "el => { const o = document.createElement('option'); o.value = 'colour';"
        " o.textContent = 'colour'; el.appendChild(o); el.value = 'colour'; }"
    )
    form.get_by_label("Fields 1: value").fill("red")
    form.get_by_role("button", name="Save rule").click()
    problem = form.locator("#f-s-fields-0-key-error")
    expect(problem).to_contain_text("colour")
    expect(form.get_by_label("Fields 1: field")).to_have_attribute("aria-invalid", "true")
    check_accessibility(page)
    screenshot(page, "stage-rules-field-error")
    assert _rules(server, "Proposal") == []
    form.get_by_role("button", name="Cancel").click()


def _remove_rules(server: Server, stage_name: str) -> None:
    """Leave the shared server as found: rules of a stage would act on other tests' deals."""
    pipeline = _default_pipeline(server, "deal")
    stage = stage_ids(server, "deal")[stage_name]
    for rule in _rules(server, stage_name):
        _api(server, "DELETE", f"/pipelines/{pipeline['id']}/stages/{stage}/rules/{rule['id']}")


def _card_names(page: Page, stage: str) -> list[str]:
    return [t.strip() for t in _column(page, stage).locator(".rule-name").all_inner_texts()]


def test_reorder_rules_by_dragging_and_by_the_keyboard(owner_page: Page, server: Server) -> None:
    page = owner_page
    pipeline = _default_pipeline(server, "deal")
    stage = stage_ids(server, "deal")["Negotiation"]
    base = f"/pipelines/{pipeline['id']}/stages/{stage}/rules"
    for name in ("Call the client", "Send the contract"):
        _api(
            server,
            "POST",
            base,
            json={
                "name": name,
                "action": "schedule_activity",
                "settings": {"subject": f"{name}: {{{{ record.name }}}}", "type": "call"},
            },
        )
    _open_rules(page)
    assert _card_names(page, "Negotiation") == ["Call the client", "Send the contract"]
    column = _column(page, "Negotiation")
    column.locator(".rule-card", has_text="Send the contract").locator(".drag-handle").drag_to(
        column.locator(".rule-card", has_text="Call the client")
    )
    expect(page.get_by_role("status")).to_contain_text("Moved '")
    page.reload()
    assert _card_names(page, "Negotiation") == ["Send the contract", "Call the client"]
    assert [r["name"] for r in _rules(server, "Negotiation")] == [
        "Send the contract",
        "Call the client",
    ]

    button = page.get_by_role("button", name="Move Send the contract down")
    button.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("Moved 'Send the contract' to place 2")
    page.reload()
    assert _card_names(page, "Negotiation") == ["Call the client", "Send the contract"]
    assert [r["name"] for r in _rules(server, "Negotiation")] == [
        "Call the client",
        "Send the contract",
    ]
    _remove_rules(server, "Negotiation")


def test_an_agent_sees_the_rules_read_only(page: Page, server: Server) -> None:
    pipeline = _default_pipeline(server, "deal")
    stage = stage_ids(server, "deal")["New"]
    _api(
        server,
        "POST",
        f"/pipelines/{pipeline['id']}/stages/{stage}/rules",
        json={
            "name": "Welcome call",
            "action": "schedule_activity",
            "settings": {"subject": "Welcome {{ record.name }}", "type": "call"},
        },
    )
    sign_in(page, AGENT_EMAIL, AGENT_PASSWORD)
    page.goto("/automations")
    page.get_by_role("link", name="Sales pipeline").first.click()
    expect(page.get_by_role("note")).to_contain_text("Changing them needs the 'automations.edit'")
    expect(_column(page, "New")).to_contain_text("Welcome call")
    expect(page.get_by_role("button", name=re.compile("^Add rule"))).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("^(Edit|Delete|Move) "))).to_have_count(0)
    expect(page.locator(".drag-handle")).to_have_count(0)
    refused = page.request.get(f"/automations/rules/{pipeline['id']}/{stage}/new")
    assert refused.status == 403 and "automations.edit" in refused.text()
    check_accessibility(page)
    screenshot(page, "stage-rules-agent")
    _remove_rules(server, "New")


def test_the_automations_index_links_the_stage_rules_of_every_pipeline(
    owner_page: Page,
) -> None:
    page = owner_page
    page.goto("/automations")
    expect(page.get_by_role("heading", name="Automations", level=1)).to_be_visible()
    for heading in ("Leads", "Deals", "Opportunities", "Workflows", "Lead automation"):
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    check_accessibility(page)
    screenshot(page, "automations")
    page.get_by_role("link", name="Sales pipeline").click()
    expect(page.get_by_role("heading", name=re.compile("Stage rules: Deals"))).to_be_visible()

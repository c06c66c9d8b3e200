"""The contacts screen: the list with lifecycle stages, filters, setting a contact's stage
and saved segments."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import (
    AGENT_EMAIL,
    AGENT_PASSWORD,
    Server,
    check_accessibility,
    screenshot,
    sign_in,
)


def _lifecycle(server: Server) -> tuple[dict[str, int], dict[str, str]]:
    """Stage ids by name, and the lost stages' emoji by name."""
    with server.api() as api:
        response = api.get("/lifecycle/stages")
        assert response.status_code == 200, response.text
        body = response.json()
        ids = {s["name"]: s["id"] for s in body["lifecycle"] + body["lost"]}
        return ids, {s["name"]: s["emoji"] for s in body["lost"]}


def _row(page: Page, name: str):  # type: ignore[no-untyped-def]
    return page.locator(f'tr[data-contact="{name}"]')


def test_contacts_list_shows_demo_contacts_with_their_stage_names(
    owner_page: Page, server: Server
) -> None:
    page = owner_page
    page.get_by_role("link", name="Contacts").click()
    expect(page).to_have_url(re.compile(r"/contacts$"))
    expect(page.get_by_role("heading", name="Contacts")).to_be_visible()
    table = page.get_by_role("table")
    expect(table).to_contain_text("Maria Rossi")
    expect(table).to_contain_text("maria.rossi@example.com")
    expect(table).to_contain_text("Jan Nowak")
    rossi_stage = _row(page, "Maria Rossi").get_by_label("Lifecycle stage of Maria Rossi")
    expect(rossi_stage.locator("option:checked")).not_to_have_text("No stage")
    check_accessibility(page)
    screenshot(page, "contacts")


def test_filter_change_a_stage_and_save_and_apply_a_segment(
    owner_page: Page, server: Server
) -> None:
    page = owner_page
    stages, lost = _lifecycle(server)
    page.goto("/contacts")

    # Set Jan Nowak's stage from his row: a toast says so and the row shows it.
    select = page.get_by_label("Lifecycle stage of Jan Nowak")
    customer = "Customer"
    select.select_option(label=customer)
    expect(page.locator("#toasts")).to_contain_text("'Jan Nowak' is now Customer")
    expect(
        page.get_by_label("Lifecycle stage of Jan Nowak").locator("option:checked")
    ).to_contain_text(customer)

    # Filter by that stage: only Jan Nowak.
    page.locator("#contact-stage").select_option(value=str(stages[customer]))
    expect(page).to_have_url(re.compile(rf"stage={stages[customer]}"))
    expect(_row(page, "Jan Nowak")).to_have_count(1)
    expect(_row(page, "Maria Rossi")).to_have_count(0)

    # Save it as a segment (it is then the chosen one); show all contacts again, then apply
    # the segment.
    page.get_by_label("Segment name").fill("Customers (browser test)")
    page.get_by_role("button", name="Save as segment").click()
    expect(page.locator("#toasts")).to_contain_text("Saved segment 'Customers (browser test)'")
    expect(page.locator("#segment-select option:checked")).to_have_text("Customers (browser test)")
    page.locator("#segment-select").select_option(value="")
    page.locator("#contact-stage").select_option(value="")
    expect(_row(page, "Maria Rossi")).to_have_count(1)
    page.locator("#segment-select").select_option(label="Customers (browser test)")
    expect(page).to_have_url(re.compile(r"segment=\d+"))
    expect(_row(page, "Jan Nowak")).to_have_count(1)
    expect(_row(page, "Maria Rossi")).to_have_count(0)

    # A lost stage shows with its emoji.
    page.goto("/contacts")
    lost_name, emoji = next(iter(lost.items()))
    with page.expect_response(lambda r: r.request.method == "POST"):  # the row comes back
        page.get_by_label("Lifecycle stage of Jan Nowak").select_option(
            label=f"{emoji} {lost_name}"
        )
    expect(page.locator("#toasts")).to_contain_text(f"'Jan Nowak' is now {emoji} {lost_name}")
    # The row that came back is in the page (the next change is made on it, not on the old).
    expect(page.get_by_label("Lifecycle stage of Jan Nowak")).to_have_class(re.compile("lost"))

    # Clear the stage: the row says "No stage" and the "no stage" filter finds it.
    with page.expect_response(lambda r: r.request.method == "POST"):
        page.get_by_label("Lifecycle stage of Jan Nowak").select_option(label="No stage")
    expect(page.locator("#toasts")).to_contain_text("'Jan Nowak' has no lifecycle stage now")
    page.locator("#contact-stage").select_option(value="none")
    expect(_row(page, "Jan Nowak")).to_have_count(1)
    expect(_row(page, "Maria Rossi")).to_have_count(0)


def test_search_with_no_match_says_what_to_do(owner_page: Page) -> None:
    page = owner_page
    page.goto("/contacts")
    page.get_by_label("Search").fill("nobody-by-this-name")
    expect(page).to_have_url(re.compile(r"q=nobody"))
    expect(page.locator(".empty-state")).to_contain_text("No contacts match these filters")
    check_accessibility(page)


def test_an_agent_sees_their_contacts_and_cannot_save_segments(page: Page) -> None:
    sign_in(page, AGENT_EMAIL, AGENT_PASSWORD)
    page.goto("/contacts")
    expect(page.get_by_role("heading", name="Contacts")).to_be_visible()
    expect(page.get_by_role("button", name="Save as segment")).to_have_count(0)
    # Jan Nowak belongs to another agent: the list shows only what the API would.
    expect(_row(page, "Jan Nowak")).to_have_count(0)


def test_a_stage_changed_meanwhile_is_not_overwritten(owner_page: Page, server: Server) -> None:
    page = owner_page
    stages, _ = _lifecycle(server)
    page.goto("/contacts")
    select = page.get_by_label("Lifecycle stage of Maria Rossi")
    before = select.locator("option:checked").inner_text()
    with server.api() as api:
        found = api.get("/contacts").json()["items"]
        rossi = next(c for c in found if c["name"] == "Maria Rossi")
        changed = api.put(f"/contacts/{rossi['id']}/lifecycle", json={"stage_id": None})
        assert changed.status_code == 200, changed.text
    with page.expect_response(re.compile(r"/lifecycle$")) as answer:
        select.select_option(value=str(stages["Hot Lead"]))
    assert answer.value.headers.get("x-refused") == "409"
    expect(page.locator("#toasts .toast.error")).to_contain_text("Someone else changed")
    expect(select.locator("option:checked")).to_have_text(before)

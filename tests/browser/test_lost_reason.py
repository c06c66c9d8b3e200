"""Dropping a deal on a lost stage asks for the lost reason, as a lead's asks for the
disqualification reason; the reason is on the record, its timeline and the API."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import Server, check_accessibility, screenshot, stage_ids


def test_drop_a_deal_on_closed_lost_asks_for_the_reason(owner_page: Page, server: Server) -> None:
    page = owner_page
    stages = stage_ids(server, "deal")
    with server.api() as api:
        created = api.post(
            "/deals",
            json={"name": "Bruni heat pump", "fields": {"amount": 8400, "currency": "EUR"}},
        )
        assert created.status_code == 201, created.text
        deal = created.json()
    page.goto("/boards/deal")
    card = page.locator(f"#card-{deal['id']}")
    lost = page.locator(f"#cards-{stages['Closed Lost']}")
    card.drag_to(lost)
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Move to Closed Lost?")
    reason = dialog.get_by_label("Lost reason")
    expect(reason).to_have_attribute("required", "")
    dialog.get_by_role("button", name="Move").click()  # no reason chosen: the dialog stays
    expect(dialog).to_be_visible()
    reason.select_option(label="Chose a competitor")
    check_accessibility(page)
    screenshot(page, "deal-board-lost-reason")
    dialog.get_by_role("button", name="Move").click()
    expect(page.get_by_role("status")).to_contain_text("'Bruni heat pump' is now in Closed Lost")
    expect(lost.locator(f"#card-{deal['id']}")).to_be_visible()

    with server.api() as api:
        saved = api.get(f"/deals/{deal['id']}").json()
    assert saved["stage_id"] == stages["Closed Lost"]
    assert saved["fields"]["lost_reason"] == "chose_competitor"

    page.goto(f"/deals/{deal['id']}")
    expect(page.locator("main")).to_contain_text("Chose a competitor")
    expect(page.locator(".timeline")).to_contain_text("Lost reason: empty → Chose a competitor")
    expect(page.locator(".timeline")).to_contain_text("Moved from New to Closed Lost")


def test_the_api_takes_the_lost_reason_with_the_move(server: Server) -> None:
    stages = stage_ids(server, "deal")
    with server.api() as api:
        deal = api.post("/deals", json={"name": "Sala battery storage"}).json()
        wrong = api.post(
            f"/deals/{deal['id']}/move",
            json={"stage_id": stages["Closed Lost"], "fields": {"lost_reason": "too_dear"}},
        )
        moved = api.post(
            f"/deals/{deal['id']}/move",
            json={"stage_id": stages["Closed Lost"], "fields": {"lost_reason": "price"}},
        )
        picklists = api.get("/picklists").json()
    assert wrong.status_code == 422, wrong.text
    assert wrong.json()["field"] == "fields.lost_reason"
    assert moved.status_code == 200, moved.text
    assert moved.json()["fields"]["lost_reason"] == "price"
    assert [o["label"] for o in picklists["lost_reasons"]][:2] == ["Price", "Chose a competitor"]

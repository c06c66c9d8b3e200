"""The web app as a person uses it: sign in and out, boards, moving cards, permissions."""

from __future__ import annotations

import re

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


def _create(server: Server, plural: str, **values: object) -> dict[str, object]:
    with server.api() as api:
        response = api.post(f"/{plural}", json=values)
        assert response.status_code == 201, response.text
        created: dict[str, object] = response.json()
        return created


def _column(page: Page, stage_id: int):  # type: ignore[no-untyped-def]
    return page.locator(f"#cards-{stage_id}")


def test_signed_out_visitor_lands_on_sign_in_and_can_sign_in_and_out(
    page: Page, server: Server
) -> None:
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/sign-in$"))
    expect(page.get_by_role("heading", name="Sign in to stageflow")).to_be_visible()
    check_accessibility(page)
    screenshot(page, "sign-in")

    sign_in(page, server.email, server.password)
    expect(page).to_have_url(re.compile(r"/boards/deal$"))
    sidebar = page.get_by_role("navigation", name="Main")
    expect(sidebar).to_contain_text("Demo")
    expect(sidebar).to_contain_text("Demo Owner")
    expect(page.get_by_role("heading", name="Deals", exact=True)).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/sign-in\?signed_out=1$"))
    expect(page.get_by_text("You are signed out.")).to_be_visible()
    page.goto("/boards/deal")
    expect(page).to_have_url(re.compile(r"/sign-in\?next=/boards/deal$"))


def test_wrong_password_says_so_without_telling_whether_the_account_exists(
    page: Page, server: Server, console: ConsoleWatch
) -> None:
    console.allow(r"status of 401")  # the sign-in answer to a wrong password
    messages = []
    for email in (server.email, "nobody@demo.stageflow.local"):
        page.goto("/sign-in")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill("certainly-wrong")
        page.get_by_role("button", name="Sign in").click()
        alert = page.get_by_role("alert")
        expect(alert).to_be_visible()
        messages.append(alert.inner_text())
    assert (
        messages[0]
        == messages[1]
        == ("The email or password is not right. Check both and try again.")
    )
    expect(page.get_by_label("Email")).to_have_value("nobody@demo.stageflow.local")
    screenshot(page, "sign-in-wrong-password")


def test_a_post_without_the_csrf_token_is_refused(owner_page: Page, server: Server) -> None:
    deal = _create(server, "deals", name="Rinaldi garden lights")
    proposal = stage_ids(server, "deal")["Proposal"]
    form = {"record_id": str(deal["id"]), "stage_id": str(proposal)}
    refused = owner_page.request.post("/boards/deal/move", form=form)
    assert refused.status == 403
    wrong = owner_page.request.post("/boards/deal/move", form={**form, "csrf_token": "forged"})
    assert wrong.status == 403
    assert owner_page.request.post("/sign-out", form={}).status == 403
    with server.api() as api:
        assert api.get(f"/deals/{deal['id']}").json()["stage_id"] != proposal


def test_drag_a_deal_to_proposal_records_the_stage_change_by_that_user(
    owner_page: Page, server: Server
) -> None:
    page = owner_page
    stages = stage_ids(server, "deal")
    name = "Conti solar carport"
    deal = _create(server, "deals", name=name, fields={"amount": 12500, "currency": "EUR"})
    page.goto("/boards/deal")
    card = page.locator(f"#card-{deal['id']}")
    expect(_column(page, stages["New"]).locator(card)).to_be_visible()
    expect(card).to_contain_text("€12,500")
    check_accessibility(page)
    screenshot(page, "deal-board")

    proposal_head = page.locator(f"#col-head-{stages['Proposal']} .count")
    new_head = page.locator(f"#col-head-{stages['New']} .count")
    before, new_before = int(proposal_head.inner_text()), int(new_head.inner_text())
    card.drag_to(_column(page, stages["Proposal"]))
    expect(page.get_by_role("status")).to_contain_text(f"'{name}' is now in Proposal")
    expect(_column(page, stages["Proposal"]).locator(f"#card-{deal['id']}")).to_be_visible()
    expect(proposal_head).to_have_text(str(before + 1))
    expect(new_head).to_have_text(str(new_before - 1))

    with server.api() as api:
        timeline = api.get(f"/deals/{deal['id']}/timeline").json()["items"]
        owner_id = api.get("/me").json()["user"]["id"]
    changed = [e for e in timeline if e["type"] == "StageChanged"]
    assert len(changed) == 1, timeline
    assert changed[0]["actor"]["kind"] == "user"
    assert changed[0]["actor"]["user_id"] == owner_id
    assert changed[0]["source"] == "ui"

    page.locator(f"#card-{deal['id']}").get_by_role("link", name=name).click()
    expect(page).to_have_url(re.compile(rf"/deals/{deal['id']}$"))
    expect(page.get_by_role("heading", name=name)).to_be_visible()
    newest = page.locator(".timeline li").first
    expect(newest).to_contain_text("Moved from New to Proposal")
    expect(newest).to_contain_text("by Demo Owner in the app")
    check_accessibility(page)
    screenshot(page, "deal-record")
    assert changed[0]["after"]["stage_id"] == stages["Proposal"]


def test_drop_a_lead_on_disqualified_asks_for_the_reason(owner_page: Page, server: Server) -> None:
    page = owner_page
    stages = stage_ids(server, "lead")
    lead = _create(server, "leads", name="Fontana roof enquiry")
    page.goto("/boards/lead")
    card = page.locator(f"#card-{lead['id']}")
    card.drag_to(_column(page, stages["Disqualified"]))
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Move to Disqualified?")
    dialog.get_by_label("Disqualification reason").select_option(label="No budget")
    expect(_column(page, stages["Disqualified"]).locator(card)).to_be_visible()
    screenshot(page, "lead-board-disqualify")
    # The card sits in the column from the drop on; the move is saved when its answer comes.
    with page.expect_response(lambda r: r.request.method == "POST"):
        dialog.get_by_role("button", name="Move").click()
    expect(_column(page, stages["Disqualified"]).locator(f"#card-{lead['id']}")).to_be_visible()
    with server.api() as api:
        saved = api.get(f"/leads/{lead['id']}").json()
    assert saved["stage_id"] == stages["Disqualified"]
    assert saved["fields"]["disqualification_reason"] == "no_budget"


def test_cancelling_the_reason_puts_the_lead_back(owner_page: Page, server: Server) -> None:
    page = owner_page
    stages = stage_ids(server, "lead")
    lead = _create(server, "leads", name="Gallo pool heating enquiry")
    page.goto("/boards/lead")
    page.locator(f"#card-{lead['id']}").drag_to(_column(page, stages["Disqualified"]))
    page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
    expect(_column(page, stages["New"]).locator(f"#card-{lead['id']}")).to_be_visible()
    with server.api() as api:
        assert api.get(f"/leads/{lead['id']}").json()["stage_id"] == stages["New"]


def test_a_stale_move_says_so_and_the_card_goes_back(owner_page: Page, server: Server) -> None:
    page = owner_page
    stages = stage_ids(server, "deal")
    deal = _create(server, "deals", name="Moretti EV charger")
    page.goto("/boards/deal")
    with server.api() as api:  # someone else changes it after the board was loaded
        assert api.patch(f"/deals/{deal['id']}", json={"name": "Renamed elsewhere"}).is_success
    page.locator(f"#card-{deal['id']}").drag_to(_column(page, stages["Proposal"]))
    toast = page.locator(".toast.error")
    expect(toast).to_contain_text("Someone else changed this card since the board was loaded")
    expect(_column(page, stages["New"]).locator(f"#card-{deal['id']}")).to_be_visible()
    screenshot(page, "deal-board-conflict")
    with server.api() as api:
        assert api.get(f"/deals/{deal['id']}").json()["stage_id"] == stages["New"]


def test_move_to_menu_works_with_the_keyboard(owner_page: Page, server: Server) -> None:
    page = owner_page
    stages = stage_ids(server, "deal")
    name = "Ricci insulation"
    deal = _create(server, "deals", name=name)
    page.goto("/boards/deal")
    card = page.locator(f"#card-{deal['id']}")
    card.get_by_text("Move to…").focus()
    page.keyboard.press("Enter")
    card.get_by_label(f"Stage for {name}").select_option(label="Negotiation")
    card.get_by_role("button", name="Move").focus()
    page.keyboard.press("Enter")
    moved = _column(page, stages["Negotiation"]).locator(f"#card-{deal['id']}")
    expect(moved).to_be_visible()
    expect(moved).to_be_focused()


def test_an_agent_does_not_see_another_users_deal(
    page: Page, server: Server, console: ConsoleWatch
) -> None:
    console.allow(r"status of 404")  # the agent opening the owner's deal by its address
    theirs = _create(server, "deals", name="Esposito wind turbine")
    sign_in(page, AGENT_EMAIL, AGENT_PASSWORD)
    expect(page.get_by_role("navigation", name="Main")).to_contain_text("Sam Seller")
    expect(page.locator(".board")).to_be_visible()
    expect(page.locator(f"#card-{theirs['id']}")).to_have_count(0)
    expect(page.get_by_text("Acme rooftop installation")).to_have_count(0)
    expect(page.get_by_text(str(theirs["name"]))).to_have_count(0)
    page.goto("/boards/deal?view=list")
    expect(page.get_by_text(str(theirs["name"]))).to_have_count(0)
    response = page.goto(f"/deals/{theirs['id']}")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()


def test_filters_list_view_and_placeholders(owner_page: Page, server: Server) -> None:
    page = owner_page
    page.goto("/boards/deal")
    page.get_by_label("Search").fill("Acme")
    expect(page).to_have_url(re.compile(r"q=Acme"))
    expect(page.locator(".card")).to_have_count(1)
    expect(page.locator(".card")).to_contain_text("Acme rooftop installation")

    page.goto("/boards/deal?view=list")
    expect(page.get_by_role("table")).to_contain_text("Acme rooftop installation")
    check_accessibility(page)
    screenshot(page, "deal-list")

    page.goto("/boards/opportunity")
    expect(page.locator("#board-empty")).to_contain_text("No opportunities in")
    check_accessibility(page)
    screenshot(page, "opportunity-board-empty")


def test_a_long_column_loads_more_cards_when_scrolled(owner_page: Page, server: Server) -> None:
    page = owner_page
    won = stage_ids(server, "deal")["Closed Won"]
    with server.api() as api:
        for n in range(55):
            created = api.post("/deals", json={"name": f"Won deal {n:02d}", "stage_id": won})
            assert created.status_code == 201, created.text
    page.goto("/boards/deal")
    column = _column(page, won)
    expect(page.locator(f"#col-head-{won} .count")).to_have_text("55")
    expect(column.locator(".card")).to_have_count(50)
    column.locator(".more").scroll_into_view_if_needed()
    expect(column.locator(".card")).to_have_count(55)
    expect(column.locator(".more")).to_have_count(0)
    expect(column).to_contain_text("Won deal 00")


def test_repeated_failed_sign_ins_are_slowed_down(page: Page) -> None:
    page.goto("/sign-in")
    token = page.locator('input[name="csrf_token"]').input_value()
    form = {"csrf_token": token, "email": "guesser@demo.stageflow.local", "password": "x"}
    for _ in range(5):
        assert page.request.post("/sign-in", form=form).status == 401
    slowed = page.request.post("/sign-in", form=form)
    assert slowed.status == 429
    assert "Too many failed sign-ins" in slowed.text()


def test_new_deal_from_the_board_with_errors_shown_at_the_field(
    owner_page: Page, server: Server
) -> None:
    page = owner_page
    stages = stage_ids(server, "deal")
    page.goto("/boards/deal")
    page.get_by_role("button", name="New deal").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Name").fill("Marino rooftop solar")
    dialog.get_by_label("Amount").fill("lots")
    dialog.get_by_label("Stage").select_option(label="Proposal")
    dialog.get_by_role("button", name="Create deal").click()
    amount = dialog.get_by_label("Amount")
    expect(amount).to_have_attribute("aria-invalid", "true")
    expect(dialog).to_contain_text("Write the amount as a number")
    check_accessibility(page)
    screenshot(page, "deal-new-with-error")

    amount.fill("21,400")
    dialog.get_by_label("Currency").fill("eur")
    dialog.get_by_role("button", name="Create deal").click()
    expect(dialog).to_be_hidden()
    expect(page.locator(".toast").last).to_contain_text(
        "Created 'Marino rooftop solar' in Proposal"
    )
    card = _column(page, stages["Proposal"]).locator(".card", has_text="Marino rooftop solar")
    expect(card).to_contain_text("€21,400")
    with server.api() as api:
        found = api.get("/deals", params={"stage_id": stages["Proposal"]}).json()["items"]
    created = next(d for d in found if d["name"] == "Marino rooftop solar")
    assert created["fields"] == {"amount": 21400, "currency": "EUR"}

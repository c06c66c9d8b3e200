"""Run history and rehearsal as a person uses them (issue 15, screens 5 and 6): a run waits a
week, the clock bar moves virtual time on and the run page shows the next step done; a failed
run shows its error and is retried; a waiting run is cancelled; "Why didn't it run?" says
which condition failed on which value; an agent sees only their own records' runs and no
clock buttons; a server on real time shows no clock bar."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import (
    AGENT_EMAIL,
    AGENT_PASSWORD,
    ConsoleWatch,
    Server,
    _watch,
    check_accessibility,
    screenshot,
    sign_in,
)


def _api(server: Server, method: str, path: str, **kwargs: Any) -> Any:
    with server.api() as api:
        response = api.request(method, path, **kwargs)
        assert response.is_success, response.text
        return response.json() if response.content else None


def _workflow(server: Server, name: str, prefix: str) -> dict[str, Any]:
    """Deals named ``prefix…`` worth more than 1,000: probability 20, a week's wait, then 60."""
    definition = {
        "trigger": {"type": "record_created", "object_type": "deal"},
        "conditions": {
            "all": [
                {"field": "name", "op": "starts_with", "value": prefix},
                {"field": "amount", "op": "gt", "value": 1000},
            ]
        },
        "steps": [
            {
                "id": "probability",
                "name": "Set probability",
                "type": "action",
                "action": "set_field",
                "settings": {"fields": {"probability": 20}},
            },
            {"id": "wait", "name": "Wait a week", "type": "delay", "duration": "P7D"},
            {
                "id": "follow_up",
                "name": "Raise probability",
                "type": "action",
                "action": "set_field",
                "settings": {"fields": {"probability": 60}},
            },
        ],
    }
    body = {"name": name, "definition": definition, "publish": True}
    created: dict[str, Any] = _api(server, "POST", "/automations", json=body)
    return created


def _deal(server: Server, name: str, amount: float, **more: Any) -> dict[str, Any]:
    body = {"name": name, "fields": {"amount": amount, "currency": "EUR"}, **more}
    created: dict[str, Any] = _api(server, "POST", "/deals", json=body)
    return created


def _runs_of(server: Server, record_id: int, settled: bool = True) -> list[dict[str, Any]]:
    """The record's runs, once the server's worker has taken every one of them."""
    deadline = time.monotonic() + 10
    while True:
        items: list[dict[str, Any]] = _api(server, "GET", f"/runs?record={record_id}")["items"]
        fresh = [r for r in items if r["status"] == "waiting" and r["cursor"] == "probability"]
        if not settled or (items and not fresh) or time.monotonic() > deadline:
            return items
        time.sleep(0.2)


def test_a_run_waits_a_week_and_the_clock_bar_moves_it_on(
    rehearsal_server: Server, rehearsal_page: Page
) -> None:
    page, server = rehearsal_page, rehearsal_server
    _workflow(server, "Big roof follow-up", "Roof:")
    deal = _deal(server, "Roof: Bianchi villa", 18000)
    (run,) = _runs_of(server, deal["id"])
    assert run["status"] == "waiting" and run["cursor"] == "wait"

    page.goto(f"/runs?record_id={deal['id']}")
    row = page.locator(f"#run-{run['id']}")
    expect(row).to_contain_text("Workflow 'Big roof follow-up' (version 1)")
    expect(row).to_contain_text("Roof: Bianchi villa")
    expect(row).to_contain_text("Waiting")
    expect(row).to_contain_text("in 7 days")
    expect(row).to_contain_text("Wait a week")
    expect(page.get_by_text("Record: Roof: Bianchi villa")).to_be_visible()

    row.get_by_role("link", name=f"#{run['id']}").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Run #{run['id']}")
    steps = page.locator(".run-step")
    expect(steps.nth(0)).to_contain_text("Set probability")
    expect(steps.nth(0)).to_contain_text("Done")
    expect(steps.nth(0)).to_contain_text("Probability")
    expect(steps.nth(1)).to_contain_text("Wait a week")
    expect(steps.nth(1)).to_contain_text(re.compile(r"waits until .* \(in 7 days\)"))
    expect(page.locator(".run-facts")).to_contain_text("Record created")
    expect(page.get_by_role("button", name="Cancel run")).to_be_visible()
    check_accessibility(page)
    screenshot(page, "run-waiting")

    bar = page.locator("#clock-bar")
    expect(bar).to_contain_text("Rehearsal: virtual time is")
    bar.get_by_role("button", name="+7 days").click()
    fired = bar.locator(".clock-fired")
    expect(fired).to_contain_text(re.compile(r"\d+ runs? fired"))
    item = fired.locator("li", has_text=f"Run #{run['id']}")
    expect(item).to_contain_text("Completed")
    expect(page.locator("#toasts")).to_contain_text("Virtual time is now")
    check_accessibility(page)
    screenshot(page, "clock-bar")

    item.get_by_role("link", name=f"Run #{run['id']}").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Completed")
    done = page.locator(".run-step", has_text="Raise probability")
    expect(done).to_contain_text("Done")
    expect(page.get_by_role("button", name="Cancel run")).to_have_count(0)
    assert _api(server, "GET", f"/deals/{deal['id']}")["fields"]["probability"] == 60


def test_a_failed_run_shows_its_error_and_retrying_fails_again_visibly(
    rehearsal_server: Server, rehearsal_page: Page
) -> None:
    page, server = rehearsal_page, rehearsal_server
    definition = {
        "trigger": {"type": "record_created", "object_type": "deal"},
        "conditions": {"field": "name", "op": "starts_with", "value": "Broken:"},
        "steps": [
            {
                "id": "amount",
                "name": "Set the amount",
                "type": "action",
                "action": "set_field",
                "settings": {"fields": {"amount": "a lot"}},
            }
        ],
    }
    body = {"name": "Amount from the form", "definition": definition, "publish": True}
    _api(server, "POST", "/automations", json=body)
    deal = _deal(server, "Broken: Costa farm", 500)
    deadline = time.monotonic() + 10
    while (run := _runs_of(server, deal["id"])[0])["status"] != "failed":
        assert time.monotonic() < deadline, run
        time.sleep(0.2)

    page.goto("/runs?status=failed")
    expect(page.locator(f"#run-{run['id']}")).to_contain_text("failed at Set the amount")
    page.goto(f"/runs/{run['id']}")
    failed = page.locator(".run-step", has_text="Set the amount")
    expect(failed).to_contain_text("Failed")
    expect(failed.locator(".step-error")).to_contain_text("'fields.amount' must be a number")
    check_accessibility(page)
    screenshot(page, "run-failed")

    page.get_by_role("button", name="Retry from the failed step").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("It goes on from Set the amount")
    dialog.get_by_role("button", name="Retry", exact=True).click()
    expect(page.locator("#toasts")).to_contain_text("goes on from its failed step")
    deadline = time.monotonic() + 10
    while (again := _api(server, "GET", f"/runs/{run['id']}"))["status"] != "failed":
        assert time.monotonic() < deadline, again
        time.sleep(0.2)
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Failed")
    expect(page.locator(".run-step", has_text="Set the amount")).to_contain_text("2 attempts")
    page.goto("/runs")
    expect(page.locator(f"#run-{run['id']}")).to_contain_text("Failed")
    check_accessibility(page)
    screenshot(page, "runs-list")


def test_cancel_a_waiting_run(rehearsal_server: Server, rehearsal_page: Page) -> None:
    page, server = rehearsal_page, rehearsal_server
    _workflow(server, "Heat pump follow-up", "Pump:")
    deal = _deal(server, "Pump: Verdi house", 7200)
    (run,) = _runs_of(server, deal["id"])
    page.goto(f"/runs/{run['id']}")
    page.get_by_role("button", name="Cancel run").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Its remaining steps will not run")
    dialog.get_by_role("button", name="Cancel run").click()
    expect(page.locator("#toasts")).to_contain_text(f"Run #{run['id']} cancelled")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Cancelled")
    assert _api(server, "GET", f"/runs/{run['id']}")["status"] == "cancelled"


def test_why_didnt_it_run_says_which_condition_failed_on_which_value(
    rehearsal_server: Server, rehearsal_page: Page
) -> None:
    page, server = rehearsal_page, rehearsal_server
    _workflow(server, "Shed follow-up", "Shed:")
    deal = _deal(server, "Shed: Greco garden", 300)
    assert _runs_of(server, deal["id"], settled=False) == []
    page.goto(f"/runs?record_id={deal['id']}")
    expect(page.locator(".empty-state")).to_contain_text("No runs match")
    page.get_by_role("link", name="see why it didn't").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Why didn't it run?")
    skip = page.locator(".skip", has_text="Shed follow-up")
    expect(skip).to_contain_text("Amount was 300; the automation needs it to be more than 1000.")
    expect(skip).to_contain_text("did not start on record created")
    check_accessibility(page)
    screenshot(page, "why-didnt-it-run")
    page.goto("/runs/skipped")
    expect(page.locator(".skip", has_text="Shed follow-up")).to_contain_text("Shed: Greco garden")


def test_the_clock_bar_shows_a_bad_date_at_its_field(
    rehearsal_page: Page, console: ConsoleWatch
) -> None:
    console.allow(r"status of 422")  # the bar coming back with the error at its field
    page = rehearsal_page
    page.goto("/runs")
    bar = page.locator("#clock-bar")
    bar.get_by_role("button", name="Go").click()
    field = bar.get_by_label("to a date…")
    expect(bar.locator(".clock-error")).to_have_text("Choose a date and a time to move to.")
    expect(field).to_have_attribute("aria-invalid", "true")
    field.fill("2020-01-01T09:00")
    bar.get_by_role("button", name="Go").click()
    expect(bar.locator(".clock-error")).to_have_text("The clock never goes backwards")
    expect(page.get_by_role("heading", name="Runs", exact=True)).to_be_visible()
    check_accessibility(page)


def test_the_run_list_filters_by_automation_and_loads_older_runs(
    rehearsal_server: Server, rehearsal_page: Page
) -> None:
    page, server = rehearsal_page, rehearsal_server
    automation = _workflow(server, "Paging follow-up", "Paging:")
    deals = [_deal(server, f"Paging: deal {n}", 5000) for n in range(53)]
    _runs_of(server, deals[-1]["id"])
    page.goto("/runs")
    page.get_by_label("Automation").select_option(label="Workflow 'Paging follow-up'")
    page.get_by_label("Status").select_option("waiting")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(rf"automation_id={automation['id']}"))
    expect(page).to_have_url(re.compile(r"status=waiting"))
    rows = page.locator("#run-rows tr[id^=run-]")
    expect(rows).to_have_count(50)
    expect(rows.first).to_contain_text("Paging: deal 52")
    page.get_by_role("button", name="Load older runs").click()
    expect(rows).to_have_count(53)
    expect(rows.last).to_contain_text("Paging: deal 0")
    expect(page.get_by_role("button", name="Load older runs")).to_have_count(0)
    page.get_by_label("Status").select_option("failed")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator(".empty-state")).to_contain_text("No runs match these filters")


@pytest.fixture
def agent_on_rehearsal(
    browser: Browser, rehearsal_server: Server, console: ConsoleWatch
) -> Iterator[Page]:
    context = browser.new_context(
        base_url=rehearsal_server.url, viewport={"width": 1360, "height": 860}
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    _watch(page, console)
    try:
        sign_in(page, AGENT_EMAIL, AGENT_PASSWORD)
        yield page
    finally:
        context.close()
    assert not console.unexpected(), console.unexpected()


def test_an_agent_sees_only_their_own_records_runs_and_no_clock_buttons(
    rehearsal_server: Server, agent_on_rehearsal: Page, console: ConsoleWatch
) -> None:
    console.allow(r"status of 404")  # the agent opening the owner's run by its address
    page, server = agent_on_rehearsal, rehearsal_server
    users = {u["name"]: u["id"] for u in _api(server, "GET", "/users")}
    _workflow(server, "Battery follow-up", "Battery:")
    mine = _deal(server, "Battery: Sam's client", 9000, owner_id=users["Sam Seller"])
    theirs = _deal(server, "Battery: owner's client", 9000)
    (my_run,) = _runs_of(server, mine["id"])
    (their_run,) = _runs_of(server, theirs["id"])

    page.goto("/runs")
    expect(page.locator(f"#run-{my_run['id']}")).to_contain_text("Battery: Sam's client")
    expect(page.locator(f"#run-{their_run['id']}")).to_have_count(0)
    expect(page.get_by_text("Battery: owner's client")).to_have_count(0)
    bar = page.locator("#clock-bar")
    expect(bar).to_contain_text("Rehearsal: virtual time is")
    expect(bar).to_contain_text("Only the workspace's owner moves the clock.")
    expect(bar.get_by_role("button")).to_have_count(0)

    page.goto(f"/runs/{my_run['id']}")
    expect(page.locator(".run-step", has_text="Wait a week")).to_be_visible()
    expect(page.get_by_role("button", name="Cancel run")).to_have_count(0)
    check_accessibility(page)
    page.goto(f"/runs/{their_run['id']}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")


def test_no_clock_bar_on_real_time(owner_page: Page) -> None:
    owner_page.goto("/runs")
    expect(owner_page.get_by_role("heading", name="Runs", exact=True)).to_be_visible()
    expect(owner_page.locator("#clock-bar")).to_have_count(0)
    expect(owner_page.get_by_text("coming soon")).to_have_count(0)

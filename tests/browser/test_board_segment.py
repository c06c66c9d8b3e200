"""A board filtered by a saved segment of its object type: its cards, counts, sums, the cards
a long column loads on scroll and the list view hold only the segment's records."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import (
    ConsoleWatch,
    Server,
    check_accessibility,
    screenshot,
)


def _segment(server: Server, name: str, object_type: str, filter_: object) -> int:
    with server.api() as api:
        created = api.post(
            "/segments", json={"name": name, "object_type": object_type, "filter": filter_}
        )
        assert created.status_code == 201, created.text
        segment_id: int = created.json()["id"]
        return segment_id


@pytest.fixture
def terrazzo(server: Server) -> Iterator[dict[str, Any]]:
    """A deal pipeline of its own, removed afterwards with its deals and segments: the
    demo's boards and dashboard stay as the other tests expect them."""
    with server.api() as api:
        created = api.post(
            "/pipelines",
            json={
                "object_type": "deal",
                "name": "Terrazzo renovations",
                "stages": [
                    {"name": "Survey", "kind": "open"},
                    {"name": "Quote", "kind": "open"},
                    {"name": "Done", "kind": "won"},
                ],
            },
        )
        assert created.status_code == 201, created.text
        before = {s["id"] for s in api.get("/segments").json()}
    pipeline: dict[str, Any] = created.json()
    try:
        yield pipeline
    finally:
        with server.api() as api:
            deals = api.get("/deals", params={"pipeline_id": pipeline["id"], "limit": 200})
            for deal in deals.json()["items"]:
                api.delete(f"/deals/{deal['id']}").raise_for_status()
            for segment in api.get("/segments").json():
                if segment["id"] not in before:
                    api.delete(f"/segments/{segment['id']}").raise_for_status()
            api.delete(f"/pipelines/{pipeline['id']}").raise_for_status()


def test_a_segment_narrows_the_board_its_counts_and_the_list(
    owner_page: Page, server: Server, terrazzo: dict[str, Any]
) -> None:
    page = owner_page
    pipeline = terrazzo
    stages = {s["name"]: s["id"] for s in pipeline["stages"]}
    negotiation, proposal = stages["Quote"], stages["Survey"]
    with server.api() as api:
        for n in range(52):
            api.post(
                "/deals",
                json={
                    "name": f"Terrazzo big {n:02d}",
                    "stage_id": negotiation,
                    "fields": {"amount": 9000, "currency": "EUR"},
                },
            ).raise_for_status()
        for name, stage, amount in (
            ("Terrazzo small", negotiation, 100),
            ("Terrazzo tiny", proposal, 50),
            ("Terrazzo proposal big", proposal, 7000),
        ):
            api.post(
                "/deals",
                json={
                    "name": name,
                    "stage_id": stage,
                    "fields": {"amount": amount, "currency": "EUR"},
                },
            ).raise_for_status()
        expected = api.get(
            "/deals",
            params={
                "filter": '{"all": [{"field": "name", "op": "contains", "value": "Terrazzo"},'
                ' {"field": "amount", "op": "gt", "value": 5000}]}',
                "limit": 100,
            },
        ).json()["items"]
    assert len(expected) == 53
    segment = _segment(
        server,
        "Big Terrazzo deals",
        "deal",
        {
            "all": [
                {"field": "name", "op": "contains", "value": "Terrazzo"},
                {"field": "amount", "op": "gt", "value": 5000},
            ]
        },
    )

    page.goto(f"/boards/deal?pipeline={pipeline['id']}")
    page.get_by_label("Segment").select_option(label="Big Terrazzo deals")
    expect(page).to_have_url(re.compile(rf"segment={segment}"))
    expect(page.locator(f"#col-head-{negotiation} .count")).to_have_text("52")
    expect(page.locator(f"#col-head-{proposal} .count")).to_have_text("1")
    expect(page.locator(f"#col-head-{proposal}")).to_contain_text("€7,000")
    expect(page.locator(f"#col-head-{negotiation}")).to_contain_text("€468,000")
    expect(page.get_by_text("Terrazzo small")).to_have_count(0)
    expect(page.get_by_text("Terrazzo tiny")).to_have_count(0)
    expect(page.locator(".card")).to_have_count(51)  # 50 of Negotiation, 1 of Proposal
    screenshot(page, "deal-board-segment")
    column = page.locator(f"#cards-{negotiation}")
    column.locator(".more").scroll_into_view_if_needed()
    expect(column.locator(".card")).to_have_count(52)
    expect(page.get_by_text("Terrazzo small")).to_have_count(0)
    check_accessibility(page)

    page.get_by_role("link", name="List").click()
    expect(page).to_have_url(re.compile(rf"view=list.*segment={segment}"))
    table = page.get_by_role("table")
    expect(table).to_contain_text("Terrazzo proposal big")
    expect(table.locator("tbody tr")).to_have_count(50)
    expect(table).not_to_contain_text("Terrazzo small")
    page.get_by_role("link", name="Next page").click()
    expect(page.get_by_role("table").locator("tbody tr")).to_have_count(3)
    expect(page.get_by_label("Segment")).to_have_value(str(segment))


def test_a_segment_of_another_object_type_is_refused(
    owner_page: Page, server: Server, console: ConsoleWatch
) -> None:
    console.allow(r"status of 404")
    contacts = _segment(
        server, "Rossi contacts", "contact", {"field": "last_name", "op": "eq", "value": "Rossi"}
    )
    page = owner_page
    page.goto("/boards/deal")
    expect(page.get_by_label("Segment").locator("option", has_text="Rossi contacts")).to_have_count(
        0
    )
    response = page.goto(f"/boards/deal?segment={contacts}")
    assert response is not None and response.status == 404
    expect(page.locator("main")).to_contain_text(
        "segment 'Rossi contacts' is a segment of contacts, not of deals"
    )

"""The virtual-clock server the rehearsal tests share starts and says it is in virtual time."""

from __future__ import annotations

from playwright.sync_api import Page

from tests.browser.conftest import Server


def test_the_rehearsal_server_runs_on_a_virtual_clock(
    rehearsal_server: Server, rehearsal_page: Page
) -> None:
    with rehearsal_server.api() as api:
        clock = api.get("/admin/clock").json()
    assert clock["virtual"] is True, clock
    rehearsal_page.goto("/boards/deal")
    assert rehearsal_page.get_by_role("heading", level=1).is_visible()

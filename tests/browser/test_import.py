"""Contacts → Import CSV: upload, the preview of the column mapping and of the rows that would
fail, the import with its progress and summary, the failed rows to download; an agent cannot
import."""

from __future__ import annotations

import json
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
)

CSV = (
    "Full name,E-mail,Stage,Notes\n"
    "Irene Importella,irene@importella.example,Customer,Roof owner\n"
    "Bruno Importella,bruno@importella.example,Nowhere,Asked twice\n"
    "Carla Importella,carla@importella.example,Hot Lead,Call after 5\n"
    "Dario Importella,dario@importella.example,,Two notes,one too many\n"
    "Elena Importella,elena@importella.example,,\n"
)


def _choose(page: Page, column: str, target: str) -> None:
    """Send a column to a field and wait for the preview that answers it (once htmx has
    taken up the form the previous answer put in place)."""
    page.wait_for_function(
        "() => { const f = document.querySelector('#import-form');"
        " return f && f['htmx-internal-data'] && f['htmx-internal-data'].initHash"
        " && !f.classList.contains('htmx-settling') }"
    )
    with page.expect_response(lambda r: "/contacts/import/" in r.url and "col-" in r.url):
        page.get_by_label(column).select_option(label=target)


def _file(name: str, text: str) -> dict[str, object]:
    return {"name": name, "mimeType": "text/csv", "buffer": text.encode()}


def test_import_a_csv_with_a_few_bad_rows(
    owner_page: Page, server: Server, console: ConsoleWatch
) -> None:
    console.allow(r"status of 422")  # a refused upload and a mapping with a clash, at their field
    page = owner_page
    page.goto("/contacts")
    page.get_by_role("link", name="Import CSV").click()
    expect(page.get_by_role("heading", name="Import contacts from CSV")).to_be_visible()

    page.get_by_label("CSV file").set_input_files(
        {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hello"}
    )
    page.get_by_role("button", name="Upload and preview").click()
    expect(page.locator("#import-file-error")).to_contain_text("'notes.txt' is not a CSV file")

    page.get_by_label("CSV file").set_input_files(_file("importella.csv", CSV))  # type: ignore[arg-type]
    page.get_by_role("button", name="Upload and preview").click()
    expect(page).to_have_url(re.compile(r"/contacts/import/\d+$"))
    expect(page.get_by_label("Full name")).to_have_value("name")
    expect(page.get_by_label("E-mail")).to_have_value("email")
    expect(page.get_by_label("Stage")).to_have_value("lifecycle_stage")
    expect(page.get_by_label("Notes")).to_have_value("-")
    expect(page.locator(".import-summary")).to_contain_text("5 rows in the file: 3 would be")
    failing = page.locator("table.import-errors")
    expect(failing.locator("tbody tr")).to_have_count(2)
    expect(failing.locator("tbody tr").nth(0)).to_contain_text("3")
    expect(failing.locator("tbody tr").nth(0)).to_contain_text("no lifecycle stage 'Nowhere'")
    expect(failing.locator("tbody tr").nth(1)).to_contain_text("5")
    expect(failing.locator("tbody tr").nth(1)).to_contain_text("more values than the header")

    _choose(page, "Notes", "Job title")  # the preview follows
    expect(page.locator("#import-form")).to_contain_text("Job title: Roof owner")
    _choose(page, "Notes", "Email")  # two columns to one field
    expect(page.locator("#col-3-error")).to_contain_text("both go to 'email'")
    expect(page.get_by_role("button", name=re.compile("Import"))).to_be_disabled()
    _choose(page, "Notes", "Job title")
    expect(page.locator("#col-3-error")).to_have_count(0)
    expect(page.get_by_role("table").nth(1)).to_contain_text("Irene Importella")
    expect(page.get_by_role("table").nth(1)).to_contain_text("Customer")
    check_accessibility(page)
    screenshot(page, "contacts-import-preview")

    page.get_by_role("button", name="Import 3 contacts").click()
    expect(page.get_by_role("heading", name="Import finished")).to_be_visible(timeout=20_000)
    expect(page.locator("#import-counts")).to_contain_text("5 of 5 rows done")
    expect(page.locator("#import-counts")).to_contain_text("3 imported")
    expect(page.locator("#import-counts")).to_contain_text("2 failed")
    expect(page.locator("table.import-errors tbody tr")).to_have_count(2)
    check_accessibility(page)
    screenshot(page, "contacts-import-done")

    with page.expect_download() as download:
        page.get_by_role("link", name="Download the failed rows (CSV)").click()
    lines = download.value.path().read_text().splitlines()
    assert lines[0] == "line,problem,Full name,E-mail,Stage,Notes"
    assert lines[1].startswith("3,Stage: no lifecycle stage 'Nowhere',Bruno Importella")
    assert lines[2].startswith("5,the row has more values than the header")

    by_name = {"field": "name", "op": "contains", "value": "Importella"}
    with server.api() as api:
        found = api.get("/contacts", params={"filter": json.dumps(by_name)}).json()["items"]
    assert sorted(c["name"] for c in found) == [
        "Carla Importella",
        "Elena Importella",
        "Irene Importella",
    ]
    irene = next(c for c in found if c["name"] == "Irene Importella")
    assert irene["fields"]["email"] == "irene@importella.example"
    assert irene["fields"]["job_title"] == "Roof owner"


def test_a_file_too_big_is_refused(owner_page: Page, console: ConsoleWatch) -> None:
    console.allow(r"status of 422")  # the refusal, at the file field
    page = owner_page
    page.goto("/contacts/import")
    big = b"name\n" + b"x" * (21 * 1024 * 1024)
    page.get_by_label("CSV file").set_input_files(_file("big.csv", big.decode()))  # type: ignore[arg-type]
    page.get_by_role("button", name="Upload and preview").click()
    expect(page.locator("#import-file-error")).to_contain_text("at most 20 MB can be uploaded")


def test_an_agent_cannot_import(page: Page, console: ConsoleWatch) -> None:
    console.allow(r"status of 403")
    sign_in(page, AGENT_EMAIL, AGENT_PASSWORD)
    page.goto("/contacts")
    expect(page.get_by_role("heading", name="Contacts")).to_be_visible()
    expect(page.get_by_role("link", name="Import CSV")).to_have_count(0)
    response = page.goto("/contacts/import")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()

"""generate_report: a PDF from a report template, kept on the record and emailed as an
attachment (SPEC E3); report templates are checked like every template."""

from __future__ import annotations

import io
from typing import Any

import pytest
from pypdf import PdfReader

from stageflow.bootstrap import App
from tests.conftest import Api, make_tenant
from tests.e2e.conftest import Mailbox
from tests.e2e.test_email import _setup


def _quote_template(api: Api) -> None:
    api.post(
        "/report-templates",
        {
            "name": "quote",
            "title": "Quote {{ record.name }}",
            "html": "<h1>Quote for {{ record.name }}</h1><p>Amount: <b>{{ record.amount }}</b> €"
            "</p><img src='/etc/passwd'><table><tr><th>Item</th></tr><tr><td>Roof</td></tr>"
            "</table>",
        },
    )


def _rule(**settings: Any) -> dict[str, Any]:
    return {
        "trigger": {"type": "record_created", "object_type": "deal"},
        "steps": [
            {
                "id": "report",
                "type": "action",
                "action": "generate_report",
                "settings": {"template": "quote", **settings},
            }
        ],
    }


def _text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def test_report_is_kept_on_the_record_as_a_pdf(api: Api) -> None:
    _quote_template(api)
    api.post("/automations", {"name": "Quote", "definition": _rule(), "publish": True})
    deal = api.post("/deals", {"name": "Roof/Attic", "fields": {"amount": 1200}})
    api.post("/admin/clock/advance", {"by": "PT0S"}, expect=200)

    (info,) = api.get(f"/files?record={deal['id']}")
    assert info["filename"] == "Quote RoofAttic.pdf"  # no path separators in file names
    assert info["content_type"] == "application/pdf" and info["source"] == "report:quote"
    response = api.client.get(f"/api/v1/files/{info['id']}/content", headers=api.headers)
    assert response.status_code == 200 and response.content.startswith(b"%PDF")
    assert len(response.content) == info["size"]
    text = _text(response.content)
    assert "Quote for Roof/Attic" in text and "Amount: 1200 €" in text and "Item" in text
    timeline = api.get(f"/deals/{deal['id']}/timeline")["items"]
    assert "FileAdded" in [e["type"] for e in timeline]


def test_report_is_emailed_as_an_attachment(api: Api, mailbox: Mailbox) -> None:
    _setup(api, mailbox)
    _quote_template(api)
    api.post(
        "/automations",
        {
            "name": "Quote",
            "definition": _rule(
                filename="quote-{{ record.name }}",
                email={"template": "welcome", "to": [{"role": "owner"}]},
            ),
            "publish": True,
        },
    )
    contact = api.post("/contacts", {"fields": {"first_name": "Ann"}})
    deal = api.post(
        "/deals",
        {"name": "Roof", "fields": {"amount": 900}, "associations": {"contact": [contact["id"]]}},
    )
    api.post("/admin/clock/advance", {"by": "PT0S"}, expect=200)
    api.post("/admin/clock/advance", {"by": "PT0S"}, expect=200)

    (info,) = api.get(f"/files?record={deal['id']}")
    stored = api.client.get(f"/api/v1/files/{info['id']}/content", headers=api.headers).content
    ((_, message),) = mailbox.accepted
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_filename() == "quote-Roof.pdf"
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_payload(decode=True) == stored


def test_files_of_another_workspace_are_not_found(api: Api, app: App) -> None:
    other_api = Api(api.client, make_tenant(app, "Other").token)
    _quote_template(api)
    api.post("/automations", {"name": "Quote", "definition": _rule(), "publish": True})
    deal = api.post("/deals", {"name": "Roof", "fields": {"amount": 1}})
    api.post("/admin/clock/advance", {"by": "PT0S"}, expect=200)
    (info,) = api.get(f"/files?record={deal['id']}")
    other_api.get(f"/files/{info['id']}", expect=404)
    other_api.get(f"/files?record={deal['id']}", expect=404)


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"template": "missing"}, "no report template named 'missing'"),
        ({"email": {"template": "welcome", "to": [{"role": "owner"}]}}, "SMTP"),
    ],
)
def test_prerequisites_are_named_on_save(api: Api, settings: dict[str, Any], words: str) -> None:
    _quote_template(api)
    error = api.post(
        "/automations",
        {"name": "Bad", "definition": _rule(**settings), "publish": True},
        expect=422,
    )
    assert words in error["message"]


def test_report_templates_refuse_escapes_and_unknown_fields(api: Api) -> None:
    error = api.post(
        "/report-templates",
        {"name": "evil", "title": "x", "html": "{{ ''.__class__.__mro__ }}"},
        expect=422,
    )
    assert error["field"] == "html"
    api.post("/report-templates", {"name": "typo", "title": "x", "html": "{{ record.colour }}"})
    error = api.post(
        "/automations",
        {"name": "Typo", "definition": _rule(template="typo"), "publish": True},
        expect=422,
    )
    assert "colour" in error["message"]

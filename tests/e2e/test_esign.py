"""request_signature through a generic HTTP e-signature provider (a real server on loopback)
and the provider's callback, which automations trigger on (SPEC E3)."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import Api
from tests.e2e.conftest import Receiver


def _setup(api: Api, receiver: Receiver) -> None:
    api.patch("/workspace/settings", {"webhook_allowlist": ["127.0.0.1"]})
    view = api.put("/workspace/esign", {"url": receiver.url, "authorization": "Bearer esign-key"})
    assert view["configured"] and view["has_authorization"] and "authorization" not in view
    api.post(
        "/report-templates",
        {"name": "contract", "title": "Contract {{ record.name }}", "html": "<p>We agree.</p>"},
    )
    api.post("/fields/deal", {"key": "contract_status", "type": "text"})


def _request_rule(**settings: Any) -> dict[str, Any]:
    return {
        "trigger": {"type": "record_created", "object_type": "deal"},
        "steps": [
            {
                "id": "sign",
                "type": "action",
                "action": "request_signature",
                "settings": {
                    "report": "contract",
                    "signers": [{"role": "contact"}],
                    "message": "Please sign the contract for {{ record.name }}",
                    **settings,
                },
            }
        ],
    }


def _signed_rule() -> dict[str, Any]:
    return {
        "trigger": {"type": "signature_completed", "object_type": "deal"},
        "steps": [
            {
                "id": "mark",
                "type": "action",
                "action": "set_field",
                "settings": {"fields": {"contract_status": "signed"}},
            }
        ],
    }


def _deal(api: Api) -> dict[str, Any]:
    contact = api.post("/contacts", {"fields": {"first_name": "Ann", "email": "ann@x.example"}})
    deal = api.post("/deals", {"name": "Roof", "associations": {"contact": [contact["id"]]}})
    api.post("/admin/clock/advance", {"by": "PT0S"}, expect=200)
    return deal  # type: ignore[no-any-return]


def test_document_goes_to_the_provider_and_the_callback_fires_automations(
    api: Api, receiver: Receiver
) -> None:
    _setup(api, receiver)
    receiver.answer(201, body=b'{"id": "envelope-42"}')
    api.post("/automations", {"name": "Sign", "definition": _request_rule(), "publish": True})
    api.post("/automations", {"name": "Signed", "definition": _signed_rule(), "publish": True})
    deal = _deal(api)

    (request,) = receiver.received
    assert request.headers["Authorization"] == "Bearer esign-key"
    body = json.loads(request.body)
    assert base64.b64decode(body["document"]["content_b64"]).startswith(b"%PDF")
    assert body["document"]["filename"] == "Contract Roof.pdf"
    assert body["signers"] == [{"email": "ann@x.example"}]
    assert body["message"] == "Please sign the contract for Roof"
    assert request.headers["Idempotency-Key"] == body["reference"]
    (sent,) = api.get(f"/signature-requests?record={deal['id']}")
    assert sent["status"] == "sent" and sent["provider_reference"] == "envelope-42"

    callback = urlsplit(body["callback_url"]).path
    signed = base64.b64encode(b"%PDF-1.4 signed").decode()
    answer = api.client.post(callback, json={"status": "completed", "signed_document_b64": signed})
    assert answer.status_code == 200 and answer.json()["status"] == "completed"
    again = api.client.post(callback, json={"status": "declined"})
    assert again.json()["status"] == "completed"  # the outcome stays
    api.post("/admin/clock/advance", {"by": "PT0S"}, expect=200)

    assert api.get(f"/deals/{deal['id']}")["fields"]["contract_status"] == "signed"
    (done,) = api.get(f"/signature-requests?record={deal['id']}")
    assert done["status"] == "completed" and done["signed_file_id"] is not None
    names = [f["filename"] for f in api.get(f"/files?record={deal['id']}")]
    assert names == ["signed-Contract Roof.pdf", "Contract Roof.pdf"]
    types = [e["type"] for e in api.get(f"/deals/{deal['id']}/timeline")["items"]]
    assert types.count("SignatureCompleted") == 1 and "SignatureRequested" in types


def test_a_forged_callback_is_not_found(api: Api, receiver: Receiver) -> None:
    _setup(api, receiver)
    api.post("/automations", {"name": "Sign", "definition": _request_rule(), "publish": True})
    deal = _deal(api)
    body = json.loads(receiver.received[0].body)
    path = urlsplit(body["callback_url"]).path
    forged = path.rsplit("/", 1)[0] + "/not-the-token"
    assert api.client.post(forged, json={"status": "completed"}).status_code == 404
    other = path.replace(f"/callback/{path.split('/')[-2]}/", "/callback/999999/")
    assert api.client.post(other, json={"status": "completed"}).status_code == 404
    (request,) = api.get(f"/signature-requests?record={deal['id']}")
    assert request["status"] == "sent"


def test_a_provider_that_refuses_fails_the_request(api: Api, receiver: Receiver) -> None:
    _setup(api, receiver)
    receiver.answer(400)
    api.post("/automations", {"name": "Sign", "definition": _request_rule(), "publish": True})
    deal = _deal(api)
    (request,) = api.get(f"/signature-requests?record={deal['id']}")
    assert request["status"] == "failed"
    (delivery,) = api.get(f"/deliveries?record={deal['id']}")["items"]
    assert delivery["kind"] == "esign" and "400" in delivery["last_error"]


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"report": "missing"}, "no report template named 'missing'"),
        ({"signers": [{"role": "user", "user_id": 999_999}]}, "no user 999999"),
    ],
)
def test_prerequisites_are_named_on_save(
    api: Api, receiver: Receiver, settings: dict[str, Any], words: str
) -> None:
    error = api.post(
        "/automations", {"name": "Bad", "definition": _request_rule(), "publish": True}, expect=422
    )
    assert "e-signature provider" in error["message"]
    _setup(api, receiver)
    error = api.post(
        "/automations",
        {"name": "Bad", "definition": _request_rule(**settings), "publish": True},
        expect=422,
    )
    assert words in error["message"]

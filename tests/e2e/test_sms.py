"""send_sms through the generic HTTP provider (a real server on loopback) and the console
provider; numbers validated, one delivery per number."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from tests.conftest import Api
from tests.e2e.conftest import Receiver


def _rule(**settings: Any) -> dict[str, Any]:
    return {
        "trigger": {"type": "record_created", "object_type": "deal"},
        "steps": [
            {
                "id": "text",
                "type": "action",
                "action": "send_sms",
                "settings": {
                    "to": [{"role": "contact"}],
                    "text": "Hi {{ contact.first_name }}, we booked {{ record.name }}.",
                    **settings,
                },
            }
        ],
    }


def _deal(api: Api, *phones: str, **settings: Any) -> dict[str, Any]:
    api.post("/automations", {"name": "Text", "definition": _rule(**settings), "publish": True})
    contacts = [
        api.post("/contacts", {"fields": {"first_name": f"C{i}", "phone": phone}})["id"]
        for i, phone in enumerate(phones)
    ]
    deal = api.post("/deals", {"name": "Roof", "associations": {"contact": contacts}})
    api.post("/admin/clock/advance", {"by": "PT0S"}, expect=200)
    return deal  # type: ignore[no-any-return]


def test_http_provider_gets_one_request_per_number(api: Api, receiver: Receiver) -> None:
    api.patch("/workspace/settings", {"webhook_allowlist": ["127.0.0.1"]})
    view = api.put(
        "/workspace/sms",
        {
            "provider": "http",
            "url": receiver.url,
            "authorization": "Bearer sms-key",
            "sender": "ACME",
        },
    )
    assert view["has_authorization"] and "authorization" not in view
    # The same number written twice differently gets one message; "12" is no number.
    deal = _deal(api, "+39 333 123 4567", "0039 333 123 4567", "12")
    (request,) = receiver.received
    body = json.loads(request.body)
    assert body["to"] == "+393331234567" and body["from"] == "ACME"
    assert body["text"] == "Hi C0, we booked Roof."
    assert request.headers["Authorization"] == "Bearer sms-key"
    (delivery,) = api.get(f"/deliveries?record={deal['id']}")["items"]
    assert delivery["kind"] == "sms" and delivery["status"] == "delivered"
    assert request.headers["Idempotency-Key"] == delivery["idempotency_key"]
    (run,) = api.get(f"/runs?record={deal['id']}")["items"]
    output = api.get(f"/runs/{run['id']}")["steps"][-1]["output"]
    assert output["to"] == ["+393331234567"] and output["skipped"] == ["12"]


def test_console_provider_writes_to_the_log(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    api.put("/workspace/sms", {"provider": "console", "sender": "ACME"})
    with caplog.at_level(logging.INFO, logger="stageflow.outbox"):
        deal = _deal(api, "+44 7700 900123")
    assert "SMS to +447700900123" in caplog.text and "we booked Roof" in caplog.text
    (delivery,) = api.get(f"/deliveries?record={deal['id']}")["items"]
    assert delivery["status"] == "delivered"


def test_provider_failures_are_retried(api: Api, receiver: Receiver) -> None:
    api.patch("/workspace/settings", {"webhook_allowlist": ["127.0.0.1"]})
    api.put("/workspace/sms", {"provider": "http", "url": receiver.url})
    receiver.answer(502)
    deal = _deal(api, "+39 333 123 4567")
    (first,) = api.get(f"/deliveries?record={deal['id']}")["items"]
    assert first["status"] == "pending" and "502" in first["last_error"]
    api.post("/admin/clock/advance", {"by": "PT30S"}, expect=200)
    (done,) = api.get(f"/deliveries?record={deal['id']}")["items"]
    assert done["status"] == "delivered" and len(receiver.received) == 2


def test_no_phone_number_fails_the_step_clearly(api: Api) -> None:
    api.put("/workspace/sms", {"provider": "console"})
    deal = _deal(api, "call me")
    (run,) = api.get(f"/runs?record={deal['id']}")["items"]
    detail = api.get(f"/runs/{run['id']}")
    assert detail["status"] == "failed"
    assert "no recipient has a phone number (call me not phone numbers)" in detail["error"]


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"to": [{"role": "number", "number": "12"}]}, "not a phone number"),
        ({"to": [{"role": "field", "field": "colour"}]}, "no field 'colour'"),
        ({"text": "{{ record.__class__ }}"}, "cannot be used in a template"),
    ],
)
def test_sms_settings_are_checked_on_save(api: Api, settings: dict[str, Any], words: str) -> None:
    api.put("/workspace/sms", {"provider": "console"})
    error = api.post(
        "/automations",
        {"name": "Bad", "definition": _rule(**settings), "publish": True},
        expect=422,
    )
    assert words in error["message"]


def test_no_provider_is_named_on_save(api: Api) -> None:
    error = api.post(
        "/automations", {"name": "Bad", "definition": _rule(), "publish": True}, expect=422
    )
    assert "no SMS provider" in error["message"]
    bad = api.put("/workspace/sms", {"provider": "http"}, expect=422)
    assert bad["field"] == "url"

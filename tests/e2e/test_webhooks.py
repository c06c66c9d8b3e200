"""The webhook action against a real HTTP server on loopback: signed, keyed, retried by the
rules, and refused where it must not go. Time is the virtual clock's; retries fall due when
the clock is advanced."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest

from tests.conftest import Api
from tests.e2e.conftest import Receiver


def _allow_loopback(api: Api) -> None:
    api.patch("/workspace/settings", {"webhook_allowlist": ["127.0.0.1"]})


def _webhook_rule(url: str, **settings: Any) -> dict[str, Any]:
    return {
        "trigger": {"type": "record_created", "object_type": "deal"},
        "steps": [
            {
                "id": "notify",
                "type": "action",
                "action": "webhook",
                "settings": {"url": url, **settings},
            }
        ],
    }


def _deal_with_hook(api: Api, url: str, **settings: Any) -> dict[str, Any]:
    api.post(
        "/automations",
        {"name": "Tell billing", "definition": _webhook_rule(url, **settings), "publish": True},
    )
    return api.post("/deals", {"name": "Roof", "fields": {"amount": 1200}})  # type: ignore[no-any-return]


def _tick(api: Api, by: str = "PT0S") -> None:
    api.post("/admin/clock/advance", {"by": by}, expect=200)


def _delivery(api: Api, deal: dict[str, Any]) -> dict[str, Any]:
    (delivery,) = api.get(f"/deliveries?record={deal['id']}")["items"]
    return delivery  # type: ignore[no-any-return]


def test_signed_request_arrives_once_with_its_idempotency_key(api: Api, receiver: Receiver) -> None:
    _allow_loopback(api)
    deal = _deal_with_hook(
        api,
        receiver.url,
        headers={"X-Deal": "{{ record.name }}"},
        body={"deal": "{{ record.name }}", "amount": "{{ record.amount }}", "fixed": [1, True]},
    )
    _tick(api)
    _tick(api)  # nothing more to do: no second request

    (request,) = receiver.received
    assert (request.method, request.path) == ("POST", "/hooks/deal")
    assert json.loads(request.body) == {"deal": "Roof", "amount": "1200", "fixed": [1, True]}
    assert request.headers["X-Deal"] == "Roof"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Host"] == f"127.0.0.1:{receiver.port}"
    secret = api.get("/workspace/webhook-secret")["secret"]
    stamp = request.headers["X-Stageflow-Timestamp"]
    mac = hmac.new(secret.encode(), stamp.encode() + b"." + request.body, hashlib.sha256)
    assert request.headers["X-Stageflow-Signature"] == f"v1={mac.hexdigest()}"

    delivery = _delivery(api, deal)
    assert delivery["status"] == "delivered" and delivery["attempts"] == 1
    assert request.headers["Idempotency-Key"] == delivery["idempotency_key"]
    assert delivery["last_result"]["status_code"] == 200
    (run,) = api.get(f"/runs?record={deal['id']}")["items"]
    steps = api.get(f"/runs/{run['id']}")["steps"]
    assert steps[-1]["output"]["delivery_id"] == delivery["id"]
    timeline = api.get(f"/deals/{deal['id']}/timeline")["items"]
    assert "DeliverySucceeded" in [e["type"] for e in timeline]


def test_5xx_and_429_are_retried_with_backoff_then_delivered(api: Api, receiver: Receiver) -> None:
    _allow_loopback(api)
    receiver.answer(503)
    receiver.answer(429, {"Retry-After": "600"})
    deal = _deal_with_hook(api, receiver.url)
    _tick(api)
    first = _delivery(api, deal)
    assert first["status"] == "pending" and first["attempts"] == 1
    assert "503" in first["last_error"]

    _tick(api, "PT29S")
    assert len(receiver.received) == 1  # the first backoff is 30 seconds
    _tick(api, "PT1S")
    assert len(receiver.received) == 2
    second = _delivery(api, deal)
    assert "429" in second["last_error"]

    _tick(api, "PT9M")
    assert len(receiver.received) == 2  # Retry-After asked for 10 minutes, more than 2
    _tick(api, "PT1M")
    assert len(receiver.received) == 3
    done = _delivery(api, deal)
    assert done["status"] == "delivered" and done["attempts"] == 3
    keys = {r.headers["Idempotency-Key"] for r in receiver.received}
    assert keys == {done["idempotency_key"]}


def test_a_delivery_that_fails_for_good_fails_its_run_tells_the_owner_and_can_be_retried(
    api: Api, receiver: Receiver
) -> None:
    _allow_loopback(api)
    receiver.answer(503)
    receiver.answer(503)
    deal = _deal_with_hook(api, receiver.url, max_attempts=2)
    _tick(api)
    _tick(api, "PT30S")  # the second and last attempt
    assert len(receiver.received) == 2
    assert _delivery(api, deal)["status"] == "failed"

    (run,) = api.get(f"/runs?record={deal['id']}")["items"]
    detail = api.get(f"/runs/{run['id']}")
    assert detail["status"] == "failed"
    assert "notify" in detail["error"] and "503" in detail["error"]
    (step,) = [s for s in detail["steps"] if s["step_id"] == "notify"]
    assert step["status"] == "failed" and "503" in step["error"]
    (note,) = api.get("/notifications")["items"]
    assert note["run_id"] == run["id"] and "Tell billing" in note["title"]
    assert f"/runs/{run['id']}/retry" in note["body"]

    # The receiver is mended; the run is retried from that step: the request goes again.
    again = api.post(f"/runs/{run['id']}/retry", {}, expect=200)
    assert again["status"] == "completed" and again["error"] is None
    _tick(api)
    assert len(receiver.received) == 3
    assert _delivery(api, deal)["status"] == "delivered"
    detail = api.get(f"/runs/{run['id']}")
    assert detail["status"] == "completed"
    assert [s["status"] for s in detail["steps"] if s["step_id"] == "notify"] == ["completed"]


def test_a_run_failed_by_its_delivery_while_waiting_goes_on_where_it_stood_when_retried(
    api: Api, receiver: Receiver
) -> None:
    _allow_loopback(api)
    receiver.answer(404)
    definition = _webhook_rule(receiver.url)
    definition["steps"] += [
        {"id": "week", "type": "delay", "duration": "P7D"},
        {
            "id": "mark",
            "type": "action",
            "action": "set_field",
            "settings": {"fields": {"amount": 7}},
        },
    ]
    api.post("/automations", {"name": "Hook, then wait", "definition": definition, "publish": True})
    deal = api.post("/deals", {"name": "Roof"})
    _tick(api)
    (run,) = api.get(f"/runs?record={deal['id']}")["items"]
    failed = api.get(f"/runs/{run['id']}")
    assert failed["status"] == "failed" and "404" in failed["error"]
    _tick(api, "P8D")  # a failed run does not go on by itself
    assert api.get(f"/deals/{deal['id']}")["fields"].get("amount") is None

    assert api.post(f"/runs/{run['id']}/retry", {}, expect=200)["status"] == "waiting"
    _tick(api)
    assert len(receiver.received) == 2 and _delivery(api, deal)["status"] == "delivered"
    _tick(api, "P1D")
    assert api.get(f"/deals/{deal['id']}")["fields"]["amount"] == 7
    assert api.get(f"/runs/{run['id']}")["status"] == "completed"


def test_other_4xx_fails_at_once_and_can_be_retried_by_hand(api: Api, receiver: Receiver) -> None:
    _allow_loopback(api)
    receiver.answer(404)
    deal = _deal_with_hook(api, receiver.url)
    _tick(api)
    _tick(api, "P1D")
    assert len(receiver.received) == 1
    failed = _delivery(api, deal)
    assert failed["status"] == "failed" and "404" in failed["last_error"]
    timeline = api.get(f"/deals/{deal['id']}/timeline")["items"]
    event = next(e for e in timeline if e["type"] == "DeliveryFailed")
    assert "404" in event["data"]["error"]

    again = api.post(f"/deliveries/{failed['id']}/retry", {}, expect=200)
    # The attempt count goes on (it fences late outcomes); the attempts allowed grow by 6.
    assert again["status"] == "pending" and again["attempts"] == 1
    assert again["max_attempts"] == 7
    _tick(api)
    assert _delivery(api, deal)["status"] == "delivered"
    assert len(receiver.received) == 2
    api.post(f"/deliveries/{failed['id']}/retry", {}, expect=422)  # only failed ones


def test_a_timeout_is_retried_and_attempts_run_out(api: Api, receiver: Receiver) -> None:
    _allow_loopback(api)
    receiver.answer(200, delay=1.0)
    receiver.answer(500)
    deal = _deal_with_hook(api, receiver.url, timeout_seconds=0.2, max_attempts=2)
    _tick(api)
    first = _delivery(api, deal)
    assert first["status"] == "pending" and "no answer within 0.2 s" in first["last_error"]
    _tick(api, "PT30S")
    gave_up = _delivery(api, deal)
    assert gave_up["status"] == "failed"
    assert "gave up after 2 attempts" in gave_up["last_error"]


def test_private_targets_are_refused_with_a_clear_error(api: Api, receiver: Receiver) -> None:
    for url in (receiver.url, "http://169.254.169.254/latest/meta-data/"):
        error = api.post(
            "/automations",
            {"name": "Leak", "definition": _webhook_rule(url), "publish": True},
            expect=422,
        )
        assert "webhook_allowlist" in error["message"] and error["field"] == "steps.notify.url"

    # A name is resolved when the request is sent: localhost is refused then, and never
    # contacted.
    deal = _deal_with_hook(api, f"http://localhost:{receiver.port}/hooks")
    _tick(api)
    delivery = _delivery(api, deal)
    assert delivery["status"] == "failed"
    assert "loopback" in delivery["last_error"] and "webhook_allowlist" in delivery["last_error"]
    assert receiver.received == []


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ record.__class__ }}",
        "{{ record.name.upper() }}",
        "{{ cycler.__init__.__globals__ }}",
    ],
)
def test_template_injection_is_refused_on_save(api: Api, template: str) -> None:
    error = api.post(
        "/automations",
        {
            "name": "Inject",
            "definition": _webhook_rule("https://example.com/hook", body={"x": template}),
            "publish": True,
        },
        expect=422,
    )
    assert error["field"].startswith("steps.notify")


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"url": "ftp://example.com/"}, "http:// or https://"),
        ({"url": "https://example.com/", "headers": {"Idempotency-Key": "x"}}, "sets the"),
        ({"url": "https://example.com/", "headers": {"X-A": "a\r\nX-B: b"}}, "spans lines"),
        ({"url": "https://example.com/", "timeout_seconds": 300}, "timeout_seconds"),
    ],
)
def test_webhook_settings_are_checked_on_save(
    api: Api, settings: dict[str, Any], words: str
) -> None:
    definition = _webhook_rule(**settings)
    error = api.post(
        "/automations", {"name": "Bad", "definition": definition, "publish": True}, expect=422
    )
    assert words in error["message"]


def test_allow_list_entries_are_checked(api: Api) -> None:
    error = api.patch("/workspace/settings", {"webhook_allowlist": ["not a host/"]}, expect=422)
    assert error["field"] == "webhook_allowlist"


def test_rotating_the_secret_changes_later_signatures(api: Api, receiver: Receiver) -> None:
    _allow_loopback(api)
    old = api.get("/workspace/webhook-secret")["secret"]
    new = api.post("/workspace/webhook-secret/rotate", {}, expect=200)["secret"]
    assert new != old and new == api.get("/workspace/webhook-secret")["secret"]
    _deal_with_hook(api, receiver.url)
    _tick(api)
    (request,) = receiver.received
    stamp = request.headers["X-Stageflow-Timestamp"]
    mac = hmac.new(new.encode(), stamp.encode() + b"." + request.body, hashlib.sha256)
    assert request.headers["X-Stageflow-Signature"] == f"v1={mac.hexdigest()}"

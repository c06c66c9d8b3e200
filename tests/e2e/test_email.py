"""The send_email action against a real SMTP server (aiosmtpd) on loopback: what arrives, how
failures are retried, and exactly one message after a courier dies between render and send."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from stageflow.bootstrap import App
from stageflow.domain.clock import SystemClock, VirtualClock
from stageflow.services.engine import outbox
from tests.conftest import Api
from tests.e2e.conftest import Mailbox


def _setup(api: Api, box: Mailbox) -> None:
    api.put(
        "/workspace/smtp",
        {
            "host": "127.0.0.1",
            "port": box.port,
            "security": "none",
            "username": None,
            "password": "not-shown",
            "from_address": "sales@acme.example",
            "from_name": "Acme Sales",
        },
    )
    api.post(
        "/email-templates",
        {
            "name": "welcome",
            "subject": "Welcome, {{ record.name }}",
            "html": "<p>Hello {{ contact.first_name }}, your deal {{ record.name }} is in.</p>",
            "text": "Hello {{ contact.first_name }}, your deal {{ record.name }} is in.",
        },
    )


def _rule(**settings: Any) -> dict[str, Any]:
    return {
        "trigger": {"type": "record_created", "object_type": "deal"},
        "steps": [
            {
                "id": "mail",
                "type": "action",
                "action": "send_email",
                "settings": {"template": "welcome", "to": [{"role": "contact"}], **settings},
            }
        ],
    }


def _deal(api: Api, **settings: Any) -> dict[str, Any]:
    api.post("/automations", {"name": "Welcome", "definition": _rule(**settings), "publish": True})
    contact = api.post(
        "/contacts", {"fields": {"first_name": "Ann", "email": "ann@customer.example"}}
    )
    return api.post(  # type: ignore[no-any-return]
        "/deals", {"name": "Roof", "associations": {"contact": [contact["id"]]}}
    )


def _tick(api: Api, by: str = "PT0S") -> None:
    api.post("/admin/clock/advance", {"by": by}, expect=200)


def _delivery(api: Api, deal: dict[str, Any]) -> dict[str, Any]:
    (delivery,) = api.get(f"/deliveries?record={deal['id']}")["items"]
    return delivery  # type: ignore[no-any-return]


def test_the_message_arrives_rendered_with_its_attachment(api: Api, mailbox: Mailbox) -> None:
    _setup(api, mailbox)
    owner = api.get("/me")
    deal = _deal(
        api,
        to=[{"role": "contact"}, {"role": "owner"}],
        cc=[{"role": "address", "address": "boss@acme.example"}],
        bcc=[{"role": "address", "address": "archive@acme.example"}],
        reply_to="help@acme.example",
        attachments=[{"filename": "deal.txt", "content": "Deal: {{ record.name }}"}],
    )
    _tick(api)
    _tick(api)

    ((envelope, message),) = mailbox.accepted
    owner_email = owner["user"]["email"]
    assert sorted(envelope) == sorted(
        ["ann@customer.example", owner_email, "boss@acme.example", "archive@acme.example"]
    )
    assert message["Subject"] == "Welcome, Roof"
    assert message["From"] == "Acme Sales <sales@acme.example>"
    assert message["To"] == f"ann@customer.example, {owner_email}"
    assert message["Cc"] == "boss@acme.example"
    assert message["Bcc"] is None  # blind copies are in the envelope only
    assert message["Reply-To"] == "help@acme.example"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and text.get_content().strip() == "Hello Ann, your deal Roof is in."
    assert html is not None and "<p>Hello Ann, your deal Roof is in.</p>" in html.get_content()
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_filename() == "deal.txt"
    assert attachment.get_payload(decode=True) == b"Deal: Roof"

    delivery = _delivery(api, deal)
    assert delivery["status"] == "delivered"
    assert message["Message-ID"] == delivery["last_result"]["message_id"]
    assert message["X-Stageflow-Delivery"] == delivery["idempotency_key"]


def test_a_temporary_failure_is_retried_with_the_same_message_id(
    api: Api, mailbox: Mailbox
) -> None:
    _setup(api, mailbox)
    mailbox.data_answers.append("451 4.3.0 try again later")
    deal = _deal(api)
    _tick(api)
    first = _delivery(api, deal)
    assert first["status"] == "pending" and "451" in first["last_error"]
    assert mailbox.accepted == []
    _tick(api, "PT30S")
    ((_, message),) = mailbox.accepted
    assert mailbox.attempts == 2
    done = _delivery(api, deal)
    assert done["status"] == "delivered" and done["attempts"] == 2
    assert message["Message-ID"] == done["last_result"]["message_id"]


def test_exactly_one_message_when_the_courier_dies_between_render_and_send(
    api: Api, app: App, clock: VirtualClock, mailbox: Mailbox
) -> None:
    _setup(api, mailbox)
    deal = _deal(api)
    lease = app.lease_clock = VirtualClock(SystemClock().now())
    worker = app.worker()
    worker.tick()  # the run renders the message and queues it, in its transaction
    with app.uow() as uow:  # a courier claims it and dies before sending
        now = lease.now()
        claimed = uow.outbox.claim_due(clock.now(), now, now + timedelta(seconds=90), 100)
        uow.commit()
    assert [r.record_id for r in claimed] == [deal["id"]]

    worker.run_until_idle()
    assert mailbox.accepted == []  # still leased to the dead courier
    lease.advance(timedelta(seconds=91))
    worker.run_until_idle()
    worker.run_until_idle()
    assert len(mailbox.accepted) == 1
    assert _delivery(api, deal)["attempts"] == 2


def test_moving_the_virtual_clock_during_a_send_does_not_send_it_again(
    api: Api, app: App, mailbox: Mailbox
) -> None:
    """X2: the lease of a send in flight is real time; advancing the clock by a day while a
    courier is handing the message over must not let another courier send it too."""
    _setup(api, mailbox)
    deal = _deal(api)
    worker = app.worker()
    assert worker.courier is not None
    send = worker.courier.senders[outbox.EMAIL]

    def slow_send(row: Any, courier: outbox.Courier, workspace: dict[str, Any]) -> Any:
        _tick(api, "P1D")  # meanwhile someone rehearses: the clock jumps a day, twice
        _tick(api, "P1D")
        return send(row, courier, workspace)

    worker.courier.senders[outbox.EMAIL] = slow_send
    worker.run_until_idle()
    _tick(api, "P1D")

    assert len(mailbox.accepted) == 1 and mailbox.attempts == 1
    delivery = _delivery(api, deal)
    assert delivery["status"] == "delivered" and delivery["attempts"] == 1
    assert delivery["handed_over_at"] is not None


def test_a_message_handed_over_before_a_crash_is_not_sent_again(
    api: Api, app: App, mailbox: Mailbox
) -> None:
    """Once the courier has committed that it is handing the message to the SMTP server, a
    crash leaves its outcome unknown: it is reported, never sent a second time."""
    _setup(api, mailbox)
    lease = app.lease_clock = VirtualClock(SystemClock().now())
    deal = _deal(api)
    worker = app.worker()
    assert worker.courier is not None
    courier = worker.courier
    mark = courier.hand_over

    def crash_after_marking(row: Any) -> None:
        mark(row)
        raise SystemExit("killed between the hand-over mark and the message")

    courier.hand_over = crash_after_marking  # type: ignore[method-assign]
    with pytest.raises(SystemExit):
        worker.run_until_idle()
    courier.hand_over = mark  # type: ignore[method-assign]

    lease.advance(outbox.LEASE + timedelta(seconds=1))  # the dead courier's lease runs out
    worker.run_until_idle()
    _tick(api, "P1D")
    assert mailbox.accepted == []
    unknown = _delivery(api, deal)
    assert unknown["status"] == "failed" and unknown["attempts"] == 2
    assert "outcome is unknown" in unknown["last_error"] and unknown["handed_over_at"]

    # A person who checked that it did not arrive sends it again, once.
    api.post(f"/deliveries/{unknown['id']}/retry", {}, expect=200)
    worker.run_until_idle()
    assert len(mailbox.accepted) == 1
    assert _delivery(api, deal)["status"] == "delivered"


def test_a_refused_recipient_fails_at_once(api: Api, mailbox: Mailbox) -> None:
    _setup(api, mailbox)
    mailbox.refuse.add("ann@customer.example")
    deal = _deal(api)
    _tick(api)
    _tick(api, "P1D")
    failed = _delivery(api, deal)
    assert failed["status"] == "failed" and "550" in failed["last_error"]
    assert failed["attempts"] == 1 and mailbox.accepted == []


def test_prerequisites_are_named_on_save(api: Api, mailbox: Mailbox) -> None:
    error = api.post(
        "/automations", {"name": "No SMTP", "definition": _rule(), "publish": True}, expect=422
    )
    assert "SMTP" in error["message"]
    _setup(api, mailbox)
    for settings, words in (
        ({"template": "missing"}, "no email template named 'missing'"),
        ({"to": [{"role": "user", "user_id": 999_999}]}, "no user 999999"),
        ({"to": [{"role": "user_field", "field": "amount"}]}, "not a user field"),
        ({"to": [{"role": "address", "address": "not-an-address"}]}, "not an email address"),
        ({"to": []}, "to"),
        ({"attachments": [{"filename": "../x", "content": "x"}]}, "not a plain file name"),
    ):
        error = api.post(
            "/automations",
            {"name": "Bad", "definition": _rule(**settings), "publish": True},
            expect=422,
        )
        assert words in error["message"], (settings, error)


def test_template_fields_are_checked_against_the_record(api: Api, mailbox: Mailbox) -> None:
    _setup(api, mailbox)
    api.post(
        "/email-templates",
        {"name": "typo", "subject": "Hi {{ record.colour }}", "text": "x"},
    )
    error = api.post(
        "/automations",
        {"name": "Typo", "definition": _rule(template="typo"), "publish": True},
        expect=422,
    )
    assert "colour" in error["message"]


@pytest.mark.parametrize(
    "source",
    ["{{ ''.__class__.__mro__ }}", "{{ record.name.__class__ }}", "{{ lipsum.__globals__ }}"],
)
def test_template_injection_is_refused(api: Api, source: str) -> None:
    error = api.post(
        "/email-templates", {"name": "evil", "subject": "x", "html": source}, expect=422
    )
    assert error["field"] == "html"


def test_templates_and_smtp_settings_through_the_api(api: Api, mailbox: Mailbox) -> None:
    assert api.get("/workspace/smtp") == {"configured": False}
    _setup(api, mailbox)
    view = api.get("/workspace/smtp")
    assert view["configured"] and view["has_password"] and "password" not in view
    (template,) = api.get("/email-templates")
    changed = api.patch(f"/email-templates/{template['id']}", {"subject": "Hi {{ record.name }}"})
    assert changed["version"] == 2
    api.post("/email-templates", {"name": "welcome", "subject": "s", "text": "t"}, expect=409)
    api.post("/email-templates", {"name": "empty", "subject": "s"}, expect=422)
    api.delete(f"/email-templates/{template['id']}", expect=204)
    assert api.get("/email-templates") == []
    bad = api.put(
        "/workspace/smtp",
        {"host": "127.0.0.1", "from_address": "nobody"},
        expect=422,
    )
    assert bad["field"] == "from_address"

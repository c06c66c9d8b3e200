"""Delivering the outbox: webhooks (and, through the same courier, other external effects).

An action queues a delivery in its run's transaction (exactly once, keyed by the step's
idempotency key). The courier claims due deliveries in one short transaction, sends them with
no transaction open (a slow server must not hold the database), and writes each outcome in
another: delivered; tried again later with backoff (timeouts, connection failures, 429 and
5xx); or failed for good (other answers, refused targets, attempts used up). Final outcomes
are events on the record's timeline, so "what did it send, and did it arrive?" has an answer.

Two clocks (see adapters/db/repositories/outbox.py): when a delivery is due and how long to
back off are measured on the application's clock, which a rehearsal moves; how long a courier
holds a claimed delivery (its lease) on ``lease_clock``, the system clock, which nobody moves.
Processes sharing a database compare their system clocks through the leases, so they must keep
them roughly in step (NTP); a lease is ten minutes, so seconds of skew do not matter.

Once at most, for receivers that cannot recognise a repeat: an email is marked handed over
(committed) just before the SMTP server is given the message. A courier that dies after that
leaves a delivery whose outcome is unknown; the next courier fails it, saying so, and does not
send it again (a person may retry it after checking it did not arrive). Webhooks, SMS and
e-signature requests carry an ``Idempotency-Key`` their receivers deduplicate on, so they are
sent again after a crash rather than lost.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets as token
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from stageflow.adapters import http, smtp
from stageflow.adapters.crypto import SecretBox, SecretUnreadable
from stageflow.adapters.db.repositories.outbox import DELIVERED, FAILED, PENDING
from stageflow.domain.clock import Clock, SystemClock
from stageflow.domain.errors import NotFound, ValidationFailed
from stageflow.domain.events import Actor, Event, EventType
from stageflow.domain.users import Permission, Principal
from stageflow.services.channels import email, esign, sms
from stageflow.services.engine import runs
from stageflow.services.pagination import Page, check_limit, decode_cursor, page_of
from stageflow.services.unit_of_work import UnitOfWork

log = logging.getLogger("stageflow.outbox")

WEBHOOK = "webhook"
EMAIL = "email"
SMS = "sms"
ESIGN = "esign"
WEBHOOK_SECRET = "webhook_signing"
FIRST_BACKOFF = timedelta(seconds=30)
BACKOFF_FACTOR = 4
MAX_BACKOFF = timedelta(hours=2)
# How long a claimed delivery is a courier's before another may take it over: well over the
# longest send (webhooks have 30 s in all; SMTP up to 120 s per step of the conversation).
LEASE = timedelta(minutes=10)
DEFAULT_BATCH = 20


def backoff(attempt: int, retry_after: float | None = None) -> timedelta:
    """The wait after failed attempt ``attempt`` (1-based): 30 s, 2 min, 8 min, 32 min, then
    2 h; a server's Retry-After (seconds) is honoured when it asks for longer."""
    wait: timedelta = min(FIRST_BACKOFF * BACKOFF_FACTOR ** (attempt - 1), MAX_BACKOFF)
    if retry_after is not None:
        wait = max(wait, timedelta(seconds=retry_after))
    return wait


def queue(
    uow: UnitOfWork,
    workspace_id: int,
    *,
    kind: str,
    idempotency_key: str,
    payload: dict[str, Any],
    max_attempts: int,
    run_id: int | None = None,
    step_id: str | None = None,
    record_id: int | None = None,
) -> int:
    return uow.outbox.add(
        workspace_id,
        kind=kind,
        idempotency_key=idempotency_key,
        payload=payload,
        max_attempts=max_attempts,
        run_id=run_id,
        step_id=step_id,
        record_id=record_id,
        now=uow.clock.now(),
    )


# the workspace's webhook signing secret ------------------------------------------------------


def signing_secret(uow: UnitOfWork, box: SecretBox, workspace_id: int) -> str:
    """The secret webhooks of this workspace are signed with, made on first use."""
    sealed = uow.workspaces.secret(workspace_id, WEBHOOK_SECRET)
    if sealed is not None:
        return box.open(sealed)
    made = box.seal("whsec_" + token.token_urlsafe(32))
    return box.open(uow.workspaces.keep_secret(workspace_id, WEBHOOK_SECRET, made, uow.clock.now()))


def show_signing_secret(uow: UnitOfWork, box: SecretBox, principal: Principal) -> str:
    principal.require(Permission.WORKSPACE_SETTINGS)
    return signing_secret(uow, box, principal.workspace_id)


def rotate_signing_secret(uow: UnitOfWork, box: SecretBox, principal: Principal) -> str:
    """A new secret; webhooks sent from now on are signed with it."""
    principal.require(Permission.WORKSPACE_SETTINGS)
    plain = "whsec_" + token.token_urlsafe(32)
    uow.workspaces.set_secret(
        principal.workspace_id, WEBHOOK_SECRET, box.seal(plain), uow.clock.now()
    )
    return plain


def allow_list(settings: dict[str, Any]) -> http.AllowList:
    return http.AllowList.parse(settings.get("webhook_allowlist") or [])


# reading and retrying ------------------------------------------------------------------------


def get(uow: UnitOfWork, principal: Principal, delivery_id: int) -> Any:
    principal.require(Permission.RECORDS_READ_ALL)
    row = uow.outbox.get(principal.workspace_id, delivery_id)
    if row is None:
        raise NotFound(f"delivery {delivery_id} not found")
    return row


def list_deliveries(
    uow: UnitOfWork,
    principal: Principal,
    *,
    status: str | None,
    record_id: int | None,
    run_id: int | None,
    cursor: str | None,
    limit: int,
) -> Page[Any]:
    principal.require(Permission.RECORDS_READ_ALL)
    if status is not None and status not in (PENDING, DELIVERED, FAILED):
        raise ValidationFailed("status is pending, delivered or failed", field="status")
    rows = uow.outbox.list(
        principal.workspace_id,
        status=status,
        record_id=record_id,
        run_id=run_id,
        before_id=decode_cursor(cursor),
        limit=check_limit(limit) + 1,
    )
    return page_of(rows, limit)


def retry(uow: UnitOfWork, principal: Principal, delivery_id: int) -> Any:
    """Queue a delivery that failed for good again (e.g. after fixing the receiver)."""
    principal.require(Permission.AUTOMATIONS_EDIT)
    row = get(uow, principal, delivery_id)
    if row.status != FAILED:
        raise ValidationFailed(
            f"delivery {delivery_id} is {row.status}; only failed deliveries are retried",
            field="status",
        )
    uow.outbox.retry(principal.workspace_id, delivery_id, uow.clock.now())
    return uow.outbox.get(principal.workspace_id, delivery_id)


# delivering ----------------------------------------------------------------------------------

Sender = Callable[[Any, "Courier", dict[str, Any]], http.Delivery]


@dataclass
class CourierResult:
    claimed: int = 0
    delivered: int = 0
    retrying: int = 0
    failed: int = 0


class Courier:
    """Delivers due outbox rows. Several may run at once: claims skip each other's rows."""

    def __init__(
        self,
        uow_factory: Callable[..., UnitOfWork],
        clock: Clock,
        box: Callable[[], SecretBox],
        *,
        batch_size: int = DEFAULT_BATCH,
        resolver: http.Resolver = http.resolve,
        public_url: str = "http://127.0.0.1:8000",
        lease_clock: Clock | None = None,
    ) -> None:
        self.uow_factory = uow_factory
        self.clock = clock
        self.lease_clock: Clock = lease_clock or SystemClock()
        self.box = box
        self.batch_size = batch_size
        self.resolver = resolver
        self.public_url = public_url.rstrip("/")
        self.senders: dict[str, Sender] = {
            WEBHOOK: _send_webhook,
            EMAIL: _send_email,
            SMS: _send_sms,
            ESIGN: _send_for_signature,
        }
        # What else a final outcome changes, by kind (in the same transaction).
        self.outcomes: dict[str, Callable[[UnitOfWork, Any, str, http.Delivery], None]] = {
            ESIGN: _signature_outcome,
        }

    def tick(self) -> CourierResult:
        result = CourierResult()
        with self.uow_factory(read_only=True) as uow:
            # A look first: an idle courier must not take SQLite's write lock every poll.
            if not uow.outbox.any_due(uow.clock.now(), self.lease_clock.now()):
                return result
        with self.uow_factory() as uow:
            now, lease_now = uow.clock.now(), self.lease_clock.now()
            rows = uow.outbox.claim_due(now, lease_now, lease_now + LEASE, self.batch_size)
            kinds: dict[int, set[str]] = {}
            for r in rows:
                kinds.setdefault(r.workspace_id, set()).add(r.kind)
            contexts = {ws: self._workspace(uow, ws, wanted) for ws, wanted in kinds.items()}
            uow.commit()
        result.claimed = len(rows)
        for row in rows:
            if row.attempts > row.max_attempts:
                # Claimed again after its last attempt's lease ran out: that attempt may
                # have been sent, so it is not sent once more.
                delivery = http.Delivery(
                    ok=False,
                    error=f"gave up: the outcome of attempt {row.max_attempts} is unknown "
                    "(the worker stopped while sending it)",
                )
            elif row.handed_over_at is not None:
                delivery = http.Delivery(
                    ok=False,
                    error="the outcome is unknown: the worker stopped while handing it over "
                    f"(attempt {row.attempts - 1}), so it may have arrived and is not sent "
                    "again; retry it by hand if it did not arrive",
                    info={"outcome_unknown": True},
                )
            elif not self._renew(row):
                continue  # our lease ran out while earlier rows were sent; someone took it
            else:
                delivery = self._attempt(row, contexts[row.workspace_id])
            outcome = self._record(row, delivery)
            setattr(result, outcome, getattr(result, outcome) + 1)
        return result

    def _renew(self, row: Any) -> bool:
        """Lease the row afresh just before sending it (rows wait their turn in a batch)."""
        with self.uow_factory() as uow:
            kept = uow.outbox.renew(row.id, row.attempts, self.lease_clock.now() + LEASE)
            uow.commit()
        return kept

    def hand_over(self, row: Any) -> None:
        """Commit that ``row`` is being handed to its receiver, just before it is; raises
        ``smtp.HandOverRefused`` when the row is no longer this courier's to send."""
        with self.uow_factory() as uow:
            marked = uow.outbox.hand_over(row.id, row.attempts, uow.clock.now())
            uow.commit()
        if not marked:
            raise smtp.HandOverRefused("another courier took this delivery over")

    def _workspace(self, uow: UnitOfWork, workspace_id: int, kinds: set[str]) -> dict[str, Any]:
        """What the senders need of a workspace: its settings and the secrets they use."""
        workspace = uow.workspaces.get(workspace_id)
        settings = workspace.settings if workspace else {}
        context: dict[str, Any] = {"settings": settings, "problems": {}}
        loaders: dict[str, tuple[str, Callable[[], Any]]] = {
            WEBHOOK: ("secret", lambda: signing_secret(uow, self.box(), workspace_id)),
            EMAIL: ("smtp", lambda: email.smtp_server(uow, self.box(), workspace_id)),
            ESIGN: (
                "esign_authorization",
                lambda: esign.authorization(uow, self.box(), workspace_id),
            ),
            SMS: ("sms_authorization", lambda: sms.authorization(uow, self.box(), workspace_id)),
        }
        for kind in kinds & loaders.keys():
            key, load = loaders[kind]
            try:
                context[key] = load()
            except SecretUnreadable as exc:  # this kind waits; the others go out
                context["problems"][kind] = str(exc)
        return context

    def _attempt(self, row: Any, workspace: dict[str, Any]) -> http.Delivery:
        sender = self.senders.get(row.kind)
        if sender is None:
            return http.Delivery(ok=False, error=f"no way to deliver a {row.kind!r}")
        problem = workspace["problems"].get(row.kind)
        if problem is not None:
            return http.Delivery(ok=False, retryable=True, error=problem)
        try:
            return sender(row, self, workspace)
        except http.TargetRefused as exc:
            return http.Delivery(ok=False, error=str(exc))
        except http.LookupFailed as exc:
            return http.Delivery(ok=False, retryable=True, error=str(exc))
        except Exception as exc:  # a bug must not stop the other deliveries
            log.exception("delivery %s failed unexpectedly", row.id)
            return http.Delivery(ok=False, retryable=True, error=f"internal error: {exc!r}")

    def _record(self, row: Any, delivery: http.Delivery) -> str:
        with self.uow_factory() as uow:
            now = uow.clock.now()
            attempt = row.attempts
            result = {
                "status_code": delivery.status_code,
                "response": delivery.response,
                **delivery.info,
            }
            values: dict[str, Any] = {"updated_at": now, "last_result": result}
            if delivery.ok:
                outcome = "delivered"
                values.update(status=DELIVERED, delivered_at=now, last_error=None)
            elif delivery.retryable and attempt < row.max_attempts:
                outcome = "retrying"
                wait = backoff(attempt, delivery.retry_after)
                # A retryable failure is one where the receiver clearly did not take it.
                values.update(
                    next_attempt_at=now + wait, last_error=delivery.error, handed_over_at=None
                )
            else:
                outcome = "failed"
                error = delivery.error or "failed"
                if delivery.retryable:
                    error = f"{error} (gave up after {attempt} attempts)"
                values.update(status=FAILED, last_error=error)
            if not uow.outbox.finish(row.id, attempt, values):
                return "retrying"  # another courier took the row over after our lease ran out
            if outcome != "retrying":
                uow.emit([_final_event(row, outcome, values, now)])
                if row.kind in self.outcomes:
                    self.outcomes[row.kind](uow, row, outcome, delivery)
                if outcome == "failed" and row.run_id is not None:
                    runs.delivery_failed(uow, row, values["last_error"])
            uow.commit()
        return outcome


def _final_event(row: Any, outcome: str, values: dict[str, Any], now: datetime) -> Event:
    return Event(
        EventType.DELIVERY_SUCCEEDED if outcome == "delivered" else EventType.DELIVERY_FAILED,
        row.workspace_id,
        Actor.system(),
        now,
        record_id=row.record_id,
        object_type=None,
        data={
            "delivery_id": row.id,
            "kind": row.kind,
            "run_id": row.run_id,
            "step_id": row.step_id,
            "attempts": row.attempts,
            "status_code": values["last_result"].get("status_code"),
            "error": values.get("last_error"),
        },
    )


def _send_webhook(row: Any, courier: Courier, workspace: dict[str, Any]) -> http.Delivery:
    payload = row.payload
    target = http.check_target(payload["url"], allow_list(workspace["settings"]), courier.resolver)
    body = payload["body"].encode()
    headers = dict(payload["headers"])
    headers["Idempotency-Key"] = row.idempotency_key
    if payload.get("sign", True):
        stamp = str(int(courier.clock.now().timestamp()))
        headers[http.TIMESTAMP_HEADER] = stamp
        headers[http.SIGNATURE_HEADER] = http.signature(workspace["secret"], stamp, body)
    delivery = http.post(
        target,
        method=payload["method"],
        headers=headers,
        body=body,
        timeout=float(payload.get("timeout", http.DEFAULT_TIMEOUT)),
    )
    delivery.info["url"] = payload["url"]
    return delivery


def _post_to_provider(
    row: Any,
    courier: Courier,
    workspace: dict[str, Any],
    *,
    url: str,
    authorization: str | None,
    agent: str,
    document: dict[str, Any],
    timeout: float,
) -> http.Delivery:
    """POST JSON to a provider's HTTP API (SMS, e-signature): the webhook target rules, the
    delivery's Idempotency-Key, and the workspace's Authorization value."""
    target = http.check_target(url, allow_list(workspace["settings"]), courier.resolver)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": agent,
        "Idempotency-Key": row.idempotency_key,
    }
    if authorization:
        headers["Authorization"] = authorization
    body = json.dumps(document, ensure_ascii=False).encode()
    return http.post(target, method="POST", headers=headers, body=body, timeout=timeout)


def _send_email(row: Any, courier: Courier, workspace: dict[str, Any]) -> http.Delivery:
    server: smtp.SmtpServer | None = workspace.get("smtp")
    settings = workspace["settings"].get("smtp") or {}
    if server is None:
        return http.Delivery(
            ok=False, error="the workspace has no SMTP server (PUT /api/v1/workspace/smtp)"
        )
    sender = settings["from_address"]
    payload = {
        **row.payload,
        "from": sender,
        "from_name": settings.get("from_name") or "",
        "message_id": email.message_id(row.workspace_id, row.idempotency_key, sender),
        "idempotency_key": row.idempotency_key,
    }
    message = smtp.build(payload, courier.clock.now())
    recipients = [*payload["to"], *payload.get("cc", []), *payload.get("bcc", [])]
    delivery = smtp.send(server, message, recipients, before_data=lambda: courier.hand_over(row))
    delivery.info.setdefault("message_id", payload["message_id"])
    delivery.info["to"] = recipients
    return delivery


def _send_sms(row: Any, courier: Courier, workspace: dict[str, Any]) -> http.Delivery:
    settings = workspace["settings"].get("sms")
    if not settings:
        return http.Delivery(
            ok=False, error="the workspace has no SMS provider (PUT /api/v1/workspace/sms)"
        )
    payload = row.payload
    if settings["provider"] == "console":
        log.info("SMS to %s from %r: %s", payload["to"], settings.get("sender"), payload["text"])
        return http.Delivery(ok=True, info={"provider": "console", "to": payload["to"]})
    delivery = _post_to_provider(
        row,
        courier,
        workspace,
        url=settings["url"],
        authorization=workspace.get("sms_authorization"),
        agent="stageflow-sms/1",
        document={
            "to": payload["to"],
            "from": settings.get("sender") or None,
            "text": payload["text"],
            "idempotency_key": row.idempotency_key,
        },
        timeout=http.DEFAULT_TIMEOUT,
    )
    delivery.info.update(provider="http", to=payload["to"])
    return delivery


def _send_for_signature(row: Any, courier: Courier, workspace: dict[str, Any]) -> http.Delivery:
    settings = workspace["settings"].get("esign")
    if not settings:
        return http.Delivery(
            ok=False,
            error="the workspace has no e-signature provider (PUT /api/v1/workspace/esign)",
        )
    payload = row.payload
    request_id = int(payload["signature_request_id"])
    with courier.uow_factory(read_only=True) as uow:
        document = uow.reports.file(row.workspace_id, int(payload["file_id"]), data=True)
    if document is None:
        return http.Delivery(ok=False, error="the document to sign is gone")
    delivery = _post_to_provider(
        row,
        courier,
        workspace,
        url=settings["url"],
        authorization=workspace.get("esign_authorization"),
        agent="stageflow-esign/1",
        document={
            "reference": row.idempotency_key,
            "document": {
                "filename": document.filename,
                "content_type": document.content_type,
                "sha256": document.sha256,
                "content_b64": base64.b64encode(bytes(document.data)).decode(),
            },
            "signers": payload["signers"],
            "message": payload.get("message", ""),
            "callback_url": esign.callback_url(courier.box(), courier.public_url, request_id),
        },
        timeout=http.MAX_TIMEOUT,
    )
    if delivery.ok:
        try:
            answer = json.loads(delivery.response or "{}")
        except ValueError:
            answer = {}
        reference = answer.get("id") if isinstance(answer, dict) else None
        delivery.info["provider_reference"] = None if reference is None else str(reference)[:200]
    delivery.info["signature_request_id"] = request_id
    return delivery


def _signature_outcome(uow: UnitOfWork, row: Any, outcome: str, delivery: http.Delivery) -> None:
    request_id = int(row.payload["signature_request_id"])
    if outcome == "delivered":
        esign.sent(uow, request_id, delivery.info.get("provider_reference"))
    else:
        esign.not_sent(uow, request_id)

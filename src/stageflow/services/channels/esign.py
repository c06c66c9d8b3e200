"""E-signature: the workspace's provider, and what providers report back.

request_signature (actions/reports) keeps the document on the record and queues it for the
provider; the courier sends it with a callback URL; the provider calls that URL when the
document is signed or declined, which records the outcome (and the signed copy) and puts
``SignatureCompleted`` or ``SignatureDeclined`` on the record's timeline, where automations
can trigger on it.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from stageflow.adapters.crypto import SecretBox
from stageflow.domain.errors import NotFound, ValidationFailed
from stageflow.domain.events import Actor, ActorKind, Event, EventType, Source
from stageflow.domain.users import Permission, Principal
from stageflow.services.channels import reports
from stageflow.services.commands import EsignSettings, SignatureCallback
from stageflow.services.crm.records import get_visible
from stageflow.services.crm.workspaces import (
    check_one_line,
    check_provider_url,
    provider_view,
    store_provider,
)
from stageflow.services.unit_of_work import UnitOfWork

ESIGN_AUTHORIZATION = "esign_authorization"
REQUESTED, SENT, COMPLETED, DECLINED, FAILED = (
    "requested",
    "sent",
    "completed",
    "declined",
    "failed",
)
MAX_SIGNED = 10 * 1024 * 1024


def callback_label(request_id: int) -> str:
    return f"esign-callback:{request_id}"


def callback_url(box: SecretBox, public_url: str, request_id: int) -> str:
    token = box.token(callback_label(request_id))
    return f"{public_url}/api/v1/esign/callback/{request_id}/{token}"


def esign_view(uow: UnitOfWork, principal: Principal) -> dict[str, Any]:
    return provider_view(uow, principal, "esign", ESIGN_AUTHORIZATION, "has_authorization")


def set_esign(
    uow: UnitOfWork, box: SecretBox, principal: Principal, cmd: EsignSettings, actor: Actor
) -> dict[str, Any]:
    principal.require(Permission.WORKSPACE_SETTINGS)
    check_provider_url(cmd.url)
    check_one_line(cmd.authorization, "authorization")
    store_provider(
        uow,
        box,
        principal,
        "esign",
        cmd.model_dump(exclude={"authorization"}),
        secret=ESIGN_AUTHORIZATION,
        secret_value=cmd.authorization,
        actor=actor,
    )
    return esign_view(uow, principal)


def authorization(uow: UnitOfWork, box: SecretBox, workspace_id: int) -> str | None:
    sealed = uow.workspaces.secret(workspace_id, ESIGN_AUTHORIZATION)
    return box.open(sealed) if sealed else None


def requests_of(uow: UnitOfWork, principal: Principal, record_id: int) -> list[Any]:
    get_visible(uow, principal, None, record_id)
    return uow.reports.signature_requests_of(principal.workspace_id, record_id)


def sent(uow: UnitOfWork, request_id: int, provider_reference: str | None) -> None:
    """The provider accepted the document."""
    row = uow.reports.signature_request_for_update(request_id)
    if row is not None and row.status in (REQUESTED, FAILED):  # failed: retried by hand
        uow.reports.update_signature_request(
            request_id,
            status=SENT,
            provider_reference=provider_reference,
            updated_at=uow.clock.now(),
            finished_at=None,
        )


def not_sent(uow: UnitOfWork, request_id: int) -> None:
    """The document could not be delivered to the provider (the delivery failed for good)."""
    row = uow.reports.signature_request_for_update(request_id)
    if row is not None and row.status == REQUESTED:
        now = uow.clock.now()
        uow.reports.update_signature_request(
            request_id, status=FAILED, updated_at=now, finished_at=now
        )


def provider_callback(
    uow: UnitOfWork, box: SecretBox, request_id: int, token: str, cmd: SignatureCallback
) -> dict[str, Any]:
    """Record what the provider reports. Only a URL this installation made is accepted, and a
    request that already has its outcome keeps it (a repeated callback changes nothing)."""
    if not box.check_token(callback_label(request_id), token):
        raise NotFound("no such signature request")
    row = uow.reports.signature_request_for_update(request_id)
    if row is None:
        raise NotFound("no such signature request")
    if row.status in (COMPLETED, DECLINED):
        return {"id": row.id, "status": row.status}
    now = uow.clock.now()
    actor = Actor(kind=ActorKind.SYSTEM, source=Source.API)
    signed_file_id = None
    if cmd.status == COMPLETED and cmd.signed_document_b64:
        try:
            data = base64.b64decode(cmd.signed_document_b64, validate=True)
        except (binascii.Error, ValueError):
            raise ValidationFailed(
                "signed_document_b64 is not base64", field="signed_document_b64"
            ) from None
        if len(data) > MAX_SIGNED:
            raise ValidationFailed(
                "the signed document is over 10 MiB", field="signed_document_b64"
            )
        original = uow.reports.file(row.workspace_id, row.file_id)
        name = original.filename if original else "document.pdf"
        signed_file_id = reports.keep_file(
            uow,
            row.workspace_id,
            row.record_id,
            filename=f"signed-{name}",
            content_type="application/pdf",
            data=data,
            source=f"signature:{row.id}",
            actor=actor,
        )
    uow.reports.update_signature_request(
        row.id,
        status=cmd.status,
        signed_file_id=signed_file_id,
        updated_at=now,
        finished_at=now,
    )
    record = uow.records.get(row.workspace_id, row.record_id)
    uow.emit(
        [
            Event(
                EventType.SIGNATURE_COMPLETED
                if cmd.status == COMPLETED
                else EventType.SIGNATURE_DECLINED,
                row.workspace_id,
                actor,
                now,
                record_id=row.record_id,
                object_type=record.object_type.value if record else None,
                data={
                    "signature_request_id": row.id,
                    "file_id": row.file_id,
                    "signed_file_id": signed_file_id,
                    "reason": cmd.reason,
                },
            )
        ]
    )
    return {"id": row.id, "status": cmd.status}

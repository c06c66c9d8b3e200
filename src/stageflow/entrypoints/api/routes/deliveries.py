"""`/api/v1/deliveries`: what automations sent to other systems (webhooks, email) and whether
it arrived; `/api/v1/workspace/webhook-secret`: the key receivers verify signatures with."""

from __future__ import annotations

from enum import Enum

from fastapi import APIRouter, Depends, Query

from stageflow.entrypoints.api.deps import Caller, PathId, get_caller
from stageflow.entrypoints.api.schemas import DeliveryOut, PageOut
from stageflow.services.engine import outbox as service

router = APIRouter()
D: list[str | Enum] = ["Deliveries"]


@router.get("/deliveries", tags=D, summary="Deliveries, newest first")
def list_deliveries(
    caller: Caller = Depends(get_caller),
    status: str | None = Query(None, description="pending, delivered or failed"),
    record: int | None = Query(None, description="Only this record's"),
    run: int | None = Query(None, description="Only this run's"),
    cursor: str | None = None,
    limit: int = Query(50, ge=1, le=200),
) -> PageOut[DeliveryOut]:
    with caller.uow(read_only=True) as uow:
        page = service.list_deliveries(
            uow,
            caller.principal,
            status=status,
            record_id=record,
            run_id=run,
            cursor=cursor,
            limit=limit,
        )
        return PageOut[DeliveryOut](
            items=[DeliveryOut.of(r) for r in page.items], next_cursor=page.next_cursor
        )


@router.get("/deliveries/{delivery_id}", tags=D, summary="One delivery, with its last answer")
def get_delivery(delivery_id: PathId, caller: Caller = Depends(get_caller)) -> DeliveryOut:
    with caller.uow(read_only=True) as uow:
        return DeliveryOut.of(service.get(uow, caller.principal, delivery_id))


@router.post(
    "/deliveries/{delivery_id}/retry",
    tags=D,
    summary="Queue a failed delivery again, with as many attempts again as it had",
)
def retry_delivery(delivery_id: PathId, caller: Caller = Depends(get_caller)) -> DeliveryOut:
    with caller.uow() as uow:
        row = service.retry(uow, caller.principal, delivery_id)
        uow.commit()
    caller.app.enroller.work_available.set()
    return DeliveryOut.of(row)


@router.get(
    "/workspace/webhook-secret",
    tags=D,
    summary="The secret webhooks are signed with (made on first use)",
)
def webhook_secret(caller: Caller = Depends(get_caller)) -> dict[str, str]:
    with caller.uow() as uow:
        secret = service.show_signing_secret(uow, caller.app.secret_box(), caller.principal)
        uow.commit()
    return {"secret": secret, "header": "X-Stageflow-Signature", "scheme": SCHEME}


@router.post(
    "/workspace/webhook-secret/rotate",
    tags=D,
    summary="Replace the webhook signing secret; later deliveries use the new one",
)
def rotate_webhook_secret(caller: Caller = Depends(get_caller)) -> dict[str, str]:
    with caller.uow() as uow:
        secret = service.rotate_signing_secret(uow, caller.app.secret_box(), caller.principal)
        uow.commit()
    return {"secret": secret, "header": "X-Stageflow-Signature", "scheme": SCHEME}


SCHEME = (
    "v1=hex(HMAC-SHA256(secret, X-Stageflow-Timestamp + '.' + body)); reject timestamps "
    "more than 5 minutes old"
)

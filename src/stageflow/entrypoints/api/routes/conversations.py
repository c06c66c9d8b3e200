"""`/api/v1/messages/inbound` and `/api/v1/conversations` (SPEC L5, L10)."""

from __future__ import annotations

from enum import Enum

from fastapi import APIRouter, Depends, Query

from stageflow.domain.lifecycle import ConversationStatus
from stageflow.domain.records import ObjectType
from stageflow.domain.users import Permission
from stageflow.entrypoints.api.deps import Caller, OptionalQueryId, PathId, get_caller
from stageflow.entrypoints.api.routes.records import record_out
from stageflow.entrypoints.api.schemas import (
    ConversationOut,
    InboundOut,
    LifecycleSetOut,
    MessageOut,
    PageOut,
)
from stageflow.services.commands import InboundMessage, SetLifecycleStage, UpdateConversation
from stageflow.services.crm import conversations as service
from stageflow.services.crm import records
from stageflow.services.pagination import check_limit, decode_cursor, page_of

router = APIRouter()
C: list[str | Enum] = ["Conversations"]


@router.post(
    "/messages/inbound",
    tags=C,
    status_code=201,
    summary="Take in a message: finds or creates the contact (default stage) and conversation",
)
def inbound(cmd: InboundMessage, caller: Caller = Depends(get_caller)) -> InboundOut:
    with caller.uow() as uow:
        received = service.receive(uow, caller.principal, cmd, caller.actor)
        out = InboundOut(
            contact=record_out(uow, received.contact),
            conversation=ConversationOut.of(received.conversation, received.contact),
            message_id=received.message_id,
            contact_created=received.contact_created,
        )
        uow.commit()
    return out


@router.get("/conversations", tags=C, summary="Conversations, newest first")
def list_conversations(
    caller: Caller = Depends(get_caller),
    status: ConversationStatus | None = None,
    assignee_id: OptionalQueryId = None,
    unassigned: bool = Query(False, description="Only open or snoozed ones without assignee"),
    lifecycle_stage_id: OptionalQueryId = None,
    cursor: str | None = None,
    limit: int = Query(50, ge=1, le=200),
) -> PageOut[ConversationOut]:
    check_limit(limit)
    principal = caller.principal
    with caller.uow(read_only=True) as uow:
        rows = uow.conversations.list(
            caller.workspace_id,
            status=status,
            assignee_id=assignee_id,
            unassigned=unassigned,
            lifecycle_stage_id=lifecycle_stage_id,
            visible_to=None if principal.has(Permission.RECORDS_READ_ALL) else principal.user_id,
            before_id=decode_cursor(cursor),
            limit=limit + 1,
        )
    page = page_of(
        [
            ConversationOut.of(
                c, contact_name=row.contact_name, lifecycle_stage_id=row.lifecycle_stage_id
            )
            for c, row in rows
        ],
        limit,
    )
    return PageOut[ConversationOut](items=page.items, next_cursor=page.next_cursor)


@router.get("/conversations/{conversation_id}", tags=C, summary="Read a conversation")
def get_conversation(
    conversation_id: PathId, caller: Caller = Depends(get_caller)
) -> ConversationOut:
    with caller.uow(read_only=True) as uow:
        conversation, contact = service.get(uow, caller.principal, conversation_id)
    return ConversationOut.of(conversation, contact)


@router.patch(
    "/conversations/{conversation_id}",
    tags=C,
    summary="Open, snooze (until a time) or close; assign or unassign",
)
def update_conversation(
    conversation_id: PathId, cmd: UpdateConversation, caller: Caller = Depends(get_caller)
) -> ConversationOut:
    with caller.uow() as uow:
        conversation = service.update(uow, caller.principal, conversation_id, cmd, caller.actor)
        _, contact = service.get(uow, caller.principal, conversation_id)
        uow.commit()
    return ConversationOut.of(conversation, contact)


@router.get("/conversations/{conversation_id}/messages", tags=C, summary="Messages, newest first")
def list_messages(
    conversation_id: PathId,
    caller: Caller = Depends(get_caller),
    cursor: str | None = None,
    limit: int = Query(50, ge=1, le=200),
) -> PageOut[MessageOut]:
    with caller.uow(read_only=True) as uow:
        service.get(uow, caller.principal, conversation_id)
        rows = uow.conversations.messages(
            caller.workspace_id, conversation_id, before_id=decode_cursor(cursor), limit=limit + 1
        )
    page = page_of(
        [
            MessageOut(
                id=r.id,
                conversation_id=r.conversation_id,
                direction=r.direction,
                channel=r.channel,
                address=r.address,
                text=r.text,
                created_at=r.created_at,
            )
            for r in rows
        ],
        limit,
    )
    return PageOut[MessageOut](items=page.items, next_cursor=page.next_cursor)


@router.put(
    "/conversations/{conversation_id}/lifecycle",
    tags=C,
    summary="Set, change or clear the lifecycle stage of the conversation's contact",
)
def set_lifecycle(
    conversation_id: PathId, cmd: SetLifecycleStage, caller: Caller = Depends(get_caller)
) -> LifecycleSetOut:
    with caller.uow() as uow:
        conversation, _ = service.get(uow, caller.principal, conversation_id)
        record, _ = records.set_lifecycle_stage(
            uow, caller.principal, ObjectType.CONTACT, conversation.contact_id, cmd, caller.actor
        )
        out = LifecycleSetOut(record=record_out(uow, record), contacts_synced=0)
        uow.commit()
    return out

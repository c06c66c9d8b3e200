"""Conversations (SPEC L10): inbound messages find or create their contact and its
conversation; conversations are open, snoozed or closed, and may have an assignee."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from stageflow.domain.activities import ActivityStatus, ActivityType, Direction
from stageflow.domain.errors import (
    NotFound,
    PermissionDenied,
    StageflowError,
    StaleVersion,
    ValidationFailed,
)
from stageflow.domain.events import Actor, Event, EventType
from stageflow.domain.lifecycle import (
    CHANNELS,
    PHONE_CHANNELS,
    Conversation,
    ConversationStatus,
    normalize_address,
)
from stageflow.domain.records import ObjectType, Record
from stageflow.domain.users import Permission, Principal
from stageflow.services.commands import (
    CreateActivity,
    CreateRecord,
    InboundMessage,
    UpdateConversation,
)
from stageflow.services.crm import records
from stageflow.services.crm.activities import log_activity
from stageflow.services.crm.records import field_context
from stageflow.services.pagination import Page, check_limit, decode_cursor, page_of
from stageflow.services.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

PREVIEW = 200  # characters of a message kept in its event
WAKE_BATCH = 500


def identity_kind(channel: str) -> str:
    """Phone-number channels share one identity: an SMS and a WhatsApp message from the same
    number come from the same contact."""
    return "phone" if channel in PHONE_CHANNELS else channel


@dataclass(frozen=True)
class Received:
    contact: Record
    conversation: Conversation
    message_id: int
    contact_created: bool


def receive(uow: UnitOfWork, principal: Principal, cmd: InboundMessage, actor: Actor) -> Received:
    """`POST /messages/inbound`: an unknown sender becomes a contact in the default stage."""
    # An inbound message may land on any contact: integrations post them with a token of a
    # user who sees and edits all records.
    principal.require(Permission.RECORDS_EDIT_ALL)
    if cmd.channel not in CHANNELS:
        raise ValidationFailed(f"channel must be one of: {', '.join(CHANNELS)}", field="channel")
    ws = principal.workspace_id
    address = normalize_address(cmd.channel, cmd.address)
    kind = identity_kind(cmd.channel)
    now = uow.clock.now()
    uow.conversations.lock_address(ws, kind, address)  # one sender, one contact
    contact_id = uow.conversations.find_contact(ws, kind, address)
    contact = uow.records.get(ws, contact_id, ObjectType.CONTACT) if contact_id else None
    created = contact is None
    if contact is None:
        fields = {"email": address} if kind == "email" else {}
        if kind == "phone":
            fields = {"phone": address}
        contact = records.create_record(
            uow,
            principal,
            ObjectType.CONTACT,
            CreateRecord(name=(cmd.name or "").strip() or address, fields=fields),
            actor,
        )
        assert contact.id is not None
        uow.conversations.claim_address(ws, contact.id, kind, address, now)
    assert contact.id is not None
    _lock_contact(uow, contact)
    conversation = uow.conversations.of_contact(ws, contact.id)
    if conversation is None:
        conversation = Conversation(
            workspace_id=ws,
            contact_id=contact.id,
            status=ConversationStatus.OPEN,
            created_at=now,
            updated_at=now,
        )
        conversation.channel, conversation.last_message_at = cmd.channel, now
        uow.conversations.add(conversation)
        uow.count(ws, contact.lifecycle_stage_id, conversation.tally())
        _event(uow, contact, EventType.CONVERSATION_OPENED, actor, conversation, reopened=False)
    else:
        reopen = conversation.status is not ConversationStatus.OPEN
        _change(
            uow,
            contact,
            conversation,
            {
                "status": ConversationStatus.OPEN,
                "snoozed_until": None,
                "channel": cmd.channel,
                "last_message_at": now,
            },
            actor,
            event=EventType.CONVERSATION_OPENED if reopen else None,
        )
    assert conversation.id is not None
    message_id = uow.conversations.add_message(
        ws,
        conversation.id,
        direction="inbound",
        channel=cmd.channel,
        address=address,
        text=cmd.text,
        now=now,
    )
    uow.emit(
        [
            Event(
                EventType.MESSAGE_RECEIVED,
                ws,
                actor,
                now,
                record_id=contact.id,
                object_type=ObjectType.CONTACT.value,
                data={
                    "channel": cmd.channel,
                    "conversation_id": conversation.id,
                    "message_id": message_id,
                    "text": cmd.text[:PREVIEW],
                    "contact_created": created,
                },
            )
        ]
    )
    if not created:
        _log_on_leads(uow, principal, contact, cmd, actor)
    return Received(contact, conversation, message_id, created)


def _log_on_leads(
    uow: UnitOfWork, principal: Principal, contact: Record, cmd: InboundMessage, actor: Actor
) -> None:
    """The message shows on the contact's open leads as an inbound activity: an email there
    is the lead replying, which lead automation counts as connecting (SPEC H3)."""
    assert contact.id is not None
    email = cmd.channel == "email"
    for lead_id in uow.records.open_leads_of(principal.workspace_id, contact.id):
        log_activity(
            uow,
            principal,
            CreateActivity(
                record_id=lead_id,
                type=ActivityType.EMAIL if email else ActivityType.MESSAGE,
                subject=f"{'Email' if email else cmd.channel.capitalize()} from {contact.name}",
                description=cmd.text,
                status=ActivityStatus.COMPLETED,
                direction=Direction.INBOUND,
                channel=cmd.channel,
            ),
            actor,
        )


def get(uow: UnitOfWork, principal: Principal, conversation_id: int) -> tuple[Conversation, Record]:
    conversation = uow.conversations.get(principal.workspace_id, conversation_id)
    contact = (
        uow.records.get(principal.workspace_id, conversation.contact_id, ObjectType.CONTACT)
        if conversation
        else None
    )
    if conversation is None or contact is None or not _visible(principal, conversation, contact):
        raise NotFound(f"conversation {conversation_id} not found")
    return conversation, contact


def update(
    uow: UnitOfWork,
    principal: Principal,
    conversation_id: int,
    cmd: UpdateConversation,
    actor: Actor,
) -> Conversation:
    """Open, snooze (until a time) or close; assign or unassign."""
    conversation, contact = get(uow, principal, conversation_id)
    _lock_contact(uow, contact)
    # As it is now that its contact is locked (writers of a conversation lock that first).
    conversation = uow.conversations.get(principal.workspace_id, conversation_id) or conversation
    if cmd.version is not None and cmd.version != conversation.version:
        raise StaleVersion(
            f"conversation {conversation_id} is at version {conversation.version}, "
            f"not {cmd.version}",
            field="version",
        )
    given = cmd.model_fields_set
    values: dict[str, Any] = {}
    status = cmd.status if cmd.status is not None else conversation.status
    if cmd.status is not None:
        values["status"] = cmd.status
    if status is ConversationStatus.SNOOZED:
        until = cmd.snoozed_until if "snoozed_until" in given else conversation.snoozed_until
        if until is None:
            raise ValidationFailed("snoozing needs snoozed_until", field="snoozed_until")
        snoozing = cmd.status is not None or "snoozed_until" in given
        if snoozing and until <= uow.clock.now():
            raise ValidationFailed("snoozed_until must be in the future", field="snoozed_until")
        values["snoozed_until"] = until
    elif "snoozed_until" in given and cmd.snoozed_until is not None:
        raise ValidationFailed("only a snoozed conversation has snoozed_until", field="status")
    else:
        values["snoozed_until"] = None
    if "assignee_id" in given:
        someone_else = {conversation.assignee_id, cmd.assignee_id} - {None, principal.user_id}
        if someone_else and not principal.has(Permission.RECORDS_EDIT_ALL):
            raise PermissionDenied(
                "taking a conversation from or giving it to someone else needs 'records.edit_all'"
            )
        ctx = field_context(uow, principal.workspace_id)
        if cmd.assignee_id is not None and not ctx.user_exists(cmd.assignee_id):
            raise ValidationFailed(
                f"user {cmd.assignee_id} is not a user of this workspace", field="assignee_id"
            )
        values["assignee_id"] = cmd.assignee_id
    _change(uow, contact, conversation, values, actor, event=EventType.CONVERSATION_UPDATED)
    return conversation


def wake_snoozed(uow: UnitOfWork, actor: Actor) -> int:
    """Reopen conversations whose snooze has run out (the worker calls this, inside its batch:
    each in a savepoint, so one that cannot be reopened is logged and left for next time
    without holding up the runs)."""
    woken = 0
    now = uow.clock.now()
    for due in uow.conversations.snoozed_due(now, WAKE_BATCH):
        try:
            with uow.savepoint():
                woken += _wake(uow, due, actor, now)
        except StageflowError as exc:
            log.warning("conversation %s could not be reopened: %s", due.id, exc.message)
    return woken


def _wake(uow: UnitOfWork, due: Conversation, actor: Actor, now: datetime) -> int:
    contact = uow.records.get(due.workspace_id, due.contact_id)
    if contact is None or not _lock_contact(uow, contact):
        return 0
    assert due.id is not None
    conversation = uow.conversations.get(due.workspace_id, due.id)
    if (
        conversation is None
        or conversation.status is not ConversationStatus.SNOOZED
        or conversation.snoozed_until is None
        or conversation.snoozed_until > now
    ):
        return 0
    _change(
        uow,
        contact,
        conversation,
        {"status": ConversationStatus.OPEN, "snoozed_until": None},
        actor,
        event=EventType.CONVERSATION_UPDATED,
    )
    return 1


def _lock_contact(uow: UnitOfWork, contact: Record) -> bool:
    """Lock the contact's row and refresh its stage (PostgreSQL): a conversation's counts go
    to the stage the contact is in when this transaction commits. Every writer of a contact's
    stage or conversation takes this lock first. False if the contact is gone."""
    assert contact.id is not None
    exists, stage_id = uow.records.locked_stage(contact.id)
    contact.lifecycle_stage_id = stage_id
    return exists


def _change(
    uow: UnitOfWork,
    contact: Record,
    conversation: Conversation,
    values: dict[str, Any],
    actor: Actor,
    *,
    event: EventType | None,
) -> None:
    before = {k: _plain(getattr(conversation, k)) for k in values}
    changed = {k: v for k, v in values.items() if getattr(conversation, k) != v}
    if not changed:
        return
    old_tally = conversation.tally()
    read_version = conversation.version
    for key, value in changed.items():
        setattr(conversation, key, value)
    conversation.version += 1
    conversation.updated_at = uow.clock.now()
    uow.conversations.save(conversation, read_version)
    delta = conversation.tally() + -old_tally
    if delta:
        uow.count(contact.workspace_id, contact.lifecycle_stage_id, delta)
    shown = {k for k in changed if k not in ("last_message_at", "channel")}
    if event is not None and (shown or event is EventType.CONVERSATION_OPENED):
        _event(
            uow,
            contact,
            event,
            actor,
            conversation,
            before={k: before[k] for k in shown},
            after={k: _plain(changed[k]) for k in shown},
        )


def _event(
    uow: UnitOfWork,
    contact: Record,
    type_: EventType,
    actor: Actor,
    conversation: Conversation,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    **data: Any,
) -> None:
    uow.emit(
        [
            Event(
                type_,
                contact.workspace_id,
                actor,
                uow.clock.now(),
                record_id=contact.id,
                object_type=ObjectType.CONTACT.value,
                before=before,
                after=after,
                data={"conversation_id": conversation.id, **data},
            )
        ]
    )


def _plain(value: Any) -> Any:
    if isinstance(value, ConversationStatus):
        return value.value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _visible(principal: Principal, conversation: Conversation, contact: Record) -> bool:
    return principal.can_see_owner(contact.owner_id) or conversation.assignee_id == (
        principal.user_id
    )


# reading: the inbox ---------------------------------------------------------------------------


@dataclass(frozen=True)
class InboxRow:
    """A conversation as the inbox lists it: its contact's name and stage, its last message."""

    conversation: Conversation
    contact_name: str
    lifecycle_stage_id: int | None
    last_message: Any | None

    @property
    def id(self) -> int:
        assert self.conversation.id is not None
        return self.conversation.id


def inbox(
    uow: UnitOfWork,
    principal: Principal,
    *,
    status: ConversationStatus | None,
    mine: bool = False,
    unassigned: bool = False,
    lifecycle_stage_id: int | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[InboxRow]:
    """Conversations newest first, as `GET /conversations` lists them (an agent sees those of
    their own and unowned contacts, and those assigned to them), each with its last message."""
    check_limit(limit)
    ws = principal.workspace_id
    rows = uow.conversations.list(
        ws,
        status=status,
        assignee_id=principal.user_id if mine else None,
        unassigned=unassigned,
        lifecycle_stage_id=lifecycle_stage_id,
        visible_to=None if principal.has(Permission.RECORDS_READ_ALL) else principal.user_id,
        before_id=decode_cursor(cursor),
        limit=limit + 1,
    )
    last = uow.conversations.last_messages(ws, [c.id for c, _ in rows if c.id is not None])
    return page_of(
        [
            InboxRow(c, row.contact_name, row.lifecycle_stage_id, last.get(c.id or 0))
            for c, row in rows
        ],
        limit,
    )


def messages(
    uow: UnitOfWork,
    principal: Principal,
    conversation_id: int,
    *,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[Any]:
    """A conversation's messages, newest first (not found if the caller may not see it)."""
    check_limit(limit)
    get(uow, principal, conversation_id)
    rows = uow.conversations.messages(
        principal.workspace_id, conversation_id, before_id=decode_cursor(cursor), limit=limit + 1
    )
    return page_of(rows, limit)

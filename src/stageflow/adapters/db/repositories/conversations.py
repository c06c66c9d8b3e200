"""Conversations, the channel addresses that identify contacts, and messages (SPEC L10)."""

from __future__ import annotations

import builtins
import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, select, update

from stageflow.adapters.db import tables as t
from stageflow.adapters.db.bulk import insert_many
from stageflow.domain.errors import StaleVersion
from stageflow.domain.lifecycle import Conversation, ConversationStatus


class ConversationRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # who is writing ----------------------------------------------------------------------------

    def lock_address(self, workspace_id: int, kind: str, address: str) -> None:
        """Serialise first messages from one address (PostgreSQL), so that two of them at
        once create one contact, not two. SQLite has one writer anyway."""
        if self.conn.dialect.name != "postgresql":
            return
        digest = hashlib.sha256(f"{workspace_id}:{kind}:{address}".encode()).digest()
        key = int.from_bytes(digest[:8], "big", signed=True)
        self.conn.execute(select(func.pg_advisory_xact_lock(key)))

    def find_contact(self, workspace_id: int, kind: str, address: str) -> int | None:
        c = t.contact_channels.c
        return self.conn.execute(
            select(c.contact_id).where(
                c.workspace_id == workspace_id, c.channel == kind, c.address == address
            )
        ).scalar()

    def claim_address(
        self, workspace_id: int, contact_id: int, kind: str, address: str, now: datetime
    ) -> None:
        """Remember that ``address`` is this contact's; the first contact to claim it keeps it."""
        self.claim_addresses(workspace_id, [(contact_id, kind, address)], now)

    def claim_addresses(
        self, workspace_id: int, claims: builtins.list[tuple[int, str, str]], now: datetime
    ) -> None:
        """Many (contact id, kind, address) claims at once; the first claim of an address
        wins."""
        insert_many(
            self.conn,
            t.contact_channels,
            [
                (workspace_id, contact_id, kind, address, now)
                for contact_id, kind, address in claims
            ],
            columns=("workspace_id", "contact_id", "channel", "address", "created_at"),
            skip_conflicts=True,
        )

    def release_addresses(self, contact_id: int, kind: str) -> None:
        self.conn.execute(
            delete(t.contact_channels).where(
                t.contact_channels.c.contact_id == contact_id, t.contact_channels.c.channel == kind
            )
        )

    def addresses(self, contact_id: int) -> builtins.list[tuple[str, str]]:
        c = t.contact_channels.c
        rows = self.conn.execute(
            select(c.channel, c.address).where(c.contact_id == contact_id).order_by(c.id)
        )
        return [(kind, address) for kind, address in rows]

    # conversations -----------------------------------------------------------------------------

    def of_contact(self, workspace_id: int, contact_id: int) -> Conversation | None:
        row = self.conn.execute(
            select(t.conversations).where(
                t.conversations.c.workspace_id == workspace_id,
                t.conversations.c.contact_id == contact_id,
            )
        ).first()
        return _conversation(row) if row else None

    def get(self, workspace_id: int, conversation_id: int) -> Conversation | None:
        row = self.conn.execute(
            select(t.conversations).where(
                t.conversations.c.workspace_id == workspace_id,
                t.conversations.c.id == conversation_id,
            )
        ).first()
        return _conversation(row) if row else None

    def add(self, conversation: Conversation) -> Conversation:
        conversation.id = self.conn.execute(
            insert(t.conversations).values(_values(conversation)).returning(t.conversations.c.id)
        ).scalar_one()
        return conversation

    def save(self, conversation: Conversation, read_version: int) -> None:
        result = self.conn.execute(
            update(t.conversations)
            .where(
                t.conversations.c.id == conversation.id,
                t.conversations.c.version == read_version,
            )
            .values(_values(conversation))
        )
        if result.rowcount != 1:
            raise StaleVersion(
                f"conversation {conversation.id} was changed by someone else; read it again",
                field="version",
            )

    def list(
        self,
        workspace_id: int,
        *,
        status: ConversationStatus | None,
        assignee_id: int | None,
        unassigned: bool,
        lifecycle_stage_id: int | None,
        visible_to: int | None,
        before_id: int | None,
        limit: int,
    ) -> builtins.list[tuple[Conversation, Any]]:
        """Newest first, with the contact's name and stage."""
        cv, r = t.conversations.c, t.records.c
        query = (
            select(t.conversations, r.name.label("contact_name"), r.lifecycle_stage_id)
            .join(t.records, r.id == cv.contact_id)
            .where(cv.workspace_id == workspace_id)
            .order_by(cv.id.desc())
            .limit(limit)
        )
        if status is not None:
            query = query.where(cv.status == status.value)
        if assignee_id is not None:
            query = query.where(cv.assignee_id == assignee_id)
        if unassigned:
            query = query.where(cv.assignee_id.is_(None), cv.status != "closed")
        if lifecycle_stage_id is not None:
            query = query.where(r.lifecycle_stage_id == lifecycle_stage_id)
        if visible_to is not None:
            query = query.where(
                (r.owner_id == visible_to) | r.owner_id.is_(None) | (cv.assignee_id == visible_to)
            )
        if before_id is not None:
            query = query.where(cv.id < before_id)
        return [(_conversation(row), row) for row in self.conn.execute(query)]

    def snoozed_due(self, now: datetime, limit: int) -> builtins.list[Conversation]:
        query = (
            select(t.conversations)
            .where(t.conversations.c.status == "snoozed", t.conversations.c.snoozed_until <= now)
            .order_by(t.conversations.c.snoozed_until)
            .limit(limit)
        )
        if self.conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        return [_conversation(row) for row in self.conn.execute(query)]

    # messages ----------------------------------------------------------------------------------

    def add_message(
        self,
        workspace_id: int,
        conversation_id: int,
        *,
        direction: str,
        channel: str,
        address: str,
        text: str,
        now: datetime,
    ) -> int:
        return int(
            self.conn.execute(
                insert(t.messages)
                .values(
                    workspace_id=workspace_id,
                    conversation_id=conversation_id,
                    direction=direction,
                    channel=channel,
                    address=address,
                    text=text,
                    created_at=now,
                )
                .returning(t.messages.c.id)
            ).scalar_one()
        )

    def messages(
        self, workspace_id: int, conversation_id: int, *, before_id: int | None, limit: int
    ) -> builtins.list[Any]:
        m = t.messages.c
        query = (
            select(t.messages)
            .where(and_(m.workspace_id == workspace_id, m.conversation_id == conversation_id))
            .order_by(m.id.desc())
            .limit(limit)
        )
        if before_id is not None:
            query = query.where(m.id < before_id)
        return builtins.list(self.conn.execute(query))

    def last_messages(
        self, workspace_id: int, conversation_ids: builtins.list[int]
    ) -> dict[int, Any]:
        """The newest message of each conversation (one query, by the conversation index)."""
        if not conversation_ids:
            return {}
        m = t.messages.c
        newest = (
            select(func.max(m.id))
            .where(m.workspace_id == workspace_id, m.conversation_id.in_(conversation_ids))
            .group_by(m.conversation_id)
        )
        rows = self.conn.execute(select(t.messages).where(m.id.in_(newest)))
        return {row.conversation_id: row for row in rows}


def _values(c: Conversation) -> dict[str, Any]:
    return {
        "workspace_id": c.workspace_id,
        "contact_id": c.contact_id,
        "status": c.status.value,
        "snoozed_until": c.snoozed_until,
        "assignee_id": c.assignee_id,
        "channel": c.channel,
        "last_message_at": c.last_message_at,
        "version": c.version,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
    }


def _conversation(row: Any) -> Conversation:
    return Conversation(
        id=row.id,
        workspace_id=row.workspace_id,
        contact_id=row.contact_id,
        status=ConversationStatus(row.status),
        snoozed_until=row.snoozed_until,
        assignee_id=row.assignee_id,
        channel=row.channel,
        last_message_at=row.last_message_at,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )

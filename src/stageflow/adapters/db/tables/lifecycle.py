"""Lifecycle stages and their live counts, conversations and their messages, saved segments."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from stageflow.adapters.db.tables.schema import (
    ID,
    Json,
    UTCDateTime,
    id_column,
    metadata,
    workspace_column,
)

lifecycle_stages = Table(
    "lifecycle_stages",
    metadata,
    id_column(),
    workspace_column(),
    Column("name", String(100), nullable=False),
    Column("description", String(500), nullable=False),
    Column("emoji", String(16)),
    Column("kind", String(10), nullable=False),  # lifecycle | lost
    Column("position", Integer, nullable=False),
    Column("is_default", Boolean, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("workspace_id", "name", name="uq_lifecycle_stages_name"),
    # Zero or one default stage (L4), whatever two writers do at once.
    Index(
        "uq_lifecycle_stages_default",
        "workspace_id",
        unique=True,
        sqlite_where=text("is_default"),
        postgresql_where=text("is_default"),
    ),
    sqlite_autoincrement=True,
)

# Live dashboard counts (L9) per lifecycle stage, kept in the transactions that change them.
# stage_id 0 counts contacts without a stage. On PostgreSQL writers spread over a few slots so
# that they do not queue on one hot row; readers add the slots up.
lifecycle_counts = Table(
    "lifecycle_counts",
    metadata,
    workspace_column(),
    Column("stage_id", ID, nullable=False),
    Column("slot", Integer, nullable=False),
    Column("contacts", BigInteger, nullable=False),
    Column("open", BigInteger, nullable=False),
    Column("snoozed", BigInteger, nullable=False),
    Column("unassigned", BigInteger, nullable=False),
    PrimaryKeyConstraint("workspace_id", "stage_id", "slot", name="pk_lifecycle_counts"),
)

# Contacts' lifecycle changes counted per instant and stage pair (0: no stage), narrow and
# indexed for the dashboard's conversion figures: a projection of the LifecycleChanged events,
# written in the same transaction. One transaction's changes at one instant share a row, so
# importing 100,000 contacts adds a handful of rows, not 100,000; the events keep each change.
lifecycle_changes = Table(
    "lifecycle_changes",
    metadata,
    id_column(),
    workspace_column(),
    Column("occurred_at", UTCDateTime(), nullable=False),
    Column("from_stage_id", ID, nullable=False),
    Column("to_stage_id", ID, nullable=False),
    Column("changes", BigInteger, nullable=False),
    Index(
        "ix_lifecycle_changes_time",
        "workspace_id",
        "occurred_at",
        "from_stage_id",
        "to_stage_id",
    ),
    sqlite_autoincrement=True,
)

# The same changes added up per UTC day and stage pair (0: no stage), so the dashboard's
# 30-day figures read ~30 days x pairs rows however many changes there were. Slots as above.
lifecycle_daily = Table(
    "lifecycle_daily",
    metadata,
    workspace_column(),
    Column("day", Date, nullable=False),
    Column("from_stage_id", ID, nullable=False),
    Column("to_stage_id", ID, nullable=False),
    Column("slot", Integer, nullable=False),
    Column("changes", BigInteger, nullable=False),
    PrimaryKeyConstraint(
        "workspace_id", "day", "from_stage_id", "to_stage_id", "slot", name="pk_lifecycle_daily"
    ),
)

# Conversations (SPEC L10): one per contact, fed by messages on any channel.
contact_channels = Table(
    "contact_channels",
    metadata,
    id_column(),
    workspace_column(),
    Column("contact_id", ID, ForeignKey("records.id", ondelete="CASCADE"), nullable=False),
    Column("channel", String(40), nullable=False),
    Column("address", String(320), nullable=False),  # normalised: see domain/conversations
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("workspace_id", "channel", "address", name="uq_contact_channels_address"),
    Index("ix_contact_channels_contact", "contact_id"),
    sqlite_autoincrement=True,
)

conversations = Table(
    "conversations",
    metadata,
    id_column(),
    workspace_column(),
    Column(
        "contact_id",
        ID,
        ForeignKey("records.id", ondelete="CASCADE"),
        nullable=False,
        unique=True,
    ),
    Column("status", String(10), nullable=False),  # open | snoozed | closed
    Column("snoozed_until", UTCDateTime()),
    Column("assignee_id", ID, ForeignKey("users.id", ondelete="SET NULL")),
    Column("channel", String(40)),  # of the last message
    Column("last_message_at", UTCDateTime()),
    Column("version", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_conversations_list", "workspace_id", "status", "id"),
    Index("ix_conversations_assignee", "workspace_id", "assignee_id", "status"),
    Index(
        "ix_conversations_snoozed",
        "snoozed_until",
        sqlite_where=text("status = 'snoozed'"),
        postgresql_where=text("status = 'snoozed'"),
    ),
    sqlite_autoincrement=True,
)

messages = Table(
    "messages",
    metadata,
    id_column(),
    workspace_column(),
    Column(
        "conversation_id", ID, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False
    ),
    Column("direction", String(10), nullable=False),  # inbound | outbound
    Column("channel", String(40), nullable=False),
    Column("address", String(320), nullable=False),
    Column("text", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_messages_conversation", "conversation_id", "id"),
    sqlite_autoincrement=True,
)

# Saved filters (SPEC L8).
segments = Table(
    "segments",
    metadata,
    id_column(),
    workspace_column(),
    Column("name", String(200), nullable=False),
    Column("object_type", String(20), nullable=False),
    Column("filter", Json, nullable=False),
    Column("created_by", ID, ForeignKey("users.id", ondelete="SET NULL")),
    Column("version", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("workspace_id", "name", name="uq_segments_name"),
    sqlite_autoincrement=True,
)

# A CSV import of contacts started in the web app: the upload itself, the column mapping, and
# how far the import has gone (so any process shows its progress, and an import whose runner
# stopped is seen as interrupted).
contact_imports = Table(
    "contact_imports",
    metadata,
    id_column(),
    workspace_column(),
    Column("user_id", ID, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("file_name", String(255), nullable=False),
    Column("content", Text, nullable=False),
    Column("mapping", Json, nullable=False),
    Column("status", String(20), nullable=False),
    Column("total", Integer, nullable=False),
    Column("done", Integer, nullable=False),
    Column("imported", Integer, nullable=False),
    Column("failed", Integer, nullable=False),
    Column("errors", Json, nullable=False),
    Column("first_contact_id", ID),
    Column("last_contact_id", ID),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    sqlite_autoincrement=True,
)

"""Records, their associations, activities, sub-states and files; events, their timeline."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from stageflow.adapters.db.tables.schema import (
    ID,
    Json,
    UTCDateTime,
    id_column,
    metadata,
    workspace_column,
)

records = Table(
    "records",
    metadata,
    id_column(),
    workspace_column(),
    Column("object_type", String(20), nullable=False),
    Column("name", String(500), nullable=False),
    Column("owner_id", ID, ForeignKey("users.id", ondelete="SET NULL")),
    Column("source", String(63)),
    Column("pipeline_id", ID, ForeignKey("pipelines.id")),
    Column("stage_id", ID, ForeignKey("stages.id")),
    Column("stage_entered_at", UTCDateTime()),
    # Contacts and companies (SPEC L): no ON DELETE, a stage is emptied before it goes.
    Column("lifecycle_stage_id", ID, ForeignKey("lifecycle_stages.id")),
    Column("fields", Json, nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_records_list", "workspace_id", "object_type", "id"),
    Index("ix_records_stage", "workspace_id", "object_type", "stage_id", "id"),
    Index("ix_records_owner", "workspace_id", "object_type", "owner_id", "id"),
    Index("ix_records_lifecycle", "workspace_id", "object_type", "lifecycle_stage_id", "id"),
    sqlite_autoincrement=True,
)

associations = Table(
    "associations",
    metadata,
    id_column(),
    workspace_column(),
    Column("record_id", ID, ForeignKey("records.id", ondelete="CASCADE"), nullable=False),
    Column("related_id", ID, ForeignKey("records.id", ondelete="CASCADE"), nullable=False),
    UniqueConstraint("record_id", "related_id", name="uq_associations_pair"),
    Index("ix_associations_related", "related_id"),
    sqlite_autoincrement=True,
)

activities = Table(
    "activities",
    metadata,
    id_column(),
    workspace_column(),
    Column("record_id", ID, ForeignKey("records.id", ondelete="CASCADE"), nullable=False),
    Column("object_type", String(20), nullable=False),
    Column("type", String(20), nullable=False),
    Column("subject", String(500), nullable=False),
    Column("description", Text, nullable=False),
    Column("due_at", UTCDateTime()),
    Column("responsible_id", ID, ForeignKey("users.id", ondelete="SET NULL")),
    Column("status", String(20), nullable=False),
    Column("outcome", String(40)),
    Column("direction", String(10)),
    Column("channel", String(40)),
    Column("completed_at", UTCDateTime()),
    # Set: the activity completes itself when the record leaves this stage (SPEC B4).
    Column("complete_on_exit_stage_id", ID),
    # The actor that completion is made by: the automation run that scheduled the activity.
    Column("exit_actor", Json),
    Column("version", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_activities_record", "workspace_id", "record_id", "id"),
    Index("ix_activities_responsible", "workspace_id", "responsible_id", "status", "due_at"),
    sqlite_autoincrement=True,
)

events = Table(
    "events",
    metadata,
    id_column(),
    Column("workspace_id", ID, nullable=False),
    Column("type", String(40), nullable=False),
    Column("record_id", ID),
    Column("object_type", String(20)),
    Column("before", Json),
    Column("after", Json),
    Column("data", Json, nullable=False),
    Column("actor_kind", String(20), nullable=False),
    Column("actor_id", ID),
    Column("user_id", ID),
    Column("source", String(20), nullable=False),
    Column("depth", Integer, nullable=False),
    Column("run_id", ID),
    Column("actor_version", Integer),  # the automation version number, for run actors
    Column("occurred_at", UTCDateTime(), nullable=False),
    Index("ix_events_timeline", "workspace_id", "record_id", "id"),
)

# Files kept on a record (generated reports), bytes and all.
files = Table(
    "files",
    metadata,
    id_column(),
    workspace_column(),
    Column("record_id", ID, ForeignKey("records.id", ondelete="CASCADE"), nullable=False),
    Column("filename", String(200), nullable=False),
    Column("content_type", String(100), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("source", String(200), nullable=False),
    Column("run_id", ID),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_files_record", "workspace_id", "record_id", "id"),
    sqlite_autoincrement=True,
)

# Sub-states of opportunities (SPEC E1): each opens and closes on its own.
record_substates = Table(
    "record_substates",
    metadata,
    workspace_column(),
    Column("record_id", ID, ForeignKey("records.id", ondelete="CASCADE"), nullable=False),
    Column("substate", String(100), nullable=False),
    Column("status", String(10), nullable=False),
    Column("opened_at", UTCDateTime(), nullable=False),
    Column("closed_at", UTCDateTime()),
    PrimaryKeyConstraint("record_id", "substate", name="pk_record_substates"),
)

# Opportunity types (SPEC E1): each with ordered states and named sub-states, each sub-state
# belonging to one of its states or to the type itself. An opportunity's ``opportunity_type``
# field names its type; sub-state actions (``rules`` of kind substate_action) name it too.
opportunity_types = Table(
    "opportunity_types",
    metadata,
    id_column(),
    workspace_column(),
    Column("name", String(100), nullable=False),
    Column("states", Json, nullable=False),  # ["Documentation", "Installation", ...]
    Column("substates", Json, nullable=False),  # [{"name": ..., "state": ... | null}, ...]
    Column("version", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("workspace_id", "name", name="uq_opportunity_types_name"),
    sqlite_autoincrement=True,
)

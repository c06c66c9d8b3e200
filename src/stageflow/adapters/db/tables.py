"""The database schema, as SQLAlchemy Core tables. Alembic migrations must match it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator

ID = BigInteger().with_variant(Integer(), "sqlite")
Json = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC; always returns aware UTC datetimes, on SQLite too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
        return value.astimezone(UTC)  # type: ignore[no-any-return]


naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=naming_convention)


def _id() -> Column[int]:
    return Column("id", ID, primary_key=True, autoincrement=True)


def _workspace() -> Column[int]:
    return Column(
        "workspace_id", ID, ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False
    )


workspaces = Table(
    "workspaces",
    metadata,
    _id(),
    Column("name", String(200), nullable=False),
    Column("slug", String(63), nullable=False, unique=True),
    Column("settings", Json, nullable=False),
    Column("automation_revision", Integer, nullable=False, server_default="0"),
    Column("created_at", UTCDateTime(), nullable=False),
    sqlite_autoincrement=True,
)

users = Table(
    "users",
    metadata,
    _id(),
    _workspace(),
    Column("email", String(320), nullable=False),
    Column("name", String(200), nullable=False),
    Column("role", String(20), nullable=False),
    Column("permissions", Json, nullable=False),
    Column("password_hash", String(200)),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("workspace_id", "email", name="uq_users_workspace_email"),
    sqlite_autoincrement=True,
)

api_tokens = Table(
    "api_tokens",
    metadata,
    _id(),
    _workspace(),
    Column("user_id", ID, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("last_used_at", UTCDateTime()),
    Column("revoked_at", UTCDateTime()),
    sqlite_autoincrement=True,
)

pipelines = Table(
    "pipelines",
    metadata,
    _id(),
    _workspace(),
    Column("object_type", String(20), nullable=False),
    Column("name", String(200), nullable=False),
    Column("is_default", Boolean, nullable=False),
    Column("position", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("workspace_id", "object_type", "name", name="uq_pipelines_name"),
    sqlite_autoincrement=True,
)

stages = Table(
    "stages",
    metadata,
    _id(),
    _workspace(),
    Column("pipeline_id", ID, ForeignKey("pipelines.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("position", Integer, nullable=False),
    UniqueConstraint("pipeline_id", "name", name="uq_stages_pipeline_name"),
    sqlite_autoincrement=True,
)

picklists = Table(
    "picklists",
    metadata,
    _id(),
    _workspace(),
    Column("key", String(63), nullable=False),
    Column("options", Json, nullable=False),
    UniqueConstraint("workspace_id", "key", name="uq_picklists_workspace_key"),
    sqlite_autoincrement=True,
)

field_definitions = Table(
    "field_definitions",
    metadata,
    _id(),
    _workspace(),
    Column("object_type", String(20), nullable=False),
    Column("key", String(63), nullable=False),
    Column("label", String(200), nullable=False),
    Column("type", String(20), nullable=False),
    Column("options", Json, nullable=False),
    Column("required", Boolean, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("workspace_id", "object_type", "key", name="uq_field_definitions_key"),
    sqlite_autoincrement=True,
)

lifecycle_stages = Table(
    "lifecycle_stages",
    metadata,
    _id(),
    _workspace(),
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
    _workspace(),
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
    _id(),
    _workspace(),
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
    _workspace(),
    Column("day", Date, nullable=False),
    Column("from_stage_id", ID, nullable=False),
    Column("to_stage_id", ID, nullable=False),
    Column("slot", Integer, nullable=False),
    Column("changes", BigInteger, nullable=False),
    PrimaryKeyConstraint(
        "workspace_id", "day", "from_stage_id", "to_stage_id", "slot", name="pk_lifecycle_daily"
    ),
)

records = Table(
    "records",
    metadata,
    _id(),
    _workspace(),
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
    _id(),
    _workspace(),
    Column("record_id", ID, ForeignKey("records.id", ondelete="CASCADE"), nullable=False),
    Column("related_id", ID, ForeignKey("records.id", ondelete="CASCADE"), nullable=False),
    UniqueConstraint("record_id", "related_id", name="uq_associations_pair"),
    Index("ix_associations_related", "related_id"),
    sqlite_autoincrement=True,
)

activities = Table(
    "activities",
    metadata,
    _id(),
    _workspace(),
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
    _id(),
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
    Column("occurred_at", UTCDateTime(), nullable=False),
    Index("ix_events_timeline", "workspace_id", "record_id", "id"),
)


automations = Table(
    "automations",
    metadata,
    _id(),
    _workspace(),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False),
    Column("kind", String(30), nullable=False),
    Column("status", String(20), nullable=False),
    Column("draft", Json, nullable=False),
    Column("active_version_id", ID),
    Column("version", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_automations_list", "workspace_id", "id"),
    sqlite_autoincrement=True,
)

automation_versions = Table(
    "automation_versions",
    metadata,
    _id(),
    _workspace(),
    Column("automation_id", ID, ForeignKey("automations.id", ondelete="CASCADE"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("definition", Json, nullable=False),
    Column("trigger_type", String(40), nullable=False),
    Column("published_at", UTCDateTime(), nullable=False),
    Column("published_by", ID),
    UniqueConstraint("automation_id", "number", name="uq_automation_versions_number"),
    sqlite_autoincrement=True,
)

runs = Table(
    "runs",
    metadata,
    _id(),
    Column("workspace_id", ID, nullable=False),
    Column("automation_id", ID, nullable=False),
    Column("version_id", ID, ForeignKey("automation_versions.id"), nullable=False),
    Column("record_id", ID),
    Column("trigger_event_id", ID),
    Column("enrollment_key", String(200), nullable=False),
    Column("status", String(20), nullable=False),
    Column("state", Json, nullable=False),
    Column("wake_at", UTCDateTime()),
    Column("wait_event", String(40)),
    Column("resume_event", String(40)),
    Column("bound_stage_id", ID),
    Column("depth", Integer, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("error", Text),
    Column("failed_step", String(63)),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime()),
    UniqueConstraint("workspace_id", "enrollment_key", name="uq_runs_enrollment"),
    Index(
        "ix_runs_due",
        "wake_at",
        sqlite_where=text("status = 'waiting'"),
        postgresql_where=text("status = 'waiting'"),
    ),
    Index("ix_runs_record", "record_id", "status"),
    Index("ix_runs_automation", "automation_id", "record_id"),
    Index("ix_runs_list", "workspace_id", "id"),
    sqlite_autoincrement=True,
)

run_steps = Table(
    "run_steps",
    metadata,
    _id(),
    Column("run_id", ID, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("step_id", String(63), nullable=False),
    Column("iteration", String(200), nullable=False),
    Column("type", String(20), nullable=False),
    Column("status", String(20), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("input", Json),
    Column("output", Json),
    Column("error", Text),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime(), nullable=False),
    # The idempotency key of a step execution (DESIGN "Automations, versions and runs").
    UniqueConstraint("run_id", "step_id", "iteration", name="uq_run_steps_key"),
)

enrollment_skips = Table(
    "enrollment_skips",
    metadata,
    _id(),
    Column("workspace_id", ID, nullable=False),
    Column("automation_id", ID, nullable=False),
    Column("version_id", ID, nullable=False),
    Column("record_id", ID),
    Column("event_id", ID),
    Column("event_type", String(40)),
    Column("reason", String(40), nullable=False),
    Column("detail", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_enrollment_skips_record", "workspace_id", "record_id", "id"),
    sqlite_autoincrement=True,
)

# Conversations (SPEC L10): one per contact, fed by messages on any channel.
contact_channels = Table(
    "contact_channels",
    metadata,
    _id(),
    _workspace(),
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
    _id(),
    _workspace(),
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
    _id(),
    _workspace(),
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
    _id(),
    _workspace(),
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

# External effects queued by actions, delivered by the courier after the run's transaction
# commits (DESIGN "Workers and scale-out"); one row per idempotency key.
outbox = Table(
    "outbox",
    metadata,
    _id(),
    _workspace(),
    Column("kind", String(20), nullable=False),
    Column("idempotency_key", String(300), nullable=False),
    Column("payload", Json, nullable=False),
    Column("status", String(20), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("max_attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    Column("run_id", ID),
    Column("step_id", String(100)),
    Column("record_id", ID),
    Column("last_error", Text),
    Column("last_result", Json),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("delivered_at", UTCDateTime()),
    UniqueConstraint("workspace_id", "idempotency_key", name="uq_outbox_key"),
    Index("ix_outbox_due", "status", "next_attempt_at"),
    Index("ix_outbox_list", "workspace_id", "id"),
    Index("ix_outbox_record", "workspace_id", "record_id", "id"),
    sqlite_autoincrement=True,
)

# A workspace's secrets (webhook signing secret, SMTP password), sealed with the
# installation's key (adapters/crypto).
workspace_secrets = Table(
    "workspace_secrets",
    metadata,
    _workspace(),
    Column("name", String(60), nullable=False),
    Column("sealed", Text, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("workspace_id", "name", name="pk_workspace_secrets"),
)

# Named email templates (subject, HTML and text, each a sandboxed Jinja2 template) that the
# send_email action renders for a record.
email_templates = Table(
    "email_templates",
    metadata,
    _id(),
    _workspace(),
    Column("name", String(120), nullable=False),
    Column("subject", Text, nullable=False),
    Column("html", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("workspace_id", "name", name="uq_email_templates_name"),
    sqlite_autoincrement=True,
)

# In-app notifications for users (the notify_user action), newest first per user.
notifications = Table(
    "notifications",
    metadata,
    _id(),
    _workspace(),
    Column("user_id", ID, nullable=False),
    Column("record_id", ID),
    Column("run_id", ID),
    Column("title", String(300), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("read_at", UTCDateTime()),
    Index("ix_notifications_user", "workspace_id", "user_id", "id"),
    sqlite_autoincrement=True,
)

# Where each round-robin assignment stands (per automation step): the next pick is
# ``turns`` modulo the team's size, counted up in the transaction that assigns.
assignment_rotations = Table(
    "assignment_rotations",
    metadata,
    _workspace(),
    Column("key", String(200), nullable=False),
    Column("turns", BigInteger, nullable=False),
    PrimaryKeyConstraint("workspace_id", "key", name="pk_assignment_rotations"),
)

# Report templates: HTML (a sandboxed Jinja2 template) rendered for a record and made a PDF.
report_templates = Table(
    "report_templates",
    metadata,
    _id(),
    _workspace(),
    Column("name", String(120), nullable=False),
    Column("title", String(300), nullable=False),
    Column("html", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("workspace_id", "name", name="uq_report_templates_name"),
    sqlite_autoincrement=True,
)

# Files kept on a record (generated reports), bytes and all.
files = Table(
    "files",
    metadata,
    _id(),
    _workspace(),
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

# Documents sent for e-signature (request_signature) and what became of them; the provider
# reports back to a callback URL signed with the installation's key (adapters/crypto).
signature_requests = Table(
    "signature_requests",
    metadata,
    _id(),
    _workspace(),
    Column("record_id", ID, ForeignKey("records.id", ondelete="CASCADE"), nullable=False),
    Column("file_id", ID, nullable=False),
    Column("signers", Json, nullable=False),
    Column("status", String(20), nullable=False),
    Column("provider_reference", String(200)),
    Column("signed_file_id", ID),
    Column("run_id", ID),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime()),
    Index("ix_signature_requests_record", "workspace_id", "record_id", "id"),
    sqlite_autoincrement=True,
)

# Sub-states of opportunities (SPEC E1): each opens and closes on its own.
record_substates = Table(
    "record_substates",
    metadata,
    _workspace(),
    Column("record_id", ID, ForeignKey("records.id", ondelete="CASCADE"), nullable=False),
    Column("substate", String(100), nullable=False),
    Column("status", String(10), nullable=False),
    Column("opened_at", UTCDateTime(), nullable=False),
    Column("closed_at", UTCDateTime()),
    PrimaryKeyConstraint("record_id", "substate", name="pk_record_substates"),
)

# Rules users attach to a stage (SPEC B) or to a sub-state of an opportunity type (SPEC E).
# Each is compiled onto the engine: the rules that run one after another form one automation,
# owned by the first of them (``automation_id``).
rules = Table(
    "rules",
    metadata,
    _id(),
    _workspace(),
    Column("kind", String(30), nullable=False),  # stage_rule | substate_action
    Column("pipeline_id", ID, ForeignKey("pipelines.id", ondelete="CASCADE")),
    Column("stage_id", ID, ForeignKey("stages.id", ondelete="CASCADE")),
    Column("opportunity_type", String(100)),
    Column("substate", String(100)),
    Column("group", String(50), nullable=False),
    Column("position", Integer, nullable=False),
    Column("name", String(200), nullable=False),
    Column("spec", Json, nullable=False),
    Column("automation_id", ID, ForeignKey("automations.id", ondelete="SET NULL")),
    Column("version", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_rules_stage", "workspace_id", "stage_id", "position"),
    Index("ix_rules_substate", "workspace_id", "opportunity_type", "substate", "position"),
    sqlite_autoincrement=True,
)

# Opportunity types (SPEC E1): each with ordered states and named sub-states, each sub-state
# belonging to one of its states or to the type itself. An opportunity's ``opportunity_type``
# field names its type; sub-state actions (``rules`` of kind substate_action) name it too.
opportunity_types = Table(
    "opportunity_types",
    metadata,
    _id(),
    _workspace(),
    Column("name", String(100), nullable=False),
    Column("states", Json, nullable=False),  # ["Documentation", "Installation", ...]
    Column("substates", Json, nullable=False),  # [{"name": ..., "state": ... | null}, ...]
    Column("version", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("workspace_id", "name", name="uq_opportunity_types_name"),
    sqlite_autoincrement=True,
)

"""Automations, their versions, runs, steps and skips; the outbox; rotations; stage rules; the
stored virtual clock."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
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

automations = Table(
    "automations",
    metadata,
    id_column(),
    workspace_column(),
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
    id_column(),
    workspace_column(),
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
    id_column(),
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
    id_column(),
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
    id_column(),
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

# External effects queued by actions, delivered by the courier after the run's transaction
# commits (DESIGN "Workers and scale-out"); one row per idempotency key.
outbox = Table(
    "outbox",
    metadata,
    id_column(),
    workspace_column(),
    Column("kind", String(20), nullable=False),
    Column("idempotency_key", String(300), nullable=False),
    Column("payload", Json, nullable=False),
    Column("status", String(20), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("max_attempts", Integer, nullable=False),
    # When the delivery is due, on the application's clock (virtual in a rehearsal): first
    # at once, then after each retryable failure's backoff.
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    # A courier's claim, on the real (system) clock, never the virtual one: advancing virtual
    # time must not take a send in flight away from the courier doing it.
    Column("leased_until", UTCDateTime()),
    # Set just before the message is handed to a receiver that cannot recognise a repeat
    # (an SMTP server); a delivery found handed over with no outcome is never sent again.
    Column("handed_over_at", UTCDateTime()),
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

# Where each round-robin assignment stands (per automation step): the next pick is
# ``turns`` modulo the team's size, counted up in the transaction that assigns.
assignment_rotations = Table(
    "assignment_rotations",
    metadata,
    workspace_column(),
    Column("key", String(200), nullable=False),
    Column("turns", BigInteger, nullable=False),
    PrimaryKeyConstraint("workspace_id", "key", name="pk_assignment_rotations"),
)

# Rules users attach to a stage (SPEC B) or to a sub-state of an opportunity type (SPEC E).
# Each is compiled onto the engine: the rules that run one after another form one automation,
# owned by the first of them (``automation_id``).
rules = Table(
    "rules",
    metadata,
    id_column(),
    workspace_column(),
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

# A database rehearsed in virtual time keeps its "now" here, one row, so every process on it
# (server, workers, command line) sees the same time, and a restart resumes where it stood.
virtual_clock = Table(
    "virtual_clock",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("now", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

"""Workspaces, users and tokens, pipelines and stages, picklists, fields, sealed secrets."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

from stageflow.adapters.db.tables.schema import (
    ID,
    Json,
    UTCDateTime,
    id_column,
    metadata,
    workspace_column,
)

workspaces = Table(
    "workspaces",
    metadata,
    id_column(),
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
    id_column(),
    workspace_column(),
    Column("email", String(320), nullable=False),
    Column("name", String(200), nullable=False),
    Column("role", String(20), nullable=False),
    Column("permissions", Json, nullable=False),
    Column("password_hash", String(200)),
    # A one-time password: the user chooses their own at the next sign-in.
    Column("must_change_password", Boolean, nullable=False, default=False, server_default=false()),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("workspace_id", "email", name="uq_users_workspace_email"),
    sqlite_autoincrement=True,
)

api_tokens = Table(
    "api_tokens",
    metadata,
    id_column(),
    workspace_column(),
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
    id_column(),
    workspace_column(),
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
    id_column(),
    workspace_column(),
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
    id_column(),
    workspace_column(),
    Column("key", String(63), nullable=False),
    Column("options", Json, nullable=False),
    UniqueConstraint("workspace_id", "key", name="uq_picklists_workspace_key"),
    sqlite_autoincrement=True,
)

field_definitions = Table(
    "field_definitions",
    metadata,
    id_column(),
    workspace_column(),
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

# A workspace's secrets (webhook signing secret, SMTP password), sealed with the
# installation's key (adapters/crypto).
workspace_secrets = Table(
    "workspace_secrets",
    metadata,
    workspace_column(),
    Column("name", String(60), nullable=False),
    Column("sealed", Text, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("workspace_id", "name", name="pk_workspace_secrets"),
)

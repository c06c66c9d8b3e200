"""Email and report templates, in-app notifications, e-signature requests."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    Integer,
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

# Named email templates (subject, HTML and text, each a sandboxed Jinja2 template) that the
# send_email action renders for a record.
email_templates = Table(
    "email_templates",
    metadata,
    id_column(),
    workspace_column(),
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
    id_column(),
    workspace_column(),
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

# Report templates: HTML (a sandboxed Jinja2 template) rendered for a record and made a PDF.
report_templates = Table(
    "report_templates",
    metadata,
    id_column(),
    workspace_column(),
    Column("name", String(120), nullable=False),
    Column("title", String(300), nullable=False),
    Column("html", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("workspace_id", "name", name="uq_report_templates_name"),
    sqlite_autoincrement=True,
)

# Documents sent for e-signature (request_signature) and what became of them; the provider
# reports back to a callback URL signed with the installation's key (adapters/crypto).
signature_requests = Table(
    "signature_requests",
    metadata,
    id_column(),
    workspace_column(),
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

"""The database schema, as SQLAlchemy Core tables by family. Alembic migrations must match it;
code reads them as ``from stageflow.adapters.db import tables as t`` and ``t.runs``."""

from __future__ import annotations

from stageflow.adapters.db.tables.channels import (
    email_templates,
    notifications,
    report_templates,
    signature_requests,
)
from stageflow.adapters.db.tables.engine import (
    assignment_rotations,
    automation_versions,
    automations,
    enrollment_skips,
    outbox,
    rules,
    run_steps,
    runs,
    virtual_clock,
)
from stageflow.adapters.db.tables.lifecycle import (
    contact_channels,
    contact_imports,
    conversations,
    lifecycle_changes,
    lifecycle_counts,
    lifecycle_daily,
    lifecycle_stages,
    messages,
    segments,
)
from stageflow.adapters.db.tables.records import (
    activities,
    associations,
    events,
    files,
    opportunity_types,
    record_substates,
    records,
)
from stageflow.adapters.db.tables.schema import ID, Json, UTCDateTime, metadata
from stageflow.adapters.db.tables.workspaces import (
    api_tokens,
    field_definitions,
    picklists,
    pipelines,
    stages,
    users,
    workspace_secrets,
    workspaces,
)

__all__ = [
    "ID",
    "Json",
    "UTCDateTime",
    "activities",
    "api_tokens",
    "assignment_rotations",
    "associations",
    "automation_versions",
    "automations",
    "contact_channels",
    "contact_imports",
    "conversations",
    "email_templates",
    "enrollment_skips",
    "events",
    "field_definitions",
    "files",
    "lifecycle_changes",
    "lifecycle_counts",
    "lifecycle_daily",
    "lifecycle_stages",
    "messages",
    "metadata",
    "notifications",
    "opportunity_types",
    "outbox",
    "picklists",
    "pipelines",
    "record_substates",
    "records",
    "report_templates",
    "rules",
    "run_steps",
    "runs",
    "segments",
    "signature_requests",
    "stages",
    "users",
    "virtual_clock",
    "workspace_secrets",
    "workspaces",
]

"""Response models of the REST API (request bodies are the service commands), by area."""

from __future__ import annotations

from stageflow.entrypoints.api.schemas.channels import (
    DeliveryOut,
    EmailTemplateOut,
    FileOut,
    NotificationOut,
    ReportTemplateOut,
)
from stageflow.entrypoints.api.schemas.common import ErrorOut, PageOut
from stageflow.entrypoints.api.schemas.lifecycle import (
    ConversationOut,
    DeletePreviewOut,
    InboundOut,
    LifecycleSetOut,
    LifecycleStageOut,
    LifecycleStagesOut,
    MessageOut,
    SegmentOut,
)
from stageflow.entrypoints.api.schemas.records import ActivityOut, ActorOut, EventOut, RecordOut
from stageflow.entrypoints.api.schemas.workspace import (
    FieldOut,
    NewTokenOut,
    PipelineOut,
    StageOut,
    TokenOut,
    UserOut,
)

__all__ = [
    "ActivityOut",
    "ActorOut",
    "ConversationOut",
    "DeletePreviewOut",
    "DeliveryOut",
    "EmailTemplateOut",
    "ErrorOut",
    "EventOut",
    "FieldOut",
    "FileOut",
    "InboundOut",
    "LifecycleSetOut",
    "LifecycleStageOut",
    "LifecycleStagesOut",
    "MessageOut",
    "NewTokenOut",
    "NotificationOut",
    "PageOut",
    "PipelineOut",
    "RecordOut",
    "ReportTemplateOut",
    "SegmentOut",
    "StageOut",
    "TokenOut",
    "UserOut",
]

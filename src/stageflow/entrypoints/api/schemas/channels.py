"""Deliveries, email and report templates, notifications and files as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class DeliveryOut(BaseModel):
    """One queued external effect (a webhook request, an email) and how its delivery went."""

    id: int
    kind: str
    status: str = Field(description="pending, delivered or failed")
    attempts: int
    max_attempts: int
    next_attempt_at: datetime | None = Field(description="When a pending delivery is tried next")
    idempotency_key: str
    run_id: int | None
    step_id: str | None
    record_id: int | None
    payload: dict[str, Any]
    last_error: str | None
    last_result: dict[str, Any] | None
    created_at: datetime
    delivered_at: datetime | None
    handed_over_at: datetime | None = Field(
        description="Emails: when the message was handed to the SMTP server (never twice)"
    )

    @classmethod
    def of(cls, row: Any) -> DeliveryOut:
        return cls(
            id=row.id,
            kind=row.kind,
            status=row.status,
            attempts=row.attempts,
            max_attempts=row.max_attempts,
            next_attempt_at=row.next_attempt_at if row.status == "pending" else None,
            idempotency_key=row.idempotency_key,
            run_id=row.run_id,
            step_id=row.step_id,
            record_id=row.record_id,
            payload=row.payload,
            last_error=row.last_error,
            last_result=row.last_result,
            created_at=row.created_at,
            delivered_at=row.delivered_at,
            handed_over_at=row.handed_over_at,
        )


class EmailTemplateOut(BaseModel):
    id: int
    name: str
    subject: str
    html: str
    text: str
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Any) -> EmailTemplateOut:
        return cls(
            id=row.id,
            name=row.name,
            subject=row.subject,
            html=row.html,
            text=row.text,
            version=row.version,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


class NotificationOut(BaseModel):
    id: int
    title: str
    body: str
    record_id: int | None
    run_id: int | None
    created_at: datetime
    read_at: datetime | None

    @classmethod
    def of(cls, row: Any) -> NotificationOut:
        return cls(
            id=row.id,
            title=row.title,
            body=row.body,
            record_id=row.record_id,
            run_id=row.run_id,
            created_at=row.created_at,
            read_at=row.read_at,
        )


class ReportTemplateOut(BaseModel):
    id: int
    name: str
    title: str
    html: str
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Any) -> ReportTemplateOut:
        return cls(
            id=row.id,
            name=row.name,
            title=row.title,
            html=row.html,
            version=row.version,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


class FileOut(BaseModel):
    id: int
    record_id: int
    filename: str
    content_type: str
    size: int
    sha256: str
    source: str = Field(description="What made it, e.g. report:quote")
    run_id: int | None
    created_at: datetime

    @classmethod
    def of(cls, row: Any) -> FileOut:
        return cls(
            id=row.id,
            record_id=row.record_id,
            filename=row.filename,
            content_type=row.content_type,
            size=row.size,
            sha256=row.sha256,
            source=row.source,
            run_id=row.run_id,
            created_at=row.created_at,
        )

"""Reports: HTML templates rendered for a record and kept on it as PDF files (SPEC E3)."""

from __future__ import annotations

import hashlib
from typing import Any

from stageflow.domain.errors import NotFound
from stageflow.domain.events import Actor, Event, EventType
from stageflow.domain.references import RefKind
from stageflow.domain.users import Principal
from stageflow.services.channels import templates as named
from stageflow.services.channels.templates import TemplateKind
from stageflow.services.commands import CreateReportTemplate, UpdateReportTemplate
from stageflow.services.crm.records import get_visible
from stageflow.services.unit_of_work import UnitOfWork

REPORT_TEMPLATES = TemplateKind(
    label="report template",
    repository=lambda uow: uow.report_templates,
    texts=("title", "html"),
    saved=EventType.REPORT_TEMPLATE_SAVED,
    deleted=EventType.REPORT_TEMPLATE_DELETED,
    ref=RefKind.REPORT_TEMPLATE,
)


def get_template(uow: UnitOfWork, principal: Principal, template_id: int) -> Any:
    return named.get(REPORT_TEMPLATES, uow, principal, template_id)


def create_template(
    uow: UnitOfWork, principal: Principal, cmd: CreateReportTemplate, actor: Actor
) -> Any:
    texts = {"title": cmd.title, "html": cmd.html}
    return named.create(REPORT_TEMPLATES, uow, principal, cmd.name, texts, actor)


def update_template(
    uow: UnitOfWork,
    principal: Principal,
    template_id: int,
    cmd: UpdateReportTemplate,
    actor: Actor,
) -> Any:
    changes = cmd.model_dump(exclude_unset=True)
    return named.update(REPORT_TEMPLATES, uow, principal, template_id, changes, actor)


def delete_template(uow: UnitOfWork, principal: Principal, template_id: int, actor: Actor) -> None:
    named.delete(REPORT_TEMPLATES, uow, principal, template_id, actor)


def keep_file(
    uow: UnitOfWork,
    workspace_id: int,
    record_id: int,
    *,
    filename: str,
    content_type: str,
    data: bytes,
    source: str,
    actor: Actor,
) -> int:
    """Keep a file on a record, with a FileAdded event on its timeline."""
    digest = hashlib.sha256(data).hexdigest()
    now = uow.clock.now()
    file_id = uow.reports.add_file(
        workspace_id,
        record_id,
        filename=filename,
        content_type=content_type,
        size=len(data),
        sha256=digest,
        data=data,
        source=source,
        run_id=actor.run_id,
        created_at=now,
    )
    uow.emit(
        [
            Event(
                EventType.FILE_ADDED,
                workspace_id,
                actor,
                now,
                record_id=record_id,
                data={
                    "file_id": file_id,
                    "filename": filename,
                    "size": len(data),
                    "sha256": digest,
                },
            )
        ]
    )
    return file_id


def files_of(uow: UnitOfWork, principal: Principal, record_id: int) -> list[Any]:
    get_visible(uow, principal, None, record_id)
    return uow.reports.files_of(principal.workspace_id, record_id)


def get_file(uow: UnitOfWork, principal: Principal, file_id: int, *, data: bool) -> Any:
    row = uow.reports.file(principal.workspace_id, file_id, data=data)
    if row is None:
        raise NotFound(f"file {file_id} not found")
    try:
        get_visible(uow, principal, None, row.record_id)
    except NotFound:
        raise NotFound(f"file {file_id} not found") from None
    return row

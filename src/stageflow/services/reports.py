"""Reports: HTML templates rendered for a record and kept on it as PDF files (SPEC E3)."""

from __future__ import annotations

import hashlib
from typing import Any

from stageflow.automation import templates
from stageflow.domain.errors import Conflict, NotFound, StaleVersion, ValidationFailed
from stageflow.domain.events import Actor, Event, EventType
from stageflow.domain.users import Permission, Principal
from stageflow.services.commands import CreateReportTemplate, UpdateReportTemplate
from stageflow.services.records import get_visible
from stageflow.services.unit_of_work import UnitOfWork


def get_template(uow: UnitOfWork, principal: Principal, template_id: int) -> Any:
    row = uow.reports.template(principal.workspace_id, template_id)
    if row is None:
        raise NotFound(f"report template {template_id} not found")
    return row


def create_template(
    uow: UnitOfWork, principal: Principal, cmd: CreateReportTemplate, actor: Actor
) -> Any:
    principal.require(Permission.AUTOMATIONS_EDIT)
    ws = principal.workspace_id
    name = cmd.name.strip()
    if uow.reports.template_by_name(ws, name) is not None:
        raise Conflict(f"a report template named '{name}' exists", field="name")
    _check_texts(title=cmd.title, html=cmd.html)
    template_id = uow.reports.add_template(
        ws, name=name, title=cmd.title, html=cmd.html, now=uow.clock.now()
    )
    uow.emit_config(ws, actor, EventType.REPORT_TEMPLATE_SAVED, template_id=template_id, name=name)
    return get_template(uow, principal, template_id)


def update_template(
    uow: UnitOfWork,
    principal: Principal,
    template_id: int,
    cmd: UpdateReportTemplate,
    actor: Actor,
) -> Any:
    principal.require(Permission.AUTOMATIONS_EDIT)
    ws = principal.workspace_id
    row = get_template(uow, principal, template_id)
    values = cmd.model_dump(exclude_unset=True, exclude_none=True)
    if "name" in values:
        values["name"] = values["name"].strip()
        other = uow.reports.template_by_name(ws, values["name"])
        if other is not None and other.id != template_id:
            raise Conflict(f"a report template named '{values['name']}' exists", field="name")
    _check_texts(title=values.get("title", row.title), html=values.get("html", row.html))
    if values:
        values["updated_at"] = uow.clock.now()
        if not uow.reports.save_template(ws, template_id, row.version, values):
            raise StaleVersion("the template changed meanwhile; read it again")
        uow.emit_config(
            ws,
            actor,
            EventType.REPORT_TEMPLATE_SAVED,
            template_id=template_id,
            name=values.get("name", row.name),
        )
    return get_template(uow, principal, template_id)


def delete_template(uow: UnitOfWork, principal: Principal, template_id: int, actor: Actor) -> None:
    principal.require(Permission.AUTOMATIONS_EDIT)
    row = get_template(uow, principal, template_id)
    uow.reports.delete_template(principal.workspace_id, template_id)
    uow.emit_config(
        principal.workspace_id,
        actor,
        EventType.REPORT_TEMPLATE_DELETED,
        template_id=template_id,
        name=row.name,
    )


def _check_texts(*, title: str, html: str) -> None:
    for name, source in (("title", title), ("html", html)):
        try:
            templates.references(source)
        except templates.TemplateProblem as exc:
            raise ValidationFailed(str(exc), field=name) from None


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

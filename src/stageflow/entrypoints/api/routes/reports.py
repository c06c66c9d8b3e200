"""`/api/v1/report-templates` and `/api/v1/files`: report templates for generate_report, and
the files (PDF reports) kept on records."""

from __future__ import annotations

from enum import Enum
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Response

from stageflow.entrypoints.api.deps import Caller, PathId, get_caller
from stageflow.entrypoints.api.schemas import FileOut, ReportTemplateOut
from stageflow.services import reports as service
from stageflow.services.commands import CreateReportTemplate, UpdateReportTemplate

router = APIRouter()
R: list[str | Enum] = ["Reports and files"]


@router.get("/report-templates", tags=R, summary="Report templates, by name")
def list_templates(caller: Caller = Depends(get_caller)) -> list[ReportTemplateOut]:
    with caller.uow(read_only=True) as uow:
        return [ReportTemplateOut.of(r) for r in uow.reports.templates(caller.workspace_id)]


@router.post(
    "/report-templates",
    tags=R,
    status_code=201,
    summary="Create a report template (HTML, a sandboxed Jinja2 template)",
)
def create_template(
    cmd: CreateReportTemplate, caller: Caller = Depends(get_caller)
) -> ReportTemplateOut:
    with caller.uow() as uow:
        row = service.create_template(uow, caller.principal, cmd, caller.actor)
        uow.commit()
    return ReportTemplateOut.of(row)


@router.get("/report-templates/{template_id}", tags=R, summary="Read a report template")
def get_template(template_id: PathId, caller: Caller = Depends(get_caller)) -> ReportTemplateOut:
    with caller.uow(read_only=True) as uow:
        return ReportTemplateOut.of(service.get_template(uow, caller.principal, template_id))


@router.patch("/report-templates/{template_id}", tags=R, summary="Change a report template")
def update_template(
    template_id: PathId, cmd: UpdateReportTemplate, caller: Caller = Depends(get_caller)
) -> ReportTemplateOut:
    with caller.uow() as uow:
        row = service.update_template(uow, caller.principal, template_id, cmd, caller.actor)
        uow.commit()
    return ReportTemplateOut.of(row)


@router.delete(
    "/report-templates/{template_id}", tags=R, status_code=204, summary="Delete a report template"
)
def delete_template(template_id: PathId, caller: Caller = Depends(get_caller)) -> Response:
    with caller.uow() as uow:
        service.delete_template(uow, caller.principal, template_id, caller.actor)
        uow.commit()
    return Response(status_code=204)


@router.get("/files", tags=R, summary="The files kept on a record, newest first")
def list_files(
    caller: Caller = Depends(get_caller), record: int = Query(description="The record's id")
) -> list[FileOut]:
    with caller.uow(read_only=True) as uow:
        return [FileOut.of(r) for r in service.files_of(uow, caller.principal, record)]


@router.get("/files/{file_id}", tags=R, summary="A file's details")
def get_file(file_id: PathId, caller: Caller = Depends(get_caller)) -> FileOut:
    with caller.uow(read_only=True) as uow:
        return FileOut.of(service.get_file(uow, caller.principal, file_id, data=False))


@router.get(
    "/files/{file_id}/content",
    tags=R,
    summary="Download a file",
    response_class=Response,
)
def download_file(file_id: PathId, caller: Caller = Depends(get_caller)) -> Response:
    with caller.uow(read_only=True) as uow:
        row = service.get_file(uow, caller.principal, file_id, data=True)
    return Response(
        content=bytes(row.data),
        media_type=row.content_type,
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(row.filename)}",
            "X-Content-Type-Options": "nosniff",
        },
    )

"""`/api/v1/report-templates`, `/api/v1/files` and e-signature: report templates for
generate_report, the files (PDF reports) kept on records, the e-signature provider, signature
requests and the provider's callback."""

from __future__ import annotations

from enum import Enum
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request, Response

from stageflow.bootstrap import App
from stageflow.entrypoints.api.deps import Caller, PathId, get_caller
from stageflow.entrypoints.api.schemas import FileOut, ReportTemplateOut
from stageflow.services.channels import esign
from stageflow.services.channels import reports as service
from stageflow.services.commands import (
    CreateReportTemplate,
    EsignSettings,
    SignatureCallback,
    UpdateReportTemplate,
)

router = APIRouter()
R: list[str | Enum] = ["Reports and files"]


@router.get("/report-templates", tags=R, summary="Report templates, by name")
def list_templates(caller: Caller = Depends(get_caller)) -> list[ReportTemplateOut]:
    with caller.uow(read_only=True) as uow:
        return [ReportTemplateOut.of(r) for r in uow.report_templates.list(caller.workspace_id)]


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


@router.get("/workspace/esign", tags=R, summary="The e-signature provider")
def get_esign(caller: Caller = Depends(get_caller)) -> dict[str, Any]:
    with caller.uow(read_only=True) as uow:
        return esign.esign_view(uow, caller.principal)


@router.put(
    "/workspace/esign",
    tags=R,
    summary="Set the e-signature provider (the authorization is stored encrypted)",
)
def set_esign(cmd: EsignSettings, caller: Caller = Depends(get_caller)) -> dict[str, Any]:
    with caller.uow() as uow:
        view = esign.set_esign(uow, caller.app.secret_box(), caller.principal, cmd, caller.actor)
        uow.commit()
    return view


@router.get("/signature-requests", tags=R, summary="A record's signature requests, newest first")
def signature_requests(
    caller: Caller = Depends(get_caller), record: int = Query(description="The record's id")
) -> list[dict[str, Any]]:
    with caller.uow(read_only=True) as uow:
        return [
            {
                "id": r.id,
                "record_id": r.record_id,
                "file_id": r.file_id,
                "signed_file_id": r.signed_file_id,
                "signers": r.signers,
                "status": r.status,
                "provider_reference": r.provider_reference,
                "run_id": r.run_id,
                "created_at": r.created_at,
                "finished_at": r.finished_at,
            }
            for r in esign.requests_of(uow, caller.principal, record)
        ]


@router.post(
    "/esign/callback/{request_id}/{token}",
    tags=R,
    summary="Where the e-signature provider reports an outcome (the URL is the credential)",
)
def esign_callback(
    request_id: PathId, token: str, cmd: SignatureCallback, request: Request
) -> dict[str, Any]:
    app: App = request.app.state.stageflow
    with app.uow() as uow:
        result = esign.provider_callback(uow, app.secret_box(), request_id, token, cmd)
        uow.commit()
    return result

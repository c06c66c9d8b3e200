"""Contacts → Import CSV: upload a file, see where each column goes and which rows would
fail, import in the background with progress, then a summary with the failed rows to
download. The work is ``services.crm.import_jobs``; the job lives in the database, so any
process shows its progress."""

from __future__ import annotations

import threading
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from stageflow.domain.errors import StageflowError
from stageflow.domain.users import Permission
from stageflow.entrypoints.web.auth import WebUser, require_csrf, signed_in_user
from stageflow.entrypoints.web.pages.boards import error_page, is_htmx
from stageflow.entrypoints.web.pages.htmx_helpers import sentence
from stageflow.entrypoints.web.render import page
from stageflow.services.crm import import_jobs, imports
from stageflow.services.crm.lifecycle import list_stages

router = APIRouter()
PATH = "/contacts/import"
CSRF = [Depends(require_csrf)]
TARGET_LABELS = {
    "name": "Name",
    "owner": "Owner (email or id)",
    "source": "Source",
    "lifecycle_stage": "Lifecycle stage",
}


@router.get(PATH, response_class=HTMLResponse)
def upload_page(request: Request, user: WebUser = Depends(signed_in_user)) -> Response:
    try:
        user.principal.require(Permission.RECORDS_EDIT_ALL)
    except StageflowError as exc:
        return error_page(request, user, exc)
    return _upload_form(request, user)


@router.post(PATH, response_class=HTMLResponse)
async def upload(request: Request, user: WebUser = Depends(signed_in_user)) -> Response:
    size = request.headers.get("content-length", "")
    if size.isdigit() and int(size) > 10 * import_jobs.MAX_BYTES:
        # Far too big: refused before the body is spooled to disk (the browser may see the
        # connection close before it has sent everything). Up to this, the body is read
        # and the service refuses it with the same words, which every browser shows.
        message = (
            f"The file is {int(size) / 1024 / 1024:.1f} MB; at most "
            f"{import_jobs.MAX_BYTES // 1024 // 1024} MB can be uploaded (split it, or use "
            "`stageflow contacts import`)"
        )
        return _upload_form(request, user, message, status=413)
    await require_csrf(request)
    file = (await request.form()).get("file")
    if not isinstance(file, UploadFile) or not file.filename:
        return _upload_form(request, user, "Choose a CSV file to upload", status=422)
    data = await file.read(import_jobs.MAX_BYTES + 1)
    try:
        with user.uow() as uow:
            job_id = import_jobs.upload(uow, user.principal, file.filename, data)
            uow.commit()
    except StageflowError as exc:
        if exc.status == 403:
            return error_page(request, user, exc)
        return _upload_form(request, user, sentence(exc.message), status=422)
    return RedirectResponse(f"{PATH}/{job_id}", status_code=303)


@router.get(PATH + "/{job_id:int}", response_class=HTMLResponse)
def job_page(request: Request, job_id: int, user: WebUser = Depends(signed_in_user)) -> Response:
    """The preview while the import waits to start (with the mapping of the query, when a
    select changed), then its progress and summary."""
    mapping = _mapping_of(request)
    try:
        with user.uow() as uow:
            job = import_jobs.progress(uow, user.principal, job_id)
            uow.commit()
        if job.status != import_jobs.UPLOADED:
            return page(request, "contact_import.html", {"job": job}, user=user, active="/contacts")
        return _preview(request, user, job, mapping)
    except StageflowError as exc:
        return error_page(request, user, exc)


@router.post(PATH + "/{job_id:int}/start", dependencies=CSRF, response_class=HTMLResponse)
async def start(request: Request, job_id: int, user: WebUser = Depends(signed_in_user)) -> Response:
    form = await request.form()
    given = {str(k): str(v) for k, v in form.items() if str(k).startswith("col-")}
    try:
        with user.uow() as uow:
            job = import_jobs.progress(uow, user.principal, job_id)
            columns = import_jobs.header(uow, user.principal, job_id)
            mapping = {c: given.get(f"col-{n}", imports.SKIP) for n, c in enumerate(columns)}
            import_jobs.start(uow, user.principal, job_id, mapping)
            uow.commit()
    except StageflowError as exc:
        if exc.status in (403, 404):
            return error_page(request, user, exc)
        if job.status != import_jobs.UPLOADED:  # started already (another tab, a double click)
            return RedirectResponse(f"{PATH}/{job_id}", status_code=303)
        return _preview(request, user, job, given, status=422)
    runner = threading.Thread(
        target=import_jobs.run,
        args=(user.app.uow, user.principal.workspace_id, job_id),
        name=f"contact-import-{job_id}",
        daemon=True,
    )
    runner.start()
    return RedirectResponse(f"{PATH}/{job_id}", status_code=303)


@router.get(PATH + "/{job_id:int}/progress", response_class=HTMLResponse)
def progress(request: Request, job_id: int, user: WebUser = Depends(signed_in_user)) -> Response:
    """What the progress panel polls while the import runs."""
    try:
        with user.uow() as uow:
            job = import_jobs.progress(uow, user.principal, job_id)
            uow.commit()
    except StageflowError as exc:
        return Response(exc.message, status_code=exc.status, media_type="text/plain")
    return page(request, "partials/import_progress.html", {"job": job}, user=user)


@router.get(PATH + "/{job_id:int}/failed.csv")
def failed_rows(job_id: int, user: WebUser = Depends(signed_in_user)) -> Response:
    try:
        with user.uow(read_only=True) as uow:
            text = import_jobs.failed_rows_csv(uow, user.principal, job_id)
    except StageflowError as exc:
        return Response(exc.message, status_code=exc.status, media_type="text/plain")
    headers = {"Content-Disposition": f'attachment; filename="import-{job_id}-failed-rows.csv"'}
    return Response(text, media_type="text/csv; charset=utf-8", headers=headers)


def _upload_form(
    request: Request, user: WebUser, error: str | None = None, *, status: int = 200
) -> HTMLResponse:
    context = {"error": error, "max_mb": import_jobs.MAX_BYTES // 1024 // 1024}
    return page(
        request, "contact_import_upload.html", context, user=user, status=status, active="/contacts"
    )


def _mapping_of(request: Request) -> dict[str, str] | None:
    """The mapping a changed select sent: ``col-N`` is the file's N-th column."""
    given = {k: v for k, v in request.query_params.items() if k.startswith("col-")}
    return given or None


def _preview(
    request: Request,
    user: WebUser,
    job: Any,
    given: dict[str, str] | None,
    *,
    status: int = 200,
) -> HTMLResponse:
    """The mapping form and what the import would do with it; a mapping that cannot be used
    (two columns to one field) is shown with the error at the column's select."""
    errors: dict[str, str] = {}
    with user.uow(read_only=True) as uow:
        columns = import_jobs.header(uow, user.principal, job.id)
        mapping = None
        if given:
            mapping = {c: given.get(f"col-{n}", imports.SKIP) for n, c in enumerate(columns)}
        try:
            seen = import_jobs.preview(uow, user.principal, job.id, mapping)
        except StageflowError as exc:
            errors[exc.field or "form"] = sentence(exc.message)
            seen = import_jobs.preview(uow, user.principal, job.id)
            status = 422
        stages = {s.id: s.name for s in list_stages(uow, user.principal)}
    context = {
        "job": job,
        "preview": seen,
        "mapping": mapping or seen.mapping,
        "columns": list(enumerate(columns)),
        "labels": {t: TARGET_LABELS.get(t, t.replace("_", " ").capitalize()) for t in seen.targets},
        "stages": stages,
        "errors": errors,
        "skip": imports.SKIP,
    }
    partial = is_htmx(request) and request.method == "GET"
    name = "partials/import_preview.html" if partial else "contact_import.html"
    return page(request, name, context, user=user, status=status, active="/contacts")

"""The contacts screen: a paged list with lifecycle stages, filtered by stage, search or a
saved segment; "Save as segment"; and setting a contact's lifecycle stage from its row
(the same ``set_lifecycle_stage`` command as ``PUT /api/v1/contacts/{id}/lifecycle``)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from stageflow.domain.errors import StageflowError, StaleVersion, first_problem
from stageflow.domain.records import ObjectType
from stageflow.domain.users import Permission
from stageflow.entrypoints.web import contacts
from stageflow.entrypoints.web.auth import WebUser, require_csrf, signed_in_user
from stageflow.entrypoints.web.board import parse_id, users_by_id
from stageflow.entrypoints.web.pages.boards import error_page, is_htmx
from stageflow.entrypoints.web.render import page
from stageflow.services.commands import CreateSegment, SetLifecycleStage
from stageflow.services.crm import segments
from stageflow.services.crm.records import set_lifecycle_stage

router = APIRouter()


@router.get("/contacts", response_class=HTMLResponse)
def contacts_page(
    request: Request,
    stage: str | None = None,
    q: str | None = None,
    segment: str | None = None,
    cursor: str | None = None,
    user: WebUser = Depends(signed_in_user),
) -> Response:
    filters = contacts.ContactFilters.of(stage, q, segment)
    try:
        with user.uow(read_only=True) as uow:
            rows, next_cursor = contacts.list_page(uow, user, filters, cursor)
            context: dict[str, Any] = {
                "filters": filters,
                "rows": rows,
                "next_cursor": next_cursor,
                "first_page": cursor is None,
                "stages": list(contacts.stages_by_id(uow, user).values()),
                "segments": contacts.segments_of(uow, user.principal.workspace_id),
                "can_save": user.principal.has(Permission.RECORDS_READ_ALL),
                "can_import": user.principal.has(Permission.RECORDS_EDIT_ALL),
            }
    except StageflowError as exc:
        if is_htmx(request):
            return _refused(request, user, exc.message, exc.status)
        return error_page(request, user, exc)
    name = "partials/contacts_body.html" if is_htmx(request) else "contacts.html"
    return page(request, name, context, user=user, active="/contacts")


@router.post(
    "/contacts/{record_id}/lifecycle",
    dependencies=[Depends(require_csrf)],
    response_class=HTMLResponse,
)
def set_stage(
    request: Request,
    record_id: int,
    stage_id: Annotated[str, Form()] = "",
    version: Annotated[int | None, Form()] = None,
    user: WebUser = Depends(signed_in_user),
) -> Response:
    """Set, change or clear (empty ``stage_id``) a contact's lifecycle stage: the answer is
    its row as it is now, or the reason it did not change."""
    try:
        try:
            cmd = SetLifecycleStage(stage_id=parse_id(stage_id), version=version)
        except ValidationError as exc:
            raise first_problem(exc, named=False) from None
        with user.uow() as uow:
            record, _ = set_lifecycle_stage(
                uow, user.principal, ObjectType.CONTACT, record_id, cmd, user.actor
            )
            uow.commit()
        with user.uow(read_only=True) as uow:
            stages = contacts.stages_by_id(uow, user)
            names = users_by_id(uow, user.principal.workspace_id)
            row = contacts.rows_of([record], stages, names)[0]
    except StaleVersion as exc:
        message = (
            "Someone else changed this contact since the list was loaded, so its stage was "
            "not changed. Reload the page to see the latest."
        )
        return _refused(request, user, message, exc.status)
    except StageflowError as exc:
        return _refused(request, user, exc.message, exc.status)
    if not is_htmx(request):
        return RedirectResponse("/contacts", status_code=303)
    response = page(
        request,
        "partials/contact_row.html",
        {"row": row, "stages": list(stages.values())},
        user=user,
    )
    said = (
        f"'{row.name}' is now {row.stage_label}"
        if row.stage_label
        else f"'{row.name}' has no lifecycle stage now"
    )
    response.headers["HX-Trigger"] = json.dumps({"toast": said})
    return response


@router.post(
    "/contacts/segments", dependencies=[Depends(require_csrf)], response_class=HTMLResponse
)
def save_segment(
    request: Request,
    name: Annotated[str, Form()] = "",
    stage: Annotated[str | None, Form()] = None,
    q: Annotated[str | None, Form()] = None,
    user: WebUser = Depends(signed_in_user),
) -> Response:
    """Save the stage and search now applied as a named segment of contacts."""
    filters = contacts.ContactFilters.of(stage, q, None)
    own = filters.own_filter()
    try:
        if own is None:
            return _refused(
                request,
                user,
                "Choose a stage or search first: a segment saves the filter now applied.",
                422,
            )
        try:
            cmd = CreateSegment(name=name.strip(), object_type=ObjectType.CONTACT, filter=own)
        except ValidationError as exc:
            raise first_problem(exc, named=False) from None
        with user.uow() as uow:
            row = segments.create(uow, user.principal, cmd, user.actor)
            uow.commit()
        with user.uow(read_only=True) as uow:
            saved = contacts.segments_of(uow, user.principal.workspace_id)
    except StageflowError as exc:
        return _refused(request, user, exc.message, exc.status)
    if not is_htmx(request):
        return RedirectResponse(f"/contacts?segment={row.id}", status_code=303)
    chosen = contacts.ContactFilters(segment_id=row.id)
    response = page(
        request,
        "partials/segment_select.html",
        {"segments": saved, "filters": chosen},
        user=user,
    )
    response.headers["HX-Trigger"] = json.dumps({"toast": f"Saved segment '{row.name}'"})
    return response


def _refused(request: Request, user: WebUser, message: str, status: int) -> Response:
    """Nothing changed: an answer like any other (200, so the browser logs no failed
    request) that swaps nothing and says why through the ``refused`` event; ``X-Refused``
    keeps the status the API would give (as the board's moves do, see docs/ui.md). Without
    htmx, the reason is a page."""
    if not is_htmx(request):
        title = {404: "Not found", 403: "Not allowed"}.get(status, "That did not work")
        return page(
            request, "error.html", {"title": title, "message": message}, user=user, status=status
        )
    headers = {
        "HX-Reswap": "none",
        "HX-Trigger": json.dumps({"refused": message}),
        "X-Refused": str(status),
    }
    return Response(status_code=200, headers=headers)

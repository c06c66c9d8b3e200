"""Boards of leads, deals and opportunities: columns per stage, drag or "Move to…" to move a
card through the same ``move_record`` command the API uses, and a paged list view."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from stageflow.domain.errors import StageflowError, StaleVersion
from stageflow.domain.pipelines import StageKind
from stageflow.domain.records import LOST_REASON_FIELDS, ObjectType
from stageflow.entrypoints.web import board as boards
from stageflow.entrypoints.web.auth import WebUser, require_csrf, signed_in_user
from stageflow.entrypoints.web.render import page
from stageflow.services.commands import MoveRecord
from stageflow.services.crm.records import get_visible, move_record

router = APIRouter()
OptionalId = Annotated[str | None, Query()]


def filters_of(
    pipeline: str | None, owner: str | None, q: str | None, segment: str | None = None
) -> boards.BoardFilters:
    return boards.BoardFilters(
        pipeline_id=boards.parse_id(pipeline),
        owner_id=boards.parse_id(owner),
        q=(q or "")[:200],
        segment_id=boards.parse_id(segment),
    )


def is_htmx(request: Request) -> bool:
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


def error_page(request: Request, user: WebUser, exc: StageflowError) -> HTMLResponse:
    """A refusal from the service layer as a page, in its words."""
    title = {404: "Not found", 403: "Not allowed"}.get(exc.status, "That did not work")
    return page(
        request,
        "error.html",
        {"title": title, "message": exc.message},
        user=user,
        status=exc.status,
    )


@router.get("/boards/{slug}", response_class=HTMLResponse)
def board_page(
    request: Request,
    slug: str,
    pipeline: OptionalId = None,
    owner: OptionalId = None,
    q: str | None = None,
    segment: OptionalId = None,
    view: str = "board",
    cursor: str | None = None,
    user: WebUser = Depends(signed_in_user),
) -> Response:
    filters = filters_of(pipeline, owner, q, segment)
    try:
        object_type = boards.board_type(slug)
        with user.uow(read_only=True) as uow:
            filters = boards.with_segment(uow, user, object_type, filters)
            context: dict[str, Any]
            if view == "list":
                board, rows, next_cursor = boards.list_page(uow, user, object_type, filters, cursor)
                context = {
                    "board": board,
                    "view": "list",
                    "rows": rows,
                    "next_cursor": next_cursor,
                    "first_page": cursor is None,
                }
                partial = "partials/list_body.html"
            else:
                board = boards.load_board(uow, user, object_type, filters)
                context = {"board": board, "view": "board"}
                partial = "partials/board_body.html"
    except StageflowError as exc:
        return error_page(request, user, exc)
    name = "partials/board_filtered.html" if is_htmx(request) else "board.html"
    context["partial"] = partial
    return page(request, name, context, user=user, active=f"/boards/{slug}")


@router.get("/boards/{slug}/stages/{stage_id}/cards", response_class=HTMLResponse)
def more_cards(
    request: Request,
    slug: str,
    stage_id: int,
    cursor: str,
    pipeline: OptionalId = None,
    owner: OptionalId = None,
    q: str | None = None,
    segment: OptionalId = None,
    user: WebUser = Depends(signed_in_user),
) -> Response:
    """The next cards of a column (asked for when its end scrolls into view)."""
    filters = filters_of(pipeline, owner, q, segment)
    try:
        object_type = boards.board_type(slug)
        with user.uow(read_only=True) as uow:
            filters = boards.with_segment(uow, user, object_type, filters)
            _, chosen = boards.pipeline_of(uow, user, object_type, filters.pipeline_id)
            cards, next_cursor = boards.column_cards(
                uow, user, object_type, chosen, stage_id, filters, cursor
            )
    except StageflowError as exc:
        return Response(exc.message, status_code=exc.status)
    return page(
        request,
        "partials/more_cards.html",
        {
            "cards": cards,
            "next_cursor": next_cursor,
            "stage_id": stage_id,
            "board": {"slug": slug, "filters": filters, "pipeline": chosen},
        },
        user=user,
    )


@router.post(
    "/boards/{slug}/move", dependencies=[Depends(require_csrf)], response_class=HTMLResponse
)
def move(
    request: Request,
    slug: str,
    record_id: Annotated[int, Form(ge=1, lt=2**63)],
    stage_id: Annotated[int, Form(ge=1, lt=2**63)],
    version: Annotated[int | None, Form()] = None,
    reason: Annotated[str, Form()] = "",
    pipeline: Annotated[str | None, Form()] = None,
    owner: Annotated[str | None, Form()] = None,
    q: Annotated[str | None, Form()] = None,
    segment: Annotated[str | None, Form()] = None,
    user: WebUser = Depends(signed_in_user),
) -> Response:
    """Move a card: the answer is the card in its new column and both columns' new totals,
    or (stale version, no permission, ...) the reason it did not move."""
    filters = filters_of(pipeline, owner, q, segment)
    try:
        object_type = boards.board_type(slug)
        with user.uow() as uow:
            previous_stage = get_visible(uow, user.principal, object_type, record_id).stage_id
            reason_field = LOST_REASON_FIELDS.get(object_type)
            fields = {reason_field: reason} if reason and reason_field else None
            record = move_record(
                uow,
                user.principal,
                object_type,
                record_id,
                MoveRecord(stage_id=stage_id, version=version, fields=fields),
                user.actor,
            )
            uow.commit()
        with user.uow(read_only=True) as uow:
            filters = boards.with_segment(uow, user, object_type, filters)
            _, chosen = boards.pipeline_of(uow, user, object_type, record.pipeline_id)
            names = boards.users_by_id(uow, user.principal.workspace_id)
            card = boards.cards_of(uow, [record], chosen, names)[0]
            heads = boards.column_head(
                uow,
                user,
                object_type,
                chosen,
                filters,
                {s for s in (previous_stage, record.stage_id) if s},
            )
    except StaleVersion as exc:
        message = (
            "Someone else changed this card since the board was loaded, so it was not moved. "
            "Reload the board to see the latest."
        )
        return _refused(request, slug, message, exc.status)
    except StageflowError as exc:
        return _refused(request, slug, exc.message, exc.status)
    stage = next(s for s in chosen.stages if s.id == record.stage_id)
    if not is_htmx(request):
        return RedirectResponse(f"/boards/{slug}", status_code=303)
    response = page(
        request,
        "partials/moved.html",
        {
            "card": card,
            "heads": heads,
            "board": {
                "slug": slug,
                "pipeline": chosen,
                "filters": filters,
                "has_amounts": object_type is not ObjectType.LEAD,
            },
        },
        user=user,
    )
    verb = "Marked lost" if stage.kind is StageKind.LOST else "Moved"
    response.headers["HX-Trigger"] = json.dumps(
        {"toast": f"{verb}: '{record.name}' is now in {stage.name}"}
    )
    return response


def _refused(request: Request, slug: str, message: str, status: int) -> Response:
    """The move did not happen. To the page this is an answer like any other (200: the
    browser logs no failed request), which swaps nothing and tells it, through the
    ``moveRefused`` event, to put the card back and say why; ``X-Refused`` keeps the HTTP
    status the API would give (409, 403, 422, ...) for logs and tests."""
    if not is_htmx(request):
        return RedirectResponse(f"/boards/{slug}", status_code=303)
    headers = {
        "HX-Reswap": "none",
        "HX-Trigger": json.dumps({"moveRefused": message}),
        "X-Refused": str(status),
    }
    return Response(status_code=200, headers=headers)

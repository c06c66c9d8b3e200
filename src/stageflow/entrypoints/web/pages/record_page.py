"""A record's page (deals, leads, contacts, companies, opportunities): its fields edited in
place, stage, associations, activities, sub-states, automation runs and timeline. The changes
themselves are in ``record_edits`` and ``record_activities``; this module shows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from stageflow.domain.errors import NotFound, StageflowError
from stageflow.domain.records import ObjectType
from stageflow.entrypoints.web import record_view
from stageflow.entrypoints.web.auth import WebUser, signed_in_user
from stageflow.entrypoints.web.board import parse_id
from stageflow.entrypoints.web.pages.boards import error_page
from stageflow.entrypoints.web.pages.htmx_helpers import refused, retarget, with_toast
from stageflow.entrypoints.web.render import page

router = APIRouter()
BY_PLURAL = {t.plural: t for t in ObjectType}


def record_id_of(object_type: ObjectType, raw: str) -> int:
    wanted = parse_id(raw)
    if wanted is None:
        raise NotFound(f"{object_type.value} {raw} not found")
    return wanted


def active_link(object_type: ObjectType) -> str:
    """The sidebar entry a record's page belongs to."""
    return f"/boards/{object_type.value}" if object_type.has_pipeline else f"/{object_type.plural}"


def body_answer(
    request: Request,
    user: WebUser,
    object_type: ObjectType,
    record_id: int,
    toast: str,
    focus: str | None = None,
) -> Response:
    """A change's answer: the record's whole body again (fields, stage, panels and timeline
    all read the new version), a toast, and where the keyboard focus goes back to."""
    with user.uow(read_only=True) as uow:
        context = record_view.load(uow, user, object_type, record_id)
    context["focus"] = focus
    response = page(
        request, "partials/record_body.html", context, user=user, active=active_link(object_type)
    )
    return with_toast(retarget(response, "#record-body"), toast)


def field_row(
    request: Request,
    user: WebUser,
    object_type: ObjectType,
    record_id: int,
    key: str,
    *,
    editing: bool,
    version: int | None = None,
) -> Response:
    try:
        with user.uow(read_only=True) as uow:
            context = record_view.load(uow, user, object_type, record_id)
    except StageflowError as exc:
        return refused(exc.message, exc.status)
    row = next((f for f in context["fields"] if f.key == key), None)
    if row is None:
        return refused(f"{object_type.value} has no field '{key}'", 404)
    if editing and not row.editable:
        return refused("changing another user's record needs 'records.edit_all'", 403)
    version = version if version is not None else context["record"].version
    return page(
        request,
        "partials/record_field.html",
        {**context, "f": row, "editing": editing, "version": version},
        user=user,
    )


def _routes(plural: str) -> None:
    object_type = BY_PLURAL[plural]

    def record_page(
        request: Request,
        record_id: str,
        cursor: str | None = None,
        user: WebUser = Depends(signed_in_user),
    ) -> Response:
        try:
            wanted = record_id_of(object_type, record_id)
            with user.uow(read_only=True) as uow:
                context = record_view.load(uow, user, object_type, wanted, cursor=cursor)
        except StageflowError as exc:
            return error_page(request, user, exc)
        return page(request, "record.html", context, user=user, active=active_link(object_type))

    def edit_field(
        request: Request,
        record_id: str,
        key: str,
        version: int | None = None,
        user: WebUser = Depends(signed_in_user),
    ) -> Response:
        """The input that edits one field, carrying the version the page showed."""
        try:
            wanted = record_id_of(object_type, record_id)
        except StageflowError as exc:
            return refused(exc.message, exc.status)
        return field_row(request, user, object_type, wanted, key, editing=True, version=version)

    def show_field(
        request: Request,
        record_id: str,
        key: str,
        version: int | None = None,
        user: WebUser = Depends(signed_in_user),
    ) -> Response:
        """The field as it reads (Cancel on its input), still on the page's version."""
        try:
            wanted = record_id_of(object_type, record_id)
        except StageflowError as exc:
            return refused(exc.message, exc.status)
        return field_row(request, user, object_type, wanted, key, editing=False, version=version)

    routes: list[tuple[str, Callable[..., Any], str]] = [
        ("", record_page, f"{object_type.value}_page"),
        ("/fields/{key}/edit", edit_field, f"{object_type.value}_edit_field"),
        ("/fields/{key}", show_field, f"{object_type.value}_show_field"),
    ]
    for suffix, endpoint, name in routes:
        router.add_api_route(
            f"/{plural}/{{record_id}}{suffix}",
            endpoint,
            methods=["GET"],
            response_class=HTMLResponse,
            include_in_schema=False,
            name=name,
        )


for _plural in BY_PLURAL:
    _routes(_plural)

"""Pipeline settings: per pipeline add, rename and reorder stages (drag or ↑/↓) and set their
kind (open, won, lost); the picklists (lead status, lead type, disqualification reasons,
sources). Changes go through ``services.crm.pipelines`` with the API's permissions."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from stageflow.domain.errors import NotFound, StageflowError, first_problem
from stageflow.domain.pipelines import Pipeline, Stage, StageKind
from stageflow.domain.records import ObjectType
from stageflow.domain.users import Permission
from stageflow.entrypoints.web.auth import WebUser, require_csrf, signed_in_user
from stageflow.entrypoints.web.board import parse_id
from stageflow.entrypoints.web.pages.htmx_helpers import (
    refused,
    refused_page,
    retarget,
    sentence,
    with_toast,
)
from stageflow.entrypoints.web.render import page
from stageflow.services.commands import CreateStage, PicklistOption, PutPicklist, UpdateStage
from stageflow.services.crm import pipelines as service
from stageflow.services.unit_of_work import UnitOfWork

router = APIRouter()
PATH = "/settings/pipelines"
CSRF = [Depends(require_csrf)]
TYPES = (ObjectType.LEAD, ObjectType.DEAL, ObjectType.OPPORTUNITY)
PICKLIST_TITLES = {
    "lead_status": ("Lead status", "The status field of leads."),
    "lead_type": ("Lead type", "New or existing business, follow-up…"),
    "disqualification_reasons": (
        "Disqualification reasons",
        "Asked for when a lead is dropped on a lost stage.",
    ),
    "lost_reasons": (
        "Lost reasons",
        "Asked for when a deal or an opportunity is dropped on a lost stage.",
    ),
    "source_channel": ("Sources", "Where leads and deals come from."),
}


def _all_pipelines(uow: UnitOfWork, user: WebUser) -> list[Pipeline]:
    found = []
    for object_type in TYPES:
        listed = uow.pipelines.list(user.principal.workspace_id, object_type)
        found += sorted(listed, key=lambda p: p.position)
    for pipeline in found:
        pipeline.stages.sort(key=lambda s: s.position)
    return found


def _pipeline(user: WebUser, pipeline_id: int) -> Pipeline:
    with user.uow(read_only=True) as uow:
        pipeline = service.get_pipeline(uow, user.principal, pipeline_id)
    pipeline.stages.sort(key=lambda s: s.position)
    return pipeline


def _body_context(user: WebUser, pipeline: Pipeline) -> dict[str, Any]:
    return {
        "pipeline": pipeline,
        "kinds": list(StageKind),
        "can_edit": user.principal.has(Permission.PIPELINES_EDIT),
    }


@router.get(PATH, response_class=HTMLResponse)
def pipelines_page(
    request: Request, pipeline: str | None = None, user: WebUser = Depends(signed_in_user)
) -> Response:
    with user.uow(read_only=True) as uow:
        pipelines = _all_pipelines(uow, user)
        picklists = uow.picklists.all(user.principal.workspace_id)
    chosen_id = parse_id(pipeline)
    chosen = next((p for p in pipelines if p.id == chosen_id), None)
    if chosen is None and chosen_id is not None:
        return refused_page(request, user, NotFound(f"pipeline {chosen_id} not found"))
    chosen = chosen or (pipelines[0] if pipelines else None)
    context = {
        "pipelines": pipelines,
        "picklists": [
            (key, *PICKLIST_TITLES.get(key, (key.replace("_", " ").capitalize(), "")), options)
            for key, options in picklists.items()
        ],
        "can_edit_picklists": user.principal.has(Permission.PICKLISTS_EDIT),
        **(_body_context(user, chosen) if chosen else {"pipeline": None}),
    }
    return page(request, "settings_pipelines.html", context, user=user)


def _body(request: Request, user: WebUser, pipeline_id: int, toast: str) -> Response:
    context = _body_context(user, _pipeline(user, pipeline_id))
    return with_toast(page(request, "partials/pipeline_body.html", context, user=user), toast)


def _row_error(
    request: Request, user: WebUser, pipeline_id: int, stage: Stage | None, message: str
) -> Response:
    pipeline = _pipeline(user, pipeline_id)
    name = "partials/pipeline_stage_form.html" if stage else "partials/pipeline_add_stage.html"
    context = {**_body_context(user, pipeline), "s": stage, "error": sentence(message)}
    return page(request, name, context, user=user, status=422)


@router.post(PATH + "/{pipeline_id}/stages", dependencies=CSRF, response_class=HTMLResponse)
def add_stage(
    request: Request,
    pipeline_id: int,
    name: Annotated[str, Form()] = "",
    kind: Annotated[StageKind, Form()] = StageKind.OPEN,
    user: WebUser = Depends(signed_in_user),
) -> Response:
    try:
        try:
            cmd = CreateStage(name=name.strip(), kind=kind)
        except ValidationError as exc:
            raise first_problem(exc, named=False) from None
        with user.uow() as uow:
            stage = service.add_stage(uow, user.principal, pipeline_id, cmd, user.actor)
            uow.commit()
    except StageflowError as exc:
        if exc.status in (403, 404):
            return refused(exc.message, exc.status)
        return _row_error(request, user, pipeline_id, None, exc.message)
    response = _body(request, user, pipeline_id, f"Added the stage '{stage.name}'")
    return retarget(response, "#pipeline-body")


@router.post(
    PATH + "/{pipeline_id}/stages/{stage_id}", dependencies=CSRF, response_class=HTMLResponse
)
def update_stage(
    request: Request,
    pipeline_id: int,
    stage_id: int,
    name: Annotated[str, Form()] = "",
    kind: Annotated[StageKind, Form()] = StageKind.OPEN,
    user: WebUser = Depends(signed_in_user),
) -> Response:
    stage = next((s for s in _pipeline(user, pipeline_id).stages if s.id == stage_id), None)
    if stage is None:
        return refused(f"stage {stage_id} not found", 404)
    try:
        try:
            cmd = UpdateStage(name=name.strip(), kind=kind)
        except ValidationError as exc:
            raise first_problem(exc, named=False) from None
        with user.uow() as uow:
            saved = service.update_stage(
                uow, user.principal, pipeline_id, stage_id, cmd, user.actor
            )
            uow.commit()
    except StageflowError as exc:
        if exc.status in (403, 404):
            return refused(exc.message, exc.status)
        return _row_error(request, user, pipeline_id, stage, exc.message)
    response = _body(request, user, pipeline_id, f"Saved the stage '{saved.name}'")
    return retarget(response, "#pipeline-body")


@router.post(
    PATH + "/{pipeline_id}/stages/{stage_id}/delete",
    dependencies=CSRF,
    response_class=HTMLResponse,
)
def delete_stage(
    request: Request, pipeline_id: int, stage_id: int, user: WebUser = Depends(signed_in_user)
) -> Response:
    try:
        with user.uow() as uow:
            stage = service.get_pipeline(uow, user.principal, pipeline_id).stage(stage_id)
            service.delete_stage(uow, user.principal, pipeline_id, stage_id, user.actor)
            uow.commit()
    except StageflowError as exc:
        return refused(exc.message, exc.status)
    name = stage.name if stage else "the stage"
    return _body(request, user, pipeline_id, f"Deleted the stage '{name}'")


@router.post(PATH + "/{pipeline_id}/order", dependencies=CSRF, response_class=HTMLResponse)
def reorder(
    request: Request,
    pipeline_id: int,
    order: Annotated[str, Form()],
    user: WebUser = Depends(signed_in_user),
) -> Response:
    """After a drag: the stage ids in their new order. One stage moved; find it and give it
    its new position (the service renumbers the rest)."""
    ids = [i for i in (parse_id(part) for part in order.split(",")) if i is not None]
    old = [s.id for s in _pipeline(user, pipeline_id).stages]
    if sorted(ids) != sorted(i for i in old if i is not None):
        return refused("The stages changed meanwhile; reload the page", 409)
    moved = next((i for i in old if [x for x in old if x != i] == [x for x in ids if x != i]), None)
    if moved is None or ids == old:
        return _body(request, user, pipeline_id, "The order did not change")
    return _move_to(request, user, pipeline_id, moved, ids.index(moved))


@router.post(
    PATH + "/{pipeline_id}/stages/{stage_id}/move",
    dependencies=CSRF,
    response_class=HTMLResponse,
)
def move(
    request: Request,
    pipeline_id: int,
    stage_id: int,
    direction: Annotated[str, Form(pattern="^(up|down)$")],
    user: WebUser = Depends(signed_in_user),
) -> Response:
    """The keyboard alternative to dragging."""
    stages = _pipeline(user, pipeline_id).stages
    at = next((n for n, s in enumerate(stages) if s.id == stage_id), None)
    if at is None:
        return refused(f"stage {stage_id} not found", 404)
    to = max(at - 1, 0) if direction == "up" else min(at + 1, len(stages) - 1)
    return _move_to(request, user, pipeline_id, stage_id, to)


def _move_to(
    request: Request, user: WebUser, pipeline_id: int, stage_id: int, position: int
) -> Response:
    try:
        with user.uow() as uow:
            stage = service.update_stage(
                uow,
                user.principal,
                pipeline_id,
                stage_id,
                UpdateStage(position=position),
                user.actor,
            )
            uow.commit()
    except StageflowError as exc:
        return refused(exc.message, exc.status)
    toast = f"Moved '{stage.name}' to place {position + 1}"
    return _body(request, user, pipeline_id, toast)


def _value_of(label: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")[:60] or "option"
    value, n = base, 1
    while value in taken:
        n += 1
        value = f"{base[:58]}_{n}"
    return value


@router.post(PATH + "/picklists/{key}", dependencies=CSRF, response_class=HTMLResponse)
async def put_picklist(
    request: Request, key: str, user: WebUser = Depends(signed_in_user)
) -> Response:
    """The options as the form lists them: kept ones by value with their (new) label, removed
    ones ticked, and a new one by its label (its value made from it)."""
    form = await request.form()
    values = [str(v) for v in form.getlist("value")]
    labels = [str(v).strip() for v in form.getlist("label")]
    removed = {str(v) for v in form.getlist("drop")}
    options = [
        {"value": v, "label": label or v}
        for v, label in zip(values, labels, strict=False)
        if v not in removed
    ]
    new_label = str(form.get("new_label") or "").strip()
    if new_label:
        value = _value_of(new_label, {o["value"] for o in options})
        options.append({"value": value, "label": new_label})
    error: str | None = None
    try:
        try:
            cmd = PutPicklist(options=[PicklistOption(**o) for o in options])
        except ValidationError as exc:
            raise first_problem(exc, named=False) from None
        with user.uow() as uow:
            service.put_picklist(uow, user.principal, key, cmd, user.actor)
            uow.commit()
    except StageflowError as exc:
        if exc.status in (403, 404):
            return refused(exc.message, exc.status)
        error = sentence(exc.message)
        if exc.field == "options":
            error = "Keep at least one option" if not options else error
    with user.uow(read_only=True) as uow:
        current = uow.picklists.all(user.principal.workspace_id).get(key, [])
    title, hint = PICKLIST_TITLES.get(key, (key, ""))
    context = {
        "key": key,
        "title": title,
        "hint": hint,
        "options": current if error is None else options,
        "error": error,
        "new_label": new_label if error else "",
        "can_edit_picklists": True,
    }
    response = page(
        request,
        "partials/picklist_form.html",
        context,
        user=user,
        status=422 if error else 200,
    )
    return response if error else with_toast(response, f"Saved the {title.lower()}")

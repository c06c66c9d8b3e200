"""Lifecycle settings (respond.io's Workspace settings > Lifecycle, SPEC L1-L6): lifecycle and
lost stages in two columns, reordered by dragging or with move up/down buttons; add, edit,
set as default, delete with the contacts moved to another stage; show or hide lifecycle.
Every change goes through ``services.crm.lifecycle`` with the API's permissions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from stageflow.domain.errors import StageflowError, first_problem
from stageflow.domain.lifecycle import MAX_STAGES, LifecycleKind, LifecycleStage
from stageflow.domain.users import Permission
from stageflow.entrypoints.web.auth import WebUser, require_csrf, signed_in_user
from stageflow.entrypoints.web.board import parse_id
from stageflow.entrypoints.web.pages.boards import is_htmx
from stageflow.entrypoints.web.pages.htmx_helpers import (
    refused,
    retarget,
    sentence,
    with_toast,
)
from stageflow.entrypoints.web.render import page
from stageflow.services.commands import (
    CreateLifecycleStage,
    DeleteLifecycleStage,
    ReorderLifecycleStages,
    UpdateLifecycleStage,
    UpdateWorkspaceSettings,
)
from stageflow.services.crm import lifecycle, workspaces

router = APIRouter()
PATH = "/settings/lifecycle"
CSRF = [Depends(require_csrf)]
FORM_FIELDS = ("name", "description", "emoji", "is_default")


@dataclass(frozen=True, slots=True)
class LifecycleView:
    """What the page shows: both columns, the limit and what the user may change."""

    stages: list[LifecycleStage]
    enabled: bool
    can_edit: bool
    can_toggle: bool

    @property
    def lifecycle(self) -> list[LifecycleStage]:
        return [s for s in self.stages if s.kind is LifecycleKind.LIFECYCLE]

    @property
    def lost(self) -> list[LifecycleStage]:
        return [s for s in self.stages if s.kind is LifecycleKind.LOST]

    @property
    def total(self) -> int:
        return len(self.stages)

    @property
    def limit(self) -> int:
        return MAX_STAGES

    @property
    def room(self) -> int:
        return max(MAX_STAGES - len(self.stages), 0)


def _view(user: WebUser) -> LifecycleView:
    with user.uow(read_only=True) as uow:
        stages = lifecycle.list_stages(uow, user.principal)
        workspace = uow.workspaces.get(user.principal.workspace_id)
    enabled = bool(workspace and workspace.settings.get("lifecycle_enabled", True))
    return LifecycleView(
        stages=stages,
        enabled=enabled,
        can_edit=user.principal.has(Permission.LIFECYCLE_EDIT),
        can_toggle=user.principal.has(Permission.WORKSPACE_SETTINGS),
    )


def _body(request: Request, user: WebUser, toast: str) -> Response:
    response = page(request, "partials/lifecycle_body.html", {"view": _view(user)}, user=user)
    return with_toast(response, toast, closeDialog=True)


@router.get(PATH, response_class=HTMLResponse)
def lifecycle_page(request: Request, user: WebUser = Depends(signed_in_user)) -> Response:
    return page(request, "settings_lifecycle.html", {"view": _view(user)}, user=user)


@router.get(PATH + "/stages/new", response_class=HTMLResponse)
def new_stage_form(
    request: Request, kind: LifecycleKind, user: WebUser = Depends(signed_in_user)
) -> Response:
    return _form(request, user, None, kind, {}, {})


@router.get(PATH + "/stages/{stage_id}/edit", response_class=HTMLResponse)
def edit_stage_form(
    request: Request, stage_id: int, user: WebUser = Depends(signed_in_user)
) -> Response:
    try:
        with user.uow(read_only=True) as uow:
            stage = lifecycle.get_stage(uow, user.principal, stage_id)
    except StageflowError as exc:
        return refused(exc.message, exc.status)
    values = {"name": stage.name, "description": stage.description, "emoji": stage.emoji or ""}
    return _form(request, user, stage, stage.kind, values, {})


def _form(
    request: Request,
    user: WebUser,
    stage: LifecycleStage | None,
    kind: LifecycleKind,
    values: dict[str, Any],
    errors: dict[str, str],
    status: int = 200,
) -> Response:
    return page(
        request,
        "partials/lifecycle_stage_form.html",
        {"stage": stage, "kind": kind, "values": values, "errors": errors},
        user=user,
        status=status,
    )


def _errors_of(exc: StageflowError) -> dict[str, str]:
    field = exc.field if exc.field in FORM_FIELDS else "form"
    return {field or "form": sentence(exc.message)}


@router.post(PATH + "/stages", dependencies=CSRF, response_class=HTMLResponse)
def create_stage(
    request: Request,
    kind: Annotated[LifecycleKind, Form()],
    name: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    emoji: Annotated[str, Form()] = "",
    is_default: Annotated[bool, Form()] = False,
    user: WebUser = Depends(signed_in_user),
) -> Response:
    values = {"name": name, "description": description, "emoji": emoji, "is_default": is_default}
    try:
        if not name.strip():
            return _form(request, user, None, kind, values, {"name": "Give the stage a name"}, 422)
        try:
            cmd = CreateLifecycleStage(
                name=name.strip(),
                description=description.strip(),
                kind=kind,
                emoji=emoji.strip() or None,
                is_default=is_default,
            )
        except ValidationError as exc:
            raise first_problem(exc, named=False) from None
        with user.uow() as uow:
            stage = lifecycle.create_stage(uow, user.principal, cmd, user.actor)
            uow.commit()
    except StageflowError as exc:
        return _form(request, user, None, kind, values, _errors_of(exc), 422)
    column = "lost stages" if kind is LifecycleKind.LOST else "lifecycle stages"
    toast = f"Added '{stage.name}' to the {column}"
    return retarget(_body(request, user, toast), "#lifecycle-body")


@router.post(PATH + "/stages/{stage_id}", dependencies=CSRF, response_class=HTMLResponse)
def update_stage(
    request: Request,
    stage_id: int,
    name: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    emoji: Annotated[str | None, Form()] = None,
    user: WebUser = Depends(signed_in_user),
) -> Response:
    values = {"name": name, "description": description, "emoji": emoji or ""}
    stage: LifecycleStage | None = None
    try:
        with user.uow() as uow:
            stage = lifecycle.get_stage(uow, user.principal, stage_id)
            if not name.strip():
                return _form(
                    request, user, stage, stage.kind, values, {"name": "Give the stage a name"}, 422
                )
            fields: dict[str, Any] = {"name": name.strip(), "description": description.strip()}
            if stage.kind is LifecycleKind.LOST:
                fields["emoji"] = (emoji or "").strip() or None
            try:
                cmd = UpdateLifecycleStage(**fields)
            except ValidationError as exc:
                raise first_problem(exc, named=False) from None
            updated = lifecycle.update_stage(uow, user.principal, stage_id, cmd, user.actor)
            uow.commit()
    except StageflowError as exc:
        if stage is None:
            return refused(exc.message, exc.status)
        return _form(request, user, stage, stage.kind, values, _errors_of(exc), 422)
    return retarget(_body(request, user, f"Saved '{updated.name}'"), "#lifecycle-body")


@router.post(PATH + "/stages/{stage_id}/default", dependencies=CSRF, response_class=HTMLResponse)
def set_default(
    request: Request,
    stage_id: int,
    on: Annotated[bool, Form()] = True,
    user: WebUser = Depends(signed_in_user),
) -> Response:
    """Make the stage the default of new contacts (replacing the old one), or leave none."""
    try:
        with user.uow() as uow:
            stage = lifecycle.get_stage(uow, user.principal, stage_id)
            lifecycle.set_default(uow, user.principal, stage_id if on else None, user.actor)
            uow.commit()
    except StageflowError as exc:
        return refused(exc.message, exc.status)
    toast = (
        f"New contacts now start in '{stage.name}'"
        if on
        else "New contacts now start without a stage"
    )
    return _body(request, user, toast)


@router.post(PATH + "/order", dependencies=CSRF, response_class=HTMLResponse)
def reorder(
    request: Request,
    order: Annotated[str, Form()],
    user: WebUser = Depends(signed_in_user),
) -> Response:
    """The order after a drag: every stage id, both columns, comma-separated."""
    ids = [i for i in (parse_id(part) for part in order.split(",")) if i is not None]
    return _reorder(request, user, ids, "Saved the new order")


@router.post(PATH + "/stages/{stage_id}/move", dependencies=CSRF, response_class=HTMLResponse)
def move(
    request: Request,
    stage_id: int,
    direction: Annotated[str, Form(pattern="^(up|down)$")],
    user: WebUser = Depends(signed_in_user),
) -> Response:
    """The keyboard alternative to dragging: one place up or down within its column."""
    with user.uow(read_only=True) as uow:
        stages = lifecycle.list_stages(uow, user.principal)
    stage = next((s for s in stages if s.id == stage_id), None)
    if stage is None:
        return refused(f"lifecycle stage {stage_id} not found", 404)
    column = [s.id for s in stages if s.kind is stage.kind]
    at = column.index(stage_id)
    to = at - 1 if direction == "up" else at + 1
    if 0 <= to < len(column):
        column[at], column[to] = column[to], column[at]
    others = [s.id for s in stages if s.kind is not stage.kind]
    ids = [i for i in column + others if i is not None]
    return _reorder(request, user, ids, f"Moved '{stage.name}' {direction}")


def _reorder(request: Request, user: WebUser, ids: list[int], toast: str) -> Response:
    try:
        with user.uow() as uow:
            lifecycle.reorder_stages(
                uow, user.principal, ReorderLifecycleStages(order=ids), user.actor
            )
            uow.commit()
    except StageflowError as exc:
        return refused(exc.message, exc.status)
    return _body(request, user, toast)


@router.get(PATH + "/stages/{stage_id}/delete", response_class=HTMLResponse)
def delete_dialog(
    request: Request, stage_id: int, user: WebUser = Depends(signed_in_user)
) -> Response:
    """L6: how many contacts use the stage, and where they go."""
    try:
        with user.uow(read_only=True) as uow:
            preview = lifecycle.delete_preview(uow, user.principal, stage_id)
            stages = lifecycle.list_stages(uow, user.principal)
    except StageflowError as exc:
        return refused(exc.message, exc.status)
    return _delete_form(request, user, preview, stages, {})


def _delete_form(
    request: Request,
    user: WebUser,
    preview: lifecycle.DeletePreview,
    stages: list[LifecycleStage],
    errors: dict[str, str],
    status: int = 200,
) -> Response:
    others = [s for s in stages if s.id != preview.stage.id]
    return page(
        request,
        "partials/lifecycle_delete_form.html",
        {"preview": preview, "others": others, "errors": errors},
        user=user,
        status=status,
    )


@router.post(PATH + "/stages/{stage_id}/delete", dependencies=CSRF, response_class=HTMLResponse)
def delete_stage(
    request: Request,
    stage_id: int,
    then: Annotated[str, Form()] = "move",
    move_to: Annotated[str, Form()] = "",
    user: WebUser = Depends(signed_in_user),
) -> Response:
    target = parse_id(move_to) if then == "move" else None
    cmd = DeleteLifecycleStage(move_to=target, clear=then == "clear")
    try:
        with user.uow() as uow:
            done = lifecycle.delete_stage(uow, user.principal, stage_id, cmd, user.actor)
            target_name = lifecycle.get_stage(uow, user.principal, target).name if target else None
            uow.commit()
    except StageflowError as exc:
        try:
            with user.uow(read_only=True) as uow:
                preview = lifecycle.delete_preview(uow, user.principal, stage_id)
                stages = lifecycle.list_stages(uow, user.principal)
        except StageflowError:
            return refused(exc.message, exc.status)
        field = "move_to" if exc.field in ("move_to", "clear") else "form"
        return _delete_form(
            request, user, preview, stages, {field: sentence(exc.message)}, status=422
        )
    toast = f"Deleted '{done.stage.name}'"
    if done.contacts and target_name:
        toast += f"; its {done.contacts} contacts are now in '{target_name}'"
    elif done.contacts:
        toast += f"; its {done.contacts} contacts have no stage now"
    return retarget(_body(request, user, toast), "#lifecycle-body")


@router.post(PATH + "/visibility", dependencies=CSRF, response_class=HTMLResponse)
def visibility(
    request: Request,
    lifecycle_enabled: Annotated[bool, Form()] = False,
    user: WebUser = Depends(signed_in_user),
) -> Response:
    """L1: show or hide lifecycle in the inbox and contacts (it keeps working either way)."""
    try:
        with user.uow() as uow:
            workspaces.update_settings(
                uow,
                user.principal,
                UpdateWorkspaceSettings(lifecycle_enabled=lifecycle_enabled),
                user.actor,
            )
            uow.commit()
    except StageflowError as exc:
        return refused(exc.message, exc.status)
    if not is_htmx(request):
        return Response(status_code=303, headers={"Location": PATH})
    toast = "Lifecycle is shown" if lifecycle_enabled else "Lifecycle is hidden"
    return with_toast(Response(status_code=204), toast)

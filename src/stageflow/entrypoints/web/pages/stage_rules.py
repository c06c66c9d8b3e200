"""Stage rules (SPEC B): a column per stage of a pipeline with its rules as cards in run order;
add a rule from the catalogue of action types with its generated form, edit, switch off or
on, delete, reorder (drag or ↑/↓). Changes go through ``services.authoring.stage_rules`` with
the API's permissions; who may not edit rules sees the screen read-only."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from stageflow.actions.registry import registry
from stageflow.domain.errors import NotFound, PermissionDenied, StageflowError, first_problem
from stageflow.domain.pipelines import Pipeline
from stageflow.domain.records import ObjectType
from stageflow.domain.users import Permission
from stageflow.entrypoints.web import rule_editor
from stageflow.entrypoints.web.auth import WebUser, require_csrf, signed_in_user
from stageflow.entrypoints.web.board import parse_id
from stageflow.entrypoints.web.forms import conditions
from stageflow.entrypoints.web.forms.choices import Choices, load_choices
from stageflow.entrypoints.web.pages.htmx_helpers import (
    refused,
    refused_page,
    retarget,
    sentence,
    with_toast,
)
from stageflow.entrypoints.web.render import page
from stageflow.services.authoring import stage_rules as service
from stageflow.services.authoring.stage_rules import NewRule, RulePatch
from stageflow.services.crm.pipelines import get_pipeline

router = APIRouter()
CSRF = [Depends(require_csrf)]
TYPES = {o.value: o for o in (ObjectType.LEAD, ObjectType.DEAL, ObjectType.OPPORTUNITY)}
BASE = "/automations/rules"


def can_edit(user: WebUser, object_type: ObjectType) -> bool:
    """As the service decides (``stage_rules._place``): rules need automations.edit, and the
    lead pipeline's also lead_automation.edit (H9)."""
    principal = user.principal
    if not principal.has(Permission.AUTOMATIONS_EDIT):
        return False
    return object_type is not ObjectType.LEAD or principal.has(Permission.LEAD_AUTOMATION_EDIT)


def _pipelines(user: WebUser, object_type: ObjectType) -> list[Pipeline]:
    with user.uow(read_only=True) as uow:
        listed = uow.pipelines.list(user.principal.workspace_id, object_type)
    for p in listed:
        p.stages.sort(key=lambda s: s.position)
    return sorted(listed, key=lambda p: p.position)


def _pipeline(
    user: WebUser, pipeline_id: int, *, editing: bool = False
) -> tuple[Pipeline, Choices]:
    """The pipeline and what the pickers offer; ``editing``: only for who may change rules."""
    with user.uow(read_only=True) as uow:
        pipeline = get_pipeline(uow, user.principal, pipeline_id)
        if editing and not can_edit(user, pipeline.object_type):
            extra = " and 'lead_automation.edit'" if pipeline.object_type is ObjectType.LEAD else ""
            raise PermissionDenied(
                f"changing stage rules needs the 'automations.edit' permission{extra}"
            )
        choices = load_choices(uow, user.principal.workspace_id, pipeline.object_type)
    pipeline.stages.sort(key=lambda s: s.position)
    return pipeline, choices


def _column(user: WebUser, pipeline: Pipeline, stage_id: int, choices: Choices) -> dict[str, Any]:
    stage = pipeline.stage(stage_id)
    if stage is None:
        raise NotFound(f"stage {stage_id} not found in pipeline {pipeline.id}")
    with user.uow(read_only=True) as uow:
        rules = service.list_rules(uow, user.principal, pipeline.id or 0, stage_id)
    channels = dict(choices.channels)
    cards = [
        {
            **rule,
            "summary": rule_editor.summary(rule, choices),
            "when_words": conditions.summary(rule.get("conditions"), choices),
            "channel_words": ", ".join(channels.get(c, c) for c in rule.get("channels") or []),
        }
        for rule in rules
    ]
    return {"pipeline": pipeline, "stage": stage, "rules": cards}


def _column_response(
    request: Request, user: WebUser, pipeline_id: int, stage_id: int, toast: str, **events: Any
) -> Response:
    pipeline, choices = _pipeline(user, pipeline_id)
    context = {
        "col": _column(user, pipeline, stage_id, choices),
        "can_edit": can_edit(user, pipeline.object_type),
    }
    response = page(request, "partials/rules_column.html", context, user=user)
    return with_toast(response, toast, **events)


@router.get(BASE + "/{slug}", response_class=HTMLResponse)
def rules_page(
    request: Request,
    slug: str,
    pipeline: str | None = None,
    user: WebUser = Depends(signed_in_user),
) -> Response:
    object_type = TYPES.get(slug)
    if object_type is None:
        return refused_page(request, user, NotFound(f"there are no stage rules for '{slug}'"))
    pipelines = _pipelines(user, object_type)
    chosen_id = parse_id(pipeline)
    chosen = next((p for p in pipelines if p.id == chosen_id), None)
    if chosen is None and chosen_id is not None:
        return refused_page(request, user, NotFound(f"pipeline {chosen_id} not found"))
    chosen = chosen or next(
        (p for p in pipelines if p.is_default), pipelines[0] if pipelines else None
    )
    columns = []
    if chosen is not None:
        try:
            _, choices = _pipeline(user, chosen.id or 0)
            columns = [_column(user, chosen, s.id or 0, choices) for s in chosen.stages]
        except StageflowError as exc:
            return refused_page(request, user, exc)
    context = {
        "object_type": object_type,
        "pipelines": pipelines,
        "pipeline": chosen,
        "columns": columns,
        "can_edit": can_edit(user, object_type),
    }
    return page(request, "stage_rules.html", context, user=user, active="/automations")


def _form_page(
    request: Request,
    user: WebUser,
    pipeline: Pipeline,
    stage_id: int,
    rule: rule_editor.RuleForm,
    status: int = 200,
) -> Response:
    stage = pipeline.stage(stage_id)
    context = {"pipeline": pipeline, "stage": stage, "rule": rule}
    return page(request, "partials/rule_form.html", context, user=user, status=status)


@router.get(BASE + "/{pipeline_id}/{stage_id}/new", response_class=HTMLResponse)
def new_rule(
    request: Request,
    pipeline_id: int,
    stage_id: int,
    action: str | None = None,
    user: WebUser = Depends(signed_in_user),
) -> Response:
    """The catalogue of action types; with ``action``, the form for a rule of that type."""
    try:
        pipeline, choices = _pipeline(user, pipeline_id, editing=True)
    except StageflowError as exc:
        return refused(exc.message, exc.status)
    stage = pipeline.stage(stage_id)
    if stage is None:
        return refused(f"stage {stage_id} not found", 404)
    if action is None or action not in registry.names():
        context = {"pipeline": pipeline, "stage": stage, "catalogue": rule_editor.catalogue()}
        return page(request, "partials/rule_catalogue.html", context, user=user)
    values = {"action": action, "name": rule_editor.title(action), "enabled": True}
    return _form_page(request, user, pipeline, stage_id, rule_editor.build(values, choices))


@router.get(BASE + "/{pipeline_id}/{stage_id}/{rule_id}/edit", response_class=HTMLResponse)
def edit_rule(
    request: Request,
    pipeline_id: int,
    stage_id: int,
    rule_id: int,
    user: WebUser = Depends(signed_in_user),
) -> Response:
    try:
        pipeline, choices = _pipeline(user, pipeline_id, editing=True)
        with user.uow(read_only=True) as uow:
            stored = service.get_rule(uow, user.principal, pipeline_id, stage_id, rule_id)
    except StageflowError as exc:
        return refused(exc.message, exc.status)
    return _form_page(request, user, pipeline, stage_id, rule_editor.build(stored, choices))


async def _form(request: Request) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for key, value in (await request.form()).multi_items():
        if isinstance(value, str):
            found.setdefault(key, []).append(value)
    return found


@router.post(
    BASE + "/{pipeline_id}/{stage_id}/form", dependencies=CSRF, response_class=HTMLResponse
)
async def redraw_form(
    request: Request, pipeline_id: int, stage_id: int, user: WebUser = Depends(signed_in_user)
) -> Response:
    """The form again after adding or removing a row, or a change other inputs follow."""
    form = await _form(request)
    try:
        pipeline, choices = _pipeline(user, pipeline_id, editing=True)
        rule = rule_editor.redraw(form, form.get("_op", ["refresh"])[0], choices)
    except (StageflowError, KeyError) as exc:
        return refused(getattr(exc, "message", "that form cannot be redrawn"), 400)
    return _form_page(request, user, pipeline, stage_id, rule)


@router.post(BASE + "/{pipeline_id}/{stage_id}", dependencies=CSRF, response_class=HTMLResponse)
async def save_rule(
    request: Request, pipeline_id: int, stage_id: int, user: WebUser = Depends(signed_in_user)
) -> Response:
    """Create a rule, or change the one the form names (``rule_id``)."""
    form = await _form(request)
    try:
        pipeline, choices = _pipeline(user, pipeline_id, editing=True)
    except StageflowError as exc:
        return refused(exc.message, exc.status)
    try:
        values = rule_editor.read(form)
    except StageflowError as exc:
        rule = rule_editor.build(rule_editor.read(form, strict=False), choices)
        rule_editor.place_error(rule, exc.field, sentence(exc.message))
        return _form_page(request, user, pipeline, stage_id, rule, status=422)
    except KeyError:
        return refused("choose an action first", 400)
    body = {k: v for k, v in values.items() if k not in ("id", "version")}
    try:
        with user.uow() as uow:
            if "id" in values:
                try:
                    patch = RulePatch.model_validate({**body, "version": values.get("version")})
                except ValidationError as exc:
                    raise first_problem(exc, named=False) from None
                service.update_rule(
                    uow, user.principal, pipeline_id, stage_id, values["id"], patch, user.actor
                )
                toast = f"Saved the rule '{values['name']}'"
            else:
                try:
                    cmd = NewRule.model_validate(body)
                except ValidationError as exc:
                    raise first_problem(exc, named=False) from None
                service.create_rule(uow, user.principal, pipeline_id, stage_id, cmd, user.actor)
                toast = f"Added the rule '{values['name']}'"
            uow.commit()
    except StageflowError as exc:
        if exc.status in (403, 404):
            return refused(exc.message, exc.status)
        rule = rule_editor.build(values, choices)
        message = exc.message.removeprefix(f"{exc.field}: ") if exc.field else exc.message
        rule_editor.place_error(rule, exc.field, sentence(message))
        return _form_page(request, user, pipeline, stage_id, rule, status=422)
    response = _column_response(request, user, pipeline_id, stage_id, toast, closeDialog=True)
    return retarget(response, f"#rules-col-{stage_id}")


def _change(
    request: Request,
    user: WebUser,
    pipeline_id: int,
    stage_id: int,
    rule_id: int,
    patch: RulePatch,
    toast: str,
) -> Response:
    try:
        with user.uow() as uow:
            service.update_rule(
                uow, user.principal, pipeline_id, stage_id, rule_id, patch, user.actor
            )
            uow.commit()
    except StageflowError as exc:
        return refused(exc.message, exc.status)
    return _column_response(request, user, pipeline_id, stage_id, toast)


@router.post(
    BASE + "/{pipeline_id}/{stage_id}/{rule_id}/enabled",
    dependencies=CSRF,
    response_class=HTMLResponse,
)
def set_enabled(
    request: Request,
    pipeline_id: int,
    stage_id: int,
    rule_id: int,
    on: bool = Form(),
    name: str = Form(""),
    user: WebUser = Depends(signed_in_user),
) -> Response:
    toast = f"Turned {'on' if on else 'off'} the rule '{name}'"
    return _change(request, user, pipeline_id, stage_id, rule_id, RulePatch(enabled=on), toast)


@router.post(
    BASE + "/{pipeline_id}/{stage_id}/{rule_id}/move",
    dependencies=CSRF,
    response_class=HTMLResponse,
)
def move_rule(
    request: Request,
    pipeline_id: int,
    stage_id: int,
    rule_id: int,
    direction: str = Form(pattern="^(up|down)$"),
    user: WebUser = Depends(signed_in_user),
) -> Response:
    """The keyboard alternative to dragging."""
    try:
        with user.uow(read_only=True) as uow:
            rules = service.list_rules(uow, user.principal, pipeline_id, stage_id)
    except StageflowError as exc:
        return refused(exc.message, exc.status)
    at = next((n for n, r in enumerate(rules) if r["id"] == rule_id), None)
    if at is None:
        return refused(f"rule {rule_id} not found", 404)
    to = max(at - 1, 0) if direction == "up" else min(at + 1, len(rules) - 1)
    toast = f"Moved '{rules[at]['name']}' to place {to + 1}"
    return _change(request, user, pipeline_id, stage_id, rule_id, RulePatch(position=to + 1), toast)


@router.post(
    BASE + "/{pipeline_id}/{stage_id}/order", dependencies=CSRF, response_class=HTMLResponse
)
def reorder(
    request: Request,
    pipeline_id: int,
    stage_id: int,
    order: str = Form(),
    user: WebUser = Depends(signed_in_user),
) -> Response:
    """After a drag: the rule ids in their new order. One rule moved; find it and give it
    its new place (the service renumbers the rest)."""
    ids = [i for i in (parse_id(part) for part in order.split(",")) if i is not None]
    try:
        with user.uow(read_only=True) as uow:
            rules = service.list_rules(uow, user.principal, pipeline_id, stage_id)
    except StageflowError as exc:
        return refused(exc.message, exc.status)
    old = [r["id"] for r in rules]
    if sorted(ids) != sorted(old):
        return refused("The rules changed meanwhile; reload the page", 409)
    moved = next((i for i in old if [x for x in old if x != i] == [x for x in ids if x != i]), None)
    if moved is None or ids == old:
        return _column_response(request, user, pipeline_id, stage_id, "The order did not change")
    name = next(r["name"] for r in rules if r["id"] == moved)
    place = ids.index(moved) + 1
    toast = f"Moved '{name}' to place {place}"
    return _change(request, user, pipeline_id, stage_id, moved, RulePatch(position=place), toast)


@router.post(
    BASE + "/{pipeline_id}/{stage_id}/{rule_id}/delete",
    dependencies=CSRF,
    response_class=HTMLResponse,
)
def delete_rule(
    request: Request,
    pipeline_id: int,
    stage_id: int,
    rule_id: int,
    user: WebUser = Depends(signed_in_user),
) -> Response:
    try:
        with user.uow() as uow:
            rule = service.get_rule(uow, user.principal, pipeline_id, stage_id, rule_id)
            service.delete_rule(uow, user.principal, pipeline_id, stage_id, rule_id, user.actor)
            uow.commit()
    except StageflowError as exc:
        return refused(exc.message, exc.status)
    return _column_response(
        request, user, pipeline_id, stage_id, f"Deleted the rule '{rule['name']}'"
    )

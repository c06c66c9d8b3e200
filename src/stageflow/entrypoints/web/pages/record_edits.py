"""Changing a record from its page: one field at a time, its stage, its associations. The
same ``update_record`` and ``move_record`` commands as the API; a refusal comes back next to
the field it concerns, in the service's words."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from stageflow.domain.errors import StageflowError, StaleVersion, ValidationFailed, first_problem
from stageflow.domain.fields import FieldType
from stageflow.domain.records import LOST_REASON_FIELDS, ObjectType
from stageflow.entrypoints.web import record_view
from stageflow.entrypoints.web.auth import WebUser, require_csrf, signed_in_user
from stageflow.entrypoints.web.board import parse_id
from stageflow.entrypoints.web.pages.htmx_helpers import refused, sentence, workspace_zone
from stageflow.entrypoints.web.pages.record_page import BY_PLURAL, body_answer, record_id_of
from stageflow.entrypoints.web.render import page
from stageflow.services.commands import MoveRecord, UpdateRecord
from stageflow.services.crm import records as service
from stageflow.services.unit_of_work import UnitOfWork

router = APIRouter()
STALE = (
    "Someone else changed this {kind} since the page was loaded ({message}). "
    "Reload the page to see the latest, then make the change again."
)


def typed_value(uow: UnitOfWork, workspace_id: int, kind: FieldType, text: str) -> Any:
    """A form's text as the value the field takes; what cannot be read goes to the service
    as typed, so the refusal is the API's ("'fields.amount' must be a number")."""
    text = text.strip()
    if not text:
        return None
    match kind:
        case FieldType.NUMBER:
            cleaned = text.replace(",", "").replace(" ", "")
            try:
                number = float(cleaned)
            except ValueError:
                return text
            return int(number) if number.is_integer() and abs(number) < 2**63 else number
        case FieldType.BOOL:
            return {"true": True, "false": False}.get(text, text)
        case FieldType.USER | FieldType.COMPANY:
            return parse_id(text) or text
        case FieldType.DATETIME:
            try:
                moment = datetime.fromisoformat(text)
            except ValueError:
                return text
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=workspace_zone(uow, workspace_id))
            return moment.isoformat()
    return text


CORE_LABELS = {"name": "Name", "owner_id": "Owner", "source": "Source"}


def _update_of(
    uow: UnitOfWork, user: WebUser, record_id: int, key: str, text: str, version: int | None
) -> tuple[UpdateRecord, str]:
    """The ``update_record`` command that sets one field to what was typed, and its label."""
    if key == "name":
        return UpdateRecord(name=text.strip(), version=version), CORE_LABELS[key]
    if key == "owner_id":
        return UpdateRecord(owner_id=parse_id(text), version=version), CORE_LABELS[key]
    if key == "source":
        return UpdateRecord(source=text.strip() or None, version=version), CORE_LABELS[key]
    ws = user.principal.workspace_id
    record = service.get_visible(uow, user.principal, None, record_id)
    definition = service.field_definitions(uow, ws, record.object_type).get(key)
    if definition is None:
        raise ValidationFailed(f"{record.object_type.value} has no field '{key}'", field=key)
    value = typed_value(uow, ws, definition.type, text)
    label = definition.label or key.replace("_", " ").capitalize()
    return UpdateRecord(fields={key: value}, version=version), label


def _field_error(
    request: Request,
    user: WebUser,
    object_type: ObjectType,
    record_id: int,
    key: str,
    text: str,
    version: int | None,
    message: str,
) -> Response:
    """The field's input again, with what was typed and the refusal under it (422)."""
    try:
        with user.uow(read_only=True) as uow:
            context = record_view.load(uow, user, object_type, record_id)
    except StageflowError as exc:
        return refused(exc.message, exc.status)
    row = next((f for f in context["fields"] if f.key == key), None)
    if row is None:
        return refused(message, 422)
    return page(
        request,
        "partials/record_field_form.html",
        {
            **context,
            "f": row,
            "typed": text,
            "error": sentence(message),
            "version": version,
        },
        user=user,
        status=422,
    )


def _routes(plural: str) -> None:
    object_type = BY_PLURAL[plural]

    def save_field(
        request: Request,
        record_id: str,
        key: str,
        value: Annotated[str, Form()] = "",
        version: Annotated[int | None, Form()] = None,
        user: WebUser = Depends(signed_in_user),
    ) -> Response:
        """Save one field; the answer is the record's body with the change on the timeline."""
        try:
            wanted = record_id_of(object_type, record_id)
        except StageflowError as exc:
            return refused(exc.message, exc.status)
        try:
            with user.uow() as uow:
                try:
                    cmd, label = _update_of(uow, user, wanted, key, value, version)
                except ValidationError as exc:
                    raise first_problem(exc, named=False) from None
                record = service.update_record(
                    uow, user.principal, object_type, wanted, cmd, user.actor
                )
                uow.commit()
        except StaleVersion as exc:
            message = STALE.format(kind=object_type.value, message=exc.message)
            return _field_error(request, user, object_type, wanted, key, value, version, message)
        except StageflowError as exc:
            if exc.status == 404:
                return refused(exc.message, 404)
            return _field_error(
                request, user, object_type, wanted, key, value, version, exc.message
            )
        return body_answer(
            request, user, object_type, wanted, f"Saved {label} of '{record.name}'", f"edit-{key}"
        )

    def move(
        request: Request,
        record_id: str,
        stage_id: Annotated[str, Form()] = "",
        version: Annotated[int | None, Form()] = None,
        reason: Annotated[str, Form()] = "",
        user: WebUser = Depends(signed_in_user),
    ) -> Response:
        """Move to another stage (a lost stage with its lost or disqualification reason)."""
        try:
            wanted = record_id_of(object_type, record_id)
            target = parse_id(stage_id)
            if target is None:
                return _move_error(request, user, object_type, wanted, "Choose a stage", version)
            reason_field = LOST_REASON_FIELDS.get(object_type)
            fields = {reason_field: reason} if reason and reason_field else None
            with user.uow() as uow:
                record = service.move_record(
                    uow,
                    user.principal,
                    object_type,
                    wanted,
                    MoveRecord(stage_id=target, version=version, fields=fields),
                    user.actor,
                )
                uow.commit()
                stage = next(
                    (
                        s
                        for p in uow.pipelines.list(user.principal.workspace_id, object_type)
                        for s in p.stages
                        if s.id == record.stage_id
                    ),
                    None,
                )
        except StaleVersion as exc:
            message = STALE.format(kind=object_type.value, message=exc.message)
            return _move_error(request, user, object_type, wanted, message, version)
        except StageflowError as exc:
            if exc.status == 404 and exc.field != "stage_id":
                return refused(exc.message, 404)
            return _move_error(request, user, object_type, wanted, exc.message, version)
        where = stage.name if stage is not None else "its new stage"
        return body_answer(
            request, user, object_type, wanted, f"Moved '{record.name}' to {where}", "stage"
        )

    routes: list[tuple[str, Callable[..., Any]]] = [("/fields/{key}", save_field), ("/move", move)]
    for suffix, endpoint in routes:
        router.add_api_route(
            f"/{plural}/{{record_id}}{suffix}",
            endpoint,
            methods=["POST"],
            dependencies=[Depends(require_csrf)],
            response_class=HTMLResponse,
            include_in_schema=False,
        )


def _move_error(
    request: Request,
    user: WebUser,
    object_type: ObjectType,
    record_id: int,
    message: str,
    version: int | None,
) -> Response:
    try:
        with user.uow(read_only=True) as uow:
            context = record_view.load(uow, user, object_type, record_id)
    except StageflowError as exc:
        return refused(exc.message, exc.status)
    return page(
        request,
        "partials/record_move_form.html",
        {**context, "move_error": sentence(message), "move_version": version},
        user=user,
        status=422,
    )


for _plural in BY_PLURAL:
    _routes(_plural)

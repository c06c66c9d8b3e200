"""Activities from a record's page: log a call (with its outcome), an email, a meeting or a
task, and complete an open one — the API's ``log_activity`` and ``update_activity``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from stageflow.domain.activities import ActivityStatus, ActivityType
from stageflow.domain.errors import StageflowError, StaleVersion, ValidationFailed, first_problem
from stageflow.domain.records import ObjectType
from stageflow.entrypoints.web import record_view
from stageflow.entrypoints.web.auth import WebUser, require_csrf, signed_in_user
from stageflow.entrypoints.web.board import parse_id
from stageflow.entrypoints.web.pages.htmx_helpers import refused, sentence, workspace_zone
from stageflow.entrypoints.web.pages.record_page import BY_PLURAL, body_answer, record_id_of
from stageflow.entrypoints.web.render import page
from stageflow.services.commands import CreateActivity, UpdateActivity
from stageflow.services.crm.activities import log_activity, update_activity

router = APIRouter()
# Where a refusal's ``field`` is shown in the "Log activity" form.
FORM_FIELDS = ("type", "subject", "due_at", "responsible_id", "outcome", "description")


def _activity_form(
    request: Request,
    user: WebUser,
    object_type: ObjectType,
    record_id: int,
    values: dict[str, str],
    errors: dict[str, str],
) -> Response:
    try:
        with user.uow(read_only=True) as uow:
            context = record_view.load(uow, user, object_type, record_id)
    except StageflowError as exc:
        return refused(exc.message, exc.status)
    return page(
        request,
        "partials/activity_form.html",
        {**context, "values": values, "errors": errors},
        user=user,
        status=422,
    )


def _due(user: WebUser, text: str) -> datetime | None:
    """A datetime-local value, read in the workspace's time zone."""
    if not text.strip():
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValidationFailed("write the time as 2026-05-01 14:00", field="due_at") from None
    if moment.tzinfo is None:
        with user.uow(read_only=True) as uow:
            moment = moment.replace(tzinfo=workspace_zone(uow, user.principal.workspace_id))
    return moment


def _routes(plural: str) -> None:
    object_type = BY_PLURAL[plural]

    def log(
        request: Request,
        record_id: str,
        type: Annotated[str, Form()] = "",
        subject: Annotated[str, Form()] = "",
        due_at: Annotated[str, Form()] = "",
        responsible_id: Annotated[str, Form()] = "",
        outcome: Annotated[str, Form()] = "",
        description: Annotated[str, Form()] = "",
        user: WebUser = Depends(signed_in_user),
    ) -> Response:
        """Log an activity; a call with an outcome other than "scheduled" is done already."""
        values = {
            "type": type,
            "subject": subject,
            "due_at": due_at,
            "responsible_id": responsible_id,
            "outcome": outcome,
            "description": description,
        }
        try:
            wanted = record_id_of(object_type, record_id)
        except StageflowError as exc:
            return refused(exc.message, exc.status)
        try:
            if type not in {t.value for t in ActivityType}:
                raise ValidationFailed("choose what to log", field="type")
            try:
                cmd = CreateActivity(
                    record_id=wanted,
                    type=ActivityType(type),
                    subject=subject.strip(),
                    description=description.strip(),
                    due_at=_due(user, due_at),
                    responsible_id=parse_id(responsible_id),
                    outcome=outcome or None,
                )
            except ValidationError as exc:
                raise first_problem(exc, named=False) from None
            with user.uow() as uow:
                activity = log_activity(uow, user.principal, cmd, user.actor)
                uow.commit()
        except StageflowError as exc:
            if exc.status == 404:
                return refused(exc.message, 404)
            where = exc.field if exc.field in FORM_FIELDS else "form"
            errors = {where: sentence(exc.message)}
            return _activity_form(request, user, object_type, wanted, values, errors)
        done = "Logged" if activity.status is ActivityStatus.COMPLETED else "Planned"
        toast = f"{done} {activity.type.value}: {activity.subject}"
        return body_answer(request, user, object_type, wanted, toast, "log-type")

    def complete(
        request: Request,
        record_id: str,
        activity_id: int,
        version: Annotated[int | None, Form()] = None,
        outcome: Annotated[str, Form()] = "",
        user: WebUser = Depends(signed_in_user),
    ) -> Response:
        """Complete an open activity (a call or meeting with its outcome, if one is given)."""
        try:
            wanted = record_id_of(object_type, record_id)
            changes: dict[str, Any] = {"status": ActivityStatus.COMPLETED, "version": version}
            if outcome:
                changes["outcome"] = outcome
            with user.uow() as uow:
                activity = update_activity(
                    uow, user.principal, activity_id, UpdateActivity(**changes), user.actor
                )
                uow.commit()
        except StaleVersion as exc:
            return refused(
                f"Someone else changed this activity since the page was loaded ({exc.message}). "
                "Reload the page.",
                exc.status,
            )
        except StageflowError as exc:
            return refused(exc.message, exc.status)
        toast = f"Completed {activity.type.value}: {activity.subject}"
        return body_answer(request, user, object_type, wanted, toast, "acts-title")

    routes: list[tuple[str, Callable[..., Any]]] = [
        ("/activities", log),
        ("/activities/{activity_id}/complete", complete),
    ]
    for suffix, endpoint in routes:
        router.add_api_route(
            f"/{plural}/{{record_id}}{suffix}",
            endpoint,
            methods=["POST"],
            dependencies=[Depends(require_csrf)],
            response_class=HTMLResponse,
            include_in_schema=False,
        )


for _plural in BY_PLURAL:
    _routes(_plural)

"""`/api/v1/email-templates`, `/api/v1/workspace/smtp` and `/api/v1/workspace/sms`: what the
send_email and send_sms actions need."""

from __future__ import annotations

from enum import Enum
from typing import Any

from fastapi import APIRouter, Depends, Response

from stageflow.entrypoints.api.deps import Caller, PathId, get_caller
from stageflow.entrypoints.api.schemas import EmailTemplateOut
from stageflow.services.channels import email as service
from stageflow.services.channels import sms
from stageflow.services.commands import (
    CreateEmailTemplate,
    SmsSettings,
    SmtpSettings,
    UpdateEmailTemplate,
)

router = APIRouter()
E: list[str | Enum] = ["Email and SMS"]


@router.get("/email-templates", tags=E, summary="Email templates, by name")
def list_templates(caller: Caller = Depends(get_caller)) -> list[EmailTemplateOut]:
    with caller.uow(read_only=True) as uow:
        return [EmailTemplateOut.of(r) for r in uow.email_templates.list(caller.workspace_id)]


@router.post(
    "/email-templates",
    tags=E,
    status_code=201,
    summary="Create a template: subject, HTML and/or text, each a sandboxed Jinja2 template",
)
def create_template(
    cmd: CreateEmailTemplate, caller: Caller = Depends(get_caller)
) -> EmailTemplateOut:
    with caller.uow() as uow:
        row = service.create_template(uow, caller.principal, cmd, caller.actor)
        uow.commit()
    return EmailTemplateOut.of(row)


@router.get("/email-templates/{template_id}", tags=E, summary="Read a template")
def get_template(template_id: PathId, caller: Caller = Depends(get_caller)) -> EmailTemplateOut:
    with caller.uow(read_only=True) as uow:
        return EmailTemplateOut.of(service.get_template(uow, caller.principal, template_id))


@router.patch("/email-templates/{template_id}", tags=E, summary="Change a template")
def update_template(
    template_id: PathId, cmd: UpdateEmailTemplate, caller: Caller = Depends(get_caller)
) -> EmailTemplateOut:
    with caller.uow() as uow:
        row = service.update_template(uow, caller.principal, template_id, cmd, caller.actor)
        uow.commit()
    return EmailTemplateOut.of(row)


@router.delete(
    "/email-templates/{template_id}", tags=E, status_code=204, summary="Delete a template"
)
def delete_template(template_id: PathId, caller: Caller = Depends(get_caller)) -> Response:
    with caller.uow() as uow:
        service.delete_template(uow, caller.principal, template_id, caller.actor)
        uow.commit()
    return Response(status_code=204)


@router.get("/workspace/smtp", tags=E, summary="The SMTP server email is sent through")
def get_smtp(caller: Caller = Depends(get_caller)) -> dict[str, Any]:
    with caller.uow(read_only=True) as uow:
        return service.smtp_view(uow, caller.principal)


@router.put(
    "/workspace/smtp",
    tags=E,
    summary="Set the SMTP server (the password is stored encrypted and never shown)",
)
def set_smtp(cmd: SmtpSettings, caller: Caller = Depends(get_caller)) -> dict[str, Any]:
    with caller.uow() as uow:
        view = service.set_smtp(uow, caller.app.secret_box(), caller.principal, cmd, caller.actor)
        uow.commit()
    return view


@router.get("/workspace/sms", tags=E, summary="The SMS provider texts are sent through")
def get_sms(caller: Caller = Depends(get_caller)) -> dict[str, Any]:
    with caller.uow(read_only=True) as uow:
        return sms.sms_view(uow, caller.principal)


@router.put(
    "/workspace/sms",
    tags=E,
    summary="Set the SMS provider (the authorization is stored encrypted and never shown)",
)
def set_sms(cmd: SmsSettings, caller: Caller = Depends(get_caller)) -> dict[str, Any]:
    with caller.uow() as uow:
        view = sms.set_sms(uow, caller.app.secret_box(), caller.principal, cmd, caller.actor)
        uow.commit()
    return view

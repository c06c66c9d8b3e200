"""Email: named templates, the workspace's SMTP server, and sending through the outbox.

Templates are sandboxed Jinja2 (automation/templates): they may only read fields, which is
checked when a template is saved; whether the fields exist is checked when an automation that
uses the template is saved, because only then is the record type known.
"""

from __future__ import annotations

import hashlib
from typing import Any

from stageflow.adapters import smtp
from stageflow.adapters.crypto import SecretBox
from stageflow.automation import templates
from stageflow.domain.errors import Conflict, NotFound, StaleVersion, ValidationFailed
from stageflow.domain.events import Actor, EventType
from stageflow.domain.users import Permission, Principal
from stageflow.services.commands import CreateEmailTemplate, SmtpSettings, UpdateEmailTemplate
from stageflow.services.unit_of_work import UnitOfWork
from stageflow.services.workspaces import provider_view, store_provider

SMTP_PASSWORD = "smtp_password"


# templates -----------------------------------------------------------------------------------


def get_template(uow: UnitOfWork, principal: Principal, template_id: int) -> Any:
    row = uow.email_templates.get(principal.workspace_id, template_id)
    if row is None:
        raise NotFound(f"email template {template_id} not found")
    return row


def create_template(
    uow: UnitOfWork, principal: Principal, cmd: CreateEmailTemplate, actor: Actor
) -> Any:
    principal.require(Permission.AUTOMATIONS_EDIT)
    ws = principal.workspace_id
    name = cmd.name.strip()
    if uow.email_templates.by_name(ws, name) is not None:
        raise Conflict(f"an email template named '{name}' exists", field="name")
    _check_texts(subject=cmd.subject, html=cmd.html, text=cmd.text)
    template_id = uow.email_templates.add(
        ws, name=name, subject=cmd.subject, html=cmd.html, text=cmd.text, now=uow.clock.now()
    )
    uow.emit_config(ws, actor, EventType.EMAIL_TEMPLATE_SAVED, template_id=template_id, name=name)
    return get_template(uow, principal, template_id)


def update_template(
    uow: UnitOfWork,
    principal: Principal,
    template_id: int,
    cmd: UpdateEmailTemplate,
    actor: Actor,
) -> Any:
    principal.require(Permission.AUTOMATIONS_EDIT)
    ws = principal.workspace_id
    row = get_template(uow, principal, template_id)
    values = cmd.model_dump(exclude_unset=True, exclude_none=True)
    if "name" in values:
        values["name"] = values["name"].strip()
        other = uow.email_templates.by_name(ws, values["name"])
        if other is not None and other.id != template_id:
            raise Conflict(f"an email template named '{values['name']}' exists", field="name")
    merged = {k: values.get(k, getattr(row, k)) for k in ("subject", "html", "text")}
    _check_texts(**merged)
    if values:
        values["updated_at"] = uow.clock.now()
        if not uow.email_templates.save(ws, template_id, row.version, values):
            raise StaleVersion("the template changed meanwhile; read it again")
        uow.emit_config(
            ws,
            actor,
            EventType.EMAIL_TEMPLATE_SAVED,
            template_id=template_id,
            name=values.get("name", row.name),
        )
    return get_template(uow, principal, template_id)


def delete_template(uow: UnitOfWork, principal: Principal, template_id: int, actor: Actor) -> None:
    """Delete a template. Automations that use it fail their email step, saying so."""
    principal.require(Permission.AUTOMATIONS_EDIT)
    row = get_template(uow, principal, template_id)
    uow.email_templates.delete(principal.workspace_id, template_id)
    uow.emit_config(
        principal.workspace_id,
        actor,
        EventType.EMAIL_TEMPLATE_DELETED,
        template_id=template_id,
        name=row.name,
    )


def _check_texts(*, subject: str, html: str, text: str) -> None:
    if not html.strip() and not text.strip():
        raise ValidationFailed("an email template needs an HTML or a text body", field="html")
    if "\n" in subject or "\r" in subject:
        raise ValidationFailed("the subject is one line", field="subject")
    for name, source in (("subject", subject), ("html", html), ("text", text)):
        try:
            templates.references(source)
        except templates.TemplateProblem as exc:
            raise ValidationFailed(str(exc), field=name) from None


# the SMTP server -----------------------------------------------------------------------------


def smtp_view(uow: UnitOfWork, principal: Principal) -> dict[str, Any]:
    """The SMTP settings without the password (only whether one is stored)."""
    return provider_view(uow, principal, "smtp", SMTP_PASSWORD, "has_password")


def set_smtp(
    uow: UnitOfWork, box: SecretBox, principal: Principal, cmd: SmtpSettings, actor: Actor
) -> dict[str, Any]:
    principal.require(Permission.WORKSPACE_SETTINGS)
    if not smtp.valid_address(cmd.from_address):
        raise ValidationFailed(
            f"'{cmd.from_address}' is not an email address", field="from_address"
        )
    if any(c in cmd.from_name for c in "\r\n"):
        raise ValidationFailed("the sender's name is one line", field="from_name")
    stored = cmd.model_dump(exclude={"password"})
    stored["host"] = stored["host"].strip()
    store_provider(
        uow,
        box,
        principal,
        "smtp",
        stored,
        secret=SMTP_PASSWORD,
        secret_value=cmd.password,
        actor=actor,
    )
    return smtp_view(uow, principal)


def smtp_server(uow: UnitOfWork, box: SecretBox, workspace_id: int) -> smtp.SmtpServer | None:
    workspace = uow.workspaces.get(workspace_id)
    stored = (workspace.settings if workspace else {}).get("smtp")
    if not stored:
        return None
    sealed = uow.workspaces.secret(workspace_id, SMTP_PASSWORD)
    return smtp.SmtpServer(
        host=stored["host"],
        port=int(stored["port"]),
        security=stored["security"],
        username=stored.get("username"),
        password=box.open(sealed) if sealed else None,
        timeout=float(stored.get("timeout_seconds", 20)),
    )


def message_id(workspace_id: int, idempotency_key: str, from_address: str) -> str:
    """The same delivery always has the same Message-ID."""
    digest = hashlib.sha256(f"{workspace_id}:{idempotency_key}".encode()).hexdigest()[:32]
    domain = from_address.rpartition("@")[2] or "stageflow.invalid"
    return f"<{digest}.stageflow@{domain}>"

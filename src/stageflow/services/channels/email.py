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
from stageflow.domain.errors import ValidationFailed
from stageflow.domain.events import Actor, EventType
from stageflow.domain.references import RefKind
from stageflow.domain.users import Permission, Principal
from stageflow.services.channels import templates as named
from stageflow.services.channels.templates import TemplateKind
from stageflow.services.commands import CreateEmailTemplate, SmtpSettings, UpdateEmailTemplate
from stageflow.services.crm.workspaces import provider_view, store_provider
from stageflow.services.unit_of_work import UnitOfWork

SMTP_PASSWORD = "smtp_password"


# templates -----------------------------------------------------------------------------------


def _check_email(texts: dict[str, str]) -> None:
    if not texts["html"].strip() and not texts["text"].strip():
        raise ValidationFailed("an email template needs an HTML or a text body", field="html")
    if "\n" in texts["subject"] or "\r" in texts["subject"]:
        raise ValidationFailed("the subject is one line", field="subject")


EMAIL_TEMPLATES = TemplateKind(
    label="email template",
    repository=lambda uow: uow.email_templates,
    texts=("subject", "html", "text"),
    saved=EventType.EMAIL_TEMPLATE_SAVED,
    deleted=EventType.EMAIL_TEMPLATE_DELETED,
    ref=RefKind.EMAIL_TEMPLATE,
    check=_check_email,
)


def get_template(uow: UnitOfWork, principal: Principal, template_id: int) -> Any:
    return named.get(EMAIL_TEMPLATES, uow, principal, template_id)


def create_template(
    uow: UnitOfWork, principal: Principal, cmd: CreateEmailTemplate, actor: Actor
) -> Any:
    texts = {"subject": cmd.subject, "html": cmd.html, "text": cmd.text}
    return named.create(EMAIL_TEMPLATES, uow, principal, cmd.name, texts, actor)


def update_template(
    uow: UnitOfWork,
    principal: Principal,
    template_id: int,
    cmd: UpdateEmailTemplate,
    actor: Actor,
) -> Any:
    changes = cmd.model_dump(exclude_unset=True)
    return named.update(EMAIL_TEMPLATES, uow, principal, template_id, changes, actor)


def delete_template(uow: UnitOfWork, principal: Principal, template_id: int, actor: Actor) -> None:
    named.delete(EMAIL_TEMPLATES, uow, principal, template_id, actor)


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

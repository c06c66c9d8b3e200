"""The send_email action: a named template rendered for the record, addressed by role, and
delivered over the workspace's SMTP server through the outbox (retried, one Message-ID per
step)."""

from __future__ import annotations

import base64
import hashlib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from stageflow.actions.ports import ActionContext
from stageflow.actions.registry import SaveContext, SettingsInvalid, registry
from stageflow.actions.values import contact_values
from stageflow.adapters.smtp import valid_address
from stageflow.automation import templates
from stageflow.domain.references import RefKind, refers

MAX_ATTACHMENT = 5 * 1024 * 1024


class Recipient(BaseModel):
    """Who gets the message: the record's contact(s), its owner, a user, the user in a user
    field (an installer, a salesperson), or a fixed address."""

    model_config = ConfigDict(extra="forbid")
    role: Literal["contact", "owner", "user", "user_field", "address"]
    user_id: int | None = Field(
        None, description="For role 'user'", json_schema_extra=refers(RefKind.USER)
    )
    field: str | None = Field(
        None,
        description="For role 'user_field': a user field",
        json_schema_extra=refers(RefKind.FIELD),
    )
    address: str | None = Field(None, description="For role 'address'")

    @model_validator(mode="after")
    def _complete(self) -> Recipient:
        needs = {"user": "user_id", "user_field": "field", "address": "address"}.get(self.role)
        if needs and getattr(self, needs) is None:
            raise ValueError(f"a '{self.role}' recipient needs '{needs}'")
        if self.address is not None and not valid_address(self.address):
            raise ValueError(f"'{self.address}' is not an email address")
        return self


class Attachment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    filename: str = Field(min_length=1, max_length=200)
    content: str = Field(description="Template")
    content_type: str = Field("text/plain", pattern=r"^[\w.+-]+/[\w.+-]+$")

    @field_validator("filename")
    @classmethod
    def _plain_name(cls, name: str) -> str:
        if any(c in name for c in '/\\\r\n"') or name in (".", ".."):
            raise ValueError(f"{name!r} is not a plain file name")
        return name


class SendEmail(BaseModel):
    model_config = ConfigDict(extra="forbid")
    template: str = Field(
        min_length=1,
        description="Name of an email template",
        json_schema_extra=refers(RefKind.EMAIL_TEMPLATE),
    )
    to: list[Recipient] = Field(min_length=1)
    cc: list[Recipient] = Field(default_factory=list)
    bcc: list[Recipient] = Field(default_factory=list)
    reply_to: str | None = None
    attachments: list[Attachment] = Field(default_factory=list, max_length=10)
    max_attempts: int = Field(6, ge=1, le=20)

    @field_validator("reply_to")
    @classmethod
    def _reply_to(cls, value: str | None) -> str | None:
        if value is not None and not valid_address(value):
            raise ValueError(f"'{value}' is not an email address")
        return value


def check_email(ctx: SaveContext, settings: SendEmail) -> None:
    if not ctx.extra.get("smtp_configured"):
        raise SettingsInvalid(
            "the workspace has no SMTP server to send email with: set one up first "
            "(PUT /api/v1/workspace/smtp)"
        )
    found = ctx.extra.get("email_templates", {}).get(settings.template)
    if found is None:
        raise SettingsInvalid(
            f"there is no email template named '{settings.template}' "
            "(create it at /api/v1/email-templates)",
            "template",
        )
    for text in found:
        try:
            templates.check(text, ctx.extra.get("template_fields", {}))
        except templates.TemplateProblem as exc:
            raise SettingsInvalid(f"template '{settings.template}': {exc}", "template") from None
    check_recipients(ctx, {g: getattr(settings, g) for g in ("to", "cc", "bcc")})


def check_recipients(ctx: SaveContext, groups: dict[str, list[Recipient]]) -> None:
    """Users exist, user fields are user fields, and roles that need a record have one."""
    for group, recipients in groups.items():
        for i, recipient in enumerate(recipients):
            where = f"{group}.{i}"
            if recipient.role == "user" and recipient.user_id not in ctx.user_ids:
                raise SettingsInvalid(f"there is no user {recipient.user_id}", where)
            if recipient.role == "user_field" and recipient.field not in ctx.extra.get(
                "user_fields", frozenset()
            ):
                raise SettingsInvalid(
                    f"'{recipient.field}' is not a user field of {ctx.object_type}s", where
                )
            if recipient.role in ("contact", "owner", "user_field") and ctx.object_type is None:
                raise SettingsInvalid(f"a '{recipient.role}' recipient needs a record", where)


@registry.register(
    "send_email",
    SendEmail,
    description="Send an email from a template (SMTP, retried, one Message-ID per step)",
    external=True,
    check=check_email,
)
def send_email(ctx: ActionContext, settings: SendEmail) -> dict[str, Any]:
    files = [
        (a.filename, a.content_type, ctx.render(a.content).encode()) for a in settings.attachments
    ]
    return queue_email(ctx, settings, files)


def queue_email(
    ctx: ActionContext, settings: SendEmail, files: list[tuple[str, str, bytes]]
) -> dict[str, Any]:
    """Render ``settings``' template for the record and queue the message with ``files``
    (name, content type, bytes) attached."""
    template = ctx.crm.email_template(settings.template)
    if template is None:
        raise ValueError(f"the email template '{settings.template}' no longer exists")
    to = addresses(ctx, settings.to)
    if not to:
        raise ValueError("no recipient has an email address")
    cc = [a for a in addresses(ctx, settings.cc) if a not in to]
    bcc = [a for a in addresses(ctx, settings.bcc) if a not in to and a not in cc]
    subject = " ".join(ctx.render(template["subject"]).split())
    attachments = []
    for filename, content_type, data in files:
        if len(data) > MAX_ATTACHMENT:
            raise ValueError(f"the attachment {filename} is over 5 MiB")
        attachments.append(
            {
                "filename": filename,
                "content_type": content_type,
                "content_b64": base64.b64encode(data).decode(),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        )
    delivery_id = ctx.outbox.queue(
        "email",
        {
            "to": to,
            "cc": cc,
            "bcc": bcc,
            "reply_to": settings.reply_to,
            "subject": subject,
            "html": ctx.render_html(template["html"]) if template["html"] else "",
            "text": ctx.render(template["text"]) if template["text"] else "",
            "attachments": attachments,
        },
        max_attempts=settings.max_attempts,
    )
    return {"delivery_id": delivery_id, "to": to, "cc": cc, "subject": subject}


def addresses(ctx: ActionContext, recipients: list[Recipient]) -> list[str]:
    """The addresses of recipients, in order, once each; people without one are left out."""
    found: list[str] = []
    record = ctx.crm.record(ctx.record_id) if ctx.record_id is not None else {}
    for recipient in recipients:
        if recipient.role == "address":
            candidates = [recipient.address]
        elif recipient.role == "contact":
            candidates = contact_values(ctx, record, "email")
        elif recipient.role == "owner":
            candidates = [_user_email(ctx, record.get("owner_id"))]
        elif recipient.role == "user":
            candidates = [_user_email(ctx, recipient.user_id)]
        else:
            candidates = [_user_email(ctx, record.get(recipient.field or ""))]
        for address in candidates:
            if address and valid_address(address) and address not in found:
                found.append(address)
    return found


def _user_email(ctx: ActionContext, user_id: Any) -> str | None:
    if not isinstance(user_id, int):
        return None
    user = ctx.crm.user(user_id)
    return None if user is None else str(user["email"])

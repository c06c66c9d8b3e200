"""The generate_report action: a report template rendered for the record, made a PDF, kept
on the record, and optionally emailed as an attachment (SPEC E3)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from stageflow.actions.email import (
    Recipient,
    SendEmail,
    addresses,
    check_email,
    check_recipients,
    queue_email,
)
from stageflow.actions.ports import ActionContext
from stageflow.actions.registry import SaveContext, SettingsInvalid, registry
from stageflow.adapters.pdf import html_to_pdf
from stageflow.automation import templates
from stageflow.domain.references import RefKind, refers

_UNSAFE = re.compile(r"[^\w.\- ]+")
MAX_FILE = 10 * 1024 * 1024


class EmailReport(BaseModel):
    model_config = ConfigDict(extra="forbid")
    template: str = Field(
        min_length=1,
        description="An email template",
        json_schema_extra=refers(RefKind.EMAIL_TEMPLATE),
    )
    to: list[Recipient] = Field(min_length=1)
    cc: list[Recipient] = Field(default_factory=list)


class GenerateReport(BaseModel):
    model_config = ConfigDict(extra="forbid")
    template: str = Field(
        min_length=1,
        description="A report template",
        json_schema_extra=refers(RefKind.REPORT_TEMPLATE),
    )
    filename: str | None = Field(
        None, max_length=150, description="Template; default '<report title>.pdf'"
    )
    email: EmailReport | None = Field(None, description="Also email it as an attachment")


def _as_email(settings: EmailReport) -> SendEmail:
    return SendEmail(template=settings.template, to=settings.to, cc=settings.cc)


def _check(ctx: SaveContext, settings: GenerateReport) -> None:
    if ctx.object_type is None:
        raise SettingsInvalid("a report needs a record to report on")
    found = ctx.extra.get("report_templates", {}).get(settings.template)
    if found is None:
        raise SettingsInvalid(
            f"there is no report template named '{settings.template}' "
            "(create it at /api/v1/report-templates)",
            "template",
        )
    for text in found:
        try:
            templates.check(text, ctx.extra.get("template_fields", {}))
        except templates.TemplateProblem as exc:
            raise SettingsInvalid(f"report '{settings.template}': {exc}", "template") from None
    if settings.email is not None:
        try:
            check_email(ctx, _as_email(settings.email))
        except SettingsInvalid as exc:
            raise SettingsInvalid(
                str(exc), f"email.{exc.field}" if exc.field else "email"
            ) from None


@registry.register(
    "generate_report",
    GenerateReport,
    description="Make a PDF from a report template, keep it on the record, optionally email it",
    check=_check,
)
def generate_report(ctx: ActionContext, settings: GenerateReport) -> dict[str, Any]:
    assert ctx.record_id is not None
    template = ctx.crm.report_template(settings.template)
    if template is None:
        raise ValueError(f"the report template '{settings.template}' no longer exists")
    title = " ".join(ctx.render(template["title"]).split())
    data = html_to_pdf(ctx.render_html(template["html"]), title=title)
    if len(data) > MAX_FILE:
        raise ValueError(f"the report is {len(data) // 1024} KiB; at most {MAX_FILE // 1024}")
    wanted = ctx.render(settings.filename) if settings.filename else title
    filename = _file_name(wanted)
    file_id = ctx.crm.keep_file(
        ctx.record_id,
        filename=filename,
        content_type="application/pdf",
        data=data,
        source=f"report:{settings.template}",
    )
    output: dict[str, Any] = {"file_id": file_id, "filename": filename, "size": len(data)}
    if settings.email is not None:
        sent = queue_email(ctx, _as_email(settings.email), [(filename, "application/pdf", data)])
        output["email"] = {"delivery_id": sent["delivery_id"], "to": sent["to"]}
    return output


class RequestSignature(BaseModel):
    model_config = ConfigDict(extra="forbid")
    report: str = Field(
        min_length=1,
        description="The report template to sign",
        json_schema_extra=refers(RefKind.REPORT_TEMPLATE),
    )
    filename: str | None = Field(None, max_length=150, description="Template")
    signers: list[Recipient] = Field(min_length=1, description="As send_email's recipients")
    message: str = Field("", max_length=5000, description="Template; for the signers")
    max_attempts: int = Field(6, ge=1, le=20)


def _check_signature(ctx: SaveContext, settings: RequestSignature) -> None:
    if not ctx.extra.get("esign_configured"):
        raise SettingsInvalid(
            "the workspace has no e-signature provider: set one up first "
            "(PUT /api/v1/workspace/esign)"
        )
    _check(ctx, GenerateReport(template=settings.report, filename=settings.filename))
    check_recipients(ctx, {"signers": settings.signers})


@registry.register(
    "request_signature",
    RequestSignature,
    description="Send a report for electronic signature through the workspace's provider",
    external=True,
    check=_check_signature,
)
def request_signature(ctx: ActionContext, settings: RequestSignature) -> dict[str, Any]:
    assert ctx.record_id is not None
    made = generate_report(
        ctx, GenerateReport(template=settings.report, filename=settings.filename)
    )
    signers = [{"email": address} for address in addresses(ctx, settings.signers)]
    if not signers:
        raise ValueError("no signer has an email address")
    request_id = ctx.crm.add_signature_request(
        ctx.record_id, file_id=made["file_id"], signers=signers
    )
    delivery_id = ctx.outbox.queue(
        "esign",
        {
            "signature_request_id": request_id,
            "file_id": made["file_id"],
            "signers": signers,
            "message": ctx.render(settings.message) if settings.message else "",
        },
        max_attempts=settings.max_attempts,
    )
    return {
        "signature_request_id": request_id,
        "file_id": made["file_id"],
        "delivery_id": delivery_id,
        "signers": signers,
    }


def _file_name(wanted: str) -> str:
    """A plain file name ending in .pdf (path separators and oddities dropped)."""
    stem = _UNSAFE.sub("", wanted.removesuffix(".pdf")).strip(" .") or "report"
    return f"{stem[:120]}.pdf"

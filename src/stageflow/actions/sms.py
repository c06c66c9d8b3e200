"""The send_sms action: a templated text to phone numbers, one delivery per number, through
the workspace's SMS provider (SPEC B6)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from stageflow.actions.ports import ActionContext
from stageflow.actions.registry import SaveContext, SettingsInvalid, registry
from stageflow.actions.values import contact_values
from stageflow.domain.errors import ValidationFailed
from stageflow.domain.lifecycle import normalize_address
from stageflow.domain.references import RefKind, refers

MAX_TEXT = 1600  # ten concatenated SMS parts


def phone_number(text: str) -> str:
    """The number as providers take it (digits, a leading + when international)."""
    return normalize_address("sms", text)


class PhoneRecipient(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["contact", "field", "number"]
    field: str | None = Field(
        None,
        description="For role 'field': a text field of the record",
        json_schema_extra=refers(RefKind.FIELD),
    )
    number: str | None = Field(None, description="For role 'number'")

    @model_validator(mode="after")
    def _complete(self) -> PhoneRecipient:
        if self.role == "field" and not self.field:
            raise ValueError("a 'field' recipient needs 'field'")
        if self.role == "number":
            if not self.number:
                raise ValueError("a 'number' recipient needs 'number'")
            try:
                phone_number(self.number)
            except ValidationFailed as exc:
                raise ValueError(exc.message) from None
        return self


class SendSms(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: list[PhoneRecipient] = Field(min_length=1)
    text: str = Field(min_length=1, max_length=MAX_TEXT, description="Template")
    max_attempts: int = Field(6, ge=1, le=20)


def _check(ctx: SaveContext, settings: SendSms) -> None:
    if not ctx.extra.get("sms_configured"):
        raise SettingsInvalid(
            "the workspace has no SMS provider: set one up first (PUT /api/v1/workspace/sms)"
        )
    for i, recipient in enumerate(settings.to):
        if recipient.role == "field" and recipient.field not in ctx.record_fields:
            raise SettingsInvalid(
                f"{ctx.object_type}s have no field '{recipient.field}'", f"to.{i}"
            )
        if recipient.role in ("contact", "field") and ctx.object_type is None:
            raise SettingsInvalid(f"a '{recipient.role}' recipient needs a record", f"to.{i}")


@registry.register(
    "send_sms",
    SendSms,
    description="Send a text message through the workspace's SMS provider",
    external=True,
    check=_check,
)
def send_sms(ctx: ActionContext, settings: SendSms) -> dict[str, Any]:
    record = ctx.crm.record(ctx.record_id) if ctx.record_id is not None else {}
    numbers: list[str] = []
    skipped: list[str] = []
    for recipient in settings.to:
        for raw in _candidates(ctx, recipient, record):
            if not raw:
                continue
            try:
                number = phone_number(str(raw))
            except ValidationFailed:
                skipped.append(str(raw))
                continue
            if number not in numbers:
                numbers.append(number)
    if not numbers:
        detail = f" ({', '.join(skipped)} not phone numbers)" if skipped else ""
        raise ValueError(f"no recipient has a phone number{detail}")
    text = ctx.render(settings.text).strip()
    if not text:
        raise ValueError("the text is empty once rendered")
    if len(text) > MAX_TEXT:
        raise ValueError(f"the text is {len(text)} characters once rendered; at most {MAX_TEXT}")
    deliveries = [
        ctx.outbox.queue(
            "sms",
            {"to": number, "text": text},
            max_attempts=settings.max_attempts,
            part=f"sms:{number}",
        )
        for number in numbers
    ]
    return {"delivery_ids": deliveries, "to": numbers, "skipped": skipped}


def _candidates(ctx: ActionContext, recipient: PhoneRecipient, record: Any) -> list[Any]:
    if recipient.role == "number":
        return [recipient.number]
    if recipient.role == "field":
        return [record.get(recipient.field or "")]
    return contact_values(ctx, record, "phone")

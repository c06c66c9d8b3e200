"""The webhook action: an HTTP request to another system, rendered in the run's transaction
and delivered through the outbox (signed, keyed, retried; see services/outbox)."""

from __future__ import annotations

import ipaddress
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from stageflow.actions.ports import ActionContext
from stageflow.actions.registry import SaveContext, SettingsInvalid, registry
from stageflow.actions.values import is_template
from stageflow.adapters import http

# Headers stageflow sets itself; a step cannot set or fake them.
RESERVED_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "idempotency-key",
        http.SIGNATURE_HEADER.lower(),
        http.TIMESTAMP_HEADER.lower(),
    }
)
MAX_BODY = 256 * 1024


class Webhook(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(min_length=1, max_length=2000, description="http(s) URL; may use templates")
    method: Literal["POST", "PUT", "PATCH", "DELETE", "GET"] = "POST"
    headers: dict[str, str] = Field(
        default_factory=dict, description="Header → value (values may use templates)"
    )
    body: Any = Field(
        None,
        description="JSON to send; strings in it may use templates. Default: the record, "
        "the run and the step",
    )
    sign: bool = Field(
        True, description="Sign with the workspace's webhook secret (X-Stageflow-Signature)"
    )
    timeout_seconds: float = Field(http.DEFAULT_TIMEOUT, gt=0, le=http.MAX_TIMEOUT)
    max_attempts: int = Field(6, ge=1, le=20, description="Tries before giving up")

    @field_validator("headers")
    @classmethod
    def _headers(cls, headers: dict[str, str]) -> dict[str, str]:
        for name, value in headers.items():
            if not name or not all(33 <= ord(c) < 127 and c != ":" for c in name):
                raise ValueError(f"{name!r} is not a header name")
            if name.lower() in RESERVED_HEADERS:
                raise ValueError(f"stageflow sets the {name} header itself")
            if "\r" in value or "\n" in value:
                raise ValueError(f"the {name} header's value spans lines")
        return headers


def _check(ctx: SaveContext, settings: Webhook) -> None:
    if is_template(settings.url):
        if not settings.url.lower().startswith(("http://", "https://")):
            raise SettingsInvalid("a webhook URL must start with http:// or https://", "url")
        return  # the rendered URL is checked when it is sent
    try:
        _, host, _ = http.check_url(settings.url)
    except http.TargetRefused as exc:
        raise SettingsInvalid(str(exc), "url") from None
    allow = http.AllowList.parse(ctx.extra.get("webhook_allowlist") or [])
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return  # a name: resolved and checked each time a request is sent
    try:
        http.check_target(settings.url, allow)
    except http.TargetRefused as exc:
        raise SettingsInvalid(str(exc), "url") from None


@registry.register(
    "webhook",
    Webhook,
    description="Send an HTTP request (signed, with an Idempotency-Key, retried on failure)",
    external=True,
    check=_check,
)
def webhook(ctx: ActionContext, settings: Webhook) -> dict[str, Any]:
    url = ctx.render(settings.url) if is_template(settings.url) else settings.url
    http.check_url(url)  # a rendered URL that is no URL fails the step, clearly
    body = _render(ctx, settings.body) if settings.body is not None else _default_body(ctx)
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str)
    if len(text.encode()) > MAX_BODY:
        raise ValueError(f"the webhook body is over {MAX_BODY // 1024} KiB")
    headers = {"Content-Type": "application/json", "User-Agent": "stageflow-webhook/1"}
    for name, value in settings.headers.items():
        rendered = ctx.render(value) if is_template(value) else value
        if "\r" in rendered or "\n" in rendered:
            raise ValueError(f"the {name} header's value spans lines once rendered")
        headers[name] = rendered
    delivery_id = ctx.outbox.queue(
        "webhook",
        {
            "url": url,
            "method": settings.method,
            "headers": headers,
            "body": text,
            "sign": settings.sign,
            "timeout": settings.timeout_seconds,
        },
        max_attempts=settings.max_attempts,
    )
    return {"delivery_id": delivery_id, "url": url, "method": settings.method}


def _render(ctx: ActionContext, value: Any) -> Any:
    if isinstance(value, str):
        return ctx.render(value) if is_template(value) else value
    if isinstance(value, list):
        return [_render(ctx, v) for v in value]
    if isinstance(value, dict):
        return {k: _render(ctx, v) for k, v in value.items()}
    return value


def _default_body(ctx: ActionContext) -> dict[str, Any]:
    context = ctx.template_context
    return {
        "idempotency_key": ctx.idempotency_key,
        "record": context.get("record"),
        "trigger": context.get("trigger"),
        "sent_at": ctx.now.isoformat(),
    }

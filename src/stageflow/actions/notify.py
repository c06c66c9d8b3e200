"""The notify_user action: an in-app notification for users (SPEC W4), written in the run's
transaction (exactly once) and listed by `GET /api/v1/notifications`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from stageflow.actions.ports import ActionContext
from stageflow.actions.registry import SaveContext, SettingsInvalid, registry
from stageflow.domain.references import RefKind, refers


class Whom(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["owner", "user", "user_field"]
    user_id: int | None = Field(
        None, description="For role 'user'", json_schema_extra=refers(RefKind.USER)
    )
    field: str | None = Field(
        None,
        description="For role 'user_field': a user field",
        json_schema_extra=refers(RefKind.FIELD),
    )

    @model_validator(mode="after")
    def _complete(self) -> Whom:
        if self.role == "user" and self.user_id is None:
            raise ValueError("a 'user' recipient needs 'user_id'")
        if self.role == "user_field" and self.field is None:
            raise ValueError("a 'user_field' recipient needs 'field'")
        return self


class NotifyUser(BaseModel):
    model_config = ConfigDict(extra="forbid")
    users: list[Whom] = Field(min_length=1)
    title: str = Field(min_length=1, max_length=300, description="Template")
    body: str = Field("", max_length=10_000, description="Template")


def _check(ctx: SaveContext, settings: NotifyUser) -> None:
    for i, whom in enumerate(settings.users):
        where = f"users.{i}"
        if whom.role == "user" and whom.user_id not in ctx.user_ids:
            raise SettingsInvalid(f"there is no user {whom.user_id}", where)
        if whom.role == "user_field" and whom.field not in ctx.extra.get(
            "user_fields", frozenset()
        ):
            raise SettingsInvalid(
                f"'{whom.field}' is not a user field of {ctx.object_type}s", where
            )
        if whom.role in ("owner", "user_field") and ctx.object_type is None:
            raise SettingsInvalid(f"a '{whom.role}' recipient needs a record", where)


@registry.register(
    "notify_user",
    NotifyUser,
    description="Notify users in stageflow (listed by GET /api/v1/notifications)",
    check=_check,
)
def notify_user(ctx: ActionContext, settings: NotifyUser) -> dict[str, Any]:
    record = ctx.crm.record(ctx.record_id) if ctx.record_id is not None else {}
    user_ids: list[int] = []
    for whom in settings.users:
        if whom.role == "user":
            candidate: Any = whom.user_id
        elif whom.role == "owner":
            candidate = record.get("owner_id")
        else:
            candidate = record.get(whom.field or "")
        known = isinstance(candidate, int) and ctx.crm.user(candidate) is not None
        if known and candidate not in user_ids:
            user_ids.append(candidate)
    if not user_ids:
        return {"notified": [], "reason": "nobody to notify (no owner or user set)"}
    title = " ".join(ctx.render(settings.title).split())[:300]
    body = ctx.render(settings.body) if settings.body else ""
    ctx.crm.notify(user_ids, title=title, body=body, record_id=ctx.record_id)
    return {"notified": user_ids, "title": title}

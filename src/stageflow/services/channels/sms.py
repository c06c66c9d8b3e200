"""SMS: the workspace's provider (a generic HTTP API, or the log for trying things out)."""

from __future__ import annotations

from typing import Any

from stageflow.adapters.crypto import SecretBox
from stageflow.domain.errors import ValidationFailed
from stageflow.domain.events import Actor
from stageflow.domain.users import Permission, Principal
from stageflow.services.commands import SmsSettings
from stageflow.services.crm.workspaces import (
    check_one_line,
    check_provider_url,
    provider_view,
    store_provider,
)
from stageflow.services.unit_of_work import UnitOfWork

SMS_AUTHORIZATION = "sms_authorization"


def sms_view(uow: UnitOfWork, principal: Principal) -> dict[str, Any]:
    return provider_view(uow, principal, "sms", SMS_AUTHORIZATION, "has_authorization")


def set_sms(
    uow: UnitOfWork, box: SecretBox, principal: Principal, cmd: SmsSettings, actor: Actor
) -> dict[str, Any]:
    principal.require(Permission.WORKSPACE_SETTINGS)
    if cmd.provider == "http":
        if not cmd.url:
            raise ValidationFailed("the http provider needs the url to POST to", field="url")
        check_provider_url(cmd.url)
    check_one_line(cmd.authorization, "authorization")
    store_provider(
        uow,
        box,
        principal,
        "sms",
        cmd.model_dump(exclude={"authorization"}),
        secret=SMS_AUTHORIZATION,
        secret_value=cmd.authorization,
        actor=actor,
    )
    return sms_view(uow, principal)


def authorization(uow: UnitOfWork, box: SecretBox, workspace_id: int) -> str | None:
    sealed = uow.workspaces.secret(workspace_id, SMS_AUTHORIZATION)
    return box.open(sealed) if sealed else None

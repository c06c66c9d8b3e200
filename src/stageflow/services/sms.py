"""SMS: the workspace's provider (a generic HTTP API, or the log for trying things out)."""

from __future__ import annotations

from typing import Any

from stageflow.adapters import http
from stageflow.adapters.crypto import SecretBox
from stageflow.domain.errors import NotFound, ValidationFailed
from stageflow.domain.events import Actor, EventType
from stageflow.domain.users import Permission, Principal
from stageflow.services.commands import SmsSettings
from stageflow.services.unit_of_work import UnitOfWork

SMS_AUTHORIZATION = "sms_authorization"


def sms_view(uow: UnitOfWork, principal: Principal) -> dict[str, Any]:
    principal.require(Permission.WORKSPACE_SETTINGS)
    workspace = uow.workspaces.get(principal.workspace_id)
    stored = dict((workspace.settings if workspace else {}).get("sms") or {})
    if not stored:
        return {"configured": False}
    has_auth = uow.workspaces.secret(principal.workspace_id, SMS_AUTHORIZATION) is not None
    return {"configured": True, **stored, "has_authorization": has_auth}


def set_sms(
    uow: UnitOfWork, box: SecretBox, principal: Principal, cmd: SmsSettings, actor: Actor
) -> dict[str, Any]:
    principal.require(Permission.WORKSPACE_SETTINGS)
    ws = principal.workspace_id
    workspace = uow.workspaces.get(ws)
    if workspace is None:
        raise NotFound("workspace not found")
    if cmd.provider == "http":
        if not cmd.url:
            raise ValidationFailed("the http provider needs the url to POST to", field="url")
        try:
            http.check_url(cmd.url)
        except http.TargetRefused as exc:
            raise ValidationFailed(str(exc), field="url") from None
    if cmd.authorization is not None and any(c in cmd.authorization for c in "\r\n"):
        raise ValidationFailed("the authorization value is one line", field="authorization")
    stored = cmd.model_dump(exclude={"authorization"})
    uow.workspaces.update_settings(ws, {**workspace.settings, "sms": stored})
    if cmd.authorization is not None:
        uow.workspaces.set_secret(
            ws, SMS_AUTHORIZATION, box.seal(cmd.authorization), uow.clock.now()
        )
    uow.emit_config(ws, actor, EventType.WORKSPACE_UPDATED, changed=["sms"])
    return sms_view(uow, principal)


def authorization(uow: UnitOfWork, box: SecretBox, workspace_id: int) -> str | None:
    sealed = uow.workspaces.secret(workspace_id, SMS_AUTHORIZATION)
    return box.open(sealed) if sealed else None

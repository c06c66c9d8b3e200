"""The inbox (respond.io's Inbox, SPEC L5, L10): conversations open, snoozed or closed;
mine, unassigned or all; each with its contact, the contact's lifecycle stage and the last
message. A conversation's page shows its messages and lets the user assign, snooze, close or
reopen it and set, change or clear the contact's stage right there."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from stageflow.domain.errors import StageflowError
from stageflow.domain.lifecycle import ConversationStatus, LifecycleStage
from stageflow.domain.records import ObjectType
from stageflow.domain.users import Permission
from stageflow.entrypoints.web.auth import WebUser, require_csrf, signed_in_user
from stageflow.entrypoints.web.board import parse_id, users_by_id
from stageflow.entrypoints.web.pages.boards import is_htmx
from stageflow.entrypoints.web.pages.htmx_helpers import (
    ago,
    refused,
    refused_page,
    retarget,
    sentence,
    when,
    with_toast,
    workspace_zone,
)
from stageflow.entrypoints.web.render import page
from stageflow.services.commands import SetLifecycleStage, UpdateConversation
from stageflow.services.crm import conversations, lifecycle, lifecycle_dashboard, records
from stageflow.services.unit_of_work import UnitOfWork

router = APIRouter()
CSRF = [Depends(require_csrf)]
STATUSES = {"open": "Open", "snoozed": "Snoozed", "closed": "Closed"}
WHO = {"mine": "Mine", "unassigned": "Unassigned", "all": "All"}
PREVIEW = 140
CHANNELS = {"whatsapp": "WhatsApp", "sms": "SMS", "email": "Email", "web_chat": "Web chat"}


def channel_label(channel: str | None) -> str:
    if not channel:
        return ""
    return CHANNELS.get(channel, channel.replace("_", " ").capitalize())


@dataclass(frozen=True, slots=True)
class InboxFilters:
    status: str = "open"
    who: str = "all"
    stage_id: int | None = None

    def query(self, **changes: Any) -> dict[str, str]:
        values = {"status": self.status, "who": self.who, "stage": str(self.stage_id or "")}
        values.update({k: str(v) for k, v in changes.items()})
        return {k: v for k, v in values.items() if v}


@dataclass(frozen=True, slots=True)
class Row:
    id: int
    contact_name: str
    stage: LifecycleStage | None
    status: str
    assignee: str
    channel: str
    last_text: str
    last_inbound: bool
    last_at: str
    last_ago: str


def _stages(user: WebUser) -> tuple[list[LifecycleStage], bool]:
    with user.uow(read_only=True) as uow:
        stages = lifecycle.list_stages(uow, user.principal)
        workspace = uow.workspaces.get(user.principal.workspace_id)
    return stages, bool(workspace and workspace.settings.get("lifecycle_enabled", True))


@router.get("/inbox", response_class=HTMLResponse)
def inbox_page(
    request: Request,
    status: str = "open",
    who: str = "all",
    stage: str | None = None,
    cursor: str | None = None,
    user: WebUser = Depends(signed_in_user),
) -> Response:
    filters = InboxFilters(
        status=status if status in STATUSES else "open",
        who=who if who in WHO else "all",
        stage_id=parse_id(stage),
    )
    stages, enabled = _stages(user)
    by_id = {s.id: s for s in stages}
    try:
        with user.uow(read_only=True) as uow:
            found = conversations.inbox(
                uow,
                user.principal,
                status=ConversationStatus(filters.status),
                mine=filters.who == "mine",
                unassigned=filters.who == "unassigned",
                lifecycle_stage_id=filters.stage_id,
                cursor=cursor,
            )
            names = users_by_id(uow, user.principal.workspace_id)
            zone = workspace_zone(uow, user.principal.workspace_id)
            now = uow.clock.now()
            counts = _counts(uow, user)
    except StageflowError as exc:
        return refused_page(request, user, exc)
    rows = []
    for item in found.items:
        c, last = item.conversation, item.last_message
        moment = last.created_at if last is not None else c.last_message_at
        rows.append(
            Row(
                id=item.id,
                contact_name=item.contact_name,
                stage=by_id.get(item.lifecycle_stage_id),
                status=c.status.value,
                assignee=names.get(c.assignee_id or 0, "Unassigned"),
                channel=channel_label(last.channel if last is not None else c.channel),
                last_text=_preview(last.text) if last is not None else "",
                last_inbound=last is not None and last.direction == "inbound",
                last_at=when(moment, zone, now),
                last_ago=ago(moment, now),
            )
        )
    context = {
        "filters": filters,
        "rows": rows,
        "next_cursor": found.next_cursor,
        "first_page": cursor is None,
        "stages": stages,
        "lifecycle_enabled": enabled,
        "statuses": STATUSES,
        "who": WHO,
        "counts": counts,
    }
    name = "partials/inbox_list.html" if is_htmx(request) else "inbox.html"
    return page(request, name, context, user=user, active="/inbox")


def _counts(uow: UnitOfWork, user: WebUser) -> dict[str, int]:
    """Open, snoozed and unassigned conversations of the whole workspace: the dashboard's
    live counts summed over the stages (so the two always agree). Only for those who see
    every record, as the dashboard is."""
    if not user.principal.has(Permission.RECORDS_READ_ALL):
        return {}
    figures = lifecycle_dashboard.dashboard(uow, user.principal)
    rows = [*figures["lifecycle"], *figures["lost"], figures["no_stage"]]
    return {
        "open": sum(r["open_conversations"] for r in rows),
        "snoozed": sum(r["snoozed_conversations"] for r in rows),
        "unassigned": sum(r["unassigned_conversations"] for r in rows),
    }


def _preview(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= PREVIEW else flat[: PREVIEW - 1] + "…"


def _conversation_context(user: WebUser, conversation_id: int) -> dict[str, Any]:
    with user.uow(read_only=True) as uow:
        conversation, contact = conversations.get(uow, user.principal, conversation_id)
        found = conversations.messages(uow, user.principal, conversation_id, limit=100)
        names = users_by_id(uow, user.principal.workspace_id)
        stages = lifecycle.list_stages(uow, user.principal)
        workspace = uow.workspaces.get(user.principal.workspace_id)
        zone = workspace_zone(uow, user.principal.workspace_id)
        now = uow.clock.now()
    enabled = bool(workspace and workspace.settings.get("lifecycle_enabled", True))
    stage = next((s for s in stages if s.id == contact.lifecycle_stage_id), None)
    tomorrow = (now.astimezone(zone) + timedelta(days=1)).replace(hour=9, minute=0)
    messages = [
        {
            "text": m.text,
            "inbound": m.direction == "inbound",
            "channel": channel_label(m.channel),
            "at": when(m.created_at, zone, now),
            "ago": ago(m.created_at, now),
        }
        for m in reversed(found.items)
    ]
    return {
        "conversation": conversation,
        "contact": contact,
        "owner": names.get(contact.owner_id or 0, "No owner"),
        "assignee": names.get(conversation.assignee_id or 0),
        "users": sorted(names.items(), key=lambda item: item[1].lower()),
        "stages": stages,
        "stage": stage,
        "lifecycle_enabled": enabled,
        "messages": messages,
        "older": found.next_cursor is not None,
        "snoozed_until": when(conversation.snoozed_until, zone, now),
        "snooze_default": tomorrow.strftime("%Y-%m-%dT%H:%M"),
        "zone": str(zone),
        "can_assign_others": user.principal.has(Permission.RECORDS_EDIT_ALL),
        "can_edit_contact": user.principal.can_edit_owner(contact.owner_id),
    }


@router.get("/inbox/{conversation_id}", response_class=HTMLResponse)
def conversation_page(
    request: Request, conversation_id: int, user: WebUser = Depends(signed_in_user)
) -> Response:
    try:
        context = _conversation_context(user, conversation_id)
    except StageflowError as exc:
        return refused_page(request, user, exc)
    return page(request, "conversation.html", context, user=user, active="/inbox")


def _side(request: Request, user: WebUser, conversation_id: int, toast: str) -> Response:
    context = _conversation_context(user, conversation_id)
    response = page(request, "partials/conversation_side.html", context, user=user)
    return with_toast(response, toast)


@router.post("/inbox/{conversation_id}/lifecycle", dependencies=CSRF, response_class=HTMLResponse)
def set_stage(
    request: Request,
    conversation_id: int,
    stage_id: Annotated[str, Form()] = "",
    version: Annotated[int | None, Form()] = None,
    user: WebUser = Depends(signed_in_user),
) -> Response:
    """L5: set, change or clear the contact's lifecycle stage from its conversation."""
    target = parse_id(stage_id)
    try:
        with user.uow() as uow:
            conversation, _ = conversations.get(uow, user.principal, conversation_id)
            contact, _ = records.set_lifecycle_stage(
                uow,
                user.principal,
                ObjectType.CONTACT,
                conversation.contact_id,
                SetLifecycleStage(stage_id=target, version=version),
                user.actor,
            )
            stage = lifecycle.get_stage(uow, user.principal, target) if target else None
            uow.commit()
    except StageflowError as exc:
        if exc.status == 409:
            return refused(
                "Someone else changed this contact since the page was loaded. "
                "Reload the page to see the latest.",
                409,
            )
        return refused(exc.message, exc.status)
    if not is_htmx(request):
        return RedirectResponse(f"/inbox/{conversation_id}", status_code=303)
    toast = (
        f"{contact.name} is now in '{stage.name}'"
        if stage
        else f"Cleared the lifecycle stage of {contact.name}"
    )
    return _side(request, user, conversation_id, toast)


@router.post("/inbox/{conversation_id}/assign", dependencies=CSRF, response_class=HTMLResponse)
def assign(
    request: Request,
    conversation_id: int,
    assignee_id: Annotated[str, Form()] = "",
    user: WebUser = Depends(signed_in_user),
) -> Response:
    target = parse_id(assignee_id)
    try:
        with user.uow() as uow:
            conversations.update(
                uow,
                user.principal,
                conversation_id,
                UpdateConversation(assignee_id=target),
                user.actor,
            )
            names = users_by_id(uow, user.principal.workspace_id)
            uow.commit()
    except StageflowError as exc:
        return refused(exc.message, exc.status)
    if not is_htmx(request):
        return RedirectResponse(f"/inbox/{conversation_id}", status_code=303)
    toast = f"Assigned to {names.get(target, 'nobody')}" if target else "Unassigned"
    return _side(request, user, conversation_id, toast)


@router.post("/inbox/{conversation_id}/status", dependencies=CSRF, response_class=HTMLResponse)
def change_status(
    request: Request,
    conversation_id: int,
    action: Annotated[str, Form(pattern="^(close|reopen|snooze)$")],
    snoozed_until: Annotated[str, Form()] = "",
    user: WebUser = Depends(signed_in_user),
) -> Response:
    """Close, reopen, or snooze until a time (given in the workspace's time zone)."""
    error: str | None = None
    try:
        with user.uow() as uow:
            zone = workspace_zone(uow, user.principal.workspace_id)
            if action == "snooze":
                until = _local_time(snoozed_until, zone)
                if until is None:
                    error = "Choose the date and time the conversation should reopen"
                    raise _FieldError
                cmd = UpdateConversation(status=ConversationStatus.SNOOZED, snoozed_until=until)
            elif action == "close":
                cmd = UpdateConversation(status=ConversationStatus.CLOSED)
            else:
                cmd = UpdateConversation(status=ConversationStatus.OPEN)
            conversations.update(uow, user.principal, conversation_id, cmd, user.actor)
            uow.commit()
    except _FieldError:
        pass
    except StageflowError as exc:
        if exc.field != "snoozed_until":
            return refused(exc.message, exc.status)
        error = sentence(exc.message.replace("snoozed_until", "the snooze time"))
    if not is_htmx(request):
        return RedirectResponse(f"/inbox/{conversation_id}", status_code=303)
    if error is not None:
        context = _conversation_context(user, conversation_id)
        context.update(snooze_error=error, snooze_value=snoozed_until)
        return page(request, "partials/snooze_form.html", context, user=user, status=422)
    toasts = {"close": "Closed the conversation", "reopen": "Reopened the conversation"}
    response = _side(request, user, conversation_id, toasts.get(action, ""))
    if action == "snooze":
        side = _conversation_context(user, conversation_id)
        response = with_toast(response, f"Snoozed until {side['snoozed_until']}")
    return retarget(response, "#conversation-side")


class _FieldError(Exception):
    """A form value the page itself could not read (shown at its field)."""


def _local_time(text: str, zone: ZoneInfo) -> datetime | None:
    try:
        return datetime.fromisoformat(text).replace(tzinfo=zone) if text.strip() else None
    except ValueError:
        return None

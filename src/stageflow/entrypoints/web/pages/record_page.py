"""A record's page: its stage, fields, associations, open activities and timeline
(read-only in this part; editing arrives with the record screens of issue 14)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from stageflow.domain.activities import ActivityStatus
from stageflow.domain.errors import NotFound, StageflowError
from stageflow.domain.records import ObjectType
from stageflow.entrypoints.web import timeline
from stageflow.entrypoints.web.auth import WebUser, initials, signed_in_user
from stageflow.entrypoints.web.board import TITLES, parse_id, users_by_id
from stageflow.entrypoints.web.pages.boards import error_page
from stageflow.entrypoints.web.render import due_text, money, page
from stageflow.services.crm import records as service
from stageflow.services.crm.activities import list_activities

router = APIRouter()
BY_PLURAL = {t.plural: t for t in ObjectType}
TIMELINE_PAGE = 50


def _fields(uow: Any, user: WebUser, record: Any, names: timeline.Names) -> list[tuple[str, str]]:
    definitions = service.field_definitions(uow, user.principal.workspace_id, record.object_type)
    shown = []
    for key, definition in definitions.items():
        value = record.fields.get(key)
        if key == "stage_locked_at" and not value:
            continue
        if key == "amount" and value is not None:
            text = money(value, record.fields.get("currency"))
        else:
            text = timeline.value_text(key, value, record.object_type, names)
        shown.append((definition.label, "—" if text == "empty" else text))
    return shown


def _record_page(plural: str) -> None:
    object_type = BY_PLURAL[plural]

    def record_page(
        request: Request,
        record_id: str,
        cursor: str | None = None,
        user: WebUser = Depends(signed_in_user),
    ) -> Response:
        ws = user.principal.workspace_id
        try:
            wanted = parse_id(record_id)
            if wanted is None:
                raise NotFound(f"{object_type.value} {record_id} not found")
            with user.uow(read_only=True) as uow:
                record = service.get_visible(uow, user.principal, object_type, wanted)
                events = service.timeline(
                    uow, user.principal, object_type, wanted, cursor=cursor, limit=TIMELINE_PAGE
                )
                groups = uow.records.associations([wanted])[wanted]
                related = {i for ids in groups.values() for i in ids}
                names = timeline.Names.load(
                    uow, user.principal, related | timeline.related_ids(events.items)
                )
                pipeline = next(
                    (p for p in uow.pipelines.list(ws, object_type) if p.id == record.pipeline_id),
                    None,
                )
                stage = pipeline.stage(record.stage_id) if pipeline and record.stage_id else None
                activities = list_activities(
                    uow,
                    user.principal,
                    record_id=wanted,
                    responsible_id=None,
                    status=ActivityStatus.OPEN,
                    type_=None,
                    cursor=None,
                    limit=20,
                ).items
                users = users_by_id(uow, ws)
                now = uow.clock.now()
                context = {
                    "record": record,
                    "title": TITLES.get(object_type, plural.capitalize()),
                    "board": f"/boards/{object_type.value}" if object_type.has_pipeline else None,
                    "pipeline": pipeline,
                    "stage": stage,
                    "owner": users.get(record.owner_id) if record.owner_id else None,
                    "owner_initials": initials(users.get(record.owner_id or 0, "")),
                    "source": names.labels.get("source_channel", {}).get(
                        record.source or "", record.source
                    ),
                    "fields": _fields(uow, user, record, names),
                    "associations": [
                        (
                            ObjectType(kind).plural,
                            [(i, names.records[i]) for i in ids if i in names.records],
                        )
                        for kind, ids in sorted(groups.items())
                    ],
                    "activities": [
                        (a, users.get(a.responsible_id or 0, "nobody"), *due_text(a.due_at, now))
                        for a in activities
                    ],
                    "entries": timeline.entries(events.items, object_type, names, now),
                    "next_cursor": events.next_cursor,
                    "first_page": cursor is None,
                    "in_stage": (now - record.stage_entered_at).days
                    if record.stage_entered_at
                    else None,
                }
        except StageflowError as exc:
            return error_page(request, user, exc)
        active = f"/boards/{object_type.value}" if object_type.has_pipeline else f"/{plural}"
        return page(request, "record.html", context, user=user, active=active)

    router.add_api_route(
        f"/{plural}/{{record_id}}",
        record_page,
        methods=["GET"],
        response_class=HTMLResponse,
        include_in_schema=False,
        name=f"{object_type.value}_page",
    )


for _plural in BY_PLURAL:
    _record_page(_plural)

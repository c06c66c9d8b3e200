"""What a record's page shows, gathered from the services: its fields as the inputs that edit
them, stage, associations, activities, sub-states, automation runs and timeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from stageflow.domain.activities import OUTCOMES, ActivityStatus, ActivityType
from stageflow.domain.fields import FieldDef, FieldType
from stageflow.domain.records import ASSOCIATION_TARGETS, SOURCE_PICKLIST, ObjectType, Record
from stageflow.entrypoints.web import timeline
from stageflow.entrypoints.web.auth import WebUser, initials
from stageflow.entrypoints.web.board import TITLES, lost_reasons, users_by_id
from stageflow.entrypoints.web.render import due_text, money
from stageflow.services.crm import records as service
from stageflow.services.crm.activities import list_activities
from stageflow.services.crm.substates import substates
from stageflow.services.engine.runs import list_runs
from stageflow.services.unit_of_work import UnitOfWork

TIMELINE_PAGE = 50
RUNS_SHOWN = 10
CHOICES = 200  # records offered in a "Link a contact" select
LOGGED_TYPES = (ActivityType.CALL, ActivityType.EMAIL, ActivityType.MEETING, ActivityType.TASK)
OUTCOME_LABELS = {
    "connected": "Connected",
    "no_answer": "No answer",
    "busy": "Busy",
    "left_voicemail": "Left voicemail",
    "wrong_number": "Wrong number",
    "scheduled": "Scheduled",
    "completed": "Completed",
    "no_show": "No show",
    "cancelled": "Cancelled",
}
HIDDEN_FIELDS = frozenset({"stage_locked_at"})  # shown only when set; cleared, not typed


@dataclass(frozen=True, slots=True)
class FieldRow:
    """One field of the About panel: what it shows and the input that edits it."""

    key: str
    label: str
    text: str
    input: str  # text, number, date, datetime, select
    value: str
    options: list[tuple[str, str]]
    editable: bool
    unavailable: frozenset[str] = frozenset()  # options shown but not for this user to choose


def field_rows(
    uow: UnitOfWork, user: WebUser, record: Record, names: timeline.Names, *, can_edit: bool
) -> list[FieldRow]:
    """Name, owner, every built-in and custom field, and the source, in that order."""
    ws = user.principal.workspace_id
    users = sorted(names.users.items(), key=lambda item: str(item[1]).lower())
    owner = names.users.get(record.owner_id, "a former user") if record.owner_id else "No owner"
    principal = user.principal
    not_theirs = frozenset(
        str(i) for i, _ in users if i != principal.user_id and not principal.can_edit_owner(i)
    )  # an agent keeps a record or gives it up, but gives it to no one else
    rows = [
        FieldRow("name", "Name", record.name, "text", record.name, [], can_edit),
        FieldRow(
            "owner_id",
            "Owner",
            owner,
            "select",
            str(record.owner_id or ""),
            [("", "No owner"), *((str(i), n) for i, n in users)],
            can_edit,
            not_theirs,
        ),
    ]
    definitions = service.field_definitions(uow, ws, record.object_type)
    for key, definition in definitions.items():
        value = record.fields.get(key)
        if key in HIDDEN_FIELDS and not value:
            continue
        rows.append(_field_row(uow, user, record, definition, value, names, can_edit=can_edit))
    sources = names.labels.get(SOURCE_PICKLIST, {})
    rows.append(
        FieldRow(
            "source",
            "Source",
            sources.get(record.source or "", record.source or "—"),
            "select",
            record.source or "",
            [("", "—"), *sources.items()],
            can_edit,
        )
    )
    return rows


def _field_row(
    uow: UnitOfWork,
    user: WebUser,
    record: Record,
    definition: FieldDef,
    value: Any,
    names: timeline.Names,
    *,
    can_edit: bool,
) -> FieldRow:
    key, label = definition.key, definition.label or definition.key.replace("_", " ").capitalize()
    if key == "amount" and value is not None:
        text = money(value, record.fields.get("currency"))
    else:
        text = timeline.value_text(key, value, record.object_type, names)
    text = "—" if text == "empty" else text
    raw = "" if value is None else str(value)
    options: list[tuple[str, str]] = []
    kind = "text"
    match definition.type:
        case FieldType.NUMBER:
            kind = "number"
        case FieldType.DATE:
            kind = "date"
        case FieldType.DATETIME:
            kind = "datetime"
            raw = local_input(value, names.zone)
            text = timeline.moment_text(value, names.zone) if value else "—"
        case FieldType.BOOL:
            kind, raw = "select", {True: "true", False: "false"}.get(value, "")
            options = [("", "—"), ("true", "Yes"), ("false", "No")]
            text = {True: "Yes", False: "No"}.get(value, "—")
        case FieldType.PICKLIST:
            kind = "select"
            labels = names.labels.get(definition.picklist or "", {}) if definition.picklist else {}
            choices = list(labels.items()) or [(o, o) for o in definition.options]
            options = [("", "—"), *choices]
            text = dict(choices).get(raw, text)
        case FieldType.USER:
            kind = "select"
            people = sorted(names.users.items(), key=lambda item: str(item[1]).lower())
            options = [("", "—"), *((str(i), n) for i, n in people)]
            text = names.users.get(value, "a former user") if value else "—"
        case FieldType.COMPANY:
            kind = "select"
            companies = _choices(uow, user, ObjectType.COMPANY, set())
            options = [("", "—"), *((str(i), n) for i, n in companies)]
            text = dict(companies).get(value, "a company") if value else "—"
    return FieldRow(key, label, text, kind, raw, options, can_edit)


def local_input(value: Any, zone: ZoneInfo) -> str:
    """A stored moment as a datetime-local input's value in the workspace's zone."""
    if not isinstance(value, str) or not value:
        return ""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return ""
    return moment.astimezone(zone).strftime("%Y-%m-%dT%H:%M")


def _choices(
    uow: UnitOfWork, user: WebUser, object_type: ObjectType, linked: set[int]
) -> list[tuple[int, str]]:
    """Records of a type the user may see (newest first), for a select."""
    found = service.list_records(
        uow,
        user.principal,
        object_type,
        filter_=None,
        stage_id=None,
        pipeline_id=None,
        owner_id=None,
        cursor=None,
        limit=CHOICES,
    ).items
    return sorted(
        ((r.id, r.name) for r in found if r.id is not None and r.id not in linked),
        key=lambda item: item[1].lower(),
    )


def load(
    uow: UnitOfWork,
    user: WebUser,
    object_type: ObjectType,
    record_id: int,
    *,
    cursor: str | None = None,
) -> dict[str, Any]:
    """Everything record.html and its partials show."""
    principal = user.principal
    ws = principal.workspace_id
    record = service.get_visible(uow, principal, object_type, record_id)
    can_edit = principal.can_edit_owner(record.owner_id)
    events = service.timeline(
        uow, principal, object_type, record_id, cursor=cursor, limit=TIMELINE_PAGE
    )
    groups = uow.records.associations([record_id])[record_id]
    related = {i for ids in groups.values() for i in ids}
    names = timeline.Names.load(uow, principal, related | timeline.related_ids(events.items))
    names.definitions = service.field_definitions(uow, ws, object_type)
    names.load_actors(uow, ws, events.items)
    pipelines = uow.pipelines.list(ws, object_type) if object_type.has_pipeline else []
    pipeline = next((p for p in pipelines if p.id == record.pipeline_id), None)
    stage = pipeline.stage(record.stage_id) if pipeline and record.stage_id else None
    now = uow.clock.now()
    users = users_by_id(uow, ws)
    linkable = ASSOCIATION_TARGETS[object_type] if can_edit else frozenset()
    return {
        "record": record,
        "plural": object_type.plural,
        "base": f"/{object_type.plural}/{record_id}",
        "title": TITLES.get(object_type, object_type.plural.capitalize()),
        "board": f"/boards/{object_type.value}" if object_type.has_pipeline else None,
        "can_edit": can_edit,
        "pipeline": pipeline,
        "stage": stage,
        "lost_reasons": lost_reasons(uow, ws, object_type),
        "owner": users.get(record.owner_id) if record.owner_id else None,
        "owner_initials": initials(users.get(record.owner_id or 0, "")),
        "fields": field_rows(uow, user, record, names, can_edit=can_edit),
        "associations": [
            (
                ObjectType(kind).plural,
                [(i, names.records[i]) for i in ids if i in names.records],
                ObjectType(kind) in linkable,
            )
            for kind, ids in sorted(groups.items())
        ],
        "links": [
            (kind, _choices(uow, user, kind, related))
            for kind in sorted(linkable, key=lambda k: k.value)
        ],
        "activities": _open_activities(uow, user, record_id, users, now, names.zone),
        "activity_types": LOGGED_TYPES,
        "outcomes": {t.value: sorted(o) for t, o in OUTCOMES.items()},
        "outcome_labels": OUTCOME_LABELS,
        "users": sorted(users.items(), key=lambda item: item[1].lower()),
        "zone": names.zone.key,
        "substates": _substates(uow, user, record, names.zone, now),
        "runs": _runs(uow, user, record_id, names.zone, now),
        "entries": timeline.entries(events.items, object_type, names, now),
        "next_cursor": events.next_cursor,
        "first_page": cursor is None,
        "in_stage": (now - record.stage_entered_at).days if record.stage_entered_at else None,
    }


def _open_activities(
    uow: UnitOfWork,
    user: WebUser,
    record_id: int,
    users: dict[int, str],
    now: datetime,
    zone: ZoneInfo,
) -> list[dict[str, Any]]:
    found = list_activities(
        uow,
        user.principal,
        record_id=record_id,
        responsible_id=None,
        status=ActivityStatus.OPEN,
        type_=None,
        cursor=None,
        limit=50,
    ).items
    shown = []
    for a in found:
        due, overdue = due_text(a.due_at, now)
        shown.append(
            {
                "activity": a,
                "responsible": users.get(a.responsible_id or 0, "nobody"),
                "due": due,
                "overdue": overdue,
                "at": timeline.when(a.due_at, now, zone)[0] if a.due_at else "",
                "outcomes": sorted(OUTCOMES.get(a.type, ())),
            }
        )
    return shown


def _substates(
    uow: UnitOfWork, user: WebUser, record: Record, zone: ZoneInfo, now: datetime
) -> dict[str, Any] | None:
    """An opportunity's sub-states and the names it may open (its type's, if it has one)."""
    if record.object_type is not ObjectType.OPPORTUNITY:
        return None
    assert record.id is not None
    rows = substates(uow, user.principal, record.id)
    type_name = record.fields.get("opportunity_type")
    kind = (
        uow.opportunity_types.named(record.workspace_id, type_name)
        if isinstance(type_name, str) and type_name
        else None
    )
    open_now = {r.substate for r in rows if r.status == "open"}
    return {
        "rows": [
            {
                "name": r.substate,
                "open": r.status == "open",
                "opened": timeline.when(r.opened_at, now, zone)[0],
                "closed": timeline.when(r.closed_at, now, zone)[0] if r.closed_at else "",
            }
            for r in sorted(rows, key=lambda r: (r.status != "open", r.substate.lower()))
        ],
        "type": kind.name if kind else None,
        "names": [n for n in kind.substate_names if n not in open_now] if kind else None,
    }


def _runs(
    uow: UnitOfWork, user: WebUser, record_id: int, zone: ZoneInfo, now: datetime
) -> list[dict[str, Any]]:
    rows = list_runs(
        uow,
        user.principal,
        record_id=record_id,
        automation_id=None,
        status=None,
        cursor=None,
        limit=RUNS_SHOWN,
    ).items
    automations: dict[int, str] = {}
    for row in rows:
        if row.automation_id not in automations:
            found = uow.automations.get(user.principal.workspace_id, row.automation_id)
            automations[row.automation_id] = (
                f"{timeline.KINDS.get(found.kind, 'Automation')} '{found.name}'"
                if found
                else "A deleted automation"
            )
    return [
        {
            "id": row.id,
            "automation": automations[row.automation_id],
            "status": row.status,
            "started": timeline.when(row.created_at, now, zone)[0],
            "ago": timeline.when(row.created_at, now, zone)[1],
            "step": (row.state or {}).get("cursor") or row.failed_step,
        }
        for row in rows
    ]

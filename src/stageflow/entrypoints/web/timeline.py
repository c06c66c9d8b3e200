"""A record's events in words: what happened, who did it, when — names instead of ids."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from stageflow.domain.records import BUILTIN_FIELDS, ObjectType
from stageflow.domain.users import Principal
from stageflow.services.unit_of_work import UnitOfWork

SOURCES = {
    "ui": "in the app",
    "api": "through the API",
    "cli": "from the command line",
    "import": "by an import",
    "sync": "by a sync",
}


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of the timeline."""

    what: str
    details: list[str]
    who: str
    at: str
    ago: str
    iso: str


@dataclass(slots=True)
class Names:
    """What the timeline needs to say names: users, stages, picklist labels, records."""

    users: dict[Any, str]
    stages: dict[Any, str]
    labels: dict[str, dict[str, str]]
    records: dict[Any, str]
    zone: ZoneInfo

    @classmethod
    def load(cls, uow: UnitOfWork, principal: Principal, related: set[int]) -> Names:
        ws = principal.workspace_id
        users: dict[Any, str] = {row.id: row.name for row in uow.users.list(ws)}
        stages: dict[Any, str] = {
            s.id: s.name for p in uow.pipelines.list(ws) for s in p.stages if s.id
        }
        labels = {
            key: {o["value"]: o.get("label") or o["value"] for o in options}
            for key, options in uow.picklists.all(ws).items()
        }
        records: dict[Any, str] = {}
        for record_id in related:
            found = uow.records.get(ws, record_id)
            if found is not None and principal.can_see_owner(found.owner_id):
                records[record_id] = found.name
        workspace = uow.workspaces.get(ws)
        zone_name = (workspace.settings if workspace else {}).get("timezone") or "UTC"
        try:
            zone = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError):
            zone = ZoneInfo("UTC")
        return cls(users, stages, labels, records, zone)


def when(moment: datetime, now: datetime, zone: ZoneInfo) -> tuple[str, str]:
    """ "4 Dec 2026, 15:34" in the workspace's zone, and "2 h ago"."""
    local = moment.astimezone(zone)
    seconds = int((now - moment).total_seconds())
    if seconds < 60:
        ago = "just now"
    elif seconds < 3600:
        ago = f"{seconds // 60} min ago"
    elif seconds < 86400:
        ago = f"{seconds // 3600} h ago"
    else:
        ago = f"{seconds // 86400} d ago"
    return f"{local.day} {local:%b %Y, %H:%M}", ago


def actor_text(row: Any, names: Names) -> str:
    kind, source = row.actor_kind, SOURCES.get(row.source, "")
    if kind in ("user", "token"):
        who = names.users.get(row.user_id, "a former user")
        how = "with an API token" if kind == "token" else source
        return f"{who} {how}".strip()
    if kind == "automation":
        return f"automation (run #{row.run_id})" if row.run_id else "automation"
    return {"import": "an import", "sync": "a sync", "system": "stageflow"}.get(kind, str(kind))


def value_text(key: str, value: Any, object_type: ObjectType, names: Names) -> str:
    """A field value as a person reads it (user names, picklist labels)."""
    if value is None or value == "":
        return "empty"
    if key == "owner_id":
        return names.users.get(value, "a former user")
    picklists = {f.key: f.picklist for f in BUILTIN_FIELDS.get(object_type, ()) if f.picklist}
    if key in picklists:
        return names.labels.get(picklists[key] or "", {}).get(value, str(value))
    return str(value)


def describe(row: Any, object_type: ObjectType, names: Names) -> tuple[str, list[str]]:
    """What an event says, and its details (field changes before → after)."""
    before, after, data = row.before or {}, row.after or {}, row.data or {}
    kind = row.type
    if kind == "RecordCreated":
        stage = names.stages.get(after.get("stage_id"))
        return (f"Created in {stage}" if stage else "Created"), []
    if kind == "StageChanged":
        old = names.stages.get(before.get("stage_id"), "no stage")
        new = names.stages.get(after.get("stage_id"), "another stage")
        return f"Moved from {old} to {new}", []
    if kind == "FieldChanged":
        details = []
        for key, new_value in after.items():
            label = key.replace("_id", "").replace("_", " ").capitalize()
            old_value = value_text(key, before.get(key), object_type, names)
            details.append(
                f"{label}: {old_value} → {value_text(key, new_value, object_type, names)}"
            )
        return "Changed", details
    if kind == "LeadDisqualified":
        reason = names.labels.get("disqualification_reasons", {}).get(data.get("reason") or "")
        return (f"Disqualified: {reason}" if reason else "Disqualified"), []
    if kind in ("ActivityLogged", "ActivityUpdated", "ActivityCompleted"):
        verb = {
            "ActivityLogged": "Logged",
            "ActivityUpdated": "Updated",
            "ActivityCompleted": "Completed",
        }
        return f"{verb[kind]} a {after.get('type', 'activity')}: {after.get('subject', '')}", []
    if kind in ("AssociationAdded", "AssociationRemoved"):
        other = names.records.get(data.get("related_id"), f"a {data.get('related_type', 'record')}")
        return ("Linked to " if kind == "AssociationAdded" else "Unlinked from ") + other, []
    words = "".join(" " + c.lower() if c.isupper() else c for c in kind).strip()
    return words.capitalize(), []


def entries(rows: list[Any], object_type: ObjectType, names: Names, now: datetime) -> list[Entry]:
    result = []
    for row in rows:
        what, details = describe(row, object_type, names)
        at, ago = when(row.occurred_at, now, names.zone)
        result.append(
            Entry(what, details, actor_text(row, names), at, ago, row.occurred_at.isoformat())
        )
    return result


def related_ids(rows: list[Any]) -> set[int]:
    return {
        row.data["related_id"]
        for row in rows
        if row.type.startswith("Association") and isinstance(row.data.get("related_id"), int)
    }

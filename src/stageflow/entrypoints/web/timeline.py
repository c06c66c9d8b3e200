"""A record's events in words: what happened, who did it, when — names instead of ids."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from stageflow.domain.fields import FieldDef, FieldType
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
KINDS = {
    "stage_rule": "Rule",
    "workflow": "Workflow",
    "lead_automation": "Lead automation",
    "substate_action": "Sub-state action",
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
    who_url: str | None = None


@dataclass(slots=True)
class Names:
    """What the timeline needs to say names: users, stages, picklist labels, records."""

    users: dict[Any, str]
    stages: dict[Any, str]
    labels: dict[str, dict[str, str]]
    records: dict[Any, str]
    zone: ZoneInfo
    automations: dict[Any, str] = field(default_factory=dict)
    tokens: dict[Any, str] = field(default_factory=dict)
    definitions: dict[str, FieldDef] = field(default_factory=dict)  # custom fields' labels

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

    def load_actors(self, uow: UnitOfWork, workspace_id: int, rows: list[Any]) -> None:
        """The automations and API tokens the rows' actors name: "Rule 'Renewal lead'"."""
        for row in rows:
            if row.actor_id is None:
                continue
            if row.actor_kind == "automation" and row.actor_id not in self.automations:
                found = uow.automations.get(workspace_id, row.actor_id)
                if found is not None:
                    kind = KINDS.get(found.kind, "Automation")
                    self.automations[row.actor_id] = f"{kind} '{found.name}'"
            elif row.actor_kind == "token" and row.actor_id not in self.tokens:
                token = uow.tokens.get(workspace_id, row.actor_id)
                if token is not None:
                    self.tokens[row.actor_id] = token.name


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
    """Who made the change: "Demo Owner in the app", "Rule 'Renewal' (version 3, run #812)",
    "Demo Owner with the API token 'Zapier'", "an import"."""
    kind, source = row.actor_kind, SOURCES.get(row.source, "")
    if kind in ("user", "token"):
        who = names.users.get(row.user_id, "a former user")
        if kind == "token":
            token = names.tokens.get(row.actor_id)
            how = f"with the API token '{token}'" if token else "with an API token"
        else:
            how = source
        return f"{who} {how}".strip()
    if kind == "automation":
        automation = names.automations.get(row.actor_id, "An automation")
        about = [f"version {row.actor_version}"] if row.actor_version else []
        if row.run_id:
            about.append(f"run #{row.run_id}")
        return f"{automation} ({', '.join(about)})" if about else automation
    return {"import": "an import", "sync": "a sync", "system": "stageflow"}.get(kind, str(kind))


def moment_text(value: Any, zone: ZoneInfo) -> str:
    """A stored ISO moment as "4 Dec 2026, 15:34" in the workspace's zone."""
    try:
        local = datetime.fromisoformat(str(value)).astimezone(zone)
    except ValueError:
        return str(value)
    return f"{local.day} {local:%b %Y, %H:%M}"


def value_text(key: str, value: Any, object_type: ObjectType, names: Names) -> str:
    """A field value as a person reads it (user names, picklist labels, yes/no)."""
    if value is None or value == "":
        return "empty"
    if key == "owner_id":
        return names.users.get(value, "a former user")
    if key == "source":
        return names.labels.get("source_channel", {}).get(value, str(value))
    picklists = {f.key: f.picklist for f in BUILTIN_FIELDS.get(object_type, ()) if f.picklist}
    definition = names.definitions.get(key)
    if definition is not None and definition.picklist:
        picklists[key] = definition.picklist
    if key in picklists:
        return names.labels.get(picklists[key] or "", {}).get(value, str(value))
    kind = definition.type if definition is not None else None
    if kind is FieldType.USER:
        return names.users.get(value, "a former user")
    if kind is FieldType.COMPANY:
        return names.records.get(value, "a company")
    if kind is FieldType.BOOL:
        return "yes" if value else "no"
    if kind is FieldType.DATETIME:
        return moment_text(value, names.zone)
    return str(value)


def label_of(key: str, names: Names) -> str:
    definition = names.definitions.get(key)
    if definition is not None and definition.label:
        return definition.label
    return {"owner_id": "Owner"}.get(key) or key.removesuffix("_id").replace("_", " ").capitalize()


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
            label = label_of(key, names)
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
        outcome = after.get("outcome")
        details = [f"Outcome: {str(outcome).replace('_', ' ')}"] if outcome else []
        return (
            f"{verb[kind]} a {after.get('type', 'activity')}: {after.get('subject', '')}",
            details,
        )
    if kind in ("SubstateOpened", "SubstateClosed") and data.get("substate"):
        done = "Opened" if kind == "SubstateOpened" else "Closed"
        return f"{done} sub-state '{data['substate']}'", []
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
        url = f"/runs/{row.run_id}" if row.actor_kind == "automation" and row.run_id else None
        result.append(
            Entry(what, details, actor_text(row, names), at, ago, row.occurred_at.isoformat(), url)
        )
    return result


def related_ids(rows: list[Any]) -> set[int]:
    return {
        row.data["related_id"]
        for row in rows
        if row.type.startswith("Association") and isinstance(row.data.get("related_id"), int)
    }

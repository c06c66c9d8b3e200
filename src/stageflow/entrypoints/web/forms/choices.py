"""What the pickers of the automation forms offer: names for the ids and keys settings hold.

Gathered once per request from the workspace (``load_choices``); the form builders only read
it, so they stay pure and are unit-tested without a database.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stageflow.domain.fields import FieldType
from stageflow.domain.records import SOURCE_PICKLIST, ObjectType
from stageflow.services.crm.records import field_definitions
from stageflow.services.unit_of_work import UnitOfWork

Option = tuple[str, str]  # (value as the form sends it, label)


@dataclass(frozen=True)
class FieldInfo:
    """A field a condition or template can name: its key, label, type and options."""

    key: str
    label: str
    type: str
    options: tuple[Option, ...] = ()


@dataclass
class Choices:
    """Names for everything settings can point at, for one object type's automations."""

    object_type: str
    users: list[Option] = field(default_factory=list)
    pipelines: list[Option] = field(default_factory=list)
    stages: list[Option] = field(default_factory=list)
    fields: dict[str, list[FieldInfo]] = field(default_factory=dict)
    email_templates: list[Option] = field(default_factory=list)
    report_templates: list[Option] = field(default_factory=list)
    substates: list[Option] = field(default_factory=list)
    channels: list[Option] = field(default_factory=list)

    def record_fields(self, object_type: str | None = None) -> list[FieldInfo]:
        return self.fields.get(object_type or self.object_type, [])

    def condition_fields(self) -> list[FieldInfo]:
        """The record's fields, then its contact's and company's and its owner's."""
        found = list(self.record_fields())
        for related in ("contact", "company"):
            for info in self.record_fields(related):
                found.append(
                    FieldInfo(
                        f"{related}.{info.key}",
                        f"{related.capitalize()}: {info.label}",
                        info.type,
                        info.options,
                    )
                )
        found += [
            FieldInfo("owner.name", "Owner: Name", FieldType.TEXT.value),
            FieldInfo("owner.email", "Owner: Email", FieldType.TEXT.value),
        ]
        return found

    def template_fields(self) -> list[Option]:
        """Placeholders the field picker inserts, with their labels."""
        found: list[Option] = [
            (f"record.{i.key}", f"{self.object_type.capitalize()}: {i.label}")
            for i in self.record_fields()
        ]
        for related in ("contact", "company"):
            found += [
                (f"{related}.{i.key}", f"{related.capitalize()}: {i.label}")
                for i in self.record_fields(related)
            ]
        found += [("owner.name", "Owner: Name"), ("owner.email", "Owner: Email")]
        return found


# Core attributes every record has, with how a form shows them.
CORE_FIELDS = (
    ("name", "Name", "text"),
    ("owner_id", "Owner", "user"),
    ("stage_id", "Stage", "stage"),
    ("pipeline_id", "Pipeline", "pipeline"),
    ("source", "Source", "picklist"),
    ("created_at", "Created", "datetime"),
    ("stage_entered_at", "Entered the stage", "datetime"),
)
# Object types whose records have no pipeline, hence no stage attributes.
WITHOUT_PIPELINE = frozenset({ObjectType.CONTACT.value, ObjectType.COMPANY.value})


def load_choices(uow: UnitOfWork, workspace_id: int, object_type: ObjectType) -> Choices:
    users = [(str(u.id), u.name) for u in uow.users.list(workspace_id) if u.id is not None]
    pipelines: list[Option] = []
    stages: list[Option] = []
    for ot in (ObjectType.LEAD, ObjectType.DEAL, ObjectType.OPPORTUNITY):
        for p in sorted(uow.pipelines.list(workspace_id, ot), key=lambda p: p.position):
            pipelines.append((str(p.id), f"{ot.plural.capitalize()}: {p.name}"))
            for s in sorted(p.stages, key=lambda s: s.position):
                stages.append((str(s.id), f"{s.name} ({ot.plural}: {p.name})"))
    picklists = uow.picklists.all(workspace_id)
    channels = [
        (o["value"], o.get("label") or o["value"]) for o in picklists.get(SOURCE_PICKLIST, [])
    ]
    fields: dict[str, list[FieldInfo]] = {}
    for ot in ObjectType:
        found: list[FieldInfo] = []
        for key, label, kind in CORE_FIELDS:
            if ot.value in WITHOUT_PIPELINE and key in ("stage_id", "pipeline_id"):
                continue
            found.append(FieldInfo(key, label, kind, tuple(channels) if key == "source" else ()))
        for definition in field_definitions(uow, workspace_id, ot).values():
            options: tuple[Option, ...] = ()
            if definition.type is FieldType.PICKLIST:
                listed = picklists.get(definition.picklist or "", [])
                options = tuple(
                    (o["value"], o.get("label") or o["value"]) for o in listed
                ) or tuple((o, o) for o in definition.options)
            label = definition.label or definition.key.replace("_", " ").capitalize()
            found.append(FieldInfo(definition.key, label, definition.type.value, options))
        fields[ot.value] = found
    substates = sorted(
        {s["name"] for row in uow.opportunity_types.list(workspace_id) for s in row.substates}
    )
    return Choices(
        object_type=object_type.value,
        users=users,
        pipelines=pipelines,
        stages=stages,
        fields=fields,
        email_templates=[(t.name, t.name) for t in uow.email_templates.list(workspace_id)],
        report_templates=[
            (t.name, f"{t.title} ({t.name})" if t.title else t.name)
            for t in uow.report_templates.list(workspace_id)
        ],
        substates=[(s, s) for s in substates],
        channels=channels,
    )

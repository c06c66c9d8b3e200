"""A rule (``automation/rules.RuleSpec`` plus name and purpose) as the rule form shows it: its
action's generated settings form, timing, the condition builder and channels; read back from
the submitted form, and a save error put at the input it concerns.

Used by the stage rules screen; sub-state actions (SPEC E) have the same rule model.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stageflow.actions.registry import registry
from stageflow.domain.text import a_or_an
from stageflow.entrypoints.web.forms import conditions, edits, schema_form
from stageflow.entrypoints.web.forms import timing as timing_form
from stageflow.entrypoints.web.forms.choices import CORE_FIELDS, Choices, Option

FormData = Mapping[str, list[str]]
PLACEHOLDER = re.compile(r"\{\{\s*([\w.]+)\s*\}\}")  # "{{ contact.name }}"

# Purposes the catalogue groups action types by (SPEC B1); a new action type is listed under
# "Other" until it is named here, and works all the same.
PURPOSES: dict[str, str] = {
    "create_record": "Repeat sales",
    "copy_record": "Repeat sales",
    "send_email": "Communication",
    "send_sms": "Communication",
    "notify_user": "Communication",
    "schedule_activity": "Activities",
    "create_activity": "Activities",
    "create_task": "Activities",
    "set_field": "Record changes",
    "update_record": "Record changes",
    "move_stage": "Record changes",
    "assign_owner": "Record changes",
    "open_substate": "Sub-states",
    "close_substate": "Sub-states",
    "generate_report": "Documents",
    "request_signature": "Documents",
    "webhook": "Integrations",
}
PURPOSE_ORDER = (
    "Repeat sales",
    "Communication",
    "Activities",
    "Record changes",
    "Documents",
    "Integrations",
    "Sub-states",
    "Other",
)


def title(action: str) -> str:
    """``send_email`` → "Send email"."""
    return action.replace("_", " ").capitalize()


def catalogue() -> list[tuple[str, list[tuple[str, str, str]]]]:
    """Every registered action type by purpose: (purpose, [(name, title, description)])."""
    by_purpose: dict[str, list[tuple[str, str, str]]] = {}
    for name, info in registry.schemas().items():
        purpose = PURPOSES.get(name, "Other")
        by_purpose.setdefault(purpose, []).append((name, title(name), str(info["description"])))
    return [(p, by_purpose[p]) for p in PURPOSE_ORDER if p in by_purpose]


@dataclass
class RuleForm:
    """What ``partials/rule_form.html`` renders."""

    action: str
    action_title: str
    description: str
    name: str
    group: str
    widgets: list[schema_form.Widget]
    timing: dict[str, Any]
    after_previous: bool
    keep_on_exit: bool
    builder: conditions.Builder
    channels: list[str]
    comment: str
    enabled: bool
    date_fields: list[Option]
    channel_options: list[Option]
    placeholders: list[Option]
    rule_id: int | None = None
    version: int | None = None
    errors: dict[str, str] = field(default_factory=dict)

    def amount(self, key: str) -> timing_form.Amount:
        return timing_form.from_iso(self.timing.get(key))


def schema_of(action: str) -> dict[str, Any]:
    settings: dict[str, Any] = registry.schemas()[action]["settings"]
    return settings


def date_fields(choices: Choices) -> list[Option]:
    core = {key for key, _, _ in CORE_FIELDS}
    return [
        (f.key, f.label)
        for f in choices.record_fields()
        if f.type in ("date", "datetime") and f.key not in core
    ]


def build(values: Mapping[str, Any], choices: Choices) -> RuleForm:
    """The form for a rule's values (as stored, or as read back from a form)."""
    action = str(values["action"])
    info = registry.schemas()[action]
    schema = info["settings"]
    settings = dict(values.get("settings") or {})
    return RuleForm(
        action=action,
        action_title=title(action),
        description=str(info["description"]),
        name=str(values.get("name") or ""),
        group=str(values.get("group") or PURPOSES.get(action, "General")),
        widgets=schema_form.build(schema, settings, choices),
        timing=dict(values.get("timing") or {}),
        after_previous=bool(values.get("after_previous")),
        keep_on_exit=bool(values.get("keep_on_exit")),
        builder=conditions.build(values.get("conditions"), choices, "c"),
        channels=list(values.get("channels") or []),
        comment=str(values.get("comment") or ""),
        enabled=bool(values.get("enabled", True)),
        date_fields=date_fields(choices),
        channel_options=choices.channels,
        placeholders=choices.template_fields(),
        rule_id=values.get("id"),
        version=values.get("version"),
    )


def read(form: FormData, *, strict: bool = True) -> dict[str, Any]:
    """A rule's values from the submitted form (``strict``: as saved; otherwise as typed)."""

    def one(name: str, default: str = "") -> str:
        return form.get(name, [default])[0]

    action = one("action")
    values: dict[str, Any] = {
        "action": action,
        "name": one("name").strip(),
        "group": one("group").strip() or PURPOSES.get(action, "General"),
        "settings": schema_form.parse(schema_of(action), form, strict=strict),
        "timing": timing_form.parse(form),
        "after_previous": "after_previous" in form,
        "keep_on_exit": "keep_on_exit" in form,
        "conditions": conditions.parse(form, "c", strict=strict),
        "channels": [c for c in form.get("channels", []) if c] or None,
        "comment": one("comment"),
        "enabled": "enabled" in form,
    }
    if one("rule_id"):
        values["id"] = int(one("rule_id"))
        values["version"] = int(one("version") or 0) or None
    return values


def redraw(form: FormData, edit: str, choices: Choices) -> RuleForm:
    """The form again after an edit (add/remove a row) or a change others depend on."""
    values = read(form, strict=False)
    tree = {"s": values["settings"], "c": values["conditions"]}
    edits.apply(tree, edit, schema_of(values["action"]))
    values["conditions"] = tree["c"]
    return build(values, choices)


def place_error(rule: RuleForm, where: str | None, message: str) -> None:
    """Show a save error at the input it concerns (the service's field path)."""
    where = where or ""
    if where == "settings" or where.startswith("settings."):
        name = "s" + where.removeprefix("settings")
        if not schema_form.place_error(rule.widgets, name, message):
            rule.errors["settings"] = message
    elif where.startswith("conditions"):
        rule.builder.error = message
    elif where.startswith(("timing", "after_previous")):
        rule.errors["timing"] = message
    elif where in ("name", "group", "channels", "comment", "keep_on_exit"):
        rule.errors[where] = message
    else:
        rule.errors["form"] = message


def summary(rule: Mapping[str, Any], choices: Choices) -> str:
    """A rule in words: "Create a lead 'Renewal: {{ contact.name }}' · after 6 months"."""
    action = str(rule["action"])
    settings = dict(rule.get("settings") or {})
    said = title(action)
    if isinstance(settings.get("object_type"), str):
        said = said.replace("record", a_or_an(settings["object_type"]))
    placeholders = dict(choices.template_fields())
    for key in ("name", "subject", "title", "template", "report", "text", "url", "substate"):
        if isinstance(settings.get(key), str) and settings[key]:
            text = PLACEHOLDER.sub(
                lambda m: f"[{placeholders.get(m.group(1), m.group(1))}]", settings[key]
            )
            said += f" '{text}'"
            break
    stages = dict(choices.stages)
    if settings.get("stage_id") is not None:
        said += f" → {stages.get(str(settings['stage_id']), settings['stage_id'])}"
    if isinstance(settings.get("fields"), dict) and settings["fields"]:
        labels = {f.key: f.label for f in choices.record_fields()}
        said += ": " + ", ".join(labels.get(k, k) for k in settings["fields"])
    labels = {f.key: f.label for f in choices.record_fields()}
    return f"{said} · {timing_form.summary(rule.get('timing') or {}, labels)}"

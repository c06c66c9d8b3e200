"""Setting values that may be templates: "{{ record.name }} Copy" renders, 42 stays 42."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from stageflow.actions.ports import ActionContext


def is_template(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def resolve(ctx: ActionContext, value: Any) -> Any:
    """Render a template value; a rendered number, bool or null becomes that type."""
    if not is_template(value):
        return value
    rendered = ctx.render(value)
    try:
        parsed = json.loads(rendered)
    except ValueError:
        return rendered
    return parsed if parsed is None or isinstance(parsed, int | float | bool) else rendered


def resolve_all(ctx: ActionContext, values: dict[str, Any]) -> dict[str, Any]:
    return {key: resolve(ctx, value) for key, value in values.items()}


def contact_values(ctx: ActionContext, record: Mapping[str, Any], field: str) -> list[Any]:
    """A field of the record's contacts: the record's own if it is a contact, else each
    associated contact's (e.g. the addresses or phone numbers to write to)."""
    if record.get("object") == "contact":
        return [record.get(field)]
    ids = (record.get("associations") or {}).get("contact", [])
    return [ctx.crm.record(contact_id).get(field) for contact_id in ids]

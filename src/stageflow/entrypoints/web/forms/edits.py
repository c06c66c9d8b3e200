"""The edits a generated form asks for while it is being filled in: add or remove a row of a
list, a mapping or the condition builder. The form is parsed leniently, the edit applied to
the values, and the form drawn again from them (no client-side templates to keep in step).

An edit is ``<what>:<name>``: ``add:s.to``, ``remove:s.to.1``, ``cond-add:c.0``,
``group-add:c``, ``remove:c.0.2``; names are the form names (``s.`` settings, ``c.`` the
rule's conditions), so a builder inside settings (``s.criteria.0.condition``) works the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stageflow.entrypoints.web.forms.schema_form import blank

NEW_CONDITION: dict[str, Any] = {"field": "", "op": "eq", "value": None}


def apply(values: dict[str, Any], edit: str, schema: Mapping[str, Any]) -> None:
    """Apply ``edit`` to ``values`` (``{"s": settings, "c": conditions}``) in place; an edit
    that names nothing there changes nothing."""
    what, _, name = edit.partition(":")
    parts = name.split(".")
    if not parts or parts[0] not in values:
        return
    if what == "remove" and len(parts) > 1:
        parent = _find(values, parts[:-1])
        _remove(parent, parts[-1])
    elif what in ("cond-add", "group-add"):
        node = _find(values, parts)
        item = NEW_CONDITION if what == "cond-add" else {"all": [dict(NEW_CONDITION)]}
        if node is None:
            _set(values, parts, {"all": [dict(item)]})
        elif isinstance(node, dict):
            node["all" if "all" in node else "any"].append(dict(item))
    elif what == "add" and parts[0] == "s":
        node = _find(values, parts)
        new = blank(schema, ".".join(p for p in parts[1:] if not p.isdigit()))
        if node is None:
            _set(values, parts, {"": ""} if isinstance(new, str) else [new])
        elif isinstance(node, list):
            node.append(new)
        elif isinstance(node, dict) and "" not in node:
            node[""] = ""


def _child(node: Any, part: str) -> Any:
    if isinstance(node, list):
        return node[int(part)] if part.isdigit() and int(part) < len(node) else None
    if isinstance(node, dict):
        group = node.get("all", node.get("any"))
        if isinstance(group, list) and part.isdigit():
            return _child(group, part)
        return node.get(part)
    return None


def _find(values: Any, parts: list[str]) -> Any:
    node = values
    for part in parts:
        node = _child(node, part)
        if node is None:
            return None
    return node


def _set(values: dict[str, Any], parts: list[str], value: Any) -> None:
    parent = _find(values, parts[:-1])
    if isinstance(parent, dict):
        parent[parts[-1]] = value


def _remove(parent: Any, part: str) -> None:
    if isinstance(parent, dict):
        group = parent.get("all", parent.get("any"))
        if isinstance(group, list) and part.isdigit():
            parent = group
        elif part.isdigit() and part not in parent:  # a mapping's row, by its place
            keys = list(parent)
            if int(part) < len(keys):
                del parent[keys[int(part)]]
            return
        else:
            parent.pop(part, None)
            return
    if isinstance(parent, list) and part.isdigit() and int(part) < len(parent):
        del parent[int(part)]

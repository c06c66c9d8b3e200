"""Forms generated from an action's settings schema (the one ``GET /api/v1/actions`` serves).

``build`` turns the JSON schema and the current settings into widgets the ``schema_form.html``
macro renders; ``parse`` turns the submitted form back into typed settings (ints, bools,
nulls, lists, nested objects). Widget names are the settings path under a prefix
(``s.to.0.role``), so an error the service reports for ``settings.to.0.role`` finds its input.
Nothing here knows an action type by name: a newly registered action gets its form.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stageflow.domain.errors import ValidationFailed
from stageflow.entrypoints.web.forms import conditions
from stageflow.entrypoints.web.forms.choices import Choices, Option

FormData = Mapping[str, list[str]]
ROWS = "__rows"  # a list's row indices, in order
ON = "__on"  # an optional object that is filled in
OBJECT_TYPES: list[Option] = [
    (o, o.capitalize()) for o in ("lead", "deal", "opportunity", "contact", "company")
]
LONG_TEXT = ("body", "text", "description", "message", "content", "comment")


@dataclass
class Widget:
    """One input (or group of inputs) of a generated form."""

    # text, template, number, integer, checkbox, select, object, array, mapping, json, filter
    kind: str
    name: str  # the form name: the settings path under the prefix
    label: str
    help: str = ""
    value: Any = None
    required: bool = False
    nullable: bool = False
    options: list[Option] = field(default_factory=list)
    multiple: bool = False
    long: bool = False
    children: list[Widget] = field(default_factory=list)
    filter: conditions.Builder | None = None
    refresh: bool = False  # other inputs depend on this one: redraw the form when it changes
    error: str | None = None

    @property
    def dom_id(self) -> str:
        return "f-" + self.name.replace(".", "-").replace("_", "-")

    def walk(self) -> list[Widget]:
        found = [self]
        for child in self.children:
            found += child.walk()
        return found


# schema reading -----------------------------------------------------------------------------


def _resolve(node: Mapping[str, Any], defs: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """The node with ``$ref`` followed and ``anyOf [T, null]`` unwrapped; and whether null is
    allowed. The outer node's own keys (description, refers, default) win."""
    own = {k: v for k, v in node.items() if k not in ("$ref", "anyOf")}
    nullable = False
    if "$ref" in node:
        target, _ = _resolve(defs[str(node["$ref"]).rsplit("/", 1)[-1]], defs)
        own = {**target, **own}
    if "anyOf" in node:
        options = [o for o in node["anyOf"] if o.get("type") != "null"]
        nullable = len(options) < len(node["anyOf"])
        if len(options) == 1:
            inner, _ = _resolve(options[0], defs)
            own = {**inner, **own}
    return own, nullable


def _label(key: str, schema: Mapping[str, Any]) -> str:
    words = key.removesuffix("_id").removesuffix("_ids").replace("_", " ")
    return words[:1].upper() + words[1:] if key else str(schema.get("title", ""))


def _is_template(key: str, schema: Mapping[str, Any]) -> bool:
    text = str(schema.get("description", "")).lower()
    return "refers" not in schema and ("template" in text or "{{" in text)


def _ref_options(kind: str, choices: Choices, object_type: str | None) -> list[Option] | None:
    """The options of a picker for what a setting names; None: not a picker."""
    match kind:
        case "user":
            return choices.users
        case "stage":
            return choices.stages
        case "pipeline":
            return choices.pipelines
        case "field":
            return [(f.key, f.label) for f in choices.record_fields(object_type)]
        case "email_template":
            return choices.email_templates
        case "report_template":
            return choices.report_templates
        case "substate":
            return choices.substates
    return None


# building -----------------------------------------------------------------------------------


def build(
    schema: Mapping[str, Any], values: Mapping[str, Any], choices: Choices, prefix: str = "s"
) -> list[Widget]:
    """The widgets of an object schema's properties, filled with ``values``."""
    return _members(schema, values, choices, prefix, schema.get("$defs", {}))


def _members(
    schema: Mapping[str, Any],
    values: Mapping[str, Any],
    choices: Choices,
    prefix: str,
    defs: Mapping[str, Any],
) -> list[Widget]:
    required = set(schema.get("required", []))
    properties: Mapping[str, Any] = schema.get("properties", {})
    found = []
    for key, node in properties.items():
        resolved, nullable = _resolve(node, defs)
        source = resolved.get("refers_object_type")
        object_type = str(values.get(source) or "") if isinstance(source, str) else None
        value = values[key] if key in values else resolved.get("default")
        widget = _widget(
            key, resolved, value, choices, f"{prefix}.{key}", defs, object_type or None
        )
        widget.required = key in required
        widget.nullable = nullable
        if any(p.get("refers_object_type") == key for p in properties.values()):
            widget.kind, widget.options = "select", OBJECT_TYPES  # e.g. create_record's type
            widget.refresh = True
        found.append(widget)
    return found


def _widget(
    key: str,
    schema: Mapping[str, Any],
    value: Any,
    choices: Choices,
    name: str,
    defs: Mapping[str, Any],
    object_type: str | None,
) -> Widget:
    kind = schema.get("type")
    refers = schema.get("refers")
    w = Widget("text", name, _label(key, schema), str(schema.get("description", "")), value)
    if refers == "filter":
        w.kind, w.filter = "filter", conditions.build(value or None, choices, name)
    elif refers == "fields":
        w.kind = "mapping"
        fields = choices.record_fields(object_type)
        w.options = [(f.key, f.label) for f in fields]
        w.children = [
            _pair(name, i, k, v, w.options, template=True)
            for i, (k, v) in enumerate(dict(value or {}).items())
        ]
    elif (
        isinstance(refers, str)
        and (options := _ref_options(refers, choices, object_type)) is not None
    ):
        w.kind, w.options = "select", list(options)
        if not options:
            w.help = f"{w.help} (there are none yet)".strip()
        if kind == "array":
            w.multiple, w.value = True, [str(v) for v in value or []]
        elif value is not None and str(value) not in {o[0] for o in options}:
            w.options.append((str(value), str(value)))  # e.g. assign_owner's target "owner"
    elif "enum" in schema:
        w.kind, w.options = "select", [(str(e), str(e).replace("_", " ")) for e in schema["enum"]]
    elif kind == "boolean":
        w.kind = "checkbox"
    elif kind in ("integer", "number"):
        w.kind = kind
    elif kind == "array":
        w.kind = "array"
        item, _ = _resolve(schema.get("items", {}), defs)
        w.children = [
            _item(item, v, choices, f"{name}.{i}", defs, object_type)
            for i, v in enumerate(value or [])
        ]
    elif kind == "object" and "properties" in schema:
        w.kind = "object"
        w.children = _members(schema, dict(value or {}), choices, name, defs)
        w.value = value is not None
    elif kind == "object":
        w.kind = "mapping"
        w.children = [
            _pair(name, i, k, v, [], template=_is_template(key, schema))
            for i, (k, v) in enumerate(dict(value or {}).items())
        ]
    elif kind == "string":
        w.kind = "template" if _is_template(key, schema) else "text"
        w.long = key in LONG_TEXT or int(schema.get("maxLength", 0)) > 300
    else:
        w.kind, w.value = "json", None if value is None else json.dumps(value, indent=1)
    return w


def _item(
    schema: Mapping[str, Any],
    value: Any,
    choices: Choices,
    name: str,
    defs: Mapping[str, Any],
    object_type: str | None,
) -> Widget:
    if schema.get("type") == "object" and "properties" in schema:
        row = Widget("object", name, "", value=True)
        row.children = _members(schema, dict(value or {}), choices, name, defs)
        return row
    return _widget("", schema, value, choices, name, defs, object_type)


def _pair(name: str, i: int, key: str, value: Any, options: list[Option], template: bool) -> Widget:
    key_widget = Widget("select" if options else "text", f"{name}.{i}.key", "Field", value=key)
    key_widget.options = list(options)
    if options and key and key not in {o[0] for o in options}:
        key_widget.options.append((key, key))
    shown = value if isinstance(value, str) or value is None else json.dumps(value)
    value_widget = Widget(
        "template" if template else "text", f"{name}.{i}.value", "Value", value=shown
    )
    return Widget("pair", f"{name}.{i}", key, value=key, children=[key_widget, value_widget])


def blank(schema: Mapping[str, Any], path: str) -> Any:
    """A new empty row for the list or mapping at ``path`` (settings path, dots)."""
    defs = schema.get("$defs", {})
    node: Mapping[str, Any] = schema
    for part in path.split("."):
        node, _ = _resolve(node.get("properties", {}).get(part, {}), defs)
    if node.get("type") == "array":
        item, _ = _resolve(node.get("items", {}), defs)
        if item.get("type") == "object":
            first = {
                k: p["enum"][0]
                for k, p in (
                    (k, _resolve(p, defs)[0]) for k, p in item.get("properties", {}).items()
                )
                if "enum" in p
            }
            return first
        return None
    return ""


# parsing ------------------------------------------------------------------------------------


def parse(
    schema: Mapping[str, Any], form: FormData, prefix: str = "s", *, strict: bool = True
) -> dict[str, Any]:
    """Settings from a submitted form. ``strict``: empty rows are dropped and JSON must parse
    (saving); otherwise everything typed is kept as it is (redrawing the form)."""
    return _parse_members(schema, form, prefix, schema.get("$defs", {}), strict)


def _first(form: FormData, name: str) -> str | None:
    found = form.get(name)
    return found[0] if found else None


def _parse_members(
    schema: Mapping[str, Any], form: FormData, prefix: str, defs: Mapping[str, Any], strict: bool
) -> dict[str, Any]:
    required = set(schema.get("required", []))
    result: dict[str, Any] = {}
    for key, node in schema.get("properties", {}).items():
        resolved, nullable = _resolve(node, defs)
        name = f"{prefix}.{key}"
        present, value = _parse_value(resolved, form, name, defs, strict)
        if not present:
            if key in required and resolved.get("type") == "string":
                result[key] = ""
            elif nullable and key in required:
                result[key] = None
            continue
        result[key] = value
    return result


def _parse_value(
    schema: Mapping[str, Any], form: FormData, name: str, defs: Mapping[str, Any], strict: bool
) -> tuple[bool, Any]:
    """(whether a value was given, the value)."""
    kind = schema.get("type")
    refers = schema.get("refers")
    if refers == "filter":
        found = conditions.parse(form, name, strict=strict)
        return found is not None, found
    if refers == "fields" or (kind == "object" and "properties" not in schema):
        return _parse_mapping(form, name, strict)
    if kind == "boolean":
        return True, _first(form, name) is not None
    if kind == "array":
        if isinstance(refers, str) and name in form:
            return True, [_scalar(schema.get("items", {}), v) for v in form[name] if v != ""]
        if f"{name}.{ROWS}" not in form and name not in form:
            return False, None
        item, _ = _resolve(schema.get("items", {}), defs)
        items = []
        for i in form.get(f"{name}.{ROWS}", []):
            if item.get("type") == "object" and "properties" in item:
                items.append(_parse_members(item, form, f"{name}.{i}", defs, strict))
            else:
                present, value = _parse_value(item, form, f"{name}.{i}", defs, strict)
                if present or not strict:
                    items.append(value)
        return True, items
    if kind == "object":
        if _first(form, f"{name}.{ON}") is None:
            return False, None
        return True, _parse_members(schema, form, name, defs, strict)
    raw = _first(form, name)
    if raw is None or (raw.strip() == "" and (strict or kind != "string")):
        return False, None
    if kind is None and "enum" not in schema:  # any JSON
        try:
            return True, json.loads(raw)
        except ValueError:
            if strict:
                raise ValidationFailed("this is not valid JSON", field=name) from None
            return True, raw
    return True, _scalar(schema, raw)


def _scalar(schema: Mapping[str, Any], raw: str) -> Any:
    """A typed value from its text; text that is not one is kept for the service to refuse."""
    kind = schema.get("type")
    try:
        if kind == "integer":
            return int(raw)
        if kind == "number":
            return int(raw) if raw.strip().lstrip("-").isdigit() else float(raw)
    except ValueError:
        return raw
    return raw


def _parse_mapping(form: FormData, name: str, strict: bool) -> tuple[bool, Any]:
    if f"{name}.{ROWS}" not in form:
        return False, None
    found: dict[str, Any] = {}
    for i in form[f"{name}.{ROWS}"]:
        key = (_first(form, f"{name}.{i}.key") or "").strip()
        value = _first(form, f"{name}.{i}.value") or ""
        if strict and not key:
            continue
        found[key] = typed_text(value)
    return True, found


def typed_text(text: str) -> Any:
    """A value typed in a free box: numbers, true/false and null become those; the rest, and
    templates, stay text."""
    stripped = text.strip()
    if stripped in ("true", "false", "null") or _is_number(stripped):
        return json.loads(stripped)
    return text


def _is_number(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return text[:1].isdigit() or (text[:1] == "-" and text[1:2].isdigit())


# errors -------------------------------------------------------------------------------------


def place_error(widgets: list[Widget], name: str, message: str) -> bool:
    """Put ``message`` on the widget named ``name``, or the nearest one above it (a mapping's
    row by its key: ``s.fields.colour``); False when no widget is near."""
    every = [w for top in widgets for w in top.walk()]
    for w in every:
        if w.kind == "pair" and f"{w.name.rsplit('.', 1)[0]}.{w.value}" == name:
            w.children[0].error = message
            return True
    parts = name.split(".")
    while len(parts) > 1:
        candidate = ".".join(parts)
        for w in every:
            if w.name == candidate and w.kind != "pair":
                w.error = message
                return True
        parts.pop()
    return False

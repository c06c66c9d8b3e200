"""The condition builder: rows of field / operator / value in all/any groups, nested, read
from and written to the filter language of ``domain/filters.py``.

Form names under the builder's name ``c``: ``c.mode`` (all or any), ``c.__rows`` (the row
indices in order), per row ``c.<i>.kind`` (condition or group), a condition's ``c.<i>.field``,
``c.<i>.op`` and ``c.<i>.value``, a group's rows under ``c.<i>`` again. A filter the builder
cannot show (one with ``not``) is edited as JSON in ``c.json``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as default
from typing import Any

from stageflow.domain.errors import ValidationFailed
from stageflow.domain.filters import CHANGE_OPS, LIST_OPS, UNARY_OPS, Op
from stageflow.entrypoints.web.forms.choices import Choices, FieldInfo, Option

FormData = Mapping[str, list[str]]
ROWS = "__rows"

OP_WORDS = {
    Op.EQ: "is",
    Op.NEQ: "is not",
    Op.IN: "is one of",
    Op.NOT_IN: "is none of",
    Op.CONTAINS: "contains",
    Op.NOT_CONTAINS: "does not contain",
    Op.STARTS_WITH: "starts with",
    Op.GT: "is more than",
    Op.GTE: "is at least",
    Op.LT: "is less than",
    Op.LTE: "is at most",
    Op.IS_EMPTY: "is empty",
    Op.IS_NOT_EMPTY: "is not empty",
    Op.CHANGED_TO: "changed to",
    Op.CHANGED_FROM: "changed from",
}
DATE_WORDS = {
    Op.GT: "is after",
    Op.GTE: "is on or after",
    Op.LT: "is before",
    Op.LTE: "is on or before",
}
_EMPTY = (Op.IS_EMPTY, Op.IS_NOT_EMPTY)
_CHANGE = (Op.CHANGED_TO, Op.CHANGED_FROM)
_ORDER = (Op.GT, Op.GTE, Op.LT, Op.LTE)
_TEXT = (Op.CONTAINS, Op.NOT_CONTAINS, Op.STARTS_WITH, Op.IN, Op.NOT_IN)
OPS_BY_TYPE: dict[str, tuple[Op, ...]] = {
    "text": (Op.EQ, Op.NEQ, *_TEXT, *_EMPTY, *_CHANGE),
    "number": (Op.EQ, Op.NEQ, *_ORDER, *_EMPTY, *_CHANGE),
    "date": (Op.EQ, Op.NEQ, *_ORDER, *_EMPTY, *_CHANGE),
    "datetime": (*_ORDER, *_EMPTY, *_CHANGE),
    "bool": (Op.EQ, Op.NEQ, *_EMPTY, *_CHANGE),
    "choice": (Op.EQ, Op.NEQ, Op.IN, Op.NOT_IN, *_EMPTY, *_CHANGE),
}
# Field types whose values are picked from a list.
CHOICE_TYPES = ("picklist", "user", "stage", "pipeline", "company")
INT_TYPES = ("user", "stage", "pipeline", "company")


@dataclass
class Row:
    """One condition: a field, an operator and a value input that suits them."""

    name: str
    field: str
    op: str
    value: Any
    ops: list[Option]
    value_kind: str  # none, text, number, date, datetime, select, multiselect, list
    options: list[Option] = default(default_factory=list)
    value_type: str = "text"  # how the value's text is read back: text, int, number, bool
    kind: str = "condition"


@dataclass
class Group:
    name: str
    mode: str  # all or any
    rows: list[Row | Group] = default(default_factory=list)
    kind: str = "group"


@dataclass
class Builder:
    """What the ``condition_builder`` macro renders."""

    name: str
    root: Group | None
    fields: list[Option]
    raw: str | None = None  # the filter as JSON when the builder cannot show it
    error: str | None = None

    @property
    def dom_id(self) -> str:
        return "f-" + self.name.replace(".", "-").replace("_", "-")


def _info(choices: Choices, key: str) -> FieldInfo:
    known = {f.key: f for f in choices.condition_fields()}
    return known.get(key.removeprefix("fields."), FieldInfo(key, key, "text"))


def _kind(info: FieldInfo) -> str:
    if info.type in CHOICE_TYPES:
        return "choice"
    return info.type if info.type in OPS_BY_TYPE else "text"


def _options(info: FieldInfo, choices: Choices) -> list[Option]:
    match info.type:
        case "user":
            return choices.users
        case "stage":
            return choices.stages
        case "pipeline":
            return choices.pipelines
    return list(info.options) or ([("true", "yes"), ("false", "no")] if info.type == "bool" else [])


def row(choices: Choices, name: str, key: str, op: str, value: Any) -> Row:
    """A condition row; an operator the field's type does not take becomes its first."""
    info = _info(choices, key) if key else FieldInfo("", "", "text")
    kind = _kind(info)
    ops = OPS_BY_TYPE[kind]
    chosen = Op(op) if op in {o.value for o in ops} else ops[0]
    words = DATE_WORDS if kind in ("date", "datetime") else {}
    options = _options(info, choices)
    if chosen in UNARY_OPS:
        value_kind = "none"
    elif options:
        value_kind = "multiselect" if chosen in LIST_OPS else "select"
    elif chosen in LIST_OPS:
        value_kind = "list"
    else:
        value_kind = {"number": "number", "date": "date", "datetime": "datetime"}.get(kind, "text")
    if info.type in INT_TYPES:
        value_type = "int"
    elif info.type in ("number", "bool"):
        value_type = info.type
    else:
        value_type = "text"
    return Row(
        name,
        key,
        chosen.value,
        value,
        [(o.value, words.get(o, OP_WORDS[o])) for o in ops],
        value_kind,
        options,
        value_type,
    )


def build(raw: Any, choices: Choices, name: str = "c") -> Builder:
    """The builder showing ``raw`` (a filter, or None for no conditions)."""
    fields = [(f.key, f.label) for f in choices.condition_fields()]
    if raw is None:
        return Builder(name, None, fields)
    if _shows(raw):
        group = raw if "all" in raw or "any" in raw else {"all": [raw]}
        return Builder(name, _group(group, choices, name), fields)
    return Builder(name, None, fields, raw=json.dumps(raw, indent=1))


def _shows(node: Any) -> bool:
    if not isinstance(node, dict):
        return False
    if "all" in node or "any" in node:
        items = node.get("all", node.get("any"))
        return isinstance(items, list) and all(_shows(c) for c in items)
    return "field" in node and "op" in node


def _group(node: dict[str, Any], choices: Choices, name: str) -> Group:
    mode = "all" if "all" in node else "any"
    group = Group(name, mode)
    for i, child in enumerate(node[mode]):
        at = f"{name}.{i}"
        if "all" in child or "any" in child:
            group.rows.append(_group(child, choices, at))
        else:
            value = child.get("value")
            group.rows.append(row(choices, at, child["field"], child["op"], value))
    return group


def parse(form: FormData, name: str = "c", *, strict: bool = True) -> dict[str, Any] | None:
    """The filter the form describes; None when it has no conditions. ``strict``: rows
    without a field are dropped and the JSON must parse (saving)."""
    raw = form.get(f"{name}.json")
    if raw is not None:
        text = raw[0].strip()
        if not text:
            return None
        try:
            found: dict[str, Any] = json.loads(text)
        except ValueError:
            raise ValidationFailed("the conditions are not valid JSON", field=name) from None
        return found
    if f"{name}.mode" not in form:
        return None
    group = _parse_group(form, name, strict)
    return group if group[next(iter(group))] or not strict else None


def _parse_group(form: FormData, name: str, strict: bool) -> dict[str, Any]:
    mode = "any" if form.get(f"{name}.mode", ["all"])[0] == "any" else "all"
    items: list[dict[str, Any]] = []
    for i in form.get(f"{name}.{ROWS}", []):
        at = f"{name}.{i}"
        if form.get(f"{at}.kind", ["condition"])[0] == "group":
            child = _parse_group(form, at, strict)
            if child[next(iter(child))] or not strict:
                items.append(child)
            continue
        key = form.get(f"{at}.field", [""])[0]
        if strict and not key:
            continue
        op = form.get(f"{at}.op", [Op.EQ.value])[0]
        value_type = form.get(f"{at}.vtype", ["text"])[0]
        items.append(_condition(key, op, form.get(f"{at}.value", []), value_type))
    return {mode: items}


def _condition(key: str, op: str, raw: list[str], value_type: str) -> dict[str, Any]:
    condition: dict[str, Any] = {"field": key, "op": op}
    try:
        operator = Op(op)
    except ValueError:
        return {**condition, "value": raw[0] if raw else None}
    if operator in UNARY_OPS:
        return condition
    if operator in LIST_OPS:
        parts = raw if len(raw) != 1 else [p.strip() for p in raw[0].split(",")]
        return {**condition, "value": [_typed(p, value_type) for p in parts if p.strip()]}
    text = raw[0] if raw else ""
    if operator in CHANGE_OPS and not text.strip():
        return condition
    return {**condition, "value": _typed(text, value_type)}


def _typed(text: str, value_type: str) -> Any:
    """The value as its field stores it: ids and numbers as numbers, yes/no as booleans;
    text that is not one is kept for the service to refuse."""
    stripped = text.strip()
    if value_type == "bool" and stripped in ("true", "false"):
        return stripped == "true"
    if value_type in ("int", "number"):
        try:
            return int(stripped)
        except ValueError:
            pass
    if value_type == "number":
        try:
            return float(stripped)
        except ValueError:
            pass
    return text


def summary(raw: Any, choices: Choices) -> str:
    """A filter in words: "Amount is more than 1000 and Region is north"."""
    if not isinstance(raw, dict):
        return ""
    for mode, joiner in (("all", " and "), ("any", " or ")):
        if mode in raw:
            parts = [summary(c, choices) for c in raw[mode]]
            text = joiner.join(p for p in parts if p)
            return f"({text})" if len(parts) > 1 and raw is not None and joiner == " or " else text
    if "not" in raw:
        return f"not ({summary(raw['not'], choices)})"
    info = _info(choices, str(raw.get("field", "")))
    op = str(raw.get("op", ""))
    words = dict(row(choices, "", info.key, op, None).ops).get(op, op)
    value = raw.get("value")
    labels = dict(_options(info, choices))
    shown = [labels.get(str(v), str(v)) for v in (value if isinstance(value, list) else [value])]
    return f"{info.label} {words}" + ("" if value is None else " " + ", ".join(shown))

"""The one filter language (DESIGN "Conditions and templates").

A filter is JSON: a group ``{"all": [...]}`` / ``{"any": [...]}`` / ``{"not": {...}}`` of
conditions ``{"field": "amount", "op": "gt", "value": 1000}``. The same tree is evaluated here in
Python (automation conditions) and compiled to SQL by the storage adapter (lists, segments).
No ``eval``, ever.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from stageflow.domain.errors import ValidationFailed


class Op(StrEnum):
    EQ = "eq"
    NEQ = "neq"
    IN = "in"
    NOT_IN = "not_in"
    CONTAINS = "contains"
    NOT_CONTAINS = "not_contains"
    STARTS_WITH = "starts_with"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    IS_EMPTY = "is_empty"
    IS_NOT_EMPTY = "is_not_empty"
    CHANGED_TO = "changed_to"
    CHANGED_FROM = "changed_from"


UNARY_OPS = frozenset({Op.IS_EMPTY, Op.IS_NOT_EMPTY})
LIST_OPS = frozenset({Op.IN, Op.NOT_IN})
CHANGE_OPS = frozenset({Op.CHANGED_TO, Op.CHANGED_FROM})
MAX_DEPTH = 10
# A filter becomes one SQL expression; SQLite refuses expression trees deeper than 1,000, and
# a group of N conditions is N deep. Far more than a person writes; `in` takes long lists.
MAX_CONDITIONS = 500


class Condition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    field: str
    op: Op
    value: Any = None


class AllOf(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    all: list[Filter]


class AnyOf(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    any: list[Filter]


class Not(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    not_: Filter = Field(alias="not")


Filter = Annotated[Union[Condition, AllOf, AnyOf, Not], Field(union_mode="left_to_right")]  # noqa: UP007
_adapter: TypeAdapter[Filter] = TypeAdapter(Filter)


def parse_filter(raw: Any, *, field_name: str = "filter") -> Filter:
    """Parse and check a filter; errors name the offending part."""
    from stageflow.domain.text import check_storable

    check_storable(raw, field_name)
    _check_shape(raw, field_name)
    try:
        node = _adapter.validate_python(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValidationFailed(
            f"invalid filter at '{where}': {first['msg']}", field=field_name
        ) from None
    _check(node, 0, field_name)
    return node


def _check_shape(raw: Any, field_name: str) -> None:
    """Depth and size of the raw JSON, counted without recursion, before a recursive parser
    sees it (a filter nested 500 levels deep would exhaust Python's stack)."""
    stack: list[tuple[Any, int]] = [(raw, 0)]
    conditions = 0
    while stack:
        node, depth = stack.pop()
        if depth > 2 * MAX_DEPTH + 2:  # each level is an object and its list
            raise ValidationFailed(f"filter nests deeper than {MAX_DEPTH} levels", field=field_name)
        if isinstance(node, dict):
            if "field" in node:
                conditions += 1
                if conditions > MAX_CONDITIONS:
                    raise ValidationFailed(
                        f"a filter may have at most {MAX_CONDITIONS} conditions (use 'in' "
                        "with a list of values to match many values of one field)",
                        field=field_name,
                    )
                continue
            stack.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node)


def _check(node: Filter, depth: int, field_name: str) -> None:
    if depth > MAX_DEPTH:
        raise ValidationFailed(f"filter nests deeper than {MAX_DEPTH} levels", field=field_name)
    if isinstance(node, Condition):
        if node.op in LIST_OPS and not isinstance(node.value, list):
            raise ValidationFailed(
                f"'{node.op.value}' on '{node.field}' needs a list value", field=field_name
            )
        if node.op not in UNARY_OPS and node.op not in CHANGE_OPS and node.value is None:
            raise ValidationFailed(
                f"'{node.op.value}' on '{node.field}' needs a value", field=field_name
            )
        return
    for child in children(node):
        _check(child, depth + 1, field_name)


def children(node: Filter) -> list[Filter]:
    if isinstance(node, AllOf):
        return node.all
    if isinstance(node, AnyOf):
        return node.any
    if isinstance(node, Not):
        return [node.not_]
    return []


def conditions(node: Filter) -> list[Condition]:
    """Every condition in the tree (for save-time checks of field names)."""
    if isinstance(node, Condition):
        return [node]
    return [c for child in children(node) for c in conditions(child)]


def evaluate(
    node: Filter, values: Mapping[str, Any], changes: Mapping[str, tuple[Any, Any]] | None = None
) -> bool:
    """Evaluate against a flat mapping of field values; ``changes`` maps field → (old, new)."""
    if isinstance(node, AllOf):
        return all(evaluate(c, values, changes) for c in node.all)
    if isinstance(node, AnyOf):
        return any(evaluate(c, values, changes) for c in node.any)
    if isinstance(node, Not):
        return not evaluate(node.not_, values, changes)
    return _condition(node, values, changes or {})


def unmet(
    node: Filter, values: Mapping[str, Any], changes: Mapping[str, tuple[Any, Any]] | None = None
) -> str:
    """Which part of a filter that does not hold fails, in words ("why didn't it run?")."""
    if isinstance(node, AllOf):
        failing = next((c for c in node.all if not evaluate(c, values, changes)), None)
        return "the conditions held" if failing is None else unmet(failing, values, changes)
    if isinstance(node, AnyOf):
        return "none of the 'any' conditions held"
    if isinstance(node, Not):
        return "the 'not' condition held"
    wanted = "" if node.op in UNARY_OPS else f" {node.value!r}"
    return f"{node.field} {node.op.value}{wanted} (it is {values.get(node.field)!r})"


def _condition(
    c: Condition, values: Mapping[str, Any], changes: Mapping[str, tuple[Any, Any]]
) -> bool:
    actual = values.get(c.field)
    match c.op:
        case Op.EQ:
            return bool(actual == c.value)
        case Op.NEQ:
            return bool(actual != c.value)
        case Op.IN:
            return actual in c.value
        case Op.NOT_IN:
            return actual not in c.value
        case Op.CONTAINS:
            return _text(actual).find(_text(c.value)) >= 0
        case Op.NOT_CONTAINS:
            return _text(actual).find(_text(c.value)) < 0
        case Op.STARTS_WITH:
            return _text(actual).startswith(_text(c.value))
        case Op.GT | Op.GTE | Op.LT | Op.LTE:
            return _compare(c.op, actual, c.value)
        case Op.IS_EMPTY:
            return actual is None or actual == ""
        case Op.IS_NOT_EMPTY:
            return not (actual is None or actual == "")
        case Op.CHANGED_TO:
            change = changes.get(c.field)
            return change is not None and (c.value is None or change[1] == c.value)
        case Op.CHANGED_FROM:
            change = changes.get(c.field)
            return change is not None and (c.value is None or change[0] == c.value)
    raise AssertionError(c.op)  # pragma: no cover


def _text(value: Any) -> str:
    return "" if value is None else str(value).casefold()


def _compare(op: Op, actual: Any, expected: Any) -> bool:
    if actual is None:
        return False
    try:
        if op is Op.GT:
            return bool(actual > expected)
        if op is Op.GTE:
            return bool(actual >= expected)
        if op is Op.LT:
            return bool(actual < expected)
        return bool(actual <= expected)
    except TypeError:
        return False

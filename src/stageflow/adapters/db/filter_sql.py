"""Compile the filter language (domain/filters.py) to SQL over the records table."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, not_, or_, true

from stageflow.adapters.db import tables as t
from stageflow.domain.errors import ValidationFailed
from stageflow.domain.fields import FieldDef, FieldType
from stageflow.domain.filters import (
    CHANGE_OPS,
    AllOf,
    AnyOf,
    Condition,
    Filter,
    Not,
    Op,
)

_COLUMNS: dict[str, Any] = {
    "id": t.records.c.id,
    "name": t.records.c.name,
    "owner_id": t.records.c.owner_id,
    "source": t.records.c.source,
    "pipeline_id": t.records.c.pipeline_id,
    "stage_id": t.records.c.stage_id,
    "lifecycle_stage_id": t.records.c.lifecycle_stage_id,
    "created_at": t.records.c.created_at,
    "updated_at": t.records.c.updated_at,
    "stage_entered_at": t.records.c.stage_entered_at,
}
_DATETIME_COLUMNS = frozenset({"created_at", "updated_at", "stage_entered_at"})
_TEXT_COLUMNS = frozenset({"name", "source"})


def compile_filter(node: Filter, fields: Mapping[str, FieldDef]) -> ColumnElement[bool]:
    """SQL for ``node``; ``fields`` are the object type's field definitions (for types)."""
    if isinstance(node, AllOf):
        return and_(true(), *(compile_filter(c, fields) for c in node.all))
    if isinstance(node, AnyOf):
        return or_(false(), *(compile_filter(c, fields) for c in node.any))
    if isinstance(node, Not):
        return not_(compile_filter(node.not_, fields))
    return _condition(node, fields)


def _condition(c: Condition, fields: Mapping[str, FieldDef]) -> ColumnElement[bool]:
    if c.op in CHANGE_OPS:
        raise ValidationFailed(
            f"'{c.op.value}' only applies to automation conditions", field="filter"
        )
    column, is_text, value_of = _resolve(c.field, fields)
    value = c.value
    present = column.is_not(None)
    # SQL's NULL would make NOT(condition) unknown; in Python a missing value simply fails the
    # condition, so every comparison is made two-valued with "column is not null".
    match c.op:
        case Op.EQ:
            return and_(present, column == value_of(value))
        case Op.NEQ:
            return or_(column != value_of(value), column.is_(None))
        case Op.IN:
            return and_(present, column.in_([value_of(v) for v in value]))
        case Op.NOT_IN:
            return or_(column.not_in([value_of(v) for v in value]), column.is_(None))
        case Op.CONTAINS | Op.NOT_CONTAINS | Op.STARTS_WITH:
            if not is_text:
                raise ValidationFailed(
                    f"filter: '{c.op.value}' compares text; '{c.field}' is not text",
                    field="filter",
                )
            pattern = _escape(value_of(value).lower())
            pattern = pattern + "%" if c.op is Op.STARTS_WITH else f"%{pattern}%"
            match_ = and_(present, func.lower(column).like(pattern, escape="\\"))
            return not_(match_) if c.op is Op.NOT_CONTAINS else match_
        case Op.GT:
            return and_(present, column > value_of(value))
        case Op.GTE:
            return and_(present, column >= value_of(value))
        case Op.LT:
            return and_(present, column < value_of(value))
        case Op.LTE:
            return and_(present, column <= value_of(value))
        case Op.IS_EMPTY:
            return or_(column.is_(None), column == "") if is_text else column.is_(None)
        case Op.IS_NOT_EMPTY:
            return and_(present, column != "") if is_text else present
    raise AssertionError(c.op)  # pragma: no cover


def _resolve(name: str, fields: Mapping[str, FieldDef]) -> tuple[Any, bool, Any]:
    """The SQL expression for a field, whether it is text, and a checker for its values."""
    if name in _COLUMNS:
        if name in _DATETIME_COLUMNS:
            return _COLUMNS[name], False, _as_datetime(name)
        if name in _TEXT_COLUMNS:
            return _COLUMNS[name], True, _of_text(name)
        return _COLUMNS[name], False, _of_id(name)
    key = name.removeprefix("fields.")
    definition = fields.get(key)
    if definition is None:
        raise ValidationFailed(f"unknown field '{name}' in filter", field="filter")
    element = t.records.c.fields[key]
    match definition.type:
        case FieldType.NUMBER:
            return element.as_float(), False, _of_number(name)
        case FieldType.BOOL:
            return element.as_boolean(), False, _of_bool(name)
        case FieldType.USER | FieldType.COMPANY:
            return element.as_integer(), False, _of_id(name)
        case FieldType.DATETIME:
            return element.as_string(), False, _iso_datetime(name)
        case _:
            return element.as_string(), True, _of_text(name)


def _wrong(name: str, wanted: str) -> ValidationFailed:
    return ValidationFailed(f"filter: '{name}' is compared with {wanted}", field="filter")


def _of_text(name: str) -> Any:
    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise _wrong(name, "something that is not text")
        return value

    return check


def _of_number(name: str) -> Any:
    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _wrong(name, "something that is not a number")
        try:
            number = float(value)
        except OverflowError:
            raise _wrong(name, "a number out of range") from None
        if not math.isfinite(number):
            raise _wrong(name, "a number out of range")
        return number

    return check


def _of_id(name: str) -> Any:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _wrong(name, "something that is not an id")
        if not 0 < value < 2**63:
            raise _wrong(name, "an id out of range")
        return value

    return check


def _of_bool(name: str) -> Any:
    def check(value: Any) -> bool:
        if not isinstance(value, bool):
            raise _wrong(name, "something that is not true or false")
        return value

    return check


def _as_datetime(name: str) -> Any:
    def convert(value: Any) -> datetime:
        try:
            parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise ValidationFailed(f"'{name}' needs an ISO 8601 datetime", field="filter") from None
        if parsed.tzinfo is None:
            raise ValidationFailed(f"'{name}' needs a datetime with a time zone", field="filter")
        try:
            parsed.astimezone(UTC)
        except OverflowError:
            raise _wrong(name, "a datetime out of range") from None
        return parsed

    return convert


def _iso_datetime(name: str) -> Any:
    to_datetime = _as_datetime(name)
    return lambda value: to_datetime(value).astimezone(UTC).isoformat()


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")

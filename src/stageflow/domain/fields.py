"""Typed fields, built-in and custom, and the validation every write goes through (SPEC M2)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from stageflow.domain.errors import ValidationFailed
from stageflow.domain.text import problem


class FieldType(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    DATE = "date"
    DATETIME = "datetime"
    BOOL = "bool"
    PICKLIST = "picklist"
    USER = "user"
    COMPANY = "company"  # a company record of the workspace, e.g. the installer company


KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
MAX_TEXT = 10_000
MAX_EXACT = 2**53  # the largest integer every JSON reader keeps exactly


@dataclass(frozen=True, slots=True)
class FieldDef:
    """A field of an object type. Built-in picklists name a workspace picklist for options."""

    key: str
    type: FieldType
    label: str = ""
    options: tuple[str, ...] = ()
    picklist: str | None = None
    required: bool = False
    builtin: bool = False
    id: int | None = None


@dataclass(frozen=True, slots=True)
class FieldContext:
    """What validation needs to know about the workspace."""

    picklist_options: Mapping[str, Iterable[str]]
    user_exists: Callable[[int], bool]
    company_exists: Callable[[int], bool] = lambda _company_id: False


def coerce(field: FieldDef, value: Any, ctx: FieldContext, path: str) -> Any:
    """Validate ``value`` for ``field`` and return its stored (JSON) form; None clears."""
    if value is None:
        if field.required:
            raise ValidationFailed(f"field '{field.key}' is required", field=path)
        return None
    match field.type:
        case FieldType.TEXT:
            return _text(value, path)
        case FieldType.NUMBER:
            return _number(value, path)
        case FieldType.DATE:
            return _date(value, path)
        case FieldType.DATETIME:
            return _datetime(value, path)
        case FieldType.BOOL:
            if not isinstance(value, bool):
                raise ValidationFailed(f"field '{field.key}' must be true or false", field=path)
            return value
        case FieldType.PICKLIST:
            options = tuple(ctx.picklist_options.get(field.picklist, ())) if field.picklist else ()
            allowed = options or field.options
            if not isinstance(value, str) or value not in allowed:
                raise ValidationFailed(
                    f"field '{field.key}' must be one of: {', '.join(allowed)}", field=path
                )
            return value
        case FieldType.COMPANY:
            if (
                isinstance(value, bool)
                or not isinstance(value, int)
                or not ctx.company_exists(value)
            ):
                raise ValidationFailed(
                    f"field '{field.key}' must be the id of a company of this workspace",
                    field=path,
                )
            return value
        case FieldType.USER:
            if isinstance(value, bool) or not isinstance(value, int) or not ctx.user_exists(value):
                raise ValidationFailed(
                    f"field '{field.key}' must be the id of a user of this workspace", field=path
                )
            return value
    raise AssertionError(field.type)  # pragma: no cover


def _text(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise ValidationFailed(f"'{path}' must be text", field=path)
    issue = problem(value)
    if issue:
        raise ValidationFailed(f"'{path}' {issue}", field=path)
    if len(value) > MAX_TEXT:
        raise ValidationFailed(f"'{path}' is longer than {MAX_TEXT} characters", field=path)
    return value


def _number(value: Any, path: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationFailed(f"'{path}' must be a number", field=path)
    if isinstance(value, int) and abs(value) > MAX_EXACT:
        raise ValidationFailed(f"'{path}' is out of range (at most {MAX_EXACT:,})", field=path)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValidationFailed(f"'{path}' must be a finite number", field=path)
    return value


def _date(value: Any, path: str) -> str:
    if isinstance(value, str):
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    raise ValidationFailed(f"'{path}' must be a date as YYYY-MM-DD", field=path)


def _datetime(value: Any, path: str) -> str:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is not None:
            if parsed.tzinfo is None:
                raise ValidationFailed(
                    f"'{path}' must carry a time zone offset (e.g. 2026-05-01T14:00:00Z)",
                    field=path,
                )
            try:
                return parsed.astimezone(UTC).isoformat()
            except OverflowError:
                raise ValidationFailed(f"'{path}' is out of range", field=path) from None
    raise ValidationFailed(f"'{path}' must be an ISO 8601 datetime", field=path)


def validate_key(key: str) -> None:
    """Custom field keys: lowercase snake case, starting with a letter."""
    if not KEY_PATTERN.match(key):
        raise ValidationFailed(
            "a field key must be lowercase letters, digits and underscores, starting with a letter",
            field="key",
        )

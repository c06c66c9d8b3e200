"""Cursor pagination: the cursor is an opaque token for "items older than this one"."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Generic, TypeVar

from stageflow.domain.errors import ValidationFailed

T = TypeVar("T")
MAX_LIMIT = 200


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, value = raw.partition(":")
        if prefix != "id":
            raise ValueError(raw)
        last_id = int(value)
        if not 0 < last_id < 2**63:
            raise ValueError(value)
        return last_id
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed("the cursor is not one this API gave out", field="cursor") from None


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
    return limit


def page_of(items: list[T], limit: int, id_of: object = None) -> Page[T]:
    """Build a page from ``limit + 1`` fetched items (the extra one says there is more)."""
    more = len(items) > limit
    items = items[:limit]
    next_cursor = encode_cursor(items[-1].id) if more and items else None  # type: ignore[attr-defined]
    return Page(items=items, next_cursor=next_cursor)

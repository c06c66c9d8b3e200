"""What every API response shares: errors and pages."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel

T = TypeVar("T")


class ErrorOut(BaseModel):
    code: str
    message: str
    field: str | None = None


class PageOut(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None

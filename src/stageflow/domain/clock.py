"""The one source of "now" (DESIGN.md "Time"). Nothing else calls ``datetime.now()``."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Supplies the current time as an aware UTC datetime."""

    def now(self) -> datetime: ...


class SystemClock:
    """Wall-clock time."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class VirtualClock:
    """A clock that only moves when told to; drives tests and the simulator."""

    def __init__(self, start: datetime | None = None) -> None:
        start = start or datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
        if start.tzinfo is None:
            raise ValueError("VirtualClock needs an aware datetime")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, by: timedelta) -> datetime:
        """Move time forward by ``by`` (never backwards) and return the new now."""
        if by < timedelta(0):
            raise ValueError("a virtual clock never goes backwards")
        with self._lock:
            self._now += by
            return self._now

    def set(self, to: datetime) -> datetime:
        """Move time forward to ``to``."""
        if to.tzinfo is None:
            raise ValueError("VirtualClock needs an aware datetime")
        with self._lock:
            target = to.astimezone(UTC)
            if target < self._now:
                raise ValueError("a virtual clock never goes backwards")
            self._now = target
            return self._now

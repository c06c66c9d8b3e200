"""The virtual clock moves only forward, and only when told."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from stageflow.domain.clock import SystemClock, VirtualClock


def test_virtual_clock_advances_and_sets() -> None:
    clock = VirtualClock(datetime(2026, 1, 1, tzinfo=UTC))
    assert clock.now() == clock.now()
    assert clock.advance(timedelta(days=183)) == datetime(2026, 7, 3, tzinfo=UTC)
    assert clock.set(datetime(2026, 8, 1, 14, tzinfo=UTC)).hour == 14


def test_virtual_clock_never_goes_back_or_naive() -> None:
    clock = VirtualClock()
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(timedelta(seconds=-1))
    with pytest.raises(ValueError, match="backwards"):
        clock.set(clock.now() - timedelta(seconds=1))
    with pytest.raises(ValueError, match="aware"):
        VirtualClock(datetime(2026, 1, 1))


def test_system_clock_is_aware_utc() -> None:
    assert SystemClock().now().tzinfo is UTC


def test_nothing_else_calls_datetime_now() -> None:
    """DESIGN "Time": one Clock supplies now() everywhere."""
    from pathlib import Path

    import stageflow

    root = Path(stageflow.__file__).parent
    offenders = [
        str(p.relative_to(root))
        for p in root.rglob("*.py")
        if p.name != "clock.py" and ("datetime.now(" in p.read_text() or "utcnow(" in p.read_text())
    ]
    assert offenders == []

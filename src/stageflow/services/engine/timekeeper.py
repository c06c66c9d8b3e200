"""Virtual time: advancing the clock fires everything that falls due, in order, before it
returns. This is how a user rehearses a six-month automation in minutes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from stageflow.domain.clock import VirtualClock
from stageflow.domain.errors import ValidationFailed
from stageflow.services.engine.worker import Worker

MAX_STOPS = 100_000


@dataclass(frozen=True)
class Advanced:
    now: datetime
    runs_advanced: int
    stops: int


def advance_to(clock: VirtualClock, worker: Worker, target: datetime) -> Advanced:
    """Move ``clock`` to ``target``, stopping at each moment work falls due and doing it."""
    if target < clock.now():
        raise ValidationFailed("the clock never goes backwards", field="to")
    advanced = worker.run_until_idle()
    stops = 0
    while stops < MAX_STOPS:
        due = worker.next_due()
        if due is None or due > target:
            break
        if due > clock.now():
            clock.set(due)
        stops += 1
        advanced += worker.run_until_idle()
    clock.set(target)
    advanced += worker.run_until_idle()
    return Advanced(now=clock.now(), runs_advanced=advanced, stops=stops)

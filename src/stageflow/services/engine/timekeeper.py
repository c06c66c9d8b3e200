"""Virtual time: advancing the clock fires everything that falls due, in order, before it
returns. This is how a user rehearses a six-month automation in minutes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from stageflow.automation.durations import parse_duration
from stageflow.domain.clock import Clock, VirtualClock
from stageflow.domain.errors import Conflict, PermissionDenied, ValidationFailed
from stageflow.domain.users import Principal, Role
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


def may_move_clock(principal: Principal) -> bool:
    """Moving the workspace's shared clock is the owner's decision."""
    return principal.role is Role.OWNER


def advance(
    principal: Principal,
    clock: Clock,
    worker: Worker,
    *,
    by: str | None = None,
    to: datetime | None = None,
) -> Advanced:
    """Move a virtual clock forward ``by`` an ISO 8601 duration or ``to`` an aware moment
    (owners only; a real clock refuses), firing everything that falls due on the way."""
    if not may_move_clock(principal):
        raise PermissionDenied("only an owner may move the clock")
    if not isinstance(clock, VirtualClock):
        raise Conflict(
            "the clock is real; start the server with `stageflow serve "
            "--virtual-clock` to rehearse automations in virtual time"
        )
    if (by is None) == (to is None):
        raise ValidationFailed("give either 'by' (a duration) or 'to' (a datetime)", field="by")
    if by is not None:
        try:
            target = parse_duration(by).after(clock.now())
        except ValueError as exc:
            raise ValidationFailed(str(exc), field="by") from None
    else:
        assert to is not None
        if to.tzinfo is None:
            raise ValidationFailed("'to' needs a time zone offset", field="to")
        target = to
    return advance_to(clock, worker, target)

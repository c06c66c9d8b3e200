"""Run history (X4): runs, their steps, the automations that matched but did not enroll and
why; retrying a failed run from its failed step; cancelling a waiting run; manual starts."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from sqlalchemy import case, func, literal, or_, select

from stageflow.adapters.db import tables as t
from stageflow.adapters.db.repositories.outbox import FAILED
from stageflow.automation.interpreter import RunState
from stageflow.automation.triggers import trigger_object_type
from stageflow.domain.errors import Conflict, NotFound, ValidationFailed
from stageflow.domain.filters import Filter
from stageflow.domain.records import ObjectType
from stageflow.domain.text import a_or_an
from stageflow.domain.users import Permission, Principal, Role
from stageflow.services.crm.records import get_visible, pages_of_records
from stageflow.services.engine.enrollment import VersionCache
from stageflow.services.engine.run_rows import new_run
from stageflow.services.pagination import Page, check_limit, decode_cursor, page_of
from stageflow.services.unit_of_work import UnitOfWork

STATUSES = ("waiting", "completed", "failed", "cancelled")
MAX_MANUAL_START = 50_000


def list_runs(
    uow: UnitOfWork,
    principal: Principal,
    *,
    record_id: int | None,
    automation_id: int | None,
    status: str | None,
    cursor: str | None,
    limit: int,
    started_from: datetime | None = None,
    started_before: datetime | None = None,
) -> Page[Any]:
    """Runs, newest first. Without 'automations.edit' only runs of records the user may see
    (an agent: their own records); with a record, that record must be visible."""
    check_limit(limit)
    where = []
    if record_id is not None:
        get_visible(uow, principal, None, record_id)
        where.append(t.runs.c.record_id == record_id)
    elif not principal.has(Permission.AUTOMATIONS_EDIT):
        where.append(t.runs.c.record_id.in_(visible_record_ids(principal)))
    if started_from is not None:
        where.append(t.runs.c.created_at >= started_from)
    if started_before is not None:
        where.append(t.runs.c.created_at < started_before)
    if automation_id is not None:
        where.append(t.runs.c.automation_id == automation_id)
    if status is not None:
        if status not in STATUSES:
            raise ValidationFailed(f"status must be one of: {', '.join(STATUSES)}", field="status")
        where.append(t.runs.c.status == status)
    rows = uow.runs.list(
        principal.workspace_id, where=where, before_id=decode_cursor(cursor), limit=limit + 1
    )
    return page_of(rows, limit)


def visible_record_ids(principal: Principal) -> Any:
    """The records a user without 'automations.edit' may see runs of (``list_records``'
    rule: all with 'records.read_all', else their own and unowned ones)."""
    r = t.records.c
    query = select(r.id).where(r.workspace_id == principal.workspace_id)
    if not principal.has(Permission.RECORDS_READ_ALL):
        query = query.where(or_(r.owner_id == principal.user_id, r.owner_id.is_(None)))
    return query


def get_run(uow: UnitOfWork, principal: Principal, run_id: int) -> Any:
    row = uow.runs.get(principal.workspace_id, run_id)
    if row is None:
        raise NotFound(f"run {run_id} not found")
    if row.record_id is not None and not principal.has(Permission.AUTOMATIONS_EDIT):
        try:
            get_visible(uow, principal, None, row.record_id)
        except NotFound:
            raise NotFound(f"run {run_id} not found") from None
    elif row.record_id is None:
        principal.require(Permission.AUTOMATIONS_EDIT)
    return row


def skips(uow: UnitOfWork, principal: Principal, record_id: int, limit: int) -> list[Any]:
    check_limit(limit)
    get_visible(uow, principal, None, record_id)
    return uow.runs.skips(principal.workspace_id, record_id, limit)


def retry(uow: UnitOfWork, principal: Principal, run_id: int) -> None:
    """Retry a failed run from its failed step (the steps before it are not repeated). A run
    failed by a delivery that failed for good sends that delivery again and goes on as it was
    (see ``delivery_failed``)."""
    principal.require(Permission.AUTOMATIONS_EDIT)
    row = get_run(uow, principal, run_id)
    if row.status != "failed":
        raise Conflict(f"run {run_id} is {row.status}; only failed runs can be retried")
    now = uow.clock.now()
    if _retry_deliveries(uow, row, now):
        return
    uow.runs.save_many(
        [
            {
                "_id": run_id,
                "status": "waiting",
                "wake_at": now,
                "error": None,
                "finished_at": None,
                "updated_at": now,
            }
        ]
    )
    uow.runs_created += 1


def delivery_failed(uow: UnitOfWork, delivery: Any, error: str) -> None:
    """A run's external delivery (webhook, email, SMS, e-signature) failed for good.

    The step that queued it completed when it queued it, and the run may have finished since;
    now the step and the run show the failure (the run keeps its cursor and, if it was
    waiting, its wake-up time, so a retry can go on from where it stood), and the
    automation's owner (who published the version the run is on; else the workspace's
    owners) is told. Called by the courier in the transaction that records the outcome.
    """
    run = uow.runs.get(delivery.workspace_id, delivery.run_id)
    if run is None or delivery.step_id is None:
        return
    iteration = _iteration(delivery.idempotency_key, run.id, delivery.step_id)
    message = f"the {delivery.kind} delivery {delivery.id} failed: {error}"
    uow.runs.set_step_status(run.id, delivery.step_id, iteration, "failed", message)
    if run.status in ("failed", "cancelled"):
        return
    now = uow.clock.now()
    uow.runs.save_many(
        [
            {
                "_id": run.id,
                "status": "failed",
                "failed_step": delivery.step_id,
                "error": f"step {delivery.step_id}: {message}",
                "finished_at": now,
                "updated_at": now,
            }
        ]
    )
    automation = uow.automations.get(run.workspace_id, run.automation_id)
    name = automation.name if automation is not None else f"automation {run.automation_id}"
    uow.notifications.add(
        run.workspace_id,
        _owners(uow, run),
        title=f"{name}: a {delivery.kind} delivery failed"[:300],
        body=f"Run {run.id} failed at step {delivery.step_id}: {message}. Fix the cause, then "
        f"retry the run from that step (POST /api/v1/runs/{run.id}/retry).",
        record_id=run.record_id,
        run_id=run.id,
        now=now,
    )


def _owners(uow: UnitOfWork, run: Any) -> list[int]:
    version = uow.automations.version(run.version_id)
    users = {u.id: u for u in uow.users.list(run.workspace_id) if u.active}
    publisher = version.published_by if version is not None else None
    if publisher is not None and publisher in users:
        return [int(publisher)]
    return [u.id for u in users.values() if u.role == Role.OWNER.value]


def _iteration(key: str, run_id: int, step_id: str) -> str:
    """A step's iteration, from the idempotency key its delivery was queued with
    (``run-{run}/{step}/{iteration}``, with ``#part`` when a step queues several)."""
    prefix = f"run-{run_id}/{step_id}/"
    return key[len(prefix) :].split("#", 1)[0] if key.startswith(prefix) else ""


def _retry_deliveries(uow: UnitOfWork, row: Any, now: Any) -> bool:
    """Queue again the failed deliveries of a run's failed step; the run goes back to what it
    was (completed, or waiting where it stood). False if the run did not fail on a delivery."""
    failed = [
        d
        for d in uow.outbox.list(
            row.workspace_id,
            status=FAILED,
            record_id=None,
            run_id=row.id,
            before_id=None,
            limit=1000,
        )
        if d.step_id == row.failed_step
    ]
    if not failed:
        return False
    for delivery in failed:
        uow.outbox.retry(row.workspace_id, delivery.id, now)
        iteration = _iteration(delivery.idempotency_key, row.id, delivery.step_id)
        uow.runs.set_step_status(row.id, delivery.step_id, iteration, "completed", None)
    going_on = RunState.from_json(row.state).cursor is not None
    uow.runs.save_many(
        [
            {
                "_id": row.id,
                "status": "waiting" if going_on else "completed",
                "wake_at": (row.wake_at or now) if going_on else None,
                "error": None,
                "failed_step": None,
                "finished_at": None if going_on else now,
                "updated_at": now,
            }
        ]
    )
    uow.runs_created += 1  # wakes this process's worker: the delivery is due now
    return True


def cancel(uow: UnitOfWork, principal: Principal, run_id: int) -> None:
    principal.require(Permission.AUTOMATIONS_EDIT)
    row = get_run(uow, principal, run_id)
    if row.status != "waiting":
        raise Conflict(f"run {run_id} is {row.status}; only waiting runs can be cancelled")
    now = uow.clock.now()
    uow.runs.save_many(
        [
            {
                "_id": run_id,
                "status": "cancelled",
                "wake_at": None,
                "error": "cancelled by a user",
                "finished_at": now,
                "updated_at": now,
            }
        ]
    )


def start_manually(
    uow: UnitOfWork,
    principal: Principal,
    versions: VersionCache,
    automation_id: int,
    *,
    record_ids: list[int] | None,
    segment: Filter | None,
) -> int:
    """Enroll one record, or every record of a segment, into an automation's active version."""
    principal.require(Permission.AUTOMATIONS_EDIT)
    automation = uow.automations.get(principal.workspace_id, automation_id)
    if automation is None:
        raise NotFound(f"automation {automation_id} not found")
    if automation.status != "active" or automation.active_version_id is None:
        raise Conflict("only an active automation can be started")
    version = versions.get(uow, automation.active_version_id)
    object_type = trigger_object_type(version.definition.trigger)
    targets = _targets(uow, principal, object_type, record_ids, segment)
    now = uow.clock.now()
    batch = secrets.token_hex(4)
    rows = []
    for record_id in targets:
        state = RunState(
            cursor=version.graph.first,
            variables=dict(version.definition.variables),
            trigger={"event_type": "ManualStart", "by": principal.user_id},
        )
        key = f"{version.id}:{record_id}:manual:{batch}"
        rows.append(
            new_run(
                principal.workspace_id, automation_id, version.id, record_id, key, state, now, now
            )
        )
    for start in range(0, len(rows), 1000):
        uow.runs.add_many(rows[start : start + 1000])
    uow.runs_created += len(rows)
    return len(rows)


def _targets(
    uow: UnitOfWork,
    principal: Principal,
    object_type: ObjectType | None,
    record_ids: list[int] | None,
    segment: Filter | None,
) -> list[int]:
    if (record_ids is None) == (segment is None):
        raise ValidationFailed("give record_ids or a segment filter", field="record_ids")
    if record_ids is not None:
        for record_id in record_ids:
            record = get_visible(uow, principal, None, record_id)
            if object_type is not None and record.object_type is not object_type:
                raise ValidationFailed(
                    f"record {record_id} is not {a_or_an(object_type.value)}", field="record_ids"
                )
        return list(dict.fromkeys(record_ids))
    if object_type is None:
        raise ValidationFailed(
            "this automation's trigger names no object type; give record_ids", field="segment"
        )
    found: list[int] = []
    for records in pages_of_records(uow, principal, object_type, segment):
        found.extend(r.id for r in records if r.id is not None)
        if len(found) > MAX_MANUAL_START:
            raise ValidationFailed(
                f"the segment has more than {MAX_MANUAL_START} records", field="segment"
            )
    return found


# the dashboard's figures ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunDay:
    """Runs of one day (workspace time zone): finished as completed or failed that day, and
    started that day and still waiting."""

    day: date
    completed: int = 0
    failed: int = 0
    waiting: int = 0


def runs_per_day(uow: UnitOfWork, principal: Principal, *, days: int, zone: tzinfo) -> list[RunDay]:
    """The last ``days`` days, oldest first, today included (needs 'automations.edit', as the
    run list does). Counted by the database: each run falls into the day (in ``zone``) whose
    UTC bounds hold its moment, so daylight-saving days and half-hour zones count right."""
    principal.require(Permission.AUTOMATIONS_EDIT)
    today = uow.clock.now().astimezone(zone).date()
    first = today - timedelta(days=days - 1)
    bounds = [datetime.combine(first + timedelta(days=n), time.min, zone) for n in range(days + 1)]
    r = t.runs.c
    moment = case(
        (r.status == "waiting", r.created_at), else_=func.coalesce(r.finished_at, r.created_at)
    )
    # The day's number: the first bound after the moment (the last day: the rest).
    whens = [(moment < bound, n) for n, bound in enumerate(bounds[1:-1])]
    day = (case(*whens, else_=days - 1) if whens else literal(0)).label("day")
    rows = uow.connection.execute(
        select(day, r.status, func.count().label("runs"))
        .where(
            r.workspace_id == principal.workspace_id,
            r.status.in_(("completed", "failed", "waiting")),
            moment >= bounds[0],
            moment < bounds[-1],
        )
        .group_by(day, r.status)
    )
    counts = [{"completed": 0, "failed": 0, "waiting": 0} for _ in range(days)]
    for n, status, number in rows:
        counts[n][status] = number
    return [RunDay(first + timedelta(days=n), **values) for n, values in enumerate(counts)]


def latest_failures(uow: UnitOfWork, principal: Principal, limit: int = 5) -> list[Any]:
    """The newest failed runs, each with its automation's name."""
    principal.require(Permission.AUTOMATIONS_EDIT)
    r, a = t.runs.c, t.automations.c
    return list(
        uow.connection.execute(
            select(
                r.id,
                r.record_id,
                r.error,
                r.failed_step,
                r.finished_at,
                r.updated_at,
                a.name.label("automation_name"),
            )
            .join(t.automations, a.id == r.automation_id)
            .where(r.workspace_id == principal.workspace_id, r.status == "failed")
            .order_by(r.id.desc())
            .limit(limit)
        )
    )

"""Run history (X4): runs, their steps, the automations that matched but did not enroll and
why; retrying a failed run from its failed step; cancelling a waiting run; manual starts."""

from __future__ import annotations

import secrets
from typing import Any

from stageflow.adapters.db import tables as t
from stageflow.automation.interpreter import RunState
from stageflow.automation.triggers import trigger_object_type
from stageflow.domain.errors import Conflict, NotFound, ValidationFailed
from stageflow.domain.filters import Filter
from stageflow.domain.records import ObjectType
from stageflow.domain.text import a_or_an
from stageflow.domain.users import Permission, Principal
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
) -> Page[Any]:
    check_limit(limit)
    where = []
    if record_id is not None:
        get_visible(uow, principal, None, record_id)
        where.append(t.runs.c.record_id == record_id)
    else:
        principal.require(Permission.AUTOMATIONS_EDIT)
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
    """Retry a failed run from its failed step (the steps before it are not repeated)."""
    principal.require(Permission.AUTOMATIONS_EDIT)
    row = get_run(uow, principal, run_id)
    if row.status != "failed":
        raise Conflict(f"run {run_id} is {row.status}; only failed runs can be retried")
    now = uow.clock.now()
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

"""Read models the board needs and the service layer does not offer yet: per-stage totals
and each card's next open activity, for many records in one query each.

They read only, through the unit of work's connection, and apply the same visibility as
``services.records.list_records`` (an agent counts only their own and unowned records).
TODO(after the services reorganisation): move both into the service layer beside
``list_records`` so the API can offer the same totals.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select

from stageflow.adapters.db import tables as t
from stageflow.adapters.db.filter_sql import compile_filter
from stageflow.domain.activities import ActivityStatus
from stageflow.domain.filters import Filter
from stageflow.domain.records import ObjectType
from stageflow.domain.users import Permission, Principal
from stageflow.services.crm.records import field_definitions
from stageflow.services.unit_of_work import UnitOfWork


@dataclass(slots=True)
class StageTotal:
    """How many records a column holds and, for deals, the sum of amounts per currency."""

    count: int = 0
    amounts: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NextActivity:
    """The open activity due first on a record."""

    type: str
    subject: str
    due_at: datetime | None


def stage_totals(
    uow: UnitOfWork,
    principal: Principal,
    object_type: ObjectType,
    *,
    pipeline_id: int,
    filter_: Filter | None,
    owner_id: int | None,
) -> dict[int, StageTotal]:
    """Count and amount of the records on each stage of a pipeline that the caller sees."""
    c = t.records.c
    amount = c.fields["amount"].as_float()
    currency = c.fields["currency"].as_string()
    where: list[ColumnElement[bool]] = [
        c.workspace_id == principal.workspace_id,
        c.object_type == object_type.value,
        c.pipeline_id == pipeline_id,
    ]
    if filter_ is not None:
        definitions = field_definitions(uow, principal.workspace_id, object_type)
        where.append(compile_filter(filter_, definitions))
    if owner_id is not None:
        where.append(c.owner_id == owner_id)
    if not principal.has(Permission.RECORDS_READ_ALL):
        where.append((c.owner_id == principal.user_id) | c.owner_id.is_(None))
    rows = uow.connection.execute(
        select(c.stage_id, currency, func.count(), func.sum(amount))
        .where(*where)
        .group_by(c.stage_id, currency)
    )
    totals: dict[int, StageTotal] = defaultdict(StageTotal)
    for stage_id, cur, count, total in rows:
        entry = totals[stage_id]
        entry.count += count
        if total is not None:
            key = cur or ""
            entry.amounts[key] = entry.amounts.get(key, 0.0) + float(total)
    return dict(totals)


def next_activities(uow: UnitOfWork, record_ids: list[int]) -> dict[int, NextActivity]:
    """Each record's open activity due first (undated ones after dated ones, oldest first).
    Callers pass only records the user may see."""
    if not record_ids:
        return {}
    a = t.activities.c
    rows: list[Any] = list(
        uow.connection.execute(
            select(a.record_id, a.type, a.subject, a.due_at)
            .where(a.record_id.in_(record_ids), a.status == ActivityStatus.OPEN.value)
            .order_by(a.record_id, a.due_at.is_(None), a.due_at, a.id)
        )
    )
    found: dict[int, NextActivity] = {}
    for row in rows:
        if row.record_id not in found:
            found[row.record_id] = NextActivity(row.type, row.subject, row.due_at)
    return found

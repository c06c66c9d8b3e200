"""Run history as people read it (the run list, a run's page, "why didn't it run?", what a
clock advance fired): the rows of ``runs`` with names instead of ids — the automation, its
kind and version, the record, the step — under the permissions of ``runs``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select

from stageflow.adapters.db import tables as t
from stageflow.domain.errors import NotFound
from stageflow.domain.users import Permission, Principal
from stageflow.services.engine import runs
from stageflow.services.engine.skip_reasons import explain
from stageflow.services.pagination import Page
from stageflow.services.unit_of_work import UnitOfWork

KIND_LABELS = {
    "workflow": "Workflow",
    "stage_rule": "Rule",
    "lead_automation": "Lead automation",
    "substate_action": "Sub-state action",
}
EVENT_LABELS = {"ManualStart": "started by hand", "ScheduleTick": "its schedule"}


@dataclass(frozen=True, slots=True)
class RecordRef:
    id: int
    name: str
    path: str  # the record's page: /deals/7


@dataclass(frozen=True, slots=True)
class AutomationRef:
    id: int
    name: str
    kind: str
    version: int | None

    @property
    def label(self) -> str:
        """``Rule 'Renewal lead' (version 3)``."""
        kind = KIND_LABELS.get(self.kind, self.kind.replace("_", " ").capitalize())
        version = f" (version {self.version})" if self.version is not None else ""
        return f"{kind} '{self.name}'{version}"


@dataclass(frozen=True, slots=True)
class StepInfo:
    """A step as its definition names it."""

    id: str
    name: str
    type: str
    action: str | None = None

    @property
    def label(self) -> str:
        kind = (self.action or self.type).replace("_", " ")
        return f"{self.name} ({kind})" if self.name else kind.capitalize()


@dataclass(frozen=True, slots=True)
class RunSummary:
    id: int
    automation: AutomationRef
    record: RecordRef | None
    status: str  # waiting, running (due now), completed, failed, cancelled
    wake_at: datetime | None
    waiting_for: str | None
    step: StepInfo | None  # where a waiting run stands, where a failed one failed
    error: str | None
    started_at: datetime
    finished_at: datetime | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class RunDetail:
    run: RunSummary
    trigger: dict[str, Any]
    variables: dict[str, Any]
    steps: list[tuple[Any, StepInfo]]  # each recorded step with its definition's words
    attempts: int
    can_change: bool  # may retry or cancel it ('automations.edit')


@dataclass(frozen=True, slots=True)
class Skip:
    at: datetime
    automation: AutomationRef
    record: RecordRef | None
    event_type: str | None
    sentence: str


@dataclass
class _Names:
    """Names looked up once per screen."""

    uow: UnitOfWork
    workspace_id: int
    automations: dict[int, Any] = field(default_factory=dict)
    versions: dict[int, Any] = field(default_factory=dict)
    records: dict[int, RecordRef | None] = field(default_factory=dict)

    def automation(self, automation_id: int, version_id: int | None) -> AutomationRef:
        if automation_id not in self.automations:
            self.automations[automation_id] = self.uow.automations.get(
                self.workspace_id, automation_id
            )
        row = self.automations[automation_id]
        version = self.version(version_id)
        return AutomationRef(
            id=automation_id,
            name=row.name if row is not None else f"automation {automation_id} (deleted)",
            kind=row.kind if row is not None else "workflow",
            version=version.number if version is not None else None,
        )

    def version(self, version_id: int | None) -> Any | None:
        if version_id is None:
            return None
        if version_id not in self.versions:
            self.versions[version_id] = self.uow.automations.version(version_id)
        return self.versions[version_id]

    def steps(self, version_id: int) -> dict[str, StepInfo]:
        version = self.version(version_id)
        steps = version.definition.get("steps", []) if version is not None else []
        return {s.id: s for s in _walk(steps)}

    def record(self, record_id: int | None) -> RecordRef | None:
        if record_id is None:
            return None
        if record_id not in self.records:
            record = self.uow.records.get(self.workspace_id, record_id)
            self.records[record_id] = (
                None
                if record is None
                else RecordRef(record_id, record.name, f"/{record.object_type.plural}/{record_id}")
            )
        return self.records[record_id]


def _walk(steps: Any) -> Iterator[StepInfo]:
    """Every step of a definition, nested ones (branches, loops, timeouts) included."""
    if isinstance(steps, dict):
        if "id" in steps and "type" in steps:
            yield StepInfo(
                str(steps["id"]), str(steps.get("name") or ""), str(steps["type"]),
                steps.get("action"),
            )  # fmt: skip
        for value in steps.values():
            if isinstance(value, list | dict):
                yield from _walk(value)
    elif isinstance(steps, list):
        for item in steps:
            yield from _walk(item)


def _summary(names: _Names, row: Any, now: datetime) -> RunSummary:
    status = row.status
    if (
        status == "waiting"
        and row.wait_event is None
        and (row.wake_at is None or row.wake_at <= now)
    ):
        status = "running"
    step_id = row.failed_step if row.status == "failed" else (row.state or {}).get("cursor")
    step = None
    if step_id and row.status in ("waiting", "failed"):
        step = names.steps(row.version_id).get(step_id, StepInfo(step_id, "", "step"))
    return RunSummary(
        id=row.id,
        automation=names.automation(row.automation_id, row.version_id),
        record=names.record(row.record_id),
        status=status,
        wake_at=row.wake_at if row.status == "waiting" else None,
        waiting_for=row.wait_event if row.status == "waiting" else None,
        step=step,
        error=row.error,
        started_at=row.created_at,
        finished_at=row.finished_at,
        updated_at=row.updated_at,
    )


def list_summaries(
    uow: UnitOfWork,
    principal: Principal,
    *,
    record_id: int | None = None,
    automation_id: int | None = None,
    status: str | None = None,
    started_from: datetime | None = None,
    started_before: datetime | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[RunSummary]:
    """``runs.list_runs`` with names: newest first, the same filters and permissions."""
    found = runs.list_runs(
        uow,
        principal,
        record_id=record_id,
        automation_id=automation_id,
        status=status,
        cursor=cursor,
        limit=limit,
        started_from=started_from,
        started_before=started_before,
    )
    record_ids = [r.record_id for r in found.items if r.record_id is not None]
    uow.records.preload(record_ids)
    names, now = _Names(uow, principal.workspace_id), uow.clock.now()
    return Page([_summary(names, r, now) for r in found.items], found.next_cursor)


def run_detail(uow: UnitOfWork, principal: Principal, run_id: int) -> RunDetail:
    """One run with every recorded step, oldest first (``runs.get_run``'s permissions)."""
    row = runs.get_run(uow, principal, run_id)
    names = _Names(uow, principal.workspace_id)
    infos = names.steps(row.version_id)
    steps = [
        (s, infos.get(s.step_id, StepInfo(s.step_id, "", s.type))) for s in uow.runs.steps(run_id)
    ]
    state = row.state or {}
    return RunDetail(
        run=_summary(names, row, uow.clock.now()),
        trigger=dict(state.get("trigger") or {}),
        variables=dict(state.get("variables") or {}),
        steps=steps,
        attempts=row.attempts,
        can_change=principal.has(Permission.AUTOMATIONS_EDIT),
    )


def automation_ref(uow: UnitOfWork, principal: Principal, automation_id: int) -> AutomationRef:
    """An automation's name for a filter chip (its current version not shown)."""
    row = uow.automations.get(principal.workspace_id, automation_id)
    if row is None:
        raise NotFound(f"automation {automation_id} not found")
    return AutomationRef(row.id, row.name, row.kind, None)


def automation_choices(uow: UnitOfWork, principal: Principal) -> list[AutomationRef]:
    """The automations a run list can be filtered by, by name (needs 'automations.edit')."""
    if not principal.has(Permission.AUTOMATIONS_EDIT):
        return []
    rows = uow.automations.list(principal.workspace_id, where=[], before_id=None, limit=500)
    refs = [AutomationRef(r.id, r.name, r.kind, None) for r in rows]
    return sorted(refs, key=lambda a: (a.kind != "workflow", a.name.lower()))


def skipped(
    uow: UnitOfWork, principal: Principal, record_id: int | None, limit: int = 50
) -> list[Skip]:
    """Automations that matched and did not enroll, newest first, each reason in a
    sentence: for one record (as ``runs.skips``), or the workspace's latest (needs
    'automations.edit', as the workspace's run list does)."""
    if record_id is not None:
        rows = runs.skips(uow, principal, record_id, limit)
    else:
        principal.require(Permission.AUTOMATIONS_EDIT)
        s = t.enrollment_skips.c
        rows = list(
            uow.connection.execute(
                select(t.enrollment_skips)
                .where(s.workspace_id == principal.workspace_id)
                .order_by(s.id.desc())
                .limit(limit)
            )
        )
        uow.records.preload([r.record_id for r in rows if r.record_id is not None])
    names = _Names(uow, principal.workspace_id)
    return [
        Skip(
            at=r.created_at,
            automation=names.automation(r.automation_id, r.version_id),
            record=names.record(r.record_id),
            event_type=r.event_type,
            sentence=explain(r.reason, r.detail),
        )
        for r in rows
    ]


@dataclass(frozen=True, slots=True)
class Mark:
    """Where the run history stood before a clock advance."""

    last_run_id: int
    at: datetime


def mark(uow: UnitOfWork) -> Mark:
    last = uow.connection.execute(select(func.max(t.runs.c.id))).scalar()
    return Mark(int(last or 0), uow.clock.now())


def fired_since(
    uow: UnitOfWork, principal: Principal, since: Mark, limit: int = 50
) -> tuple[list[tuple[RunSummary, bool]], int]:
    """The runs a clock advance started or moved on, newest first, each with whether it
    started during the advance; and how many there were in all. Users without
    'automations.edit' see only runs of records they may see, as in the run list."""
    r = t.runs.c
    where = [
        r.workspace_id == principal.workspace_id,
        or_(r.id > since.last_run_id, r.updated_at > since.at),
    ]
    if not principal.has(Permission.AUTOMATIONS_EDIT):
        where.append(r.record_id.in_(runs.visible_record_ids(principal)))
    total = int(
        uow.connection.execute(select(func.count()).select_from(t.runs).where(*where)).scalar() or 0
    )
    rows = list(
        uow.connection.execute(select(t.runs).where(*where).order_by(r.id.desc()).limit(limit))
    )
    uow.records.preload([row.record_id for row in rows if row.record_id is not None])
    names, now = _Names(uow, principal.workspace_id), uow.clock.now()
    return [(_summary(names, row, now), row.id > since.last_run_id) for row in rows], total

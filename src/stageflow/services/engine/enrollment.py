"""Enrollment: in the same transaction as the events that cause them, start the runs of the
automations whose triggers match, and cancel or wake the runs those events concern.

Every trigger that matched but did not enroll records why (loop guard, own write, already
enrolled, conditions not met), so "why didn't it run?" has an answer.
"""

from __future__ import annotations

import threading
from collections import ChainMap, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, cast

from stageflow.automation.definitions import Definition
from stageflow.automation.graph import Graph, compile_graph
from stageflow.automation.interpreter import RunState, parsed_filter
from stageflow.automation.matching import Entry, TriggerIndex, matches
from stageflow.domain.events import Actor, ActorKind, Event, EventType
from stageflow.domain.filters import evaluate, unmet
from stageflow.services.context import RecordValues
from stageflow.services.engine.run_rows import new_run
from stageflow.services.engine.timers import arm_date
from stageflow.services.unit_of_work import UnitOfWork

MAX_DEPTH = 10


# Enum members read per event or per row, as module constants: on Python 3.11 reading a
# member through its class runs EnumType.__getattr__'s slow path (~1.5k instructions).
_AUTOMATION = ActorKind.AUTOMATION
_RECORD_CREATED = EventType.RECORD_CREATED
_STAGE_CHANGED = EventType.STAGE_CHANGED
_RECORD_DELETED = EventType.RECORD_DELETED
_FIELD_CHANGED = EventType.FIELD_CHANGED


@dataclass(frozen=True)
class Version:
    """An immutable automation version, parsed and compiled once per process."""

    id: int
    automation_id: int
    definition: Definition
    graph: Graph
    number: int  # the version's number within its automation (v1, v2…)


class VersionCache:
    def __init__(self) -> None:
        self._versions: dict[int, Version] = {}
        self._lock = threading.Lock()

    def get(self, uow: UnitOfWork, version_id: int) -> Version:
        version = self._versions.get(version_id)
        if version is None:
            row = uow.automations.version(version_id)
            if row is None:
                raise LookupError(f"automation version {version_id} does not exist")
            version = self.put(row.id, row.automation_id, row.definition, row.number)
        return version

    def put(self, version_id: int, automation_id: int, raw: dict[str, Any], number: int) -> Version:
        definition = Definition.model_validate(raw)
        graph = compile_graph(definition)
        version = Version(version_id, automation_id, definition, graph, number)
        with self._lock:
            self._versions[version_id] = version
        return version


_GUARD_ATTEMPTS = 5


def _still_bound(deleted: bool, stage_now: Any) -> Callable[[Any], bool]:
    """A re-read run is still to be cancelled: its record is gone or left its stage."""
    return lambda run: (
        deleted or (run.bound_stage_id is not None and run.bound_stage_id != stage_now)
    )


def _still_waiting_for(event_type: str) -> Callable[[Any], bool]:
    return lambda run: bool(run.wait_event == event_type)


class Enroller:
    """The unit of work's commit hook. One per process; thread-safe."""

    def __init__(self, versions: VersionCache, *, max_depth: int = MAX_DEPTH) -> None:
        self.versions = versions
        self.max_depth = max_depth
        self.work_available = threading.Event()
        self._indexes: dict[int, TriggerIndex] = {}
        self._lock = threading.Lock()

    # the commit hook -------------------------------------------------------------------

    def before_commit(self, uow: UnitOfWork, events: list[Event]) -> None:
        by_workspace: dict[int, list[Event]] = defaultdict(list)
        for event in events:
            by_workspace[event.workspace_id].append(event)
        for workspace_id, workspace_events in by_workspace.items():
            # Enroll first, so a rule enrolled and left within one commit is cancelled too.
            self._enroll(uow, workspace_id, workspace_events)
            self._touch_waiting_runs(uow, workspace_events)

    def after_commit(self, uow: UnitOfWork) -> None:
        if uow.runs_created:
            self.work_available.set()

    # enrollment ------------------------------------------------------------------------

    def index(self, uow: UnitOfWork, workspace_id: int) -> TriggerIndex:
        revision = uow.automations.revision(workspace_id)
        index = self._indexes.get(workspace_id)
        if index is None or index.revision != revision:
            entries = []
            for row in uow.automations.active_versions(workspace_id):
                version = self.versions.put(row.id, row.automation_id, row.definition, row.number)
                entries.append(Entry(row.automation_id, row.id, version.definition, version.graph))
            index = TriggerIndex.build(revision, entries)
            with self._lock:
                self._indexes[workspace_id] = index
        return index

    def _enroll(self, uow: UnitOfWork, workspace_id: int, events: list[Event]) -> None:
        index = self.index(uow, workspace_id)
        if not index.size:
            return
        matched: list[tuple[Event, Entry]] = [
            (event, entry)
            for event in events
            if event.record_id is not None
            for entry in index.candidates(event)
            if matches(entry.definition.trigger, event)
        ]
        if not matched:
            return
        now = uow.clock.now()
        once = {e.automation_id for _, e in matched if not e.definition.trigger.allow_reenrollment}
        enrolled = uow.runs.enrolled_records(
            once, {ev.record_id for ev, _ in matched if ev.record_id is not None}
        )
        values = _ValuesCache(uow, workspace_id)
        runs: list[dict[str, Any]] = []
        skips: list[dict[str, Any]] = []
        skipped: list[Event | None] = []  # the event of each skip the timeline shows
        keys: set[str] = set()
        for event, entry in matched:
            assert event.record_id is not None
            # Date triggers are checked (conditions, re-enrollment) when the date comes.
            dated = entry.definition.trigger.type == "date_reached"
            reason = self.refusal(event, entry, enrolled, values, at_enrollment=not dated)
            if reason is not None:
                skips.append(_skip(workspace_id, event, entry, *reason, now))
                skipped.append(event if reason[0] in _ON_TIMELINE else None)
                continue
            row = (
                arm_date(uow, event, entry) if dated else _run_row(workspace_id, event, entry, now)
            )
            if isinstance(row, str) or row["enrollment_key"] in keys:
                continue  # no date, a past date, or already armed: nothing to wait for
            keys.add(row["enrollment_key"])
            enrolled.add((entry.automation_id, event.record_id))
            runs.append(row)
        uow.runs.add_many(runs)
        uow.runs.add_skips(skips)
        # Appended, not emitted: the timeline shows them; no automation starts on them.
        uow.events.append(
            [_skip_event(s, ev) for s, ev in zip(skips, skipped, strict=True) if ev is not None]
        )
        uow.runs_created += len(runs)

    def refusal(
        self,
        event: Event,
        entry: Entry,
        enrolled: set[tuple[int, int]],
        values: ValuesSource,
        *,
        at_enrollment: bool = True,
    ) -> tuple[str, str] | None:
        """Why ``entry`` does not enroll the record of ``event`` (reason code, words), or
        None when it does. The backtest asks the same question of stored events."""
        actor = event.actor
        if actor.kind is _AUTOMATION and actor.id == entry.automation_id:
            return "own_write", "an automation never re-fires on its own changes"
        if actor.depth >= self.max_depth:
            return "loop_guard", (
                f"the event was caused by a chain of {actor.depth} "
                f"automations; the limit is {self.max_depth}"
            )
        trigger = entry.definition.trigger
        if (
            at_enrollment
            and not trigger.allow_reenrollment
            and (entry.automation_id, event.record_id) in enrolled
        ):
            return "already_enrolled", "this record already ran this automation"
        filter_ = entry.definition.conditions if at_enrollment else None
        if filter_ is not None:
            assert event.record_id is not None
            record_values = values.get(event.record_id)
            if record_values is None:
                return "record_gone", "the record no longer exists"
            trigger_values = {f"trigger.{k}": v for k, v in trigger_info(event).items()}
            values_seen = ChainMap(trigger_values, cast(dict[str, Any], record_values))
            parsed = parsed_filter(filter_)
            if not evaluate(parsed, values_seen):
                return "conditions_not_met", (
                    f"the automation's conditions were not met: {unmet(parsed, values_seen)}"
                )
        return None

    # runs already waiting ----------------------------------------------------------------

    def _touch_waiting_runs(self, uow: UnitOfWork, events: list[Event]) -> None:
        """Cancel stage-bound runs whose record left the stage; wake runs waiting for events.

        Each change is guarded: a run a worker moved on meanwhile (PostgreSQL) is left alone.
        """
        # A record created in this transaction has no waiting run unless one was enrolled in
        # it: then there is nothing to look up (a bulk import writes many such records).
        new = (
            set()
            if uow.runs_created
            else {e.record_id for e in events if e.type is _RECORD_CREATED}
        )
        relevant = [e for e in events if e.record_id is not None and e.record_id not in new]
        if not relevant:
            return
        waiting = uow.runs.waiting_on_records(
            e.record_id for e in relevant if e.record_id is not None
        )
        if not waiting:
            return
        now = uow.clock.now()
        types: dict[int, list[str]] = defaultdict(list)
        stage_now: dict[int, Any] = {}
        deleted: set[int] = set()
        for event in relevant:
            assert event.record_id is not None
            types[event.record_id].append(event.type.value)
            if event.type is _STAGE_CHANGED:
                stage_now[event.record_id] = (event.after or {}).get("stage_id")
            elif event.type is _RECORD_DELETED:
                deleted.add(event.record_id)
        for run in waiting:
            reason = None
            if run.record_id in deleted:
                reason = "the record was deleted"
            elif (
                run.bound_stage_id is not None
                and stage_now.get(run.record_id, run.bound_stage_id) != run.bound_stage_id
            ):
                reason = f"the record left stage {run.bound_stage_id} before this step ran"
            if reason is not None:
                cancelled = self._guarded(
                    uow, run, _still_bound(run.record_id in deleted, stage_now.get(run.record_id)),
                    _cancel_update(reason, now),
                )  # fmt: skip
                if cancelled is not None:
                    uow.runs.add_steps([self._cancel_step(uow, cancelled, reason, now)])
            elif run.wait_event is not None:
                woken_by = next(
                    (t for t in types[run.record_id] if run.wait_event in ("*", t)), None
                )
                if woken_by is not None:
                    self._guarded(
                        uow,
                        run,
                        _still_waiting_for(run.wait_event),
                        {"wake_at": now, "resume_event": woken_by, "updated_at": now},
                    )

    @staticmethod
    def _guarded(
        uow: UnitOfWork, run: Any, still: Callable[[Any], bool], values: dict[str, Any]
    ) -> Any | None:
        """Change a waiting run only as it was read. On PostgreSQL a worker may have had it
        locked: the update then waited for that worker, and if the worker moved the run on to
        another wait to which the change still applies (``still``), it is made to that.
        Returns the run as changed, or None when there was nothing left to change."""
        for _ in range(_GUARD_ATTEMPTS):
            if uow.runs.update_if_unchanged(run.id, run.updated_at, values):
                return run
            run = uow.runs.waiting_run(run.id)
            if run is None or not still(run):
                return None
        return None

    def _cancel_step(
        self,
        uow: UnitOfWork,
        run: Any,
        reason: str,
        now: datetime,
    ) -> dict[str, Any]:
        state = RunState.from_json(run.state)
        graph = self.versions.get(uow, run.version_id).graph
        cursor = state.cursor or "start"
        started = datetime.fromisoformat(state.entered_at) if state.entered_at else now
        # Its own key: the step may already have a row from a failed attempt.
        return {
            "run_id": run.id,
            "step_id": cursor,
            "iteration": graph.iteration_key(cursor, state.loops) + "#cancelled",
            "type": "cancel",
            "status": "cancelled",
            "attempts": 1,
            "input": None,
            "output": {"reason": reason},
            "error": None,
            "started_at": started,
            "finished_at": now,
        }


class ValuesSource(Protocol):
    """Where the enrollment check reads a record's values for conditions."""

    def get(self, record_id: int) -> Mapping[str, Any] | None: ...


class _ValuesCache:
    """Record values for conditions, loaded once per record per commit."""

    def __init__(self, uow: UnitOfWork, workspace_id: int) -> None:
        self.uow, self.workspace_id = uow, workspace_id
        self._cache: dict[int, RecordValues | None] = {}

    def get(self, record_id: int) -> RecordValues | None:
        if record_id not in self._cache:
            record = self.uow.records.get(self.workspace_id, record_id)
            self._cache[record_id] = RecordValues(self.uow, record) if record else None
        return self._cache[record_id]


def trigger_info(event: Event) -> dict[str, Any]:
    before, after = event.before or {}, event.after or {}
    info: dict[str, Any] = {
        "event_id": event.id,
        "event_type": event.type.value,
        "from_stage_id": before.get("stage_id"),
        "to_stage_id": after.get("stage_id"),
        **event.data,
    }
    if event.type is _FIELD_CHANGED:
        name = str(event.data.get("field"))
        info.update(old_value=before.get(name), new_value=after.get(name))
    return info


def _run_row(workspace_id: int, event: Event, entry: Entry, now: datetime) -> dict[str, Any]:
    definition = entry.definition
    state = RunState(
        cursor=entry.graph.first, variables=dict(definition.variables), trigger=trigger_info(event)
    )
    key = f"{entry.version_id}:{event.record_id}:{event.id}"
    return new_run(
        workspace_id,
        entry.automation_id,
        entry.version_id,
        event.record_id,
        key,
        state,
        now,
        now,
        event_id=event.id,
        depth=event.actor.depth,
        bound_stage_id=bound_stage(definition, event),
    )


def bound_stage(definition: Definition, event: Event) -> int | None:
    trigger: Any = definition.trigger
    default = trigger.type == "stage_entered" and trigger.stage_id is not None
    bound = definition.stage_bound if definition.stage_bound is not None else default
    if not bound:
        return None
    stage: int | None = (event.after or {}).get("stage_id")
    return stage


def _skip(
    workspace_id: int, event: Event, entry: Entry, reason: str, detail: str, now: datetime
) -> dict[str, Any]:
    return {
        "workspace_id": workspace_id,
        "automation_id": entry.automation_id,
        "version_id": entry.version_id,
        "record_id": event.record_id,
        "event_id": event.id,
        "event_type": event.type.value,
        "reason": reason,
        "detail": detail,
        "created_at": now,
    }


# Every reason code ``refusal`` gives (services/engine/skip_reasons.py words each one).
SKIP_REASONS = frozenset(
    {"own_write", "loop_guard", "already_enrolled", "record_gone", "conditions_not_met"}
)

# Why-nothing-ran answers the record's timeline shows: the record's state (conditions, e.g. a
# lead locked after a manual move) or the loop guard. An automation's own write and a second
# match of a run-once trigger are not news about the record.
_ON_TIMELINE = frozenset({"conditions_not_met", "loop_guard"})


def _skip_event(skip: dict[str, Any], cause: Event) -> Event:
    return Event(
        EventType.AUTOMATION_SKIPPED,
        skip["workspace_id"],
        Actor.system(),
        skip["created_at"],
        record_id=skip["record_id"],
        object_type=cause.object_type,
        data={
            "automation_id": skip["automation_id"],
            "version_id": skip["version_id"],
            "reason": skip["reason"],
            "detail": skip["detail"],
            "trigger_event_id": skip["event_id"],
            "trigger_event_type": skip["event_type"],
        },
    )


def _cancel_update(reason: str, now: datetime) -> dict[str, Any]:
    return {
        "status": "cancelled",
        "wake_at": None,
        "error": reason,
        "updated_at": now,
        "finished_at": now,
    }

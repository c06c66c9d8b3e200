"""Backtest a draft: replay the workspace's stored events of the last N days against an
automation's definition and say what it would have done — which records it would have
enrolled, which it would have skipped and why, and each run's steps — without executing or
sending anything.

The real matcher, enrollment checks and interpreter do the work; only the world differs:
a ``DryPort`` lists actions instead of performing them, resolves delays in virtual time, and
shows conditions the record *as it was then*, rebuilt from today's record by undoing the
changes its events recorded since. What events do not record (an associated contact's or
company's values, the owner's name) is read as it is today.
"""

from __future__ import annotations

import bisect
import re
from collections import ChainMap, Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, cast

from stageflow.adapters.db.repositories.events import StoredEvent
from stageflow.automation import calendar as cal
from stageflow.automation.definitions import ActionStep, Definition, DelayStep
from stageflow.automation.durations import parse_duration
from stageflow.automation.graph import Graph, compile_graph
from stageflow.automation.interpreter import (
    Outcome,
    RecordGone,
    RunState,
    StepResult,
    advance,
)
from stageflow.automation.matching import Entry, TriggerIndex, date_value, matches
from stageflow.automation.templates import TemplateProblem, render
from stageflow.domain.errors import NotFound, ValidationFailed
from stageflow.domain.events import Event, EventType
from stageflow.domain.records import Record
from stageflow.domain.users import Permission, Principal
from stageflow.services.authoring.automation_checks import check_definition
from stageflow.services.authoring.automations import get_automation
from stageflow.services.context import flat_values, record_dict, related
from stageflow.services.engine.enrollment import Enroller, VersionCache, bound_stage, trigger_info
from stageflow.services.engine.timers import workspace_calendar
from stageflow.services.unit_of_work import UnitOfWork

MAX_DAYS = 366
DETAIL_LIMIT = 200  # runs listed step by step; every run is counted
_MAX_ADVANCES = 200  # resumptions simulated per run (delays, waits, long loops)
_PAGE = 5000
_MAX_STEPS_SHOWN = 200  # per run listed

_RECORD_CREATED = EventType.RECORD_CREATED
_FIELD_CHANGED = EventType.FIELD_CHANGED
_STAGE_CHANGED = EventType.STAGE_CHANGED
_LIFECYCLE_CHANGED = EventType.LIFECYCLE_CHANGED
_RECORD_DELETED = EventType.RECORD_DELETED


@dataclass
class Step:
    step_id: str
    type: str
    status: str
    at: datetime
    future: bool  # after "now": what the run would still do
    action: str | None = None
    settings: dict[str, Any] | None = None
    output: dict[str, Any] | None = None
    error: str | None = None


@dataclass
class SimulatedRun:
    record_id: int
    record_name: str
    object_type: str | None
    event_id: int | None
    event_type: str
    started_at: datetime
    status: str  # completed, waiting (still, at now), cancelled, failed
    waiting_until: datetime | None
    error: str | None
    steps: list[Step]


@dataclass
class Report:
    automation_id: int
    automation_name: str
    definition_source: str  # "draft", "given"
    since: datetime
    until: datetime
    events_read: int = 0
    matched: int = 0
    enrolled: int = 0
    skipped: Counter[str] = field(default_factory=Counter)  # reason code -> count
    skip_details: Counter[tuple[str, str]] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    actions: Counter[str] = field(default_factory=Counter)  # action -> times
    action_runs: Counter[str] = field(default_factory=Counter)  # action -> runs doing it
    runs: list[SimulatedRun] = field(default_factory=list)
    truncated: bool = False
    object_types: Counter[str] = field(default_factory=Counter)

    def summary(self) -> list[str]:
        """The outcome in sentences ("Would have enrolled 412 deals", …)."""
        kinds = ", ".join(
            f"{n} {_plural(kind, n)}" for kind, n in sorted(self.object_types.items())
        )
        lines = [
            f"Would have enrolled {kinds or '0 records'} "
            f"({self.matched} trigger matches in {self.events_read} events)."
        ]
        for (reason, detail), n in self.skip_details.most_common(10):
            lines.append(f"{n} skipped: {detail or reason.replace('_', ' ')}.")
        for action, runs in self.action_runs.most_common():
            times = self.actions[action]
            what = action.replace("_", " ")
            lines.append(
                f"{runs} {'run' if runs == 1 else 'runs'} would {what}"
                + (f" ({times} times in all)." if times != runs else ".")
            )
        for status in ("waiting", "failed", "cancelled"):
            if self.outcomes[status]:
                lines.append(f"{self.outcomes[status]} would be {_STATUS_WORDS[status]}.")
        return lines


_STATUS_WORDS = {
    "waiting": "still waiting now",
    "failed": "failed",
    "cancelled": "cancelled",
}


def _plural(object_type: str, n: int) -> str:
    if n == 1:
        return object_type
    return "companies" if object_type == "company" else f"{object_type}s"


def backtest(
    uow: UnitOfWork,
    principal: Principal,
    automation_id: int,
    *,
    days: int = 30,
    definition: dict[str, Any] | None = None,
    detail_limit: int = DETAIL_LIMIT,
) -> Report:
    """What the automation's draft (or ``definition``) would have done over the last
    ``days`` days of stored events. Reads only; nothing is written, executed or sent."""
    principal.require(Permission.AUTOMATIONS_EDIT)
    if not 1 <= days <= MAX_DAYS:
        raise ValidationFailed(f"days must be between 1 and {MAX_DAYS}", field="days")
    row = get_automation(uow, principal, automation_id)
    if row is None:  # pragma: no cover - get_automation raises
        raise NotFound(f"automation {automation_id} not found")
    raw = definition if definition is not None else row.draft
    checked = check_definition(uow, principal.workspace_id, raw)
    now = uow.clock.now()
    report = Report(
        automation_id=automation_id,
        automation_name=row.name,
        definition_source="given" if definition is not None else "draft",
        since=now - timedelta(days=days),
        until=now,
    )
    _Replay(uow, principal.workspace_id, automation_id, checked, report, detail_limit).run()
    return report


class _Replay:
    def __init__(
        self,
        uow: UnitOfWork,
        workspace_id: int,
        automation_id: int,
        definition: Definition,
        report: Report,
        detail_limit: int,
    ) -> None:
        self.uow, self.workspace_id, self.report = uow, workspace_id, report
        self.detail_limit = detail_limit
        self.now = report.until
        graph = compile_graph(definition)
        # A version id of 0: the draft has none; nothing is written under it.
        self.entry = Entry(automation_id, 0, definition, graph)
        self.index = TriggerIndex.build(0, [self.entry])
        self.calendar = workspace_calendar(uow, workspace_id)
        self.history = _History(uow)

    def run(self) -> None:
        matched: list[Event] = []
        uow, report = self.uow, self.report
        after_id = uow.events.first_id_since(report.since)
        while True:
            page = uow.events.since(self.workspace_id, report.since, after_id=after_id, limit=_PAGE)
            if not page:
                break
            after_id = page[-1].id or after_id
            for stored in page:
                report.events_read += 1
                if stored.record_id is None:
                    continue
                self.history.add(stored)
                if stored.type.value not in self.index.entries:
                    continue  # no trigger listens to this type: its JSON is never read
                event = stored.event()
                if any(
                    matches(entry.definition.trigger, event)
                    for entry in self.index.candidates(event)
                ):
                    matched.append(event)
        report.matched = len(matched)
        if not matched:
            return
        wanted = {e.record_id for e in matched if e.record_id is not None}
        records = uow.records.get_many(self.workspace_id, wanted)
        self.history.load_today(records)
        enrolled: set[tuple[int, int]] = set()
        checker = Enroller(VersionCache())
        for event in matched:
            assert event.record_id is not None
            self._enroll(checker, event, enrolled)

    # one trigger match -------------------------------------------------------------------

    def _enroll(self, checker: Enroller, event: Event, enrolled: set[tuple[int, int]]) -> None:
        report, entry = self.report, self.entry
        assert event.record_id is not None and event.id is not None
        trigger: Any = entry.definition.trigger
        start = event.occurred_at
        dated = trigger.type == "date_reached"
        if dated:
            moment = cal.until_field(
                date_value(trigger, event), trigger.offset, self.calendar, trigger.at_time
            )
            if moment is None or moment < event.occurred_at:
                return  # no date, or one already past: the engine arms nothing either
            start = moment
        values = _AsOf(self, event.record_id, event.id if not dated else None, start)
        reason = checker.refusal(event, entry, enrolled, values)
        if reason is not None:
            code, detail = reason
            report.skipped[code] += 1
            report.skip_details[(code, _grouped(detail))] += 1
            return
        enrolled.add((entry.automation_id, event.record_id))
        report.enrolled += 1
        report.object_types[event.object_type or "record"] += 1
        self._simulate(event, start)

    def _simulate(self, event: Event, start: datetime) -> None:
        report = self.report
        assert event.record_id is not None
        definition, graph = self.entry.definition, self.entry.graph
        state = RunState(
            cursor=graph.first,
            variables=dict(definition.variables),
            trigger=trigger_info(event),
        )
        port = DryPort(self, event.record_id, start, state)
        bound = bound_stage(definition, event)
        outcome: Outcome = Outcome(status="completed")
        woken_by: str | None = None
        still_waiting_at: datetime | None = None  # the first wake after now
        for _ in range(_MAX_ADVANCES):
            outcome = advance(graph, state, port, event=woken_by)
            if outcome.status != "waiting":
                break
            resume = self._resume(port, event.record_id, outcome, bound)
            if resume is None:
                break
            at, woken_by, cancelled = resume
            if cancelled is not None:
                outcome = Outcome(status="cancelled", error=cancelled)
                port.steps.append(
                    Step("cancel", "cancel", "cancelled", at, at > self.now, error=cancelled)
                )
                break
            if at > self.now and still_waiting_at is None:
                still_waiting_at = at
            port.moment = at
        status = outcome.status
        if status == "waiting" and outcome.wake_at is not None and still_waiting_at is None:
            still_waiting_at = outcome.wake_at
        if still_waiting_at is not None and status in ("completed", "waiting"):
            status = "waiting"  # at "now" it would be waiting; later steps are listed ahead
        report.outcomes[status] += 1
        for action, times in Counter(s.action for s in port.steps if s.action).items():
            assert action is not None
            report.actions[action] += times
            report.action_runs[action] += 1
        if len(report.runs) >= self.detail_limit:
            report.truncated = True
            return
        record = self.history.today.get(event.record_id)
        report.runs.append(
            SimulatedRun(
                record_id=event.record_id,
                record_name=self.history.name(event.record_id, record),
                object_type=event.object_type,
                event_id=event.id,
                event_type=event.type.value,
                started_at=start,
                status=status,
                waiting_until=still_waiting_at,
                error=outcome.error,
                steps=port.steps[:_MAX_STEPS_SHOWN],
            )
        )

    def _resume(
        self, port: DryPort, record_id: int, outcome: Outcome, bound: int | None
    ) -> tuple[datetime, str | None, str | None] | None:
        """When and why a waiting run would go on: (time, event that woke it, cancel
        reason); None when it would still be waiting now, as far as the events tell."""
        since = port.moment
        wake = outcome.wake_at or since
        if bound is not None:
            left = self.history.left_stage(record_id, bound, since, min(wake, self.now))
            if left is not None:
                return left, None, "the record left the stage before this step ran"
        if outcome.wait_event is not None or port.waiting_on_condition():
            wanted = outcome.wait_event or "*"
            for moment, event_type in self.history.after(record_id, since, min(wake, self.now)):
                if wanted in ("*", event_type):
                    return moment, event_type, None
        if wake > self.now and (outcome.wait_event is not None or port.waiting_on_condition()):
            return None  # no event in the stored history; it would still wait
        return wake, None, None


_duration = lru_cache(maxsize=256)(parse_duration)
_CONDITIONS_PREFIX = "the automation's conditions were not met: "
_VALUE_SEEN = re.compile(r" \(it (is|was) [^()]*\)$")


def _grouped(detail: str) -> str:
    """Skips counted together: the condition that failed, without the value seen."""
    return _VALUE_SEEN.sub("", detail.removeprefix(_CONDITIONS_PREFIX))


class _History:
    """The replayed events of each record, and each record's values rebuilt for a moment."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.events: dict[int, list[StoredEvent]] = defaultdict(list)
        self.times: dict[int, list[datetime]] = defaultdict(list)
        self.today: dict[int, Record] = {}
        self.created: dict[int, StoredEvent] = {}
        self.deleted: dict[int, StoredEvent] = {}
        self._related: dict[int, dict[str, Any]] = {}

    def add(self, event: StoredEvent) -> None:
        assert event.record_id is not None
        self.events[event.record_id].append(event)
        self.times[event.record_id].append(event.occurred_at)
        if event.type is _RECORD_CREATED:
            self.created[event.record_id] = event
        elif event.type is _RECORD_DELETED:
            self.deleted[event.record_id] = event

    def load_today(self, records: dict[int, Record]) -> None:
        self.today = records

    def related(self, record_id: int) -> dict[str, Any]:
        """Today's contact, company and owner values of a record (``contact.email``…),
        loaded the first time a condition or template asks for one."""
        values = self._related.get(record_id)
        if values is None:
            values = {}
            record = self.today.get(record_id)
            if record is not None:
                base = record_dict(self.uow, record)
                flat = flat_values(base, related(self.uow, record, base["associations"]))
                values = {k: v for k, v in flat.items() if "." in k}
            self._related[record_id] = values
        return values

    def name(self, record_id: int, record: Record | None) -> str:
        if record is not None:
            return record.name
        for source in (self.deleted.get(record_id), self.created.get(record_id)):
            snapshot = (source.before or source.after or {}) if source else {}
            if snapshot.get("name"):
                return str(snapshot["name"])
        return f"record {record_id}"

    def values_at(
        self, record_id: int, event_id: int | None, moment: datetime
    ) -> Mapping[str, Any] | None:
        """The record's own values just after event ``event_id`` (or at ``moment``), flat as
        conditions read them; None when it did not exist then."""
        events = self.events.get(record_id, [])
        record = self.today.get(record_id)
        if record is not None:
            values = record_dict(self.uow, record, associations=False)
            start = len(events)
        elif record_id in self.deleted:
            values = _flat_snapshot(self.deleted[record_id].before or {})
            start = events.index(self.deleted[record_id])
        else:
            return None
        for later in reversed(events[:start]):
            if event_id is not None:
                if (later.id or 0) <= event_id:
                    break
            elif later.occurred_at <= moment:
                break
            if later.type is _RECORD_CREATED:
                return None
            _undo(values, later)
        return _Values(values, lambda: self.related(record_id))

    def left_stage(
        self, record_id: int, stage_id: int, since: datetime, until: datetime
    ) -> datetime | None:
        for moment, event in self._between(record_id, since, until):
            if event.type is _STAGE_CHANGED and (event.after or {}).get("stage_id") != stage_id:
                return moment
            if event.type is _RECORD_DELETED:
                return moment
        return None

    def after(
        self, record_id: int, since: datetime, until: datetime
    ) -> Iterator[tuple[datetime, str]]:
        for moment, event in self._between(record_id, since, until):
            yield moment, event.type.value

    def _between(
        self, record_id: int, since: datetime, until: datetime
    ) -> Iterator[tuple[datetime, StoredEvent]]:
        times = self.times.get(record_id, [])
        first = bisect.bisect_right(times, since)
        for event in self.events.get(record_id, [])[first:]:
            if event.occurred_at > until:
                return
            yield event.occurred_at, event


class _Values(Mapping[str, Any]):
    """A record's own values; its contact's, company's and owner's (``contact.email``) are
    loaded only when asked for."""

    def __init__(self, own: dict[str, Any], load_related: Callable[[], dict[str, Any]]):
        self.own, self._load_related = own, load_related

    def __getitem__(self, key: str) -> Any:
        if key in self.own:
            return self.own[key]
        if key.startswith(("contact.", "company.", "owner.")):
            return self._load_related()[key]
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter({**self.own, **self._load_related()})

    def __len__(self) -> int:
        return len({**self.own, **self._load_related()})


def _flat_snapshot(snapshot: Mapping[str, Any]) -> dict[str, Any]:
    values = {k: v for k, v in snapshot.items() if k != "fields"}
    values.update(snapshot.get("fields") or {})
    return values


def _undo(values: dict[str, Any], event: StoredEvent) -> None:
    """Put back what ``event`` changed, from its ``before``."""
    before = event.before or {}
    if event.type is _FIELD_CHANGED:
        name = str(event.data.get("field"))
        old = before.get(name)
        if old is None:
            values.pop(name, None)
        else:
            values[name] = old
    elif event.type is _STAGE_CHANGED:
        values["pipeline_id"] = before.get("pipeline_id")
        values["stage_id"] = before.get("stage_id")
    elif event.type is _LIFECYCLE_CHANGED:
        values["lifecycle_stage_id"] = before.get("lifecycle_stage_id")


class _AsOf:
    """A record's values at a moment, for the enrollment check (``Enroller.refusal`` reads
    them through ``get(record_id)``)."""

    def __init__(self, replay: _Replay, record_id: int, event_id: int | None, at: datetime):
        self._values = replay.history.values_at(record_id, event_id, min(at, replay.now))

    def get(self, record_id: int) -> Mapping[str, Any] | None:
        return self._values


class DryPort:
    """The interpreter's world during a backtest: actions are listed, not performed; time is
    the run's own virtual time; the record is as it was then."""

    def __init__(self, replay: _Replay, record_id: int, start: datetime, state: RunState):
        self.replay, self.record_id, self.moment, self.state = replay, record_id, start, state
        self.steps: list[Step] = []
        self._changes: dict[str, Any] = {}  # what the run's own set_field steps would set

    def now(self) -> datetime:
        return self.moment

    def values(self) -> Mapping[str, Any]:
        values = self.replay.history.values_at(
            self.record_id, None, min(self.moment, self.replay.now)
        )
        if values is None:
            raise RecordGone()
        return ChainMap(self._changes, cast(dict[str, Any], values))

    def perform(
        self, step: ActionStep, iteration: str, variables: dict[str, Any]
    ) -> dict[str, Any]:
        if step.channels:
            source = self.values().get("source")
            if source not in step.channels:
                return {
                    "skipped": f"the record came through {source or 'no channel'}; this "
                    f"action is for {', '.join(step.channels)}"
                }
        if step.action == "set_field":
            for key, value in (step.settings.get("fields") or {}).items():
                self._changes[key] = value
        elif step.action == "move_stage" and step.settings.get("stage_id") is not None:
            self._changes["stage_id"] = step.settings["stage_id"]
        return {"would_run": step.action}

    def delay_until(self, step: DelayStep, now: datetime) -> datetime:
        calendar = self.replay.calendar
        if step.duration is not None:
            duration = _duration(step.duration)
            if step.business_hours:
                return cal.add_business_time(now, duration, calendar)
            return cal.add_duration(now, duration, calendar)
        if step.at is not None:
            return cal.at_time(step.at, now, calendar)
        assert step.until_field is not None
        moment = cal.until_field(self.values().get(step.until_field), step.offset, calendar)
        return moment if moment is not None else now

    def render(self, template: str, variables: dict[str, Any]) -> str:
        values = self.values()
        context: dict[str, Any] = {
            "vars": variables,
            "now": self.moment.isoformat(),
            "trigger": self.state.trigger,
            "record": {k: v for k, v in values.items() if "." not in k},
        }
        for prefix in ("contact", "company", "owner"):
            context[prefix] = {
                k.split(".", 1)[1]: v for k, v in values.items() if k.startswith(prefix + ".")
            }
        try:
            return render(template, context)
        except TemplateProblem as exc:
            return f"(would fail: {exc})"

    def record(self, result: StepResult) -> None:
        graph: Graph = self.replay.entry.graph
        step: Any = graph.steps.get(result.step_id)
        action = step.action if isinstance(step, ActionStep) else None
        if result.output and "skipped" in result.output:
            action = None
        self.steps.append(
            Step(
                step_id=result.step_id,
                type=result.type,
                status=result.status,
                at=result.started_at,
                future=result.started_at > self.replay.now,
                action=action,
                settings=step.settings if isinstance(step, ActionStep) else None,
                output=result.output,
                error=result.error,
            )
        )

    def waiting_on_condition(self) -> bool:
        cursor = self.state.cursor
        step: Any = self.replay.entry.graph.steps.get(cursor) if cursor else None
        return bool(step is not None and step.type == "wait_until" and step.event is None)

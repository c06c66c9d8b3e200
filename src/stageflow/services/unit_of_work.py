"""The unit of work: one transaction for a change **and** its events (DESIGN "Events")."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

from sqlalchemy import Connection, Engine, RootTransaction

from stageflow.adapters.db import tables as t
from stageflow.adapters.db.engine import READ_ONLY, FairLock, write_lock
from stageflow.adapters.db.repositories.activities import ActivityRepository
from stageflow.adapters.db.repositories.automations import AutomationRepository, RunRepository
from stageflow.adapters.db.repositories.conversations import ConversationRepository
from stageflow.adapters.db.repositories.events import EventRepository
from stageflow.adapters.db.repositories.imports import ImportJobRepository
from stageflow.adapters.db.repositories.lifecycle import LifecycleRepository
from stageflow.adapters.db.repositories.notifications import NotificationRepository
from stageflow.adapters.db.repositories.opportunity_types import OpportunityTypeRepository
from stageflow.adapters.db.repositories.outbox import OutboxRepository
from stageflow.adapters.db.repositories.pipelines import (
    FieldRepository,
    PicklistRepository,
    PipelineRepository,
)
from stageflow.adapters.db.repositories.records import RecordRepository
from stageflow.adapters.db.repositories.reports import ReportRepository
from stageflow.adapters.db.repositories.rules import RuleRepository
from stageflow.adapters.db.repositories.segments import SegmentRepository
from stageflow.adapters.db.repositories.templates import TemplateRepository
from stageflow.adapters.db.repositories.workspaces import (
    TokenRepository,
    UserRepository,
    WorkspaceRepository,
)
from stageflow.domain.clock import Clock
from stageflow.domain.events import Actor, Event, EventType
from stageflow.domain.lifecycle import Tally

T = TypeVar("T")


# Enum members read per event or per row, as module constants: on Python 3.11 reading a
# member through its class runs EnumType.__getattr__'s slow path (~1.5k instructions).
_LIFECYCLE_CHANGED = EventType.LIFECYCLE_CHANGED


class CommitHook(Protocol):
    """Runs inside the transaction, after events are written (enrollment, DESIGN "Events")."""

    def before_commit(self, uow: UnitOfWork, events: list[Event]) -> None: ...

    def after_commit(self, uow: UnitOfWork) -> None: ...


class UnitOfWork:
    """``with uow:`` opens a transaction; ``commit()`` writes pending events, then commits.

    Leaving the block without ``commit()`` rolls back: the change and its events are lost
    together.
    """

    workspaces: WorkspaceRepository
    users: UserRepository
    tokens: TokenRepository
    pipelines: PipelineRepository
    picklists: PicklistRepository
    fields: FieldRepository
    records: RecordRepository
    activities: ActivityRepository
    events: EventRepository
    automations: AutomationRepository
    runs: RunRepository
    lifecycle: LifecycleRepository
    conversations: ConversationRepository
    segments: SegmentRepository
    imports: ImportJobRepository
    outbox: OutboxRepository
    email_templates: TemplateRepository
    report_templates: TemplateRepository
    notifications: NotificationRepository
    reports: ReportRepository
    rules: RuleRepository
    opportunity_types: OpportunityTypeRepository

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        *,
        read_only: bool = False,
        hook: CommitHook | None = None,
        memoize: bool = False,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.read_only = read_only
        self.hook = hook
        self.memoize = memoize
        self._lock: FairLock | None = None
        self._memo: dict[Hashable, Any] = {}
        self.runs_created = 0
        self._pending: list[Event] = []
        self._counts: list[tuple[int, int, Tally]] = []
        self._conn: Connection | None = None
        self._tx: RootTransaction | None = None

    @property
    def connection(self) -> Connection:
        if self._conn is None:
            raise RuntimeError("the unit of work is not open")
        return self._conn

    def __enter__(self) -> Self:
        self._lock = None if self.read_only else write_lock(self.engine)
        if self._lock is not None:
            self._lock.__enter__()
        try:
            return self._open()
        except BaseException:
            self._release()
            raise

    def _release(self) -> None:
        if self._lock is not None:
            lock, self._lock = self._lock, None
            lock.__exit__()

    def _open(self) -> Self:
        conn = self.engine.connect()
        if self.read_only:
            conn = conn.execution_options(**{READ_ONLY: True})
        self._conn = conn
        self._tx = conn.begin()
        self._pending = []
        self._counts = []
        self.workspaces = WorkspaceRepository(conn)
        self.users = UserRepository(conn)
        self.tokens = TokenRepository(conn)
        self.pipelines = PipelineRepository(conn)
        self.picklists = PicklistRepository(conn)
        self.fields = FieldRepository(conn)
        self.records = RecordRepository(conn, identity_map=self.memoize)
        self.activities = ActivityRepository(conn)
        self.events = EventRepository(conn)
        self.automations = AutomationRepository(conn)
        self.runs = RunRepository(conn)
        self.lifecycle = LifecycleRepository(conn)
        self.conversations = ConversationRepository(conn)
        self.segments = SegmentRepository(conn)
        self.imports = ImportJobRepository(conn)
        self.outbox = OutboxRepository(conn)
        self.email_templates = TemplateRepository(conn, t.email_templates)
        self.report_templates = TemplateRepository(conn, t.report_templates)
        self.notifications = NotificationRepository(conn)
        self.reports = ReportRepository(conn)
        self.rules = RuleRepository(conn)
        self.opportunity_types = OpportunityTypeRepository(conn)
        self.runs_created = 0
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._tx is not None and self._tx.is_active:
                self._tx.rollback()
        finally:
            if self._conn is not None:
                self._conn.close()
            self._conn = None
            self._tx = None
            self._pending = []
            self._counts = []
            self._release()

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested transaction: on error, the writes **and** the events queued inside it are
        undone, and the error propagates."""
        mark, counted = len(self._pending), len(self._counts)
        self.records.flush()
        with self.connection.begin_nested():
            try:
                yield
                self.records.flush()  # inside: a conflict belongs to this savepoint's writes
            except BaseException:
                del self._pending[mark:]
                del self._counts[counted:]
                self.records.forget()
                raise

    def memo(self, key: Hashable, compute: Callable[[], T]) -> T:
        """Workspace configuration read once per transaction when memoizing (the worker's
        batches, which never change configuration); computed every time otherwise."""
        if not self.memoize:
            return compute()
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]  # type: ignore[no-any-return]

    def emit(self, events: list[Event]) -> None:
        """Queue events to be written with this transaction; empties the given list."""
        self._pending.extend(events)
        events.clear()

    def emit_config(self, workspace_id: int, actor: Actor, type_: EventType, **data: Any) -> None:
        """Queue a workspace-level configuration event (no record: a pipeline, a stage, a
        segment changed)."""
        self.emit([Event(type_, workspace_id, actor, self.clock.now(), data=data)])

    def count(self, workspace_id: int, stage_id: int | None, tally: Tally) -> None:
        """Change the dashboard's live counts of a lifecycle stage (None: no stage) with this
        transaction."""
        self._counts.append((workspace_id, stage_id or 0, tally))

    def commit(self) -> None:
        if self._tx is None:
            raise RuntimeError("the unit of work is not open")
        self.records.flush()
        if self._pending:
            events, self._pending = self._pending, []
            self.events.append(events)
            self._transitions(events)
            if self.hook is not None:
                self.hook.before_commit(self, events)
        self._apply_counts()
        self._tx.commit()
        if self.hook is not None:
            self.hook.after_commit(self)

    def _transitions(self, events: list[Event]) -> None:
        """Contacts' lifecycle changes counted per instant and stage pair, for the
        dashboard."""
        changes: dict[tuple[int, datetime, int, int], int] = {}
        for e in events:
            if e.type is _LIFECYCLE_CHANGED and e.object_type == "contact":
                key = (
                    e.workspace_id,
                    e.occurred_at,
                    e.data["from_stage_id"] or 0,
                    e.data["to_stage_id"] or 0,
                )
                changes[key] = changes.get(key, 0) + 1
        self.lifecycle.add_changes(changes)

    def _apply_counts(self) -> None:
        """Last, so that PostgreSQL holds the counter rows' locks only while committing."""
        if not self._counts:
            return
        by_workspace: dict[int, dict[int, Tally]] = {}
        for workspace_id, stage_id, tally in self._counts:
            deltas = by_workspace.setdefault(workspace_id, {})
            deltas[stage_id] = deltas.get(stage_id, Tally()) + tally
        self._counts = []
        for workspace_id in sorted(by_workspace):
            self.lifecycle.add_counts(workspace_id, by_workspace[workspace_id])

    def rollback(self) -> None:
        if self._tx is not None and self._tx.is_active:
            self._tx.rollback()
        self._pending = []
        self._counts = []

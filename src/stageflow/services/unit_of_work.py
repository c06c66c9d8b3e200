"""The unit of work: one transaction for a change **and** its events (DESIGN "Events")."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy import Connection, Engine, RootTransaction

from stageflow.adapters.db.engine import READ_ONLY
from stageflow.adapters.db.repositories.activities import ActivityRepository
from stageflow.adapters.db.repositories.events import EventRepository
from stageflow.adapters.db.repositories.pipelines import (
    FieldRepository,
    PicklistRepository,
    PipelineRepository,
)
from stageflow.adapters.db.repositories.records import RecordRepository
from stageflow.adapters.db.repositories.workspaces import (
    TokenRepository,
    UserRepository,
    WorkspaceRepository,
)
from stageflow.domain.clock import Clock
from stageflow.domain.events import Event


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

    def __init__(self, engine: Engine, clock: Clock, *, read_only: bool = False) -> None:
        self.engine = engine
        self.clock = clock
        self.read_only = read_only
        self._pending: list[Event] = []
        self._conn: Connection | None = None
        self._tx: RootTransaction | None = None

    @property
    def connection(self) -> Connection:
        if self._conn is None:
            raise RuntimeError("the unit of work is not open")
        return self._conn

    def __enter__(self) -> Self:
        conn = self.engine.connect()
        if self.read_only:
            conn = conn.execution_options(**{READ_ONLY: True})
        self._conn = conn
        self._tx = conn.begin()
        self._pending = []
        self.workspaces = WorkspaceRepository(conn)
        self.users = UserRepository(conn)
        self.tokens = TokenRepository(conn)
        self.pipelines = PipelineRepository(conn)
        self.picklists = PicklistRepository(conn)
        self.fields = FieldRepository(conn)
        self.records = RecordRepository(conn)
        self.activities = ActivityRepository(conn)
        self.events = EventRepository(conn)
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

    def emit(self, events: list[Event]) -> None:
        """Queue events to be written with this transaction; empties the given list."""
        self._pending.extend(events)
        events.clear()

    def commit(self) -> None:
        if self._tx is None:
            raise RuntimeError("the unit of work is not open")
        if self._pending:
            self.events.append(self._pending)
            self._pending = []
        self._tx.commit()

    def rollback(self) -> None:
        if self._tx is not None and self._tx.is_active:
            self._tx.rollback()
        self._pending = []

"""The composition root: settings, database, clock, enrollment and workers in one place."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine

from stageflow.adapters.db.engine import make_engine
from stageflow.config import Settings
from stageflow.domain.clock import Clock, SystemClock, VirtualClock
from stageflow.services.enrollment import Enroller, VersionCache
from stageflow.services.unit_of_work import UnitOfWork
from stageflow.services.worker import Worker


@dataclass
class App:
    """Everything the entrypoints need, built once per process."""

    settings: Settings
    engine: Engine
    clock: Clock
    enroller: Enroller = field(default_factory=lambda: Enroller(VersionCache()))

    def uow(self, *, read_only: bool = False) -> UnitOfWork:
        """A unit of work whose commits enroll records into matching automations."""
        return UnitOfWork(
            self.engine, self.clock, read_only=read_only, hook=None if read_only else self.enroller
        )

    def worker(self, *, batch_size: int | None = None, name: str = "worker") -> Worker:
        return Worker(
            self.engine,
            self.clock,
            self.enroller,
            name=name,
            **({"batch_size": batch_size} if batch_size else {}),
        )

    def close(self) -> None:
        self.engine.dispose()


def bootstrap(
    settings: Settings | None = None, *, clock: Clock | None = None, migrate: bool = False
) -> App:
    """Build the application; ``migrate`` applies Alembic migrations first."""
    settings = settings or Settings()
    url = settings.resolved_database_url()
    if migrate:
        from stageflow.adapters.db.migrate import upgrade

        upgrade(url)
    if clock is None:
        clock = VirtualClock() if settings.virtual_clock else SystemClock()
    return App(settings=settings, engine=make_engine(url), clock=clock)

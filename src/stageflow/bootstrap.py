"""The composition root: settings, database, clock and unit-of-work factory in one place."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine

from stageflow.adapters.db.engine import make_engine
from stageflow.config import Settings
from stageflow.domain.clock import Clock, SystemClock, VirtualClock
from stageflow.services.unit_of_work import UnitOfWork


@dataclass
class App:
    """Everything the entrypoints need, built once."""

    settings: Settings
    engine: Engine
    clock: Clock
    uow_factory: Callable[..., UnitOfWork] = field(init=False)

    def __post_init__(self) -> None:
        self.uow_factory = lambda read_only=False: UnitOfWork(
            self.engine, self.clock, read_only=read_only
        )

    def uow(self, *, read_only: bool = False) -> UnitOfWork:
        return self.uow_factory(read_only)

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

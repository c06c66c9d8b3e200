"""The composition root: settings, database, clock, enrollment and workers in one place."""

from __future__ import annotations

import gc
import logging
import threading
from dataclasses import dataclass, field

from sqlalchemy import Engine

from stageflow.adapters.crypto import SecretBox
from stageflow.adapters.db.clock import start_virtual_time, stored_clock
from stageflow.adapters.db.engine import make_engine
from stageflow.config import Settings
from stageflow.domain.clock import Clock, SystemClock
from stageflow.services.authoring import wiring
from stageflow.services.engine.enrollment import Enroller, VersionCache
from stageflow.services.engine.outbox import Courier
from stageflow.services.engine.worker import Worker
from stageflow.services.unit_of_work import UnitOfWork


@dataclass
class App:
    """Everything the entrypoints need, built once per process."""

    settings: Settings
    engine: Engine
    clock: Clock
    # What outbox leases are measured on: always real time, whatever ``clock`` is (tests
    # replace it to let a lease run out without waiting).
    lease_clock: Clock = field(default_factory=SystemClock)
    enroller: Enroller = field(default_factory=lambda: Enroller(VersionCache()))
    _box: SecretBox | None = field(default=None, repr=False)
    _box_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        wiring.connect()

    def uow(self, *, read_only: bool = False) -> UnitOfWork:
        """A unit of work whose commits enroll records into matching automations."""
        return UnitOfWork(
            self.engine, self.clock, read_only=read_only, hook=None if read_only else self.enroller
        )

    def secret_box(self) -> SecretBox:
        """What workspace secrets are sealed with (made on first use: most processes never
        need one)."""
        with self._box_lock:
            if self._box is None:
                key = self.settings.secret_key
                self._box = (
                    SecretBox(key)
                    if key
                    else SecretBox.from_key_file(self.settings.data_dir / "secret.key")
                )
            return self._box

    def courier(self) -> Courier:
        return Courier(
            self.uow,
            self.clock,
            self.secret_box,
            public_url=self.settings.resolved_public_url(),
            lease_clock=self.lease_clock,
        )

    def worker(self, *, batch_size: int | None = None, name: str = "worker") -> Worker:
        return Worker(
            self.engine,
            self.clock,
            self.enroller,
            name=name,
            courier=self.courier(),
            **({"batch_size": batch_size} if batch_size else {}),
        )

    def close(self) -> None:
        self.engine.dispose()


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: int = logging.INFO) -> None:
    """What the `stageflow` command's processes (server, workers, the rest of the command
    line) log: the ``stageflow.*`` loggers at INFO and above, to stderr. Kept plain on
    purpose; called once per process (a second call changes nothing)."""
    logger = logging.getLogger("stageflow")
    if any(getattr(h, "_stageflow", False) for h in logger.handlers):
        return
    handler = logging.StreamHandler()  # stderr
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler._stageflow = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(level)


YOUNG_OBJECTS = 20_000  # allocations between collections of the youngest generation (default 700)


def tune_collector() -> None:
    """For the long-running server and worker processes, once started: move what startup
    built (modules, caches) out of the cyclic collector's way, and collect the youngest
    generation after 20,000 new objects rather than 700. A worker batch makes many
    short-lived containers and almost no cycles (reference counting frees them); with the
    defaults the collector took about a tenth of a worker's time (issue 3)."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_OBJECTS, older, oldest)


def bootstrap(
    settings: Settings | None = None, *, clock: Clock | None = None, migrate: bool = False
) -> App:
    """Build the application; ``migrate`` applies Alembic migrations first."""
    settings = settings or Settings()
    url = settings.resolved_database_url()
    if migrate:
        from stageflow.adapters.db.migrate import upgrade

        upgrade(url)
    engine = make_engine(url)
    if clock is None:
        clock = database_clock(engine, virtual=settings.virtual_clock)
    return App(settings=settings, engine=engine, clock=clock)


def database_clock(engine: Engine, *, virtual: bool) -> Clock:
    """The clock every process on this database shares. ``virtual`` puts the database in
    virtual time (resuming where it stood); a database already in virtual time keeps it for
    every process on it, with or without the option (DESIGN "Time")."""
    if virtual:
        return start_virtual_time(engine)
    return stored_clock(engine) or SystemClock()

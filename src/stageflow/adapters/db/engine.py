"""Engines for SQLite (tuned: WAL, busy timeout, foreign keys, immediate writes) and PostgreSQL."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

READ_ONLY = "stageflow_read_only"


def json_dumps(value: Any) -> str:
    """orjson for speed; the standard library for what orjson refuses (huge integers)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value)


JSON_OPTIONS: dict[str, Any] = {"json_serializer": json_dumps, "json_deserializer": orjson.loads}


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """Build the engine for ``url``; SQLite files get their directory created."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, echo=echo)
    return create_engine(
        url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=10, **JSON_OPTIONS
    )


def _bind_none_quickly() -> None:
    """Python's sqlite3 binds None through its adaptation protocol, whose misses (two
    attribute lookups, an exception formatted) cost ~0.4 us per value: an import of 100,000
    contacts binds 600,000. An adapter registered for None is found by one dict lookup.
    ``{}.get`` is a C function that returns None for None, so NULL is still bound."""
    empty: dict[Any, None] = {}
    sqlite3.register_adapter(type(None), cast("Callable[[None], None]", empty.get))


def _sqlite_engine(url: str, *, echo: bool) -> Engine:
    _bind_none_quickly()
    parsed = make_url(url)
    database = parsed.database or ""
    in_memory = database in ("", ":memory:")
    if not in_memory:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 30}}
    if in_memory:
        kwargs["poolclass"] = StaticPool
    engine = create_engine(url, echo=echo, **kwargs, **JSON_OPTIONS)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from pysqlite so BEGIN IMMEDIATE can be issued.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Writers take the lock up front: no deadlock-prone upgrade from a read lock.
        if connection.get_execution_options().get(READ_ONLY):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


class FairLock:
    """A first-come, first-served lock: SQLite writers of one process take turns in order
    instead of racing SQLite's busy handler, whose sleeps let a busy writer starve the rest
    (an embedded worker stalled for seconds behind API writes without it)."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._next_ticket = 0
        self._serving = 0
        self._owner: int | None = None

    def __enter__(self) -> None:
        with self._condition:
            if self._owner == threading.get_ident():
                raise RuntimeError(
                    "this thread already has a write transaction open on SQLite; "
                    "a second one would wait for itself forever"
                )
            ticket = self._next_ticket
            self._next_ticket += 1
            while ticket != self._serving:
                self._condition.wait()
            self._owner = threading.get_ident()

    def __exit__(self, *_: object) -> None:
        with self._condition:
            self._owner = None
            self._serving += 1
            self._condition.notify_all()


_write_locks: dict[int, FairLock] = {}
_write_locks_guard = threading.Lock()


def write_lock(engine: Engine) -> FairLock | None:
    """The process-wide writer queue of a SQLite engine (None for other databases)."""
    if engine.dialect.name != "sqlite":
        return None
    with _write_locks_guard:
        return _write_locks.setdefault(id(engine), FairLock())

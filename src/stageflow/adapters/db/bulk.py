"""Bulk writes for the worker's hot path, straight to the driver.

SQLAlchemy's per-value type processing weighed on the worker's batches; here each column's
conversion is chosen once per statement and values go to ``executemany`` as tuples, in the
stored formats SQLAlchemy itself uses (so reads through SQLAlchemy see no difference; a test
checks the round trip on both backends).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from itertools import chain
from operator import itemgetter
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import JSON, Connection, Table

from stageflow.adapters.db.engine import json_dumps
from stageflow.adapters.db.tables import UTCDateTime

Convert = Callable[[Any], Any]


_last_formatted: tuple[datetime, str] = (datetime.min.replace(tzinfo=UTC), "")


def sqlite_datetime(value: datetime | None) -> str | None:
    """SQLAlchemy's SQLite DATETIME text (also for rows given ``converted=True``). A batch
    stamps many rows with the same instant, so the last one formatted is kept (one tuple:
    safe to share between threads)."""
    global _last_formatted
    if value is None:
        return None
    last = _last_formatted
    if value == last[0]:
        return last[1]
    if value.tzinfo is None:
        raise ValueError("naive datetime given to the database")
    text = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    _last_formatted = (value, text)
    return text


def sqlite_json(value: Any) -> str:
    """What a JSON column holds on SQLite (also for rows given ``converted=True``); events
    carry many empty values, which need no encoder."""
    if value is None:
        return "null"  # what SQLAlchemy stores for None in a JSON column
    if not value and type(value) is dict:
        return "{}"
    return json_dumps(value)


def _pg_json(value: Any) -> Jsonb:
    return Jsonb(value, dumps=json_dumps)


def _same(value: Any) -> Any:
    return value


def _converter(table: Table, column: str, dialect: str) -> Convert:
    type_ = table.c[column].type
    if isinstance(type_, UTCDateTime):
        return sqlite_datetime if dialect == "sqlite" else _same
    if isinstance(type_, JSON):
        return sqlite_json if dialect == "sqlite" else _pg_json  # None stays JSON null
    return _same


def _marks(n: int, dialect: str) -> list[str]:
    return ["?" if dialect == "sqlite" else "%s"] * n


Row = dict[str, Any] | Sequence[Any]


def _tuples(
    table: Table, columns: Sequence[str], dialect: str, *, keyed: bool = True
) -> Callable[[Iterable[Any]], list[tuple[Any, ...]]]:
    """A function turning rows into parameter tuples, converting only the columns that need
    it (most values go to the driver as they are). Rows are dicts, or (``keyed=False``)
    sequences of values in ``columns``' order, which saves building a dict per row."""
    get = itemgetter(*columns) if keyed else tuple
    convert = [
        (i, f)
        for i, f in enumerate(_converter(table, c, dialect) for c in columns)
        if f is not _same
    ]
    if len(columns) == 1 and keyed:
        return lambda rows: [(_one(convert, get(row)),) for row in rows]

    def tuples(rows: Iterable[Any]) -> list[tuple[Any, ...]]:
        result = []
        for row in rows:
            values = list(get(row))
            for i, f in convert:
                values[i] = f(values[i])
            result.append(tuple(values))
        return result

    return tuples


def _one(convert: list[tuple[int, Convert]], value: Any) -> Any:
    return convert[0][1](value) if convert else value


def insert_many(
    conn: Connection,
    table: Table,
    rows: Sequence[Row],
    *,
    columns: Sequence[str] | None = None,
    skip_conflicts: bool = False,
) -> None:
    """INSERT rows that all have the same keys (or are sequences of values in the order of
    ``columns``); ``skip_conflicts`` drops rows that would break a unique constraint (ON
    CONFLICT DO NOTHING, on both backends)."""
    if not rows:
        return
    dialect = conn.dialect.name
    keyed = columns is None
    if columns is None:
        columns = list(rows[0])
    tuples = _tuples(table, columns, dialect, keyed=keyed)
    conflicts = " ON CONFLICT DO NOTHING" if skip_conflicts else ""
    if dialect == "sqlite":
        _sqlite_insert(conn, table, columns, tuples, rows, conflicts)
        return
    _pg_insert_unnest(conn, table, columns, tuples(rows), conflicts)


_PG_ROWS_PER_STATEMENT = 10_000


def _pg_insert_unnest(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    values: list[tuple[Any, ...]],
    suffix: str,
) -> None:
    """PostgreSQL: one array per column and ``INSERT ... SELECT FROM unnest(...)``: a handful
    of parameters per statement instead of one per value (psycopg parses every placeholder,
    and executemany pays a round trip's worth of work per row)."""
    types = [table.c[c].type.compile(dialect=conn.dialect) for c in columns]
    arrays = ", ".join(f"%s::{t}[]" for t in types)
    sql = f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT * FROM unnest({arrays}){suffix}"
    for first in range(0, len(values), _PG_ROWS_PER_STATEMENT):
        chunk = values[first : first + _PG_ROWS_PER_STATEMENT]
        conn.exec_driver_sql(sql, tuple(list(column) for column in zip(*chunk, strict=True)))


_ROWS_PER_STATEMENT = 500  # well under SQLite's 32,766 bound parameters for any of our tables


def _sqlite_insert(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    tuples: Callable[[Iterable[Any]], list[tuple[Any, ...]]],
    rows: Sequence[Row],
    suffix: str,
) -> list[Any]:
    """Multi-row ``INSERT ... VALUES (...), (...) <suffix>`` on SQLite, straight to the DBAPI
    cursor of this transaction's connection; returns what the statements return. One
    statement per 500 rows instead of one per row (``executemany``) is about 40% faster: SQLite
    does its per-statement work, such as updating the AUTOINCREMENT counter, once."""
    one = f"({', '.join('?' * len(columns))})"
    head = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES "
    returned: list[Any] = []
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        for first in range(0, len(rows), _ROWS_PER_STATEMENT):
            chunk = rows[first : first + _ROWS_PER_STATEMENT]
            cursor.execute(
                f"{head}{', '.join([one] * len(chunk))}{suffix}",
                tuple(chain.from_iterable(tuples(chunk))),
            )
            if suffix.endswith("RETURNING id"):
                # RETURNING promises no order; AUTOINCREMENT ids grow in insertion order.
                returned += sorted(r[0] for r in cursor.fetchall())
    finally:
        cursor.close()
    return returned


def insert_returning_ids(
    conn: Connection,
    table: Table,
    rows: Sequence[Row],
    *,
    columns: Sequence[str] | None = None,
    converted: bool = False,
) -> list[int]:
    """INSERT rows of the same keys and return their new ids, in the rows' order. Rows are
    dicts, or sequences of values in the order of ``columns``; ``converted`` (SQLite only)
    says the sequences already hold what the columns store (see sqlite_json and
    sqlite_datetime), so they go to the driver untouched.

    SQLite: multi-row ``VALUES ... RETURNING id``. SQLite inserts the rows in order and, with
    AUTOINCREMENT, each gets a larger id than the one before, so the ids sorted are the ids in
    row order (RETURNING itself promises no order). PostgreSQL: SQLAlchemy's own
    insertmanyvalues, which orders the returned ids by a sentinel."""
    if not rows:
        return []
    if conn.dialect.name != "sqlite":
        if converted:
            raise ValueError("converted rows are for SQLite")
        return _pg_copy_returning_ids(conn, table, rows, columns)
    # Reading back thousands of ids through SQLAlchemy's result objects cost more than the
    # insert: the DBAPI cursor reads them.
    keyed = columns is None
    if columns is None:
        columns = list(rows[0])
    tuples = list if converted and not keyed else _tuples(table, columns, "sqlite", keyed=keyed)
    return _sqlite_insert(conn, table, columns, tuples, rows, " RETURNING id")


def _pg_copy_returning_ids(
    conn: Connection, table: Table, rows: Sequence[Row], columns: Sequence[str] | None
) -> list[int]:
    """PostgreSQL: take the ids from the table's sequence first (sorted, they are in row
    order), then COPY the rows in with them. A multi-row INSERT ... RETURNING spent most of
    its time in psycopg parsing the long statement's placeholders."""
    keyed = columns is None
    names = list(rows[0]) if columns is None else list(columns)
    values = _tuples(table, names, "postgresql", keyed=keyed)(rows)
    raw: Any = conn.connection.dbapi_connection  # psycopg's Connection
    with raw.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            (table.name, len(values)),
        )
        ids = sorted(int(r[0]) for r in cursor.fetchall())
        with cursor.copy(f"COPY {table.name} (id, {', '.join(names)}) FROM STDIN") as copy:
            for new_id, row in zip(ids, values, strict=True):
                copy.write_row((new_id, *row))
    return ids


def update_many(
    conn: Connection, table: Table, rows: Sequence[dict[str, Any]], *, where: dict[str, str]
) -> int:
    """UPDATE rows of the same keys; ``where`` maps row keys to the columns they must equal
    (e.g. ``{"_id": "id"}``). Returns the rows changed (-1 if the driver cannot tell)."""
    if not rows:
        return 0
    dialect = conn.dialect.name
    columns = [k for k in rows[0] if k not in where]
    mark = _marks(1, dialect)[0]
    assignments = ", ".join(f"{c} = {mark}" for c in columns)
    matches = " AND ".join(f"{column} = {mark}" for column in where.values())
    sql = f"UPDATE {table.name} SET {assignments} WHERE {matches}"
    keys = columns + list(where)
    convert = [_converter(table, c, dialect) for c in columns] + [
        _converter(table, column, dialect) for column in where.values()
    ]
    params = [tuple(f(row[k]) for f, k in zip(convert, keys, strict=True)) for row in rows]
    return int(conn.exec_driver_sql(sql, params).rowcount)

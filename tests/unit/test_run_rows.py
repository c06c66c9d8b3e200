"""A claimed run copied out of its database row: every column, by name, in any order."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import create_engine, insert, select

from stageflow.adapters.db import tables as t
from stageflow.automation.interpreter import RunState
from stageflow.services.engine.run_rows import RunRow, new_run, run_rows

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_a_run_row_has_every_column_of_runs() -> None:
    assert set(RunRow._fields) == set(t.runs.c.keys())


def test_run_rows_copy_each_column_whatever_the_select_order() -> None:
    engine = create_engine("sqlite://")
    t.runs.create(engine)
    state = RunState(cursor="wait", waiting=True, entered_at=T0.isoformat())
    with engine.begin() as conn:
        for record_id in (7, 8):
            row = new_run(1, 2, 3, record_id, f"key-{record_id}", state, T0, T0, depth=1)
            conn.execute(insert(t.runs), row)
        columns = list(reversed(t.runs.c))
        found = list(conn.execute(select(*columns).order_by(t.runs.c.id)))

    first, second = run_rows(found)

    assert (first.record_id, second.record_id) == (7, 8)
    assert first.enrollment_key == "key-7"
    assert first.state == state.to_json()
    assert first.wake_at == T0
    assert (first.depth, first.attempts, first.status) == (1, 0, "waiting")
    assert first == tuple(found[0]._mapping[name] for name in RunRow._fields)
    assert run_rows([]) == []

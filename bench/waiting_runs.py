"""A million waiting runs: they cost rows, not memory; the due-claim query stays indexed; and
when many fall due together they fire at the worker's batch rate.

    .venv/bin/python bench/waiting_runs.py [--waiting 1000000] [--due 20000] [--backend sqlite]
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta

from _common import create_deals, database, make_app, publish, report, rss_mb, tenant
from sqlalchemy import insert, text

from stageflow.adapters.db import tables as t
from stageflow.automation.interpreter import RunState
from stageflow.bootstrap import tune_collector
from stageflow.domain.clock import VirtualClock

DEFINITION = {
    "trigger": {"type": "manual", "object_type": "deal"},
    "steps": [
        {"id": "wait", "type": "delay", "duration": "P30D"},
        {
            "id": "mark",
            "type": "action",
            "action": "set_field",
            "settings": {"fields": {"currency": "EUR"}},
        },
    ],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--waiting", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=20_000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    tune_collector()  # as `stageflow serve` and `stageflow worker` do once started
    start = datetime(2026, 1, 1, tzinfo=UTC)
    clock = VirtualClock(start)
    rows: list[tuple[str, str]] = []
    with database(args.backend) as url:
        app = make_app(url, clock)
        principal, _ = tenant(app)
        automation = publish(app, principal, DEFINITION)
        create_deals(app, principal, args.due, batch=1000)
        with app.uow() as uow:
            version = uow.automations.get(principal.workspace_id, automation).active_version_id
            deal_ids = [
                r.id
                for r in uow.connection.execute(
                    text("select id from records where object_type = 'deal'")
                )
            ]
            uow.commit()
        state = RunState(cursor="wait", waiting=True, entered_at=start.isoformat()).to_json()
        loaded = time.perf_counter()
        for first in range(0, args.waiting, 10_000):
            batch = []
            for i in range(first, min(args.waiting, first + 10_000)):
                due_soon = i < args.due
                batch.append(
                    {
                        "workspace_id": principal.workspace_id,
                        "automation_id": automation,
                        "version_id": version,
                        "record_id": deal_ids[i % len(deal_ids)],
                        "trigger_event_id": None,
                        "enrollment_key": f"bench:{i}",
                        "status": "waiting",
                        "state": state,
                        "wake_at": start
                        + (timedelta(days=30) if due_soon else timedelta(days=365 + i % 1000)),
                        "wait_event": None,
                        "resume_event": None,
                        "bound_stage_id": None,
                        "depth": 0,
                        "attempts": 0,
                        "error": None,
                        "failed_step": None,
                        "created_at": start,
                        "updated_at": start,
                        "finished_at": None,
                    }
                )
            with app.engine.begin() as conn:
                conn.execute(insert(t.runs), batch)
        rows.append(
            (f"inserted {args.waiting:,} waiting runs", f"{time.perf_counter() - loaded:.1f} s")
        )

        worker = app.worker(batch_size=500)
        before = rss_mb()
        idle = time.perf_counter()
        for _ in range(20):
            worker.tick()
        rows.append(
            (
                "20 idle claims (nothing due)",
                f"{(time.perf_counter() - idle) / 20 * 1000:.2f} ms each",
            )
        )
        rows.append(
            ("worker max RSS before / after idle claims", f"{before:.0f} MB / {rss_mb():.0f} MB")
        )
        with app.engine.connect() as conn:
            claim = ("EXPLAIN QUERY PLAN " if args.backend == "sqlite" else "EXPLAIN ") + (
                "SELECT * FROM runs WHERE status = 'waiting' AND wake_at <= :now "
                "ORDER BY wake_at, id LIMIT 500"
            )
            plan = [
                " ".join(str(c) for c in r)
                for r in conn.execute(text(claim), {"now": clock.now().replace(tzinfo=None)})
            ]
        rows.append(("due-claim query plan", " | ".join(plan)))

        clock.set(start + timedelta(days=30))
        fired = time.perf_counter()
        done = worker.run_until_idle()
        elapsed = time.perf_counter() - fired
        rows.append(
            (
                f"{done:,} runs falling due together",
                f"{done / elapsed:,.0f} runs/s, max RSS {rss_mb():.0f} MB",
            )
        )
        app.close()
    report(f"waiting runs on {args.backend}", rows)


if __name__ == "__main__":
    main()

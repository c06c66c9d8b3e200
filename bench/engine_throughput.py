"""Events → enrollment → actions → committed: runs per second and latency.

    .venv/bin/python bench/engine_throughput.py [--runs 5000] [--backend sqlite|postgresql|both]

Prints figures; it is a benchmark, not a test (issue 3 "Benchmarks").
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

from _common import create_deals, database, make_app, publish, report, tenant
from sqlalchemy import select

from stageflow.adapters.db import tables as t
from stageflow.bootstrap import tune_collector

ONE_ACTION = {
    "trigger": {"type": "record_created", "object_type": "deal"},
    "steps": [
        {
            "id": "mark",
            "type": "action",
            "action": "set_field",
            "settings": {"fields": {"currency": "EUR"}},
        }
    ],
}
BUSINESS_PROCESS = {
    "trigger": {"type": "record_created", "object_type": "deal"},
    "variables": {"i": 0},
    "steps": [
        {
            "id": "by_source",
            "type": "branch",
            "branches": [
                {
                    "condition": {"field": "source", "op": "eq", "value": "web_form"},
                    "steps": [
                        {
                            "id": "auto",
                            "type": "action",
                            "action": "set_field",
                            "settings": {"fields": {"currency": "EUR"}},
                        }
                    ],
                }
            ],
            "otherwise": [
                {
                    "id": "manual",
                    "type": "action",
                    "action": "set_field",
                    "settings": {"fields": {"currency": "PLN"}},
                }
            ],
        },
        {
            "id": "count",
            "type": "loop",
            "while": {"field": "vars.i", "op": "lt", "value": 3},
            "steps": [{"id": "inc", "type": "set_variable", "variable": "i", "increment": 1}],
        },
        {"id": "week", "type": "delay", "duration": "P7D"},
    ],
}


def throughput(
    backend: str, runs: int, definition: dict[str, object], label: str, batch_size: int
) -> list[tuple[str, str]]:
    with database(backend) as url:
        app = make_app(url)
        principal, _ = tenant(app)
        publish(app, principal, definition)
        seconds = create_deals(app, principal, runs, source="web_form")
        worker = app.worker(batch_size=batch_size)
        started = time.perf_counter()
        done = worker.run_until_idle()
        elapsed = time.perf_counter() - started
        app.close()
    return [
        (f"{backend} {label}: enroll {runs} (create + enroll)", f"{runs / seconds:,.0f} records/s"),
        (
            f"{backend} {label}: worker, batches of {batch_size}",
            f"{done / elapsed:,.0f} runs/s ({done} runs in {elapsed:.2f} s)",
        ),
        (
            f"{backend} {label}: end to end (create, enroll, run)",
            f"{runs / (seconds + elapsed):,.0f} runs/s",
        ),
    ]


def latency(backend: str, rate: float, seconds: float) -> list[tuple[str, str]]:
    """Embedded mode: a worker thread, deals created at ``rate``/s; event commit → action."""
    with database(backend) as url:
        app = make_app(url)
        principal, _ = tenant(app)
        publish(app, principal, ONE_ACTION)
        stop = threading.Event()
        worker = app.worker(batch_size=200)
        thread = threading.Thread(
            target=worker.run_forever, args=(stop,), kwargs={"poll_seconds": 0.05}
        )
        thread.start()
        per_batch = max(1, int(rate / 20))
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            tick = time.perf_counter()
            create_deals(app, principal, per_batch, batch=per_batch)
            time.sleep(max(0.0, 0.05 - (time.perf_counter() - tick)))
        time.sleep(1)
        stop.set()
        app.enroller.work_available.set()
        thread.join()
        with app.uow(read_only=True) as uow:
            rows = uow.connection.execute(
                select(t.runs.c.created_at, t.runs.c.finished_at).where(
                    t.runs.c.status == "completed"
                )
            ).all()
        app.close()
    delays = sorted((f - c).total_seconds() * 1000 for c, f in rows)
    p99 = delays[int(len(delays) * 0.99) - 1]
    return [
        (
            f"{backend} latency at {rate:,.0f} runs/s offered ({len(delays)} runs)",
            f"p50 {statistics.median(delays):.1f} ms, p99 {p99:.1f} ms",
        )
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5000)
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--latency-seconds", type=float, default=10)
    args = parser.parse_args()
    tune_collector()  # as `stageflow serve` and `stageflow worker` do once started
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    rows: list[tuple[str, str]] = []
    for backend in backends:
        one = throughput(backend, args.runs, ONE_ACTION, "one action", args.batch_size)
        rows += one
        rows += throughput(
            backend, args.runs, BUSINESS_PROCESS, "business process", args.batch_size
        )
        peak = float(one[2][1].split()[0].replace(",", ""))  # end to end, one action
        if args.latency_seconds > 0:
            rows += latency(backend, peak / 2, args.latency_seconds)
    report("engine throughput (this machine)", rows)


if __name__ == "__main__":
    main()

"""A steady yardstick for small changes: instructions per run, counted by callgrind.

Wall-clock figures on a shared 2-core machine vary by 10-15% between runs (and by 2x between
days); instruction counts repeat to within 0.2%. Run:

    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=/tmp/cg.out \\
        .venv/bin/python bench/instructions.py [--runs 600] [--workflow one-action]
    grep ^totals /tmp/cg.out     # divide by --runs

Workflows: ``one-action`` (record created → set a field), ``business-process`` (SPEC W),
``due-together`` (runs that waited 30 days all fall due at once: resume + set a field).
Only the worker's batches are counted (collection is switched on around them).
"""

from __future__ import annotations

import argparse
import os
import subprocess
from datetime import timedelta

from _common import create_deals, database, make_app, publish, tenant
from engine_throughput import BUSINESS_PROCESS, ONE_ACTION

from stageflow.domain.clock import VirtualClock

DUE_TOGETHER = {
    "trigger": {"type": "record_created", "object_type": "deal"},
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
WORKFLOWS = {
    "one-action": ONE_ACTION,
    "business-process": BUSINESS_PROCESS,
    "due-together": DUE_TOGETHER,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=600)
    parser.add_argument("--workflow", choices=sorted(WORKFLOWS), default="one-action")
    args = parser.parse_args()
    clock = VirtualClock()
    with database("sqlite") as url:
        app = make_app(url, clock if args.workflow == "due-together" else None)
        principal, _ = tenant(app)
        publish(app, principal, WORKFLOWS[args.workflow])
        create_deals(app, principal, args.runs, source="web_form")
        worker = app.worker(batch_size=200)
        if args.workflow == "due-together":
            worker.run_until_idle()  # every run now waits 30 days
            clock.advance(timedelta(days=30))
        control = ["callgrind_control", "-i"]
        subprocess.run([*control, "on", str(os.getpid())], capture_output=True, check=False)
        done = worker.run_until_idle()
        subprocess.run([*control, "off", str(os.getpid())], capture_output=True, check=False)
        app.close()
    print(f"{done} runs advanced; divide callgrind's totals by {done}")


if __name__ == "__main__":
    main()

"""A steady yardstick for small changes: instructions per run, counted by callgrind.

Wall-clock figures on a shared 2-core machine vary by 10-15% between runs; instruction
counts repeat to within 0.2%. Run:

    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=/tmp/cg.out \\
        .venv/bin/python bench/instructions.py [--runs 600] [--business-process]
    grep ^totals /tmp/cg.out     # divide by --runs

Only the worker's batches are counted (collection is switched on around them).
"""

from __future__ import annotations

import argparse
import os
import subprocess

from _common import create_deals, database, make_app, publish, tenant
from engine_throughput import BUSINESS_PROCESS, ONE_ACTION


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=600)
    parser.add_argument("--business-process", action="store_true")
    args = parser.parse_args()
    with database("sqlite") as url:
        app = make_app(url)
        principal, _ = tenant(app)
        publish(app, principal, BUSINESS_PROCESS if args.business_process else ONE_ACTION)
        create_deals(app, principal, args.runs, source="web_form")
        worker = app.worker(batch_size=200)
        control = ["callgrind_control", "-i"]
        subprocess.run([*control, "on", str(os.getpid())], capture_output=True, check=False)
        done = worker.run_until_idle()
        subprocess.run([*control, "off", str(os.getpid())], capture_output=True, check=False)
        app.close()
    print(f"{done} runs advanced; divide callgrind's totals by {done}")


if __name__ == "__main__":
    main()

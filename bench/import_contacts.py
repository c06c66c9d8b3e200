"""Importing contacts from CSV: rows per second for checking and for writing (issue 4: target
>= 20,000 rows/s for 100,000 contacts on SQLite). The same service calls as
`stageflow contacts import`, without the progress bar.

    .venv/bin/python bench/import_contacts.py [--rows 100000] [--backend sqlite]

A steadier yardstick than seconds on a shared machine: instructions, counted by callgrind
for the import alone (check, write, commit):

    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=/tmp/cg.out \\
        .venv/bin/python bench/import_contacts.py --rows 20000 --callgrind
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

from _common import database, make_app, report, rss_mb, tenant

from stageflow.services.crm import imports

STAGES = ["New Lead", "Hot Lead", "Payment", "Customer", "Cold Lead", ""]


def write_csv(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8") as handle:
        handle.write("First name,Last name,Email,Phone,Job title,Stage\n")
        for i in range(rows):
            handle.write(
                f"Ann{i},Smith{i},ann{i}@example.com,+39 333 {i:07d},Buyer,"
                f"{STAGES[i % len(STAGES)]}\n"
            )


def callgrind(state: str) -> None:
    command = ["callgrind_control", "-i", state, str(os.getpid())]
    subprocess.run(command, capture_output=True, check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument(
        "--callgrind", action="store_true", help="count only the import (under callgrind)"
    )
    args = parser.parse_args()
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as directory, database(args.backend) as url:
        path = Path(directory) / "contacts.csv"
        write_csv(path, args.rows)
        app = make_app(url)
        principal, _ = tenant(app)
        if args.callgrind:
            callgrind("on")
        started, cpu = time.perf_counter(), time.process_time()
        with app.uow() as uow, imports.gc_paused():  # as `stageflow contacts import` does
            header, lines = imports.read_csv(path)
            checked = imports.check(uow, principal, header, lines, {})
            assert checked.ok, checked.errors[:3]
            checked_at = time.perf_counter()
            done = imports.write(uow, principal, checked)
            written_at = time.perf_counter()
            uow.commit()
        finished, cpu = time.perf_counter(), time.process_time() - cpu
        if args.callgrind:
            callgrind("off")
        with app.uow(read_only=True) as uow:
            counts = uow.lifecycle.counts(principal.workspace_id)
        assert sum(t.contacts for t in counts.values()) == args.rows == done.created
        app.close()
    check_s, write_s = checked_at - started, written_at - checked_at
    commit_s, total_s = finished - written_at, finished - started
    rows += [
        (f"check {args.rows:,} rows", f"{check_s:.2f} s ({args.rows / check_s:,.0f} rows/s)"),
        ("write (records, events, addresses)", f"{write_s:.2f} s"),
        ("commit (events, transitions, enrollment, counts)", f"{commit_s:.2f} s"),
        ("import, end to end", f"{total_s:.2f} s = {args.rows / total_s:,.0f} rows/s"),
        ("CPU time of this process", f"{cpu:.2f} s = {args.rows / cpu:,.0f} rows per CPU second"),
        ("max RSS", f"{rss_mb():.0f} MB"),
    ]
    report(f"contacts import on {args.backend}", rows)


if __name__ == "__main__":
    main()

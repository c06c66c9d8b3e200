"""The web app's CSV import (services/crm/import_jobs.py) at size: upload, preview (the whole
file checked with the mapping) and the chunked import with its progress, for 100,000
contacts, with the process's peak memory after each step.

    .venv/bin/python bench/import_job.py [--rows 100000] [--backend sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _common import database, make_app, report, rss_mb, tenant
from import_contacts import write_csv

from stageflow.services.crm import import_jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as directory, database(args.backend) as url:
        path = Path(directory) / "contacts.csv"
        write_csv(path, args.rows)
        data = path.read_bytes()
        app = make_app(url)
        owner, _ = tenant(app)
        rows.append(("file", f"{len(data) / 1024 / 1024:.1f} MB, peak RSS {rss_mb():.0f} MB"))
        started = time.perf_counter()
        with app.uow() as uow:
            job_id = import_jobs.upload(uow, owner, "contacts.csv", data)
            uow.commit()
        rows.append(
            ("upload", f"{time.perf_counter() - started:.1f} s, peak RSS {rss_mb():.0f} MB")
        )
        started = time.perf_counter()
        with app.uow(read_only=True) as uow:
            seen = import_jobs.preview(uow, owner, job_id)
        rows.append(
            (
                "preview (whole file)",
                f"{time.perf_counter() - started:.1f} s, peak RSS {rss_mb():.0f} MB",
            )
        )
        started = time.perf_counter()
        with app.uow() as uow:
            import_jobs.start(uow, owner, job_id, seen.mapping)
            uow.commit()
        import_jobs.run(app.uow, owner.workspace_id, job_id)
        seconds = time.perf_counter() - started
        with app.uow(read_only=True) as uow:
            job = import_jobs.progress(uow, owner, job_id)
        assert job.status == "done" and job.imported == args.rows, (job.status, job.imported)
        rows.append(
            (
                f"import of {job.imported:,} contacts",
                f"{seconds:.1f} s ({job.imported / seconds:,.0f} rows/s), "
                f"peak RSS {rss_mb():.0f} MB",
            )
        )
        app.close()
    report(f"web import, {args.backend}: {args.rows:,} rows", rows)


if __name__ == "__main__":
    main()

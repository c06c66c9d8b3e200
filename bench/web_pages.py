"""Server time of the web app's pages at size (issue 14: the board and the contacts list under
300 ms with 10,000 deals and 100,000 contacts). Renders each page in process through the
ASGI app, signed in as the demo owner: no browser, no network, the server's time only.

    .venv/bin/python bench/web_pages.py [--deals 10000] [--contacts 100000] [--runs 0]
        [--repeat 20] [--backend sqlite|postgresql]

``--runs`` adds that many automation runs over the last 14 days (completed, failed, waiting)
for the dashboard's runs per day.
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from _common import database, make_app, report
from fastapi.testclient import TestClient

from stageflow.automation.interpreter import RunState
from stageflow.bootstrap import App
from stageflow.domain.events import Actor, ActorKind, Source
from stageflow.domain.records import ObjectType
from stageflow.domain.users import Principal, Role
from stageflow.entrypoints.api.app import create_app
from stageflow.services.authoring import automations
from stageflow.services.commands import CreateRecord, CreateSegment
from stageflow.services.crm import imports, records, segments
from stageflow.services.crm.demo import DEMO_OWNER, create_demo_workspace
from stageflow.services.engine.run_rows import new_run

STAGES = ["New Lead", "Hot Lead", "Payment", "Customer", "Cold Lead", ""]
PAGES = (
    "/boards/deal",
    "/boards/deal?view=list",
    "/boards/deal?q=Deal+99",
    "/contacts",
    "/contacts?q=ann99",
    "/dashboard",
    "/inbox",
)


def write_csv(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8") as handle:
        handle.write("First name,Last name,Email,Stage\n")
        for i in range(rows):
            handle.write(f"Ann{i},Smith{i},ann{i}@example.com,{STAGES[i % len(STAGES)]}\n")


def add_runs(app: App, owner: Principal, count: int) -> None:
    """``count`` finished and waiting runs of one automation, spread over the last 14 days."""
    definition = {
        "trigger": {"type": "record_created", "object_type": "deal"},
        "conditions": {"field": "name", "op": "eq", "value": "no deal has this name"},
        "steps": [{"id": "s", "type": "action", "action": "set_field",
                   "settings": {"fields": {"probability": 5}}}],
    }  # fmt: skip
    actor = Actor(kind=ActorKind.SYSTEM, source=Source.SYSTEM)
    with app.uow() as uow:
        automation_id = automations.create_automation(
            uow,
            owner,
            automations.CreateAutomation(name="Bench", definition=definition, publish=True),
            actor,
        )
        uow.commit()
    with app.uow() as uow:
        automation = uow.automations.get(owner.workspace_id, automation_id)
        now = uow.clock.now()
        rows = []
        for n in range(count):
            started = now - timedelta(minutes=(n * 20_160) // count)  # 14 days
            row = new_run(owner.workspace_id, automation_id, automation.active_version_id,
                          None, f"bench:{n}", RunState(cursor=None), started, started)  # fmt: skip
            status = ("completed", "completed", "failed", "waiting")[n % 4]
            row["status"] = status
            if status == "waiting":
                row["wake_at"] = now + timedelta(days=7)
            else:
                row["wake_at"], row["finished_at"] = None, started + timedelta(seconds=3)
            rows.append(row)
        for first in range(0, len(rows), 5000):
            uow.runs.add_many(rows[first : first + 5000])
        uow.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deals", type=int, default=10_000)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as directory, database(args.backend) as url:
        app = make_app(url)
        with app.uow() as uow:
            new, password = create_demo_workspace(uow)
            uow.commit()
        ws = new.workspace.id
        assert ws is not None
        owner = Principal(workspace_id=ws, user_id=new.owner_id, role=Role.OWNER)
        actor = Actor(kind=ActorKind.SYSTEM, source=Source.SYSTEM)
        started = time.perf_counter()
        with app.uow() as uow:
            stages = [s.id for p in uow.pipelines.list(ws, ObjectType.DEAL) for s in p.stages]
            for n in range(args.deals):
                cmd = CreateRecord.model_validate(
                    {
                        "name": f"Deal {n}",
                        "stage_id": stages[n % len(stages)],
                        "fields": {"amount": 1000 + n, "currency": "EUR"},
                    }
                )
                records.create_record(uow, owner, ObjectType.DEAL, cmd, actor)
            uow.commit()
        rows.append((f"made {args.deals:,} deals", f"{time.perf_counter() - started:.1f} s"))
        with app.uow() as uow:
            big = segments.create(
                uow,
                owner,
                CreateSegment.model_validate(
                    {
                        "name": "Big deals",
                        "object_type": "deal",
                        "filter": {"field": "amount", "op": "gt", "value": 5000},
                    }
                ),
                actor,
            )
            uow.commit()
        pages = (*PAGES, f"/boards/deal?segment={big.id}")
        path = Path(directory) / "contacts.csv"
        write_csv(path, args.contacts)
        started = time.perf_counter()
        with app.uow() as uow, imports.gc_paused():
            header, lines = imports.read_csv(path)
            checked = imports.check(uow, owner, header, lines, {})
            assert checked.ok, checked.errors[:3]
            imports.write(uow, owner, checked)
            uow.commit()
        rows.append(
            (f"imported {args.contacts:,} contacts", f"{time.perf_counter() - started:.1f} s")
        )
        if args.runs:
            started = time.perf_counter()
            add_runs(app, owner, args.runs)
            rows.append((f"made {args.runs:,} runs", f"{time.perf_counter() - started:.1f} s"))
        with TestClient(create_app(app)) as client:
            form = client.get("/sign-in").text
            token = re.search(r'name="csrf_token" value="([^"]+)"', form)
            assert token is not None
            signed_in = client.post(
                "/sign-in",
                data={"csrf_token": token.group(1), "email": DEMO_OWNER, "password": password},
                follow_redirects=False,
            )
            assert signed_in.status_code == 303, signed_in.text
            for page in pages:
                times = []
                for _ in range(args.repeat):
                    begun = time.perf_counter()
                    response = client.get(page)
                    times.append((time.perf_counter() - begun) * 1000)
                    assert response.status_code == 200, (page, response.status_code)
                times.sort()
                p95 = times[max(0, round(len(times) * 0.95) - 1)]
                rows.append(
                    (
                        page,
                        f"median {statistics.median(times):6.1f} ms  p95 {p95:6.1f} ms  "
                        f"({len(response.content) // 1024} KiB)",
                    )
                )
        app.close()
    report(f"web pages, {args.backend}: {args.deals:,} deals, {args.contacts:,} contacts", rows)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Print how long the web app takes to render boards and the list view (server side, in
process, no network) for the demo workspace plus N generated deals (default 10,000).

    .venv/bin/python scripts/measure_board.py [--deals 10000] [--repeat 20]
        [--database-url postgresql+psycopg://USER@HOST/EMPTY_DATABASE]
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

from stageflow.bootstrap import bootstrap
from stageflow.config import Settings
from stageflow.domain.events import Actor, ActorKind, Source
from stageflow.domain.records import ObjectType
from stageflow.domain.users import Principal, Role
from stageflow.entrypoints.api.app import create_app
from stageflow.services.commands import CreateRecord
from stageflow.services.crm import records
from stageflow.services.crm.demo import DEMO_OWNER, create_demo_workspace


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--database-url", help="an empty database (default: SQLite in a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), database_url=args.database_url)
        app = bootstrap(settings, migrate=True)
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
        print(f"made {args.deals} deals in {time.perf_counter() - started:.1f} s")
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
            for path in ("/boards/deal", "/boards/deal?view=list", "/boards/deal?q=Deal+99",
                         "/boards/lead"):  # fmt: skip
                times = []
                for _ in range(args.repeat):
                    begun = time.perf_counter()
                    response = client.get(path)
                    times.append((time.perf_counter() - begun) * 1000)
                    assert response.status_code == 200, response.text
                print(
                    f"{path:28} median {statistics.median(times):6.1f} ms  "
                    f"max {max(times):6.1f} ms  ({len(response.content) // 1024} KiB)"
                )
        app.close()


if __name__ == "__main__":
    main()

"""Backtest a draft on a workspace's stored events (issue 15: 100,000 events in under 5 s on
SQLite). Builds deals whose creations, stage moves and field changes make the events, spread
over 30 virtual days, then times ``POST /automations/{id}/backtest``'s service.

    .venv/bin/python bench/backtest.py [--events 100000] [--backend sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import time
from datetime import timedelta

from _common import database, make_app, report, rss_mb

from stageflow.domain.clock import VirtualClock
from stageflow.domain.events import Actor, ActorKind, Source
from stageflow.domain.records import ObjectType
from stageflow.domain.users import Principal, Role
from stageflow.services.authoring import automations, backtest
from stageflow.services.commands import CreateRecord, MoveRecord, UpdateRecord
from stageflow.services.crm import records
from stageflow.services.crm.workspaces import create_workspace


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows: list[tuple[str, str]] = []
    clock = VirtualClock()
    with database(args.backend) as url:
        app = make_app(url, clock)
        with app.uow() as uow:
            new = create_workspace(uow, name="Bench", owner_email="o@example.com", owner_name="O")
            uow.commit()
        ws = new.workspace.id
        assert ws is not None
        owner = Principal(workspace_id=ws, user_id=new.owner_id, role=Role.OWNER)
        actor = Actor(kind=ActorKind.USER, source=Source.API, user_id=new.owner_id)
        with app.uow() as uow:
            (pipeline,) = uow.pipelines.list(ws, ObjectType.DEAL)
            stages = {s.name: s.id for s in pipeline.stages}
        moves = [name for name in ("Qualified", "Proposal") if name in stages]
        deals = args.events // (3 + len(moves))  # created, its moves, 2 amount changes
        started = time.perf_counter()
        step = timedelta(days=29) / deals
        for first in range(0, deals, 1000):
            with app.uow() as uow:
                for n in range(first, min(first + 1000, deals)):
                    clock.advance(step)
                    deal = records.create_record(
                        uow,
                        owner,
                        ObjectType.DEAL,
                        CreateRecord.model_validate(
                            {"name": f"Deal {n}", "fields": {"amount": 100 * (n % 50)}}
                        ),
                        actor,
                    )
                    assert deal.id is not None
                    for stage in moves:
                        deal = records.move_record(
                            uow,
                            owner,
                            ObjectType.DEAL,
                            deal.id,
                            MoveRecord(stage_id=stages[stage], version=deal.version),
                            actor,
                        )
                    # Never the amount it has (1 and 2 more than a multiple of 50): two events.
                    for amount in (150 * (n % 40) + 1, 200 * (n % 30) + 2):
                        deal = records.update_record(
                            uow,
                            owner,
                            ObjectType.DEAL,
                            deal.id,
                            UpdateRecord.model_validate(
                                {"fields": {"amount": amount}, "version": deal.version}
                            ),
                            actor,
                        )
                uow.commit()
        with app.uow() as uow:
            count = len(uow.events.since(ws, clock.now() - timedelta(days=31), limit=10**7))
        rows.append(
            (f"made {deals:,} deals, {count:,} events", f"{time.perf_counter() - started:.1f} s")
        )
        definition = {
            "trigger": {
                "type": "stage_entered",
                "object_type": "deal",
                "stage_id": stages["Proposal"],
            },
            "conditions": {"field": "amount", "op": "gt", "value": 2000},
            "steps": [
                {
                    "id": "call",
                    "type": "action",
                    "action": "create_task",
                    "settings": {"subject": "Call {{ record.name }}"},
                },
                {"id": "wait", "type": "delay", "duration": "P3D"},
                {
                    "id": "check",
                    "type": "branch",
                    "branches": [
                        {
                            "condition": {"field": "amount", "op": "gt", "value": 4000},
                            "steps": [
                                {
                                    "id": "big",
                                    "type": "action",
                                    "action": "create_task",
                                    "settings": {"subject": "Big: {{ record.name }}"},
                                }
                            ],
                        }
                    ],
                },
            ],
        }
        with app.uow() as uow:
            automation_id = automations.create_automation(
                uow,
                owner,
                automations.CreateAutomation.model_validate(
                    {"name": "Draft", "definition": definition}
                ),
                actor,
            )
            uow.commit()
        times = []
        rss_before = rss_mb()
        for _ in range(args.repeat):
            begun = time.perf_counter()
            with app.uow(read_only=True) as uow:
                result = backtest.backtest(uow, owner, automation_id, days=31)
            times.append(time.perf_counter() - begun)
        rows.append(("events read", f"{result.events_read:,}"))
        rows.append(("matched / enrolled", f"{result.matched:,} / {result.enrolled:,}"))
        rows.append(("summary", " ".join(result.summary()[:3])))
        rows.append(
            (
                "backtest time",
                f"best {min(times):.2f} s, median {sorted(times)[len(times) // 2]:.2f} s "
                f"({result.events_read / min(times):,.0f} events/s; target: 100,000 in < 5 s)",
            )
        )
        rows.append(("peak RSS", f"{max(rss_mb(), rss_before):.0f} MB"))
        app.close()
    report(f"backtest, {args.backend}", rows)


if __name__ == "__main__":
    main()

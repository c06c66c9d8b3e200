"""Cost per event with 10,000 automations listening on other stages, against none.

.venv/bin/python bench/unrelated_automations.py [--automations 10000] [--events 2000]
"""

from __future__ import annotations

import argparse
import time

from _common import database, make_app, report, tenant

from stageflow.domain.records import ObjectType
from stageflow.services.authoring import automations
from stageflow.services.commands import CreateRecord, MoveRecord
from stageflow.services.crm import records


def cost_per_event(backend: str, n_automations: int, events: int) -> float:
    with database(backend) as url:
        app = make_app(url)
        principal, actor = tenant(app)
        with app.uow() as uow:
            pipeline = uow.pipelines.default_for(principal.workspace_id, ObjectType.DEAL)
            assert pipeline is not None
            new, proposal, negotiation = (s.id for s in pipeline.stages[:3])
            for i in range(n_automations):
                automations.create_automation(
                    uow,
                    principal,
                    automations.CreateAutomation(
                        name=f"other {i}",
                        publish=True,
                        definition={
                            "trigger": {
                                "type": "stage_entered",
                                "object_type": "deal",
                                "stage_id": negotiation,
                            },
                            "steps": [
                                {
                                    "id": "x",
                                    "type": "action",
                                    "action": "set_field",
                                    "settings": {"fields": {"currency": "EUR"}},
                                }
                            ],
                        },
                    ),
                    actor,
                )
            deal = records.create_record(
                uow, principal, ObjectType.DEAL, CreateRecord(name="Mover"), actor
            )
            uow.commit()
        assert deal.id is not None
        with app.uow() as uow:  # warm the trigger index
            records.move_record(uow, principal, None, deal.id, MoveRecord(stage_id=proposal), actor)
            uow.commit()
        started = time.perf_counter()
        for i in range(events):
            with app.uow() as uow:
                target = new if i % 2 == 0 else proposal
                records.move_record(
                    uow, principal, None, deal.id, MoveRecord(stage_id=target), actor
                )
                uow.commit()
        elapsed = time.perf_counter() - started
        app.close()
    return elapsed / events * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--automations", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    none = cost_per_event(args.backend, 0, args.events)
    many = cost_per_event(args.backend, args.automations, args.events)
    report(
        f"stage changes on {args.backend}, automations listening on another stage",
        [
            ("no automations", f"{none:.0f} µs per stage change (commit included)"),
            (f"{args.automations:,} automations", f"{many:.0f} µs per stage change"),
            ("ratio", f"{many / none:.3f}"),
        ],
    )


if __name__ == "__main__":
    main()

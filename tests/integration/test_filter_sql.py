"""One filter language: SQL lists and Python conditions agree on every filter."""

from __future__ import annotations

import random
from typing import Any

from stageflow.bootstrap import App
from stageflow.domain.filters import evaluate, parse_filter
from stageflow.domain.records import ObjectType
from stageflow.services.commands import CreateRecord, DefineField
from stageflow.services.crm import records
from stageflow.services.crm.pipelines import define_field
from stageflow.services.crm.workspaces import actor_for
from tests.conftest import Tenant

NAMES = ["Solar Roof", "solar panel", "Heat Pump", "Wind_50%", "roof repair", "Pump"]
REGIONS = ["north", "south", None]


def _random_condition(rng: random.Random) -> dict[str, Any]:
    field = rng.choice(["amount", "name", "region", "vip"])
    if field == "amount":
        op = rng.choice(
            ["eq", "neq", "gt", "gte", "lt", "lte", "in", "not_in", "is_empty", "is_not_empty"]
        )
        value: Any = rng.choice([0, 100, 250, 1000])
        if op in ("in", "not_in"):
            value = rng.sample([0, 100, 250, 1000, 5], 2)
    elif field == "name":
        op = rng.choice(["eq", "neq", "contains", "not_contains", "starts_with", "is_empty"])
        value = rng.choice(["solar", "Pump", "roof", "_5", "%", "Heat Pump"])
    elif field == "region":
        op = rng.choice(["eq", "neq", "in", "not_in", "is_empty", "is_not_empty"])
        value = rng.choice(["north", "south"])
        if op in ("in", "not_in"):
            value = ["north", "east"]
    else:
        op = rng.choice(["eq", "neq", "is_empty"])
        value = rng.choice([True, False])
    return {"field": field, "op": op, "value": value}


def _random_filter(rng: random.Random, depth: int = 0) -> dict[str, Any]:
    if depth >= 2 or rng.random() < 0.5:
        return _random_condition(rng)
    kind = rng.choice(["all", "any", "not"])
    if kind == "not":
        return {"not": _random_filter(rng, depth + 1)}
    return {kind: [_random_filter(rng, depth + 1) for _ in range(rng.randint(0, 3))]}


def test_sql_and_python_agree(app: App, tenant: Tenant) -> None:
    rng = random.Random(20261122)
    actor = actor_for(tenant.owner)
    values: dict[int, dict[str, Any]] = {}
    with app.uow() as uow:
        define_field(
            uow,
            tenant.owner,
            ObjectType.DEAL,
            DefineField(key="region", type="picklist", options=["north", "south"]),
            actor,
        )
        define_field(uow, tenant.owner, ObjectType.DEAL, DefineField(key="vip", type="bool"), actor)
        for i in range(40):
            fields = {
                "amount": rng.choice([None, 0, 100, 250, 1000, 99.5]),
                "region": rng.choice(REGIONS),
                "vip": rng.choice([None, True, False]),
            }
            fields = {k: v for k, v in fields.items() if v is not None}
            name = NAMES[i % len(NAMES)]
            record = records.create_record(
                uow, tenant.owner, ObjectType.DEAL, CreateRecord(name=name, fields=fields), actor
            )
            assert record.id is not None
            values[record.id] = {"name": name, **fields}
        uow.commit()

    with app.uow(read_only=True) as uow:
        for _ in range(150):
            raw = _random_filter(rng)
            node = parse_filter(raw)
            page = records.list_records(
                uow,
                tenant.owner,
                ObjectType.DEAL,
                filter_=node,
                stage_id=None,
                pipeline_id=None,
                owner_id=None,
                cursor=None,
                limit=200,
            )
            from_sql = {r.id for r in page.items}
            in_python = {rid for rid, v in values.items() if evaluate(node, v)}
            assert from_sql == in_python, raw

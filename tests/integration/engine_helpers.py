"""Helpers for engine tests: publish an automation, run the worker, read runs and steps."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from stageflow.automation.durations import parse_duration
from stageflow.bootstrap import App
from stageflow.domain.clock import VirtualClock
from stageflow.domain.records import ObjectType
from stageflow.services.authoring import automations
from stageflow.services.commands import CreateRecord, MoveRecord, UpdateRecord
from stageflow.services.crm import records
from stageflow.services.crm.workspaces import actor_for
from stageflow.services.engine.timekeeper import Advanced, advance_to
from tests.conftest import Tenant


class Engine:
    """A tenant's view of the engine, driven with a virtual clock."""

    def __init__(self, app: App, tenant: Tenant) -> None:
        self.app, self.tenant = app, tenant
        self.principal = tenant.owner
        self.actor = actor_for(tenant.owner)
        self.worker = app.worker(name="test")
        assert isinstance(app.clock, VirtualClock)
        self.clock: VirtualClock = app.clock

    def publish(self, definition: dict[str, Any], name: str = "automation") -> int:
        with self.app.uow() as uow:
            automation_id = automations.create_automation(
                uow,
                self.principal,
                automations.CreateAutomation(name=name, definition=definition, publish=True),
                self.actor,
            )
            uow.commit()
        return automation_id

    def stages(self, object_type: str = "deal") -> dict[str, int]:
        with self.app.uow(read_only=True) as uow:
            pipeline = uow.pipelines.default_for(self.tenant.id, ObjectType(object_type))
        assert pipeline is not None
        return {s.name: s.id for s in pipeline.stages if s.id is not None}

    def create(self, object_type: str, **values: Any) -> int:
        with self.app.uow() as uow:
            record = records.create_record(
                uow,
                self.principal,
                ObjectType(object_type),
                CreateRecord.model_validate(values),
                self.actor,
            )
            uow.commit()
        assert record.id is not None
        return record.id

    def update(self, record_id: int, **values: Any) -> None:
        with self.app.uow() as uow:
            records.update_record(
                uow,
                self.principal,
                None,
                record_id,
                UpdateRecord.model_validate(values),
                self.actor,
            )
            uow.commit()

    def move(self, record_id: int, stage_id: int) -> None:
        with self.app.uow() as uow:
            records.move_record(
                uow, self.principal, None, record_id, MoveRecord(stage_id=stage_id), self.actor
            )
            uow.commit()

    def record(self, record_id: int) -> Any:
        with self.app.uow(read_only=True) as uow:
            return uow.records.get(self.tenant.id, record_id)

    def run_due(self) -> int:
        return self.worker.run_until_idle()

    def advance(self, by: str) -> Advanced:
        target = parse_duration(by).after(self.clock.now())
        return advance_to(self.clock, self.worker, target)

    def advance_delta(self, delta: timedelta) -> Advanced:
        return advance_to(self.clock, self.worker, self.clock.now() + delta)

    def runs(self, automation_id: int | None = None) -> list[Any]:
        from stageflow.adapters.db import tables as t

        where = [t.runs.c.automation_id == automation_id] if automation_id else []
        with self.app.uow(read_only=True) as uow:
            return list(
                reversed(uow.runs.list(self.tenant.id, where=where, before_id=None, limit=10_000))
            )

    def steps(self, run_id: int) -> list[Any]:
        with self.app.uow(read_only=True) as uow:
            return uow.runs.steps(run_id)

    def skips(self, record_id: int) -> list[Any]:
        with self.app.uow(read_only=True) as uow:
            return uow.runs.skips(self.tenant.id, record_id, 100)

    def list(self, object_type: str) -> list[Any]:
        with self.app.uow(read_only=True) as uow:
            page = records.list_records(
                uow,
                self.principal,
                ObjectType(object_type),
                filter_=None,
                stage_id=None,
                pipeline_id=None,
                owner_id=None,
                cursor=None,
                limit=200,
            )
        return page.items

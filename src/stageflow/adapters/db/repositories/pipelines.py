"""Pipelines with their stages, picklists and custom field definitions."""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from stageflow.adapters.db import tables as t
from stageflow.domain.fields import FieldDef, FieldType
from stageflow.domain.pipelines import Pipeline, Stage, StageKind
from stageflow.domain.records import ObjectType


class PipelineRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, pipeline: Pipeline, created_at: datetime) -> Pipeline:
        pipeline.id = self.conn.execute(
            insert(t.pipelines)
            .values(
                workspace_id=pipeline.workspace_id,
                object_type=pipeline.object_type.value,
                name=pipeline.name,
                is_default=pipeline.is_default,
                position=pipeline.position,
                created_at=created_at,
            )
            .returning(t.pipelines.c.id)
        ).scalar_one()
        for stage in pipeline.stages:
            self.add_stage(pipeline, stage)
        return pipeline

    def add_stage(self, pipeline: Pipeline, stage: Stage) -> Stage:
        stage.pipeline_id = pipeline.id
        stage.id = self.conn.execute(
            insert(t.stages)
            .values(
                workspace_id=pipeline.workspace_id,
                pipeline_id=pipeline.id,
                name=stage.name,
                kind=stage.kind.value,
                position=stage.position,
            )
            .returning(t.stages.c.id)
        ).scalar_one()
        return stage

    def get(self, workspace_id: int, pipeline_id: int) -> Pipeline | None:
        row = self.conn.execute(
            select(t.pipelines).where(
                t.pipelines.c.workspace_id == workspace_id, t.pipelines.c.id == pipeline_id
            )
        ).first()
        if row is None:
            return None
        return self._with_stages([row])[0]

    def list(self, workspace_id: int, object_type: ObjectType | None = None) -> list[Pipeline]:
        query = select(t.pipelines).where(t.pipelines.c.workspace_id == workspace_id)
        if object_type is not None:
            query = query.where(t.pipelines.c.object_type == object_type.value)
        rows = list(
            self.conn.execute(
                query.order_by(t.pipelines.c.object_type, t.pipelines.c.position, t.pipelines.c.id)
            )
        )
        return self._with_stages(rows)

    def default_for(self, workspace_id: int, object_type: ObjectType) -> Pipeline | None:
        row = self.conn.execute(
            select(t.pipelines).where(
                t.pipelines.c.workspace_id == workspace_id,
                t.pipelines.c.object_type == object_type.value,
                t.pipelines.c.is_default.is_(True),
            )
        ).first()
        return self._with_stages([row])[0] if row else None

    def update(self, workspace_id: int, pipeline_id: int, values: dict[str, Any]) -> None:
        self.conn.execute(
            update(t.pipelines)
            .where(t.pipelines.c.workspace_id == workspace_id, t.pipelines.c.id == pipeline_id)
            .values(**values)
        )

    def clear_default(self, workspace_id: int, object_type: ObjectType) -> None:
        self.conn.execute(
            update(t.pipelines)
            .where(
                t.pipelines.c.workspace_id == workspace_id,
                t.pipelines.c.object_type == object_type.value,
            )
            .values(is_default=False)
        )

    def delete(self, workspace_id: int, pipeline_id: int) -> None:
        self.conn.execute(
            delete(t.pipelines).where(
                t.pipelines.c.workspace_id == workspace_id, t.pipelines.c.id == pipeline_id
            )
        )

    def update_stage(self, stage: Stage) -> None:
        self.conn.execute(
            update(t.stages)
            .where(t.stages.c.id == stage.id)
            .values(name=stage.name, kind=stage.kind.value, position=stage.position)
        )

    def delete_stage(self, stage_id: int) -> None:
        self.conn.execute(delete(t.stages).where(t.stages.c.id == stage_id))

    def records_in_stage(self, workspace_id: int, stage_id: int) -> int:
        return int(
            self.conn.execute(
                select(func.count())
                .select_from(t.records)
                .where(t.records.c.workspace_id == workspace_id, t.records.c.stage_id == stage_id)
            ).scalar_one()
        )

    def records_in_pipeline(self, workspace_id: int, pipeline_id: int) -> int:
        return int(
            self.conn.execute(
                select(func.count())
                .select_from(t.records)
                .where(
                    t.records.c.workspace_id == workspace_id, t.records.c.pipeline_id == pipeline_id
                )
            ).scalar_one()
        )

    def _with_stages(self, rows: builtins.list[Any]) -> builtins.list[Pipeline]:
        if not rows:
            return []
        pipelines = {
            r.id: Pipeline(
                id=r.id,
                workspace_id=r.workspace_id,
                object_type=ObjectType(r.object_type),
                name=r.name,
                is_default=r.is_default,
                position=r.position,
            )
            for r in rows
        }
        stage_rows = self.conn.execute(
            select(t.stages)
            .where(t.stages.c.pipeline_id.in_(list(pipelines)))
            .order_by(t.stages.c.position, t.stages.c.id)
        )
        for s in stage_rows:
            pipelines[s.pipeline_id].stages.append(
                Stage(
                    id=s.id,
                    pipeline_id=s.pipeline_id,
                    name=s.name,
                    kind=StageKind(s.kind),
                    position=s.position,
                )
            )
        return list(pipelines.values())


class PicklistRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def all(self, workspace_id: int) -> dict[str, list[dict[str, str]]]:
        rows = self.conn.execute(
            select(t.picklists.c.key, t.picklists.c.options)
            .where(t.picklists.c.workspace_id == workspace_id)
            .order_by(t.picklists.c.key)
        )
        return {r.key: list(r.options) for r in rows}

    def values(self, workspace_id: int) -> dict[str, list[str]]:
        return {
            key: [o["value"] for o in options] for key, options in self.all(workspace_id).items()
        }

    def put(self, workspace_id: int, key: str, options: list[dict[str, str]]) -> None:
        updated = self.conn.execute(
            update(t.picklists)
            .where(t.picklists.c.workspace_id == workspace_id, t.picklists.c.key == key)
            .values(options=options)
        ).rowcount
        if not updated:
            self.conn.execute(
                insert(t.picklists).values(workspace_id=workspace_id, key=key, options=options)
            )


class FieldRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def custom(self, workspace_id: int, object_type: ObjectType) -> list[FieldDef]:
        rows = self.conn.execute(
            select(t.field_definitions)
            .where(
                t.field_definitions.c.workspace_id == workspace_id,
                t.field_definitions.c.object_type == object_type.value,
            )
            .order_by(t.field_definitions.c.id)
        )
        return [
            FieldDef(
                id=r.id,
                key=r.key,
                label=r.label,
                type=FieldType(r.type),
                options=tuple(r.options),
                required=r.required,
            )
            for r in rows
        ]

    def add(
        self, workspace_id: int, object_type: ObjectType, field: FieldDef, created_at: datetime
    ) -> int:
        return int(
            self.conn.execute(
                insert(t.field_definitions)
                .values(
                    workspace_id=workspace_id,
                    object_type=object_type.value,
                    key=field.key,
                    label=field.label,
                    type=field.type.value,
                    options=list(field.options),
                    required=field.required,
                    created_at=created_at,
                )
                .returning(t.field_definitions.c.id)
            ).scalar_one()
        )

    def delete(self, workspace_id: int, object_type: ObjectType, key: str) -> bool:
        return bool(
            self.conn.execute(
                delete(t.field_definitions).where(
                    t.field_definitions.c.workspace_id == workspace_id,
                    t.field_definitions.c.object_type == object_type.value,
                    t.field_definitions.c.key == key,
                )
            ).rowcount
        )

"""Pipelines and stages, custom fields, users and tokens as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from stageflow.domain.fields import FieldDef
from stageflow.domain.pipelines import Pipeline


class StageOut(BaseModel):
    id: int
    name: str
    kind: str
    position: int


class PipelineOut(BaseModel):
    id: int
    object_type: str
    name: str
    is_default: bool
    position: int
    stages: list[StageOut]

    @classmethod
    def of(cls, p: Pipeline) -> PipelineOut:
        assert p.id is not None
        return cls(
            id=p.id,
            object_type=p.object_type.value,
            name=p.name,
            is_default=p.is_default,
            position=p.position,
            stages=[
                StageOut(id=s.id or 0, name=s.name, kind=s.kind.value, position=s.position)
                for s in sorted(p.stages, key=lambda s: s.position)
            ],
        )


class FieldOut(BaseModel):
    key: str
    label: str
    type: str
    options: list[str]
    picklist: str | None
    required: bool
    builtin: bool

    @classmethod
    def of(cls, f: FieldDef) -> FieldOut:
        return cls(
            key=f.key,
            label=f.label,
            type=f.type.value,
            options=list(f.options),
            picklist=f.picklist,
            required=f.required,
            builtin=f.builtin,
        )


class UserOut(BaseModel):
    id: int
    email: str
    name: str
    role: str
    permissions: list[str]
    active: bool
    created_at: datetime

    @classmethod
    def of(cls, row: Any) -> UserOut:
        return cls(
            id=row.id,
            email=row.email,
            name=row.name,
            role=row.role,
            permissions=list(row.permissions),
            active=row.active,
            created_at=row.created_at,
        )


class TokenOut(BaseModel):
    id: int
    user_id: int
    name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: Any) -> TokenOut:
        return cls(
            id=row.id,
            user_id=row.user_id,
            name=row.name,
            prefix=row.prefix,
            created_at=row.created_at,
            revoked_at=row.revoked_at,
        )


class NewTokenOut(BaseModel):
    token: str
    user_id: int
    note: str = "Store this token now: it is shown once and stored only as a hash."

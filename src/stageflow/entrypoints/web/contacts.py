"""What the contacts screen shows: the filter of its controls (lifecycle stage, search, a
saved segment) in the filter language, and one row per contact."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stageflow.domain.filters import AllOf, Filter, parse_filter
from stageflow.domain.lifecycle import LifecycleKind, LifecycleStage
from stageflow.domain.records import ObjectType, Record
from stageflow.entrypoints.web.auth import WebUser
from stageflow.entrypoints.web.board import parse_id, users_by_id
from stageflow.services.crm import segments
from stageflow.services.crm.lifecycle import list_stages
from stageflow.services.crm.records import list_records
from stageflow.services.unit_of_work import UnitOfWork

PAGE_SIZE = 50
NO_STAGE = "none"


@dataclass(frozen=True, slots=True)
class ContactFilters:
    """The controls above the list: ``stage`` is a stage id, ``"none"`` or empty."""

    stage: str = ""
    q: str = ""
    segment_id: int | None = None

    @classmethod
    def of(cls, stage: str | None, q: str | None, segment: str | None) -> ContactFilters:
        chosen = (stage or "").strip()
        if chosen != NO_STAGE and parse_id(chosen) is None:
            chosen = ""
        return cls(stage=chosen, q=(q or "").strip()[:200], segment_id=parse_id(segment))

    def own_filter(self) -> dict[str, Any] | None:
        """The stage and search as filter-language JSON (what "Save as segment" saves)."""
        parts: list[dict[str, Any]] = []
        if self.stage == NO_STAGE:
            parts.append({"field": "lifecycle_stage_id", "op": "is_empty"})
        elif self.stage:
            parts.append({"field": "lifecycle_stage_id", "op": "eq", "value": int(self.stage)})
        if self.q:
            parts.append(
                {
                    "any": [
                        {"field": "name", "op": "contains", "value": self.q},
                        {"field": "fields.email", "op": "contains", "value": self.q},
                    ]
                }
            )
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else {"all": parts}

    def query(self) -> dict[str, str]:
        out = {"stage": self.stage, "q": self.q}
        if self.segment_id is not None:
            out["segment"] = str(self.segment_id)
        return {k: v for k, v in out.items() if v}

    @property
    def active(self) -> bool:
        return bool(self.stage or self.q or self.segment_id)


@dataclass(frozen=True, slots=True)
class ContactRow:
    id: int
    version: int
    name: str
    email: str
    phone: str
    stage_id: int | None
    stage_label: str
    lost: bool
    owner_name: str


def stage_label(stage: LifecycleStage | None) -> str:
    if stage is None:
        return ""
    if stage.kind is LifecycleKind.LOST and stage.emoji:
        return f"{stage.emoji} {stage.name}"
    return stage.name


def rows_of(
    records: list[Record], stages: dict[int, LifecycleStage], names: dict[int, str]
) -> list[ContactRow]:
    rows = []
    for r in records:
        assert r.id is not None
        stage = stages.get(r.lifecycle_stage_id or 0)
        rows.append(
            ContactRow(
                id=r.id,
                version=r.version,
                name=r.name,
                email=str(r.fields.get("email") or ""),
                phone=str(r.fields.get("phone") or ""),
                stage_id=r.lifecycle_stage_id,
                stage_label=stage_label(stage),
                lost=stage is not None and stage.kind is LifecycleKind.LOST,
                owner_name=names.get(r.owner_id or 0, ""),
            )
        )
    return rows


def segments_of(uow: UnitOfWork, workspace_id: int) -> list[Any]:
    return [s for s in uow.segments.list(workspace_id) if s.object_type == ObjectType.CONTACT.value]


def contact_filter(uow: UnitOfWork, user: WebUser, filters: ContactFilters) -> Filter | None:
    """The controls' filter and, when a segment is chosen, the segment's filter, together."""
    parts: list[Filter] = []
    if filters.segment_id is not None:
        row = segments.get(uow, user.principal, filters.segment_id)
        parts.append(parse_filter(row.filter))
    own = filters.own_filter()
    if own is not None:
        parts.append(parse_filter(own))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else AllOf(all=parts)


def list_page(
    uow: UnitOfWork, user: WebUser, filters: ContactFilters, cursor: str | None
) -> tuple[list[ContactRow], str | None]:
    page = list_records(
        uow,
        user.principal,
        ObjectType.CONTACT,
        filter_=contact_filter(uow, user, filters),
        stage_id=None,
        pipeline_id=None,
        owner_id=None,
        cursor=cursor,
        limit=PAGE_SIZE,
    )
    stages = stages_by_id(uow, user)
    names = users_by_id(uow, user.principal.workspace_id)
    return rows_of(page.items, stages, names), page.next_cursor


def stages_by_id(uow: UnitOfWork, user: WebUser) -> dict[int, LifecycleStage]:
    return {s.id: s for s in list_stages(uow, user.principal) if s.id is not None}

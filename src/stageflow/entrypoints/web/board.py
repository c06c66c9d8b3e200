"""What a board shows: columns of a pipeline with their totals and cards, gathered from the
service layer (records are listed with ``services.records.list_records``, so an agent's
board holds only what the API would show them)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from stageflow.domain.errors import NotFound
from stageflow.domain.filters import AllOf, Condition, Filter, Op, parse_filter
from stageflow.domain.pipelines import Pipeline, Stage, StageKind
from stageflow.domain.records import BUILTIN_FIELDS, LOST_REASON_FIELDS, ObjectType, Record
from stageflow.entrypoints.web import queries
from stageflow.entrypoints.web.auth import WebUser, initials
from stageflow.entrypoints.web.render import days_ago, due_text, money
from stageflow.services.crm import segments
from stageflow.services.crm.records import list_records
from stageflow.services.unit_of_work import UnitOfWork

BOARD_TYPES = {
    "lead": ObjectType.LEAD,
    "deal": ObjectType.DEAL,
    "opportunity": ObjectType.OPPORTUNITY,
}
TITLES = {
    ObjectType.LEAD: "Leads",
    ObjectType.DEAL: "Deals",
    ObjectType.OPPORTUNITY: "Opportunities",
}
COLUMN_PAGE = 50  # cards a column shows before it loads more on scroll
LIST_PAGE = 50


@dataclass(frozen=True, slots=True)
class BoardFilters:
    """The board's filters as the URL carries them."""

    pipeline_id: int | None = None
    owner_id: int | None = None
    q: str = ""
    segment_id: int | None = None
    # The chosen segment's filter, once read (``with_segment``).
    segment_filter: Filter | None = None

    def record_filter(self) -> Filter | None:
        text = self.q.strip()
        parts: list[Filter] = [self.segment_filter] if self.segment_filter is not None else []
        if text:
            parts.append(Condition(field="name", op=Op.CONTAINS, value=text))
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else AllOf(all=parts)

    @property
    def narrowed(self) -> bool:
        """Whether a filter other than the pipeline leaves records out."""
        return bool(self.q or self.owner_id or self.segment_id)

    def query(self) -> dict[str, str]:
        """The filters as query parameters (for load-more links and the list pager)."""
        params = {"pipeline": str(self.pipeline_id or ""), "owner": str(self.owner_id or "")}
        if self.q:
            params["q"] = self.q
        if self.segment_id is not None:
            params["segment"] = str(self.segment_id)
        return params


def segments_of(uow: UnitOfWork, workspace_id: int, object_type: ObjectType) -> list[Any]:
    """The saved segments a board of this type can apply: those of its object type."""
    return [s for s in uow.segments.list(workspace_id) if s.object_type == object_type.value]


def with_segment(
    uow: UnitOfWork, user: WebUser, object_type: ObjectType, filters: BoardFilters
) -> BoardFilters:
    """The filters with the chosen segment's filter read (a segment of another object type
    is refused: its fields are not this board's)."""
    if filters.segment_id is None:
        return filters
    row = segments.get(uow, user.principal, filters.segment_id)
    if row.object_type != object_type.value:
        raise NotFound(
            f"segment '{row.name}' is a segment of {ObjectType(row.object_type).plural}, "
            f"not of {object_type.plural}"
        )
    return replace(filters, segment_filter=parse_filter(row.filter))


@dataclass(frozen=True, slots=True)
class Card:
    """One record as a card or a list row shows it."""

    id: int
    name: str
    version: int
    stage_id: int | None
    stage_name: str
    amount: str
    owner_name: str
    owner_initials: str
    in_stage: str
    next_activity: str
    next_overdue: bool


@dataclass(slots=True)
class Column:
    stage: Stage
    count: int
    total: str
    cards: list[Card] = field(default_factory=list)
    next_cursor: str | None = None

    @property
    def is_lost(self) -> bool:
        return self.stage.kind is StageKind.LOST


@dataclass(slots=True)
class Board:
    object_type: ObjectType
    slug: str
    title: str
    pipelines: list[Pipeline]
    pipeline: Pipeline
    filters: BoardFilters
    owners: list[tuple[int, str]]
    columns: list[Column]
    lost_reasons: list[dict[str, str]]
    segments: list[Any] = field(default_factory=list)

    @property
    def has_amounts(self) -> bool:
        return self.object_type in (ObjectType.DEAL, ObjectType.OPPORTUNITY)

    @property
    def total_count(self) -> int:
        return sum(c.count for c in self.columns)


def parse_id(raw: str | None) -> int | None:
    """An id from a form or query (empty or not a number: none)."""
    if raw is None or not raw.strip():
        return None
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if 0 < value < 2**63 else None


def board_type(slug: str) -> ObjectType:
    object_type = BOARD_TYPES.get(slug)
    if object_type is None:
        raise NotFound(f"there is no board of '{slug}'")
    return object_type


def pipeline_of(
    uow: UnitOfWork, user: WebUser, object_type: ObjectType, pipeline_id: int | None
) -> tuple[list[Pipeline], Pipeline]:
    """The pipelines of a type, and the chosen one (the default when none is chosen)."""
    pipelines = sorted(
        uow.pipelines.list(user.principal.workspace_id, object_type), key=lambda p: p.position
    )
    if not pipelines:
        raise NotFound(f"no {object_type.value} pipeline exists yet")
    chosen = next((p for p in pipelines if p.id == pipeline_id), None)
    chosen = chosen or next((p for p in pipelines if p.is_default), pipelines[0])
    chosen.stages.sort(key=lambda s: s.position)
    return pipelines, chosen


def users_by_id(uow: UnitOfWork, workspace_id: int) -> dict[int, str]:
    return {row.id: row.name for row in uow.users.list(workspace_id)}


def cards_of(
    uow: UnitOfWork, records: list[Record], pipeline: Pipeline, names: dict[int, str]
) -> list[Card]:
    now = uow.clock.now()
    upcoming = queries.next_activities(uow, [r.id for r in records if r.id is not None])
    stage_names = {s.id: s.name for s in pipeline.stages}
    cards = []
    for record in records:
        assert record.id is not None
        owner = names.get(record.owner_id) if record.owner_id is not None else None
        activity = upcoming.get(record.id)
        next_text, overdue = "", False
        if activity is not None:
            due, overdue = due_text(activity.due_at, now)
            next_text = f"{activity.type.capitalize()}: {activity.subject} · {due}"
        amount = record.fields.get("amount")
        cards.append(
            Card(
                id=record.id,
                name=record.name,
                version=record.version,
                stage_id=record.stage_id,
                stage_name=stage_names.get(record.stage_id, "another pipeline"),
                amount=money(amount, record.fields.get("currency")) if amount is not None else "",
                owner_name=owner or "No owner",
                owner_initials=initials(owner) if owner else "",
                in_stage=days_ago(record.stage_entered_at, now),
                next_activity=next_text,
                next_overdue=overdue,
            )
        )
    return cards


def column_cards(
    uow: UnitOfWork,
    user: WebUser,
    object_type: ObjectType,
    pipeline: Pipeline,
    stage_id: int,
    filters: BoardFilters,
    cursor: str | None,
    names: dict[int, str] | None = None,
) -> tuple[list[Card], str | None]:
    """One page of a column's cards, newest first, and the cursor of the next page."""
    page = list_records(
        uow,
        user.principal,
        object_type,
        filter_=filters.record_filter(),
        stage_id=stage_id,
        pipeline_id=pipeline.id,
        owner_id=filters.owner_id,
        cursor=cursor,
        limit=COLUMN_PAGE,
    )
    names = names if names is not None else users_by_id(uow, user.principal.workspace_id)
    return cards_of(uow, page.items, pipeline, names), page.next_cursor


def totals_text(total: queries.StageTotal | None) -> str:
    if total is None or not total.amounts:
        return ""
    return " + ".join(money(v, k or None) for k, v in sorted(total.amounts.items()))


def load_board(
    uow: UnitOfWork, user: WebUser, object_type: ObjectType, filters: BoardFilters
) -> Board:
    ws = user.principal.workspace_id
    pipelines, pipeline = pipeline_of(uow, user, object_type, filters.pipeline_id)
    assert pipeline.id is not None
    names = users_by_id(uow, ws)
    totals = queries.stage_totals(
        uow,
        user.principal,
        object_type,
        pipeline_id=pipeline.id,
        filter_=filters.record_filter(),
        owner_id=filters.owner_id,
    )
    columns = []
    for stage in pipeline.stages:
        assert stage.id is not None
        total = totals.get(stage.id)
        column = Column(stage=stage, count=total.count if total else 0, total=totals_text(total))
        if column.count:
            column.cards, column.next_cursor = column_cards(
                uow, user, object_type, pipeline, stage.id, filters, None, names
            )
        columns.append(column)
    return Board(
        object_type=object_type,
        slug=object_type.value,
        title=TITLES[object_type],
        pipelines=pipelines,
        pipeline=pipeline,
        filters=filters,
        owners=sorted(names.items(), key=lambda item: item[1].lower()),
        columns=columns,
        lost_reasons=lost_reasons(uow, ws, object_type),
        segments=segments_of(uow, ws, object_type),
    )


def column_head(
    uow: UnitOfWork,
    user: WebUser,
    object_type: ObjectType,
    pipeline: Pipeline,
    filters: BoardFilters,
    stage_ids: set[int],
) -> list[Column]:
    """Fresh counts and totals of some columns (after a move)."""
    assert pipeline.id is not None
    totals = queries.stage_totals(
        uow,
        user.principal,
        object_type,
        pipeline_id=pipeline.id,
        filter_=filters.record_filter(),
        owner_id=filters.owner_id,
    )
    heads = []
    for stage in pipeline.stages:
        if stage.id in stage_ids:
            total = totals.get(stage.id)
            heads.append(
                Column(stage=stage, count=total.count if total else 0, total=totals_text(total))
            )
    return heads


def lost_reasons(
    uow: UnitOfWork, workspace_id: int, object_type: ObjectType
) -> list[dict[str, str]]:
    key = LOST_REASON_FIELDS.get(object_type)
    picklist = next((f.picklist for f in BUILTIN_FIELDS[object_type] if f.key == key), None)
    if picklist is None:
        return []
    options: list[Any] = uow.picklists.all(workspace_id).get(picklist, [])
    return [{"value": o["value"], "label": o.get("label") or o["value"]} for o in options]


def list_page(
    uow: UnitOfWork,
    user: WebUser,
    object_type: ObjectType,
    filters: BoardFilters,
    cursor: str | None,
) -> tuple[Board, list[Card], str | None]:
    """The list view: the board's header data (no columns), one page of the pipeline's
    records, newest first, and the cursor of the next page."""
    pipelines, pipeline = pipeline_of(uow, user, object_type, filters.pipeline_id)
    page = list_records(
        uow,
        user.principal,
        object_type,
        filter_=filters.record_filter(),
        stage_id=None,
        pipeline_id=pipeline.id,
        owner_id=filters.owner_id,
        cursor=cursor,
        limit=LIST_PAGE,
    )
    names = users_by_id(uow, user.principal.workspace_id)
    board = Board(
        object_type=object_type,
        slug=object_type.value,
        title=TITLES[object_type],
        pipelines=pipelines,
        pipeline=pipeline,
        filters=filters,
        owners=sorted(names.items(), key=lambda item: item[1].lower()),
        columns=[],
        lost_reasons=[],
        segments=segments_of(uow, user.principal.workspace_id, object_type),
    )
    return board, cards_of(uow, page.items, pipeline, names), page.next_cursor

"""The assign_owner action: who takes the record — in turn (round robin), whoever holds the
fewest open records (least loaded), or by ordered assignment criteria on the record's fields
(SPEC E3). It fills the owner or a user field (an installer, a salesperson) with a user, or a
company field (the installer company, the sales company) with a partner company."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from stageflow.actions.ports import ActionContext
from stageflow.actions.registry import SaveContext, SettingsInvalid, registry
from stageflow.domain.errors import ValidationFailed
from stageflow.domain.filters import conditions, evaluate, parse_filter
from stageflow.domain.references import FILTER, RefKind, refers

CORE_FIELDS = frozenset({"name", "owner_id", "source", "pipeline_id", "stage_id"})


class Criterion(BaseModel):
    model_config = ConfigDict(extra="forbid")
    condition: dict[str, Any] = Field(
        description='e.g. {"field": "region", "op": "eq", ...}', json_schema_extra=refers(FILTER)
    )
    user_id: int | None = Field(
        None,
        description="Who takes it (owner or a user field)",
        json_schema_extra=refers(RefKind.USER),
    )
    company_id: int | None = Field(None, description="Which company takes it (a company field)")

    @model_validator(mode="after")
    def _one(self) -> Criterion:
        if (self.user_id is None) == (self.company_id is None):
            raise ValueError("a criterion names a user_id or a company_id")
        return self


class AssignOwner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    strategy: Literal["round_robin", "least_loaded", "criteria"]
    users: list[int] = Field(
        default_factory=list,
        description="The team, for round_robin and least_loaded",
        json_schema_extra=refers(RefKind.USER),
    )
    companies: list[int] = Field(
        default_factory=list,
        description="Partner companies, for round_robin and least_loaded into a company field",
    )
    criteria: list[Criterion] = Field(
        default_factory=list, description="For criteria: the first whose condition holds wins"
    )
    fallback_user_id: int | None = Field(
        None, description="For criteria: when none holds", json_schema_extra=refers(RefKind.USER)
    )
    fallback_company_id: int | None = Field(None, description="The same, for a company field")
    target: str = Field(
        "owner",
        description="'owner', a user field (installer) or a company field",
        json_schema_extra=refers(RefKind.FIELD),
    )
    only_if_empty: bool = Field(False, description="Leave an existing assignment alone")


def _check(ctx: SaveContext, settings: AssignOwner) -> None:
    if ctx.object_type is None:
        raise SettingsInvalid("assign_owner needs a record")
    if settings.target in ctx.extra.get("company_fields", frozenset()):
        _check_companies(ctx, settings)
        return
    if settings.strategy == "criteria":
        _check_criteria(ctx, settings)
    elif not settings.users:
        raise SettingsInvalid(f"{settings.strategy} needs the users to choose from", "users")
    if (
        settings.companies
        or settings.fallback_company_id is not None
        or any(c.company_id is not None for c in settings.criteria)
    ):
        raise SettingsInvalid(
            f"companies are assigned to a company field, and '{settings.target}' is not one",
            "target",
        )
    wanted = [*settings.users, *(c.user_id for c in settings.criteria)]
    if settings.fallback_user_id is not None:
        wanted.append(settings.fallback_user_id)
    for user_id in wanted:
        if user_id is None or user_id not in ctx.user_ids:
            raise SettingsInvalid(f"there is no user {user_id}", "users")
    if settings.target != "owner" and settings.target not in ctx.extra.get(
        "user_fields", frozenset()
    ):
        raise SettingsInvalid(
            f"'{settings.target}' is neither 'owner' nor a user or company field of "
            f"{ctx.object_type}s",
            "target",
        )


def _check_criteria(ctx: SaveContext, settings: AssignOwner) -> None:
    if not settings.criteria:
        raise SettingsInvalid(
            "assignment by criteria needs assignment criteria: at least one "
            "{condition, user_id or company_id}",
            "criteria",
        )
    known = ctx.record_fields | CORE_FIELDS
    for i, criterion in enumerate(settings.criteria):
        try:
            node = parse_filter(criterion.condition, field_name=f"criteria.{i}.condition")
        except ValidationFailed as exc:
            raise SettingsInvalid(exc.message, f"criteria.{i}.condition") from None
        for condition in conditions(node):
            if condition.field.removeprefix("fields.") not in known:
                raise SettingsInvalid(
                    f"{ctx.object_type}s have no field '{condition.field}'",
                    f"criteria.{i}.condition",
                )


def _check_companies(ctx: SaveContext, settings: AssignOwner) -> None:
    """Assigning a partner company: criteria name companies, and the companies exist."""
    if (
        settings.users
        or settings.fallback_user_id is not None
        or any(c.user_id is not None for c in settings.criteria)
    ):
        raise SettingsInvalid(
            f"'{settings.target}' is a company field: assign companies (company_id), not users",
            "target",
        )
    if settings.strategy == "criteria":
        _check_criteria(ctx, settings)
    elif not settings.companies:
        raise SettingsInvalid(
            f"{settings.strategy} needs the companies to choose from", "companies"
        )
    exists = ctx.extra.get("company_exists", lambda _company_id: False)
    wanted = [*settings.companies, *(c.company_id for c in settings.criteria)]
    if settings.fallback_company_id is not None:
        wanted.append(settings.fallback_company_id)
    for company_id in wanted:
        if company_id is None or not exists(company_id):
            raise SettingsInvalid(f"there is no company {company_id}", "companies")


@registry.register(
    "assign_owner",
    AssignOwner,
    description="Assign the record (owner or a user field): round robin, least loaded, or "
    "by assignment criteria",
    check=_check,
)
def assign_owner(ctx: ActionContext, settings: AssignOwner) -> dict[str, Any]:
    assert ctx.record_id is not None
    record = ctx.crm.record(ctx.record_id)
    field = None if settings.target == "owner" else settings.target
    current = record.get("owner_id" if field is None else field)
    if settings.only_if_empty and current is not None:
        return {"assigned": current, "reason": f"{settings.target} was already set"}
    user_id, reason = _choose(ctx, settings, record, field)
    if user_id is None:
        return {"assigned": None, "reason": reason}
    if user_id != current:
        if field is None:
            ctx.crm.update_record(ctx.record_id, owner_id=user_id)
        else:
            ctx.crm.update_record(ctx.record_id, fields={field: user_id})
    return {"assigned": user_id, "target": settings.target, "reason": reason}


def _companies(settings: AssignOwner) -> bool:
    """Whether these settings assign companies (into a company field) rather than users."""
    return bool(
        settings.companies
        or settings.fallback_company_id is not None
        or any(c.company_id is not None for c in settings.criteria)
    )


def _choose(
    ctx: ActionContext, settings: AssignOwner, record: Any, field: str | None
) -> tuple[int | None, str]:
    companies = _companies(settings)
    who = "company" if companies else "user"
    if companies:
        team = [
            c
            for c in dict.fromkeys(settings.companies)
            if ctx.crm.record(c).get("object") == "company"
        ]
        fallback = settings.fallback_company_id
    else:
        team = list(dict.fromkeys(u for u in settings.users if ctx.crm.user(u) is not None))
        fallback = settings.fallback_user_id
    if settings.strategy == "criteria":
        values = {**record, **{f"fields.{k}": v for k, v in record.items()}}
        for i, criterion in enumerate(settings.criteria):
            if evaluate(parse_filter(criterion.condition), values):
                chosen = criterion.company_id if companies else criterion.user_id
                return chosen, f"criterion {i + 1} holds"
        if fallback is not None:
            return fallback, f"no criterion holds: the fallback {who}"
        return None, f"no criterion holds and there is no fallback {who}"
    if not team:
        return None, f"none of the {who}s is in the workspace any more"
    if settings.strategy == "round_robin":
        turn = ctx.crm.next_turn(ctx.scope or "assign")
        return team[(turn - 1) % len(team)], f"round robin, turn {turn}"
    load = ctx.crm.open_load(str(record.get("object")), team, field)
    chosen = min(team, key=lambda u: load[u])  # ties: the first listed
    return chosen, f"least loaded ({load[chosen]} open)"

"""The assign_owner action: who takes the record — in turn (round robin), whoever holds the
fewest open records (least loaded), or by ordered assignment criteria on the record's fields
(SPEC E3). It can fill the owner or a user field (an installer, a salesperson)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from stageflow.actions.ports import ActionContext
from stageflow.actions.registry import SaveContext, SettingsInvalid, registry
from stageflow.domain.errors import ValidationFailed
from stageflow.domain.filters import conditions, evaluate, parse_filter

CORE_FIELDS = frozenset({"name", "owner_id", "source", "pipeline_id", "stage_id"})


class Criterion(BaseModel):
    model_config = ConfigDict(extra="forbid")
    condition: dict[str, Any] = Field(description='e.g. {"field": "region", "op": "eq", ...}')
    user_id: int


class AssignOwner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    strategy: Literal["round_robin", "least_loaded", "criteria"]
    users: list[int] = Field(
        default_factory=list, description="The team, for round_robin and least_loaded"
    )
    criteria: list[Criterion] = Field(
        default_factory=list, description="For criteria: the first whose condition holds wins"
    )
    fallback_user_id: int | None = Field(None, description="For criteria: when none holds")
    target: str = Field("owner", description="'owner' or a user field, e.g. installer")
    only_if_empty: bool = Field(False, description="Leave an existing assignment alone")


def _check(ctx: SaveContext, settings: AssignOwner) -> None:
    if ctx.object_type is None:
        raise SettingsInvalid("assign_owner needs a record")
    if settings.strategy == "criteria":
        if not settings.criteria:
            raise SettingsInvalid(
                "assignment by criteria needs assignment criteria: at least one "
                "{condition, user_id}",
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
    elif not settings.users:
        raise SettingsInvalid(f"{settings.strategy} needs the users to choose from", "users")
    wanted = [*settings.users, *(c.user_id for c in settings.criteria)]
    if settings.fallback_user_id is not None:
        wanted.append(settings.fallback_user_id)
    for user_id in wanted:
        if user_id not in ctx.user_ids:
            raise SettingsInvalid(f"there is no user {user_id}", "users")
    if settings.target != "owner" and settings.target not in ctx.extra.get(
        "user_fields", frozenset()
    ):
        raise SettingsInvalid(
            f"'{settings.target}' is neither 'owner' nor a user field of {ctx.object_type}s",
            "target",
        )


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


def _choose(
    ctx: ActionContext, settings: AssignOwner, record: Any, field: str | None
) -> tuple[int | None, str]:
    team = list(dict.fromkeys(u for u in settings.users if ctx.crm.user(u) is not None))
    if settings.strategy == "criteria":
        values = {**record, **{f"fields.{k}": v for k, v in record.items()}}
        for i, criterion in enumerate(settings.criteria):
            if evaluate(parse_filter(criterion.condition), values):
                return criterion.user_id, f"criterion {i + 1} holds"
        if settings.fallback_user_id is not None:
            return settings.fallback_user_id, "no criterion holds: the fallback user"
        return None, "no criterion holds and there is no fallback user"
    if not team:
        return None, "none of the users is in the workspace any more"
    if settings.strategy == "round_robin":
        turn = ctx.crm.next_turn(ctx.scope or "assign")
        return team[(turn - 1) % len(team)], f"round robin, turn {turn}"
    load = ctx.crm.open_load(str(record.get("object")), team, field)
    chosen = min(team, key=lambda u: load[u])  # ties: the first listed
    return chosen, f"least loaded ({load[chosen]} open)"

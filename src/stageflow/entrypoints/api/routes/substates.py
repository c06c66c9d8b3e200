"""`/api/v1/opportunities/{id}/substates`: an opportunity's sub-states (SPEC E1)."""

from __future__ import annotations

from enum import Enum
from typing import Any

from fastapi import APIRouter, Depends, Path

from stageflow.domain.records import ObjectType
from stageflow.entrypoints.api.deps import Caller, PathId, get_caller
from stageflow.services.crm import substates as service

router = APIRouter()
S: list[str | Enum] = ["Opportunity sub-states"]
Name = Path(min_length=1, max_length=100, description="The sub-state, e.g. installation")


def _out(rows: list[Any]) -> list[dict[str, Any]]:
    return [
        {
            "substate": r.substate,
            "status": r.status,
            "opened_at": r.opened_at,
            "closed_at": r.closed_at,
        }
        for r in rows
    ]


@router.get("/opportunities/{record_id}/substates", tags=S, summary="Its sub-states")
def list_substates(record_id: PathId, caller: Caller = Depends(get_caller)) -> list[dict[str, Any]]:
    with caller.uow(read_only=True) as uow:
        return _out(service.substates(uow, caller.principal, record_id))


@router.post(
    "/opportunities/{record_id}/substates/{name}/open",
    tags=S,
    summary="Open a sub-state (nothing changes if it is open)",
)
def open_substate(
    record_id: PathId, name: str = Name, caller: Caller = Depends(get_caller)
) -> dict[str, Any]:
    with caller.uow() as uow:
        changed = service.open_substate(
            uow, caller.principal, record_id, name, caller.actor, ObjectType.OPPORTUNITY
        )
        rows = service.substates(uow, caller.principal, record_id)
        uow.commit()
    return {"changed": changed, "substates": _out(rows)}


@router.post(
    "/opportunities/{record_id}/substates/{name}/close",
    tags=S,
    summary="Close a sub-state (nothing changes if it is not open)",
)
def close_substate(
    record_id: PathId, name: str = Name, caller: Caller = Depends(get_caller)
) -> dict[str, Any]:
    with caller.uow() as uow:
        changed = service.close_substate(
            uow, caller.principal, record_id, name, caller.actor, ObjectType.OPPORTUNITY
        )
        rows = service.substates(uow, caller.principal, record_id)
        uow.commit()
    return {"changed": changed, "substates": _out(rows)}

"""The lifecycle dashboard (SPEC L9): live counts per stage, kept in the transactions that
change them, and the stage-to-stage changes of the last 30 days."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from stageflow.domain.lifecycle import LifecycleKind, LifecycleStage, Tally
from stageflow.domain.users import Permission, Principal
from stageflow.services.crm.lifecycle import stage_view
from stageflow.services.unit_of_work import UnitOfWork

CONVERSION_WINDOW = timedelta(days=30)


def dashboard(uow: UnitOfWork, principal: Principal) -> dict[str, Any]:
    """L9: per lifecycle stage (lost stages apart) the live counts of contacts and of their
    open, snoozed and unassigned conversations; the stage-to-stage changes of the last 30
    days. A few indexed reads: nothing here grows with the number of contacts."""
    principal.require(Permission.RECORDS_READ_ALL)
    ws = principal.workspace_id
    stages = uow.lifecycle.stages(ws)
    counts = uow.lifecycle.counts(ws)
    since = uow.clock.now() - CONVERSION_WINDOW
    moves = uow.lifecycle.transitions(ws, since)
    workspace = uow.workspaces.get(ws)

    def card(stage: LifecycleStage) -> dict[str, Any]:
        tally = counts.get(stage.id or 0, Tally())
        entered = sum(n for (_, to), n in moves.items() if to == stage.id)
        left = sum(n for (source, _), n in moves.items() if source == stage.id)
        return {
            **stage_view(stage),
            "contacts": tally.contacts,
            "open_conversations": tally.open,
            "snoozed_conversations": tally.snoozed,
            "unassigned_conversations": tally.unassigned,
            "entered_30d": entered,
            "left_30d": left,
        }

    none = counts.get(0, Tally())
    names = {s.id: s.name for s in stages}
    return {
        "enabled": bool(workspace and workspace.settings.get("lifecycle_enabled", True)),
        "lifecycle": [card(s) for s in stages if s.kind is LifecycleKind.LIFECYCLE],
        "lost": [card(s) for s in stages if s.kind is LifecycleKind.LOST],
        "no_stage": {
            "contacts": none.contacts,
            "open_conversations": none.open,
            "snoozed_conversations": none.snoozed,
            "unassigned_conversations": none.unassigned,
        },
        "conversion_30d": {
            "since": since.isoformat(),
            "transitions": [
                {
                    "from_stage_id": source or None,
                    "from_stage": names.get(source),
                    "to_stage_id": to or None,
                    "to_stage": names.get(to),
                    "changes": n,
                }
                for (source, to), n in sorted(moves.items())
            ],
            "steps": _conversion_steps(stages, moves),
        },
    }


def _conversion_steps(
    stages: list[LifecycleStage], moves: dict[tuple[int, int], int]
) -> list[dict[str, Any]]:
    """For each lifecycle stage: of the contacts that entered it in the window, how many went
    on to a later lifecycle stage, and how many to a lost stage."""
    lifecycle = [s for s in stages if s.kind is LifecycleKind.LIFECYCLE]
    rank = {s.id: i for i, s in enumerate(lifecycle)}
    lost = {s.id for s in stages if s.kind is LifecycleKind.LOST}
    steps = []
    for stage in lifecycle:
        entered = sum(n for (_, to), n in moves.items() if to == stage.id)
        forward = sum(
            n
            for (source, to), n in moves.items()
            if source == stage.id and to in rank and rank[to] > rank[stage.id]
        )
        to_lost = sum(n for (source, to), n in moves.items() if source == stage.id and to in lost)
        steps.append(
            {
                "stage_id": stage.id,
                "stage": stage.name,
                "entered": entered,
                "advanced": forward,
                "lost": to_lost,
                "advanced_rate": round(forward / entered, 4) if entered else None,
            }
        )
    return steps


def recount(uow: UnitOfWork, workspace_id: int) -> list[int]:
    """Rebuild a workspace's live counts from the data (a repair tool; also the check that
    the counts kept in every transaction agree with a full scan). Returns the stage ids
    (0: no stage) whose counts differed."""
    kept = uow.lifecycle.counts(workspace_id)
    actual = uow.lifecycle.recount(workspace_id)
    differing = sorted(
        stage
        for stage in set(kept) | set(actual)
        if kept.get(stage, Tally()) != actual.get(stage, Tally())
    )
    uow.lifecycle.replace_counts(workspace_id, actual)
    uow.lifecycle.rebuild_daily(workspace_id)
    return differing

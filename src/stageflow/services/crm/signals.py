"""What the CRM tells the rest of stageflow without knowing it.

The CRM sits below the automation authoring: a CRM module never imports an automation module.
Where a CRM change concerns automations (a new workspace gets its lead automation, a stage
with rules is deleted, an opportunity type is renamed), the CRM sends a signal here and the
rooms above connect their handlers to it (``services/authoring/wiring.py``, connected by the
composition root). Handlers run inside the sender's unit of work: one that raises (a
``Conflict`` naming what uses the thing) refuses the change, and what the others wrote rolls
back with it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, ParamSpec

from stageflow.domain.events import Actor
from stageflow.domain.opportunity_types import OpportunityType
from stageflow.domain.pipelines import Pipeline
from stageflow.domain.records import ObjectType
from stageflow.domain.references import RefKind
from stageflow.services.unit_of_work import UnitOfWork

P = ParamSpec("P")


class Signal(Generic[P]):
    """A named list of handlers called in the order they were connected."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._handlers: list[Callable[P, None]] = []

    def connect(self, handler: Callable[P, None]) -> None:
        """Connecting the same handler twice keeps one."""
        if handler not in self._handlers:
            self._handlers.append(handler)

    def disconnect(self, handler: Callable[P, None]) -> None:
        if handler in self._handlers:
            self._handlers.remove(handler)

    def send(self, *args: P.args, **kwargs: P.kwargs) -> None:
        for handler in self._handlers:
            handler(*args, **kwargs)

    def __repr__(self) -> str:
        return f"Signal({self.name!r}, {len(self._handlers)} handlers)"


workspace_created: Signal[[UnitOfWork, int, Actor]] = Signal("workspace_created")
"""(uow, workspace id, actor): the workspace has its users, pipelines and lifecycle stages."""

default_pipeline_changing: Signal[[UnitOfWork, int, ObjectType]] = Signal(
    "default_pipeline_changing"
)
"""(uow, workspace id, object type): another pipeline is about to become the default."""

stage_deleting: Signal[[UnitOfWork, Pipeline, int]] = Signal("stage_deleting")
"""(uow, pipeline, stage id): raise to keep the stage; else remove what hangs on it."""

pipeline_deleting: Signal[[UnitOfWork, Pipeline]] = Signal("pipeline_deleting")
"""(uow, pipeline): raise to keep it; else remove what hangs on its stages."""

opportunity_type_renamed: Signal[[UnitOfWork, int, str, OpportunityType, Actor]] = Signal(
    "opportunity_type_renamed"
)
"""(uow, workspace id, old name, the type as renamed, actor)."""

opportunity_type_deleting: Signal[[UnitOfWork, int, str]] = Signal("opportunity_type_deleting")
"""(uow, workspace id, type name)."""

reference_deleting: Signal[[UnitOfWork, int, RefKind, str, str]] = Signal("reference_deleting")
"""(uow, workspace id, kind, key, label): a thing automations may name (``RefKind`` and key, as
``domain/references`` spells them; the label names it for people, e.g. "stage 'Proposal'") is
about to be deleted, renamed or switched off. Raise Conflict to keep it. Sent after the
kind's own signal, so what hangs on the thing itself (a stage's rules) is already gone."""


def check_unreferenced(
    uow: UnitOfWork, workspace_id: int, kind: RefKind, key: object, label: str
) -> None:
    """Ask whether automations refer to the thing about to go; refused with a Conflict if so."""
    reference_deleting.send(uow, workspace_id, kind, str(key), label)

"""A definition's nested steps flattened into a graph: every step knows what comes next.

The run cursor is a step id; loop counters live beside it. A step inside loops is identified,
for idempotency, by its id plus the counters of the loops around it (its *iteration key*).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from stageflow.automation.definitions import (
    BranchStep,
    Definition,
    LoopStep,
    Step,
    WaitUntilStep,
)


class GraphError(ValueError):
    """The step graph is malformed; ``step`` names the step at fault."""

    def __init__(self, message: str, step: str | None = None) -> None:
        super().__init__(message)
        self.step = step


@dataclass
class Graph:
    steps: dict[str, Step] = field(default_factory=dict)
    first: str | None = None
    next: dict[str, str | None] = field(default_factory=dict)
    loops_around: dict[str, tuple[str, ...]] = field(default_factory=dict)
    branch_first: dict[tuple[str, int], str | None] = field(default_factory=dict)
    otherwise_first: dict[str, str | None] = field(default_factory=dict)
    body_first: dict[str, str | None] = field(default_factory=dict)
    timeout_first: dict[str, str | None] = field(default_factory=dict)

    def step(self, step_id: str) -> Step:
        try:
            return self.steps[step_id]
        except KeyError:
            raise GraphError(f"no step '{step_id}' in this version", step_id) from None

    def iteration_key(self, step_id: str, loops: dict[str, int]) -> str:
        """Identifies one execution of a step: its loops' counters (and its own, for a loop)."""
        around = self.loops_around.get(step_id, ())
        if isinstance(self.steps.get(step_id), LoopStep):
            around = (*around, step_id)
        return "/".join(f"{loop}:{loops.get(loop, 0)}" for loop in around)

    def all_steps(self) -> list[Step]:
        return list(self.steps.values())


def compile_graph(definition: Definition) -> Graph:
    graph = Graph()
    graph.first = _link(graph, definition.steps, after=None, loops=())
    return graph


def _link(
    graph: Graph, steps: Sequence[Step], *, after: str | None, loops: tuple[str, ...]
) -> str | None:
    """Register ``steps`` (a sequence ending in ``after``) and return the first step id."""
    for index, step in enumerate(steps):
        if step.id in graph.steps:
            raise GraphError(f"two steps have the id '{step.id}'", step.id)
        graph.steps[step.id] = step
        following = steps[index + 1].id if index + 1 < len(steps) else after
        graph.next[step.id] = following
        graph.loops_around[step.id] = loops
        _link_children(graph, step, following, loops)
    return steps[0].id if steps else after


def _link_children(graph: Graph, step: Any, following: str | None, loops: tuple[str, ...]) -> None:
    if isinstance(step, BranchStep):
        for i, branch in enumerate(step.branches):
            graph.branch_first[(step.id, i)] = _link(
                graph, branch.steps, after=following, loops=loops
            )
        graph.otherwise_first[step.id] = _link(
            graph, step.otherwise or [], after=following, loops=loops
        )
    elif isinstance(step, LoopStep):
        graph.body_first[step.id] = _link(graph, step.steps, after=step.id, loops=(*loops, step.id))
    elif isinstance(step, WaitUntilStep):
        graph.timeout_first[step.id] = _link(graph, step.on_timeout, after=following, loops=loops)

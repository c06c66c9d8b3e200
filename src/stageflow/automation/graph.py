"""A definition's nested steps flattened into a graph: every step knows what comes next.

The run cursor is a step id; loop counters live beside it. A step inside loops is identified,
for idempotency, by its id plus the counters of the loops around it (its *iteration key*).

A version is compiled once per process and then read for every step of every run, so what
the interpreter reads per step is precomputed into plain slotted ``Node``s; the pydantic steps
stay what is validated, saved and handed to the ports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stageflow.automation.definitions import (
    BranchStep,
    Definition,
    LoopStep,
    Step,
    WaitUntilStep,
)
from stageflow.domain.filters import Filter, parse_filter


class GraphError(ValueError):
    """The step graph is malformed; ``step`` names the step at fault."""

    def __init__(self, message: str, step: str | None = None) -> None:
        super().__init__(message)
        self.step = step


@dataclass(frozen=True, slots=True)
class Node:
    """One step as the interpreter runs it: its type, the step after it and the loops whose
    counters name one execution of it (those around it, and itself for a loop)."""

    id: str
    type: str
    step: Step
    next: str | None
    key_loops: tuple[str, ...]

    def iteration_key(self, loops: Mapping[str, int]) -> str:
        if not self.key_loops:
            return ""
        return "/".join(f"{loop}:{loops.get(loop, 0)}" for loop in self.key_loops)


@dataclass
class Graph:
    steps: dict[str, Step] = field(default_factory=dict)
    nodes: dict[str, Node] = field(default_factory=dict)
    first: str | None = None
    next: dict[str, str | None] = field(default_factory=dict)
    loops_around: dict[str, tuple[str, ...]] = field(default_factory=dict)
    branch_first: dict[tuple[str, int], str | None] = field(default_factory=dict)
    otherwise_first: dict[str, str | None] = field(default_factory=dict)
    body_first: dict[str, str | None] = field(default_factory=dict)
    timeout_first: dict[str, str | None] = field(default_factory=dict)
    # id(condition) -> (condition, parsed): holding the condition keeps its id from being reused
    _conditions: dict[int, tuple[dict[str, Any], Filter]] = field(default_factory=dict, repr=False)

    def step(self, step_id: str) -> Step:
        return self.node(step_id).step

    def node(self, step_id: str) -> Node:
        try:
            return self.nodes[step_id]
        except KeyError:
            raise GraphError(f"no step '{step_id}' in this version", step_id) from None

    def iteration_key(self, step_id: str, loops: Mapping[str, int]) -> str:
        """Identifies one execution of a step: its loops' counters (and its own, for a loop)."""
        node = self.nodes.get(step_id)
        return node.iteration_key(loops) if node is not None else ""

    def condition(self, raw: dict[str, Any]) -> Filter:
        """One of this version's step conditions, parsed on first use: conditions are checked
        when saved, and a run reads them again at every branch, loop turn and wait."""
        cached = self._conditions.get(id(raw))
        if cached is None or cached[0] is not raw:
            cached = (raw, parse_filter(raw))
            self._conditions[id(raw)] = cached
        return cached[1]

    def all_steps(self) -> list[Step]:
        return list(self.steps.values())


def compile_graph(definition: Definition) -> Graph:
    graph = Graph()
    graph.first = _link(graph, definition.steps, after=None, loops=())
    for step_id, step in graph.steps.items():
        loops = graph.loops_around[step_id]
        key_loops = (*loops, step_id) if isinstance(step, LoopStep) else loops
        graph.nodes[step_id] = Node(step_id, step.type, step, graph.next[step_id], key_loops)
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

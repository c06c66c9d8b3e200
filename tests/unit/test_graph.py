"""A version's steps compiled once: what follows each step, what names its executions, and its
conditions parsed on first use."""

from __future__ import annotations

from stageflow.automation.definitions import Definition, LoopStep
from stageflow.automation.graph import compile_graph
from stageflow.domain.filters import parse_filter

DEFINITION = Definition.model_validate(
    {
        "trigger": {"type": "record_created", "object_type": "deal"},
        "steps": [
            {
                "id": "source",
                "type": "branch",
                "branches": [
                    {
                        "condition": {"field": "source", "op": "eq", "value": "web_form"},
                        "steps": [{"id": "web", "type": "action", "action": "x"}],
                    }
                ],
                "otherwise": [{"id": "other", "type": "action", "action": "y"}],
            },
            {
                "id": "count",
                "type": "loop",
                "while": {"field": "vars.i", "op": "lt", "value": 3},
                "steps": [{"id": "inc", "type": "set_variable", "variable": "i", "increment": 1}],
            },
            {"id": "week", "type": "delay", "duration": "P7D"},
        ],
    }
)


def test_each_node_knows_its_type_what_follows_and_its_loops() -> None:
    graph = compile_graph(DEFINITION)
    nodes = {
        node.id: (node.type, node.next, node.key_loops, node.step is graph.steps[node.id])
        for node in graph.nodes.values()
    }
    assert nodes == {
        "source": ("branch", "count", (), True),
        "web": ("action", "count", (), True),
        "other": ("action", "count", (), True),
        "count": ("loop", "week", ("count",), True),
        "inc": ("set_variable", "count", ("count",), True),
        "week": ("delay", None, (), True),
    }
    assert graph.iteration_key("inc", {"count": 2}) == "count:2"
    assert graph.iteration_key("week", {"count": 2}) == ""


def test_a_condition_is_parsed_once_per_version() -> None:
    graph = compile_graph(DEFINITION)
    loop = DEFINITION.steps[1]
    assert isinstance(loop, LoopStep)
    condition = loop.condition
    parsed = graph.condition(condition)
    assert parsed == parse_filter(condition)
    assert graph.condition(condition) is parsed
    assert graph.condition(dict(condition)) == parsed

"""The interpreter, driven through a fake port: no database, no clock but a variable."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from stageflow.automation.definitions import ActionStep, Definition, DelayStep
from stageflow.automation.durations import parse_duration
from stageflow.automation.graph import GraphError, compile_graph
from stageflow.automation.interpreter import (
    RecordGone,
    RunState,
    StepFailed,
    StepResult,
    advance,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class FakePort:
    def __init__(self, values: dict[str, Any]) -> None:
        self.record_values = values
        self.clock = T0
        self.results: list[StepResult] = []
        self.performed: list[tuple[str, str]] = []
        self.fail_with: StepFailed | None = None
        self.gone = False

    def now(self) -> datetime:
        return self.clock

    def values(self) -> Mapping[str, Any]:
        if self.gone:
            raise RecordGone()
        return self.record_values

    def perform(
        self, step: ActionStep, iteration: str, variables: dict[str, Any]
    ) -> dict[str, Any]:
        if self.fail_with is not None:
            raise self.fail_with
        self.performed.append((step.id, iteration))
        if step.action == "set_field":
            self.record_values[step.settings["field"]] = step.settings["value"]
        return {"ok": True}

    def delay_until(self, step: DelayStep, now: datetime) -> datetime:
        assert step.duration is not None
        return parse_duration(step.duration).after(now)

    def render(self, template: str, variables: dict[str, Any]) -> str:
        return template.replace("{{ vars.n }}", str(variables.get("n")))

    def record(self, result: StepResult) -> None:
        self.results.append(result)


def _definition(steps: list[dict[str, Any]], **extra: Any) -> Definition:
    return Definition.model_validate(
        {"trigger": {"type": "record_created", "object_type": "lead"}, "steps": steps, **extra}
    )


def _start(definition: Definition) -> RunState:
    return RunState(cursor=compile_graph(definition).first, variables=dict(definition.variables))


def set_field(step_id: str, field: str, value: Any) -> dict[str, Any]:
    return {
        "id": step_id,
        "type": "action",
        "action": "set_field",
        "settings": {"field": field, "value": value},
    }


# The Bitrix24 business process of SPEC W: a web-form lead gets its branch and status; seven
# days later the follow-up happens only if the status did not change meanwhile.
BUSINESS_PROCESS = [
    {
        "id": "source",
        "type": "branch",
        "branches": [
            {
                "name": "web form",
                "condition": {"field": "source", "op": "eq", "value": "web_form"},
                "steps": [set_field("auto", "status", "auto_processing")],
            },
            {
                "name": "message",
                "condition": {"field": "name", "op": "contains", "value": "message"},
                "steps": [set_field("msg", "status", "in_progress")],
            },
        ],
        "otherwise": [set_field("manual", "status", "open")],
    },
    {"id": "wait", "type": "delay", "duration": "P7D"},
    {
        "id": "check",
        "type": "branch",
        "branches": [
            {
                "condition": {"field": "status", "op": "neq", "value": "auto_processing"},
                "steps": [{"id": "stop", "type": "end", "reason": "the lead moved on"}],
            },
        ],
    },
    {"id": "follow_up", "type": "action", "action": "notify", "settings": {}},
]


def test_business_process_web_form_branch_then_follow_up() -> None:
    definition = _definition(BUSINESS_PROCESS)
    graph, state = compile_graph(definition), _start(definition)
    port = FakePort({"source": "web_form", "name": "Lead", "status": "new"})
    outcome = advance(graph, state, port)
    assert outcome.status == "waiting" and outcome.wake_at == T0 + timedelta(days=7)
    assert port.record_values["status"] == "auto_processing"

    port.clock = T0 + timedelta(days=7)
    outcome = advance(graph, RunState.from_json(state.to_json()), port)  # as if restarted
    assert outcome.status == "completed"
    assert [p[0] for p in port.performed] == ["auto", "follow_up"]
    assert [r.step_id for r in port.results] == ["source", "auto", "wait", "check", "follow_up"]


def test_business_process_stops_when_status_changed_during_the_pause() -> None:
    definition = _definition(BUSINESS_PROCESS)
    graph, state = compile_graph(definition), _start(definition)
    port = FakePort({"source": "web_form", "name": "Lead", "status": "new"})
    advance(graph, state, port)
    port.record_values["status"] = "in_progress"  # a user changed it within the seven days
    port.clock += timedelta(days=7)
    outcome = advance(graph, state, port)
    assert outcome.status == "completed"
    assert [p[0] for p in port.performed] == ["auto"]
    assert port.results[-1].step_id == "stop"


@pytest.mark.parametrize(
    ("values", "branch_step"),
    [
        ({"source": "email", "name": "A message for you", "status": "new"}, "msg"),
        ({"source": "phone", "name": "Call", "status": "new"}, "manual"),
    ],
)
def test_first_true_branch_wins_else_otherwise(values: dict[str, Any], branch_step: str) -> None:
    definition = _definition(BUSINESS_PROCESS)
    port = FakePort(values)
    advance(compile_graph(definition), _start(definition), port)
    assert port.performed[0][0] == branch_step


@pytest.mark.parametrize("n", [0, 1, 5])
def test_while_loop_with_counter_runs_exactly_n_times(n: int) -> None:
    definition = _definition(
        [
            {
                "id": "loop",
                "type": "loop",
                "while": {"field": "vars.i", "op": "lt", "value": n},
                "steps": [
                    {"id": "work", "type": "action", "action": "touch", "settings": {}},
                    {"id": "inc", "type": "set_variable", "variable": "i", "increment": 1},
                ],
            }
        ],
        variables={"i": 0},
    )
    state, port = _start(definition), FakePort({})
    assert advance(compile_graph(definition), state, port).status == "completed"
    assert [p[1] for p in port.performed] == [f"loop:{k}" for k in range(1, n + 1)]
    keys = [(r.step_id, r.iteration) for r in port.results]
    assert len(keys) == len(set(keys)), "every step execution has its own idempotency key"
    assert state.variables["i"] == n


def test_loop_stops_at_max_iterations() -> None:
    definition = _definition(
        [
            {
                "id": "loop",
                "type": "loop",
                "while": {"field": "name", "op": "is_not_empty"},
                "max_iterations": 3,
                "steps": [{"id": "w", "type": "action", "action": "x"}],
            }
        ]
    )
    port = FakePort({"name": "forever"})
    assert advance(compile_graph(definition), _start(definition), port).status == "completed"
    assert len(port.performed) == 3
    assert port.results[-1].output == {"exit": "max_iterations", "iterations": 3}


def test_nested_loops_reset_the_inner_counter() -> None:
    inner = {
        "id": "inner",
        "type": "loop",
        "while": {"field": "vars.j", "op": "lt", "value": 2},
        "steps": [
            {"id": "act", "type": "action", "action": "x"},
            {"id": "j", "type": "set_variable", "variable": "j", "increment": 1},
        ],
    }
    definition = _definition(
        [
            {
                "id": "outer",
                "type": "loop",
                "while": {"field": "vars.i", "op": "lt", "value": 3},
                "steps": [
                    {"id": "reset", "type": "set_variable", "variable": "j", "value": 0},
                    inner,
                    {"id": "i", "type": "set_variable", "variable": "i", "increment": 1},
                ],
            }
        ],
        variables={"i": 0},
    )
    port = FakePort({})
    advance(compile_graph(definition), _start(definition), port)
    assert [p[1] for p in port.performed] == [
        f"outer:{o}/inner:{i}" for o in (1, 2, 3) for i in (1, 2)
    ]


def test_wait_until_event_or_timeout() -> None:
    definition = _definition(
        [
            {
                "id": "wait",
                "type": "wait_until",
                "event": "StageChanged",
                "timeout": "P3D",
                "on_timeout": [{"id": "nudge", "type": "action", "action": "remind"}],
            },
            {"id": "done", "type": "action", "action": "thank"},
        ]
    )
    graph = compile_graph(definition)

    state, port = _start(definition), FakePort({})
    assert advance(graph, state, port).wait_event == "StageChanged"
    port.clock += timedelta(days=1)
    assert advance(graph, state, port, event="FieldChanged").status == "waiting"
    assert advance(graph, state, port, event="StageChanged").status == "completed"
    assert [p[0] for p in port.performed] == ["done"]

    state, port = _start(definition), FakePort({})
    advance(graph, state, port)
    port.clock += timedelta(days=3)
    assert advance(graph, state, port).status == "completed"
    assert [p[0] for p in port.performed] == ["nudge", "done"]


def test_failed_action_reports_and_keeps_the_cursor_for_a_retry() -> None:
    definition = _definition([set_field("a", "x", 1), set_field("b", "y", 2)])
    graph, state, port = compile_graph(definition), _start(definition), FakePort({})
    port.fail_with = StepFailed("SMTP said 421", retryable=True)
    outcome = advance(graph, state, port)
    assert (outcome.status, outcome.retryable, outcome.failed_step) == ("failed", True, "a")
    assert state.cursor == "a" and port.results[-1].error == "SMTP said 421"
    port.fail_with = None
    assert advance(graph, state, port).status == "completed"
    assert [p[0] for p in port.performed] == ["a", "b"]


def test_deleted_record_cancels_the_run() -> None:
    definition = _definition(
        [
            {
                "id": "b",
                "type": "branch",
                "branches": [{"condition": {"field": "x", "op": "eq", "value": 1}, "steps": []}],
            }
        ]
    )
    port = FakePort({})
    port.gone = True
    assert advance(compile_graph(definition), _start(definition), port).status == "cancelled"


def test_duplicate_step_ids_are_refused_naming_the_step() -> None:
    definition = _definition(
        [
            set_field("same", "a", 1),
            {
                "id": "l",
                "type": "loop",
                "while": {"field": "a", "op": "eq", "value": 1},
                "steps": [set_field("same", "b", 1)],
            },
        ]
    )
    with pytest.raises(GraphError) as error:
        compile_graph(definition)
    assert error.value.step == "same"


def test_set_variable_from_template_keeps_numbers() -> None:
    definition = _definition(
        [{"id": "t", "type": "set_variable", "variable": "m", "template": "{{ vars.n }}"}],
        variables={"n": 41},
    )
    state = _start(definition)
    advance(compile_graph(definition), state, FakePort({}))
    assert state.variables["m"] == 41


def test_every_step_row_names_its_execution_loop_steps_by_their_own_counter_too() -> None:
    inner = {
        "id": "inner",
        "type": "loop",
        "while": {"field": "vars.j", "op": "lt", "value": 1},
        "steps": [{"id": "j", "type": "set_variable", "variable": "j", "increment": 1}],
    }
    definition = _definition(
        [
            {
                "id": "outer",
                "type": "loop",
                "while": {"field": "vars.i", "op": "lt", "value": 1},
                "steps": [
                    inner,
                    {"id": "i", "type": "set_variable", "variable": "i", "increment": 1},
                ],
            },
            {"id": "end", "type": "end", "outcome": "cancelled", "reason": "done"},
        ],
        variables={"i": 0, "j": 0},
    )
    port = FakePort({})
    outcome = advance(compile_graph(definition), _start(definition), port)
    assert (outcome.status, outcome.error) == ("cancelled", "done")
    assert [(r.step_id, r.iteration, r.type) for r in port.results] == [
        ("outer", "outer:0", "loop"),
        ("inner", "outer:1/inner:0", "loop"),
        ("j", "outer:1/inner:1", "set_variable"),
        ("inner", "outer:1/inner:1", "loop"),
        ("i", "outer:1", "set_variable"),
        ("outer", "outer:1", "loop"),
        ("end", "", "end"),
    ]


def test_a_cursor_on_a_step_the_version_lacks_names_it() -> None:
    definition = _definition([set_field("a", "x", 1)])
    with pytest.raises(GraphError) as error:
        advance(compile_graph(definition), RunState(cursor="gone"), FakePort({}))
    assert error.value.step == "gone"

""" "Why didn't it run?" in words: every reason code the engine records has its sentence, and
a failed condition names its field, the value it had and what the automation needed."""

from __future__ import annotations

import ast
import inspect
import textwrap

import pytest

from stageflow.domain.filters import Op, parse_filter, unmet
from stageflow.services.engine import enrollment
from stageflow.services.engine.skip_reasons import SENTENCES, explain


def _codes_in_refusal() -> set[str]:
    """The first item of every tuple ``Enroller.refusal`` returns: the codes it emits."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(enrollment.Enroller.refusal)))
    codes = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Return) and isinstance(node.value, ast.Tuple):
            first = node.value.elts[0]
            assert isinstance(first, ast.Constant), ast.dump(first)
            codes.add(first.value)
    return codes


def test_every_reason_the_engine_emits_is_declared_and_has_a_sentence() -> None:
    emitted = _codes_in_refusal()
    assert emitted, "no reason codes found in Enroller.refusal"
    assert emitted == enrollment.SKIP_REASONS
    assert set(SENTENCES) == enrollment.SKIP_REASONS
    for code in enrollment.SKIP_REASONS:
        sentence = explain(code, "some detail")
        assert sentence[0].isupper() and sentence.endswith("."), (code, sentence)


def _conditions_detail(condition: dict[str, object], values: dict[str, object]) -> str:
    return f"the automation's conditions were not met: {unmet(parse_filter(condition), values)}"


@pytest.mark.parametrize(
    ("condition", "values", "sentence"),
    [
        (
            {"field": "amount", "op": "gt", "value": 1000},
            {"amount": 300},
            "Amount was 300; the automation needs it to be more than 1000.",
        ),
        (
            {"field": "lead_status", "op": "eq", "value": "Open"},
            {"lead_status": "Connected"},
            "Lead status was “Connected”; the automation needs it to be “Open”.",
        ),
        (
            {"field": "close_date", "op": "is_not_empty"},
            {},
            "Close date was empty; the automation needs it to be filled in.",
        ),
        (
            {"field": "source", "op": "in", "value": ["web", "fair"]},
            {"source": "phone"},
            "Source was “phone”; the automation needs it to be one of ['web', 'fair'].",
        ),
    ],
)
def test_a_failed_condition_names_its_field_its_value_and_what_was_needed(
    condition: dict[str, object], values: dict[str, object], sentence: str
) -> None:
    assert explain("conditions_not_met", _conditions_detail(condition, values)) == sentence


def test_every_operator_has_words() -> None:
    for op in Op:
        condition: dict[str, object] = {"field": "amount", "op": op.value}
        if op not in (Op.IS_EMPTY, Op.IS_NOT_EMPTY):
            condition["value"] = [1] if op in (Op.IN, Op.NOT_IN) else 1
        text = explain("conditions_not_met", _conditions_detail(condition, {"amount": 2}))
        assert text.startswith("Amount was 2; the automation needs it"), (op, text)


def test_a_lead_moved_back_by_hand_is_said_so() -> None:
    detail = _conditions_detail(
        {"field": "stage_locked_at", "op": "is_empty"}, {"stage_locked_at": "2026-01-02T09:00"}
    )
    assert explain("conditions_not_met", detail).startswith("The lead was moved back by hand")


def test_the_loop_guard_and_an_unknown_code() -> None:
    detail = "the event was caused by a chain of 5 automations; the limit is 5"
    assert explain("loop_guard", detail) == (
        "The loop guard stopped it: the change came from a chain of 5 automations each "
        "starting the next, and at most 5 may chain."
    )
    assert explain("rate_limited", "too many") == "Not enrolled (rate limited): too many."

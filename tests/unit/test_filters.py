"""The filter language, evaluated in Python (automation conditions)."""

from __future__ import annotations

from typing import Any

import pytest

from stageflow.domain.errors import ValidationFailed
from stageflow.domain.filters import conditions, evaluate, parse_filter

RECORD = {"name": "Solar Roof", "amount": 1200, "source": "web_form", "city": None}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"field": "amount", "op": "gt", "value": 1000}, True),
        ({"field": "amount", "op": "lte", "value": 1000}, False),
        ({"field": "source", "op": "eq", "value": "web_form"}, True),
        ({"field": "source", "op": "in", "value": ["email", "phone"]}, False),
        ({"field": "name", "op": "contains", "value": "ROOF"}, True),
        ({"field": "name", "op": "starts_with", "value": "sol"}, True),
        ({"field": "city", "op": "is_empty"}, True),
        ({"field": "missing", "op": "gt", "value": 1}, False),
        (
            {
                "all": [
                    {"field": "amount", "op": "gt", "value": 1},
                    {"not": {"field": "source", "op": "eq", "value": "email"}},
                ]
            },
            True,
        ),
        (
            {
                "any": [
                    {"field": "amount", "op": "lt", "value": 1},
                    {"field": "name", "op": "contains", "value": "message"},
                ]
            },
            False,
        ),
        ({"all": []}, True),
        ({"any": []}, False),
    ],
)
def test_evaluate(raw: dict[str, Any], expected: bool) -> None:
    assert evaluate(parse_filter(raw), RECORD) is expected


def test_changed_to_and_from_look_at_the_change() -> None:
    node = parse_filter({"field": "status", "op": "changed_to", "value": "open"})
    assert evaluate(node, {"status": "open"}, {"status": ("new", "open")})
    assert not evaluate(node, {"status": "open"}, {})
    node = parse_filter({"field": "status", "op": "changed_from", "value": "new"})
    assert evaluate(node, {"status": "open"}, {"status": ("new", "open")})


def test_comparing_incomparable_values_is_false_not_an_error() -> None:
    assert not evaluate(parse_filter({"field": "name", "op": "gt", "value": 3}), RECORD)


@pytest.mark.parametrize(
    "raw",
    [
        {"field": "amount", "op": "between", "value": 1},
        {"field": "amount", "op": "in", "value": 3},
        {"field": "amount", "op": "gt"},
        {"every": []},
        "amount > 3",
        {"field": "amount", "op": "gt", "value": 1, "extra": True},
    ],
)
def test_bad_filters_are_rejected(raw: Any) -> None:
    with pytest.raises(ValidationFailed):
        parse_filter(raw)


def test_depth_is_limited() -> None:
    node: dict[str, Any] = {"field": "a", "op": "eq", "value": 1}
    for _ in range(12):
        node = {"not": node}
    with pytest.raises(ValidationFailed, match="deeper"):
        parse_filter(node)


def test_conditions_lists_every_leaf() -> None:
    node = parse_filter(
        {
            "all": [
                {"field": "a", "op": "eq", "value": 1},
                {"any": [{"field": "b", "op": "is_empty"}]},
            ]
        }
    )
    assert [c.field for c in conditions(node)] == ["a", "b"]

"""What users read — API descriptions, action and definition schemas, CLI help — speaks their
language: no requirement labels ("SPEC B/H", "H5", "(E7)") and no "a opportunity"."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from unittest.mock import MagicMock

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from stageflow.actions import registry
from stageflow.automation.definitions import Definition
from stageflow.entrypoints.api.app import create_app
from stageflow.entrypoints.cli import cli

LABELS = re.compile(r"\bSPEC\b|\b(?:[HBEMLW][1-9]|L10|X[1-7])\b|\b[aA] opportunit")


def _labels(text: str) -> list[str]:
    return [m.group(0) for m in LABELS.finditer(text)]


def test_the_api_description_has_no_requirement_labels() -> None:
    spec = json.dumps(create_app(MagicMock()).openapi())
    found = {m for m in re.findall(r'"[^"]*"', spec) if _labels(m)}
    assert not found


def test_actions_and_definitions_describe_themselves_without_labels() -> None:
    texts: list[str] = [json.dumps(Definition.model_json_schema())]
    for name in registry.names():
        action: Any = registry.get(name)
        texts += [action.description, json.dumps(action.settings.model_json_schema())]
    found = {label for text in texts for label in _labels(text)}
    assert not found, found


def _commands(command: Any, path: list[str]) -> Iterator[list[str]]:
    yield path
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, [*path, name])


@pytest.mark.parametrize("path", list(_commands(get_command(cli), [])), ids=" ".join)
def test_cli_help_has_no_requirement_labels(path: list[str]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    assert not _labels(result.output), result.output


def test_record_routes_use_the_right_article() -> None:
    spec = create_app(MagicMock()).openapi()
    summaries = [op["summary"] for ops in spec["paths"].values() for op in ops.values()]
    assert "Create an opportunity" in summaries and "Create a deal" in summaries

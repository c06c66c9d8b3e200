"""What is wrong with an automations file, and where: problems told with file, line and field."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from stageflow.domain.errors import StageflowError


@dataclass
class Problem:
    line: int | None
    where: str
    message: str

    def told(self, filename: str) -> str:
        at = f"{filename}:{self.line}" if self.line else filename
        return f"{at}: {self.where}: {self.message}"


@dataclass
class Outcome:
    created: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


class CodeInvalid(StageflowError):
    code = "validation_error"
    status = 422

    def __init__(self, problems: list[Problem], filename: str) -> None:
        super().__init__("\n".join(p.told(filename) for p in problems))
        self.problems = problems


def dotted(path: list[Any]) -> str:
    return ".".join(str(p) for p in path)


def problem_at(node: yaml.Node | None, path: list[Any], exc: StageflowError) -> Problem:
    field_parts: list[Any] = exc.field.split(".") if exc.field else []
    full = [*path, *field_parts]
    where = ".".join(str(p) for p in full)
    return Problem(line_of(node, full), where, exc.message)


def line_of(node: yaml.Node | None, path: list[Any]) -> int | None:
    """The 1-based line of the deepest part of ``path`` found in the YAML node tree (a key's
    own line for a mapping entry). A part that names a step (by its id) is looked for among
    the steps below; a setting missing from a step is looked for in its ``settings``."""
    if node is None:
        return None
    line = int(node.start_mark.line) + 1
    for part in path:
        key, value = _child(node, part)
        if value is None:
            break
        node = value
        line = int((key or value).start_mark.line) + 1
    return line


def _child(node: yaml.Node, part: Any) -> tuple[yaml.Node | None, yaml.Node | None]:
    """The entry ``part`` names below ``node``: (its key node, if a mapping's; its value)."""
    if isinstance(node, yaml.SequenceNode):
        text = str(part)
        if text.isdigit() and int(text) < len(node.value):
            return None, node.value[int(text)]
        return None, _with_id(node, text)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == str(part):
                return key, value
        for key, value in node.value:
            if key.value == "settings":
                return _child(value, part)
    return None, None


def _with_id(node: yaml.Node, step_id: str) -> yaml.Node | None:
    """The mapping with ``id: step_id`` anywhere below ``node``."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == "id" and isinstance(value, yaml.ScalarNode) and value.value == step_id:
                return node
        children = [value for _, value in node.value]
    elif isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    else:
        return None
    for child in children:
        found = _with_id(child, step_id)
        if found is not None:
            return found
    return None

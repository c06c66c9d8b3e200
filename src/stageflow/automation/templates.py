"""Templates: Jinja2 in a sandbox; references are checked on save (X6), empty values render empty.

A template may only read fields that exist: an unknown field or name is refused when the
automation is saved. At run time a field that exists but has no value (``None``, or a record with
no associated contact) renders as empty text, and ``default`` supplies a fallback for it:
``{{ contact.first_name | default("there") }}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jinja2 import ChainableUndefined, TemplateError, nodes
from jinja2.filters import do_default
from jinja2.sandbox import SandboxedEnvironment

ROOTS = frozenset({"record", "contact", "company", "owner", "vars", "trigger", "now"})


class TemplateProblem(ValueError):
    """A template that cannot be saved or rendered; the message names the problem."""


def _blank_none(value: Any) -> Any:
    """What an output expression prints: nothing for a value that is not there."""
    return "" if value is None else value


def _default(value: Any, default_value: Any = "", boolean: bool = False) -> Any:
    """Jinja's ``default``, also for a field that exists but holds no value (``None``)."""
    return default_value if value is None else do_default(value, default_value, boolean)


def _environment(*, autoescape: bool) -> SandboxedEnvironment:
    # Names are checked when the automation is saved (``check``); at run time what is not there
    # (no value, no associated contact, ``contact.company.name`` of no contact) reads as empty.
    env = SandboxedEnvironment(
        undefined=ChainableUndefined, autoescape=autoescape, finalize=_blank_none
    )
    env.filters["default"] = env.filters["d"] = _default
    return env


_env = _environment(autoescape=False)
# For HTML (email bodies, reports): values are escaped, so a record's text cannot add markup
# (links, images) to what is sent or printed.
_html_env = _environment(autoescape=True)


@lru_cache(maxsize=4096)
def _parse(source: str) -> nodes.Template:
    try:
        return _env.parse(source)
    except TemplateError as exc:
        raise TemplateProblem(f"template syntax error: {exc}") from None


@lru_cache(maxsize=4096)
def _compiled(source: str) -> Any:
    return _env.from_string(source)


@lru_cache(maxsize=1024)
def _compiled_html(source: str) -> Any:
    return _html_env.from_string(source)


def references(source: str) -> set[str]:
    """Dotted names a template reads, e.g. {"record.name", "contact.email"}.

    Refuses anything but plain reads of the known roots: no private attributes, no
    attributes of literals (the classic ``''.__class__.__mro__`` escape), no calls.
    """
    found: set[str] = set()
    tree = _parse(source)
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Name, nodes.Call)):
        if isinstance(node, nodes.Call):
            raise TemplateProblem("templates cannot call functions or methods")
        if isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
            raise TemplateProblem(f"'{node.attr}' cannot be used in a template")
    for node in tree.find_all(nodes.Getattr):
        if not isinstance(node.node, nodes.Getattr | nodes.Name):
            raise TemplateProblem("templates may only read fields, e.g. {{ record.name }}")
    for node in tree.find_all(nodes.Name):
        if node.ctx == "load" and node.name not in ROOTS and not _is_loop_var(tree, node.name):
            raise TemplateProblem(
                f"unknown name '{node.name}' in template (known: {', '.join(sorted(ROOTS))})"
            )
    for node in tree.find_all(nodes.Getattr):
        path = _dotted(node)
        if path:
            found.add(path)
    return found


def _is_loop_var(tree: nodes.Template, name: str) -> bool:
    return any(
        isinstance(t.target, nodes.Name) and t.target.name == name for t in tree.find_all(nodes.For)
    )


def _dotted(node: nodes.Node) -> str | None:
    parts: list[str] = []
    while isinstance(node, nodes.Getattr):
        parts.append(node.attr)
        node = node.node
    if isinstance(node, nodes.Name) and node.name in ROOTS:
        parts.append(node.name)
        return ".".join(reversed(parts[-2:] if len(parts) > 2 else parts))
    return None


def check(source: str, known_fields: Mapping[str, set[str]]) -> None:
    """Raise TemplateProblem if the template reads a field that does not exist.

    ``known_fields`` maps a root (``record``, ``contact``…) to its field names; ``vars`` and
    ``trigger`` are not checked (their names come from the run).
    """
    for path in references(source):
        root, _, name = path.partition(".")
        if root in ("vars", "trigger", "now") or not name:
            continue
        fields = known_fields.get(root)
        if fields is not None and name not in fields:
            raise TemplateProblem(f"template uses '{path}', but {root} has no field '{name}'")


def render(source: str, context: Mapping[str, Any]) -> str:
    try:
        return str(_compiled(source).render(**context))
    except TemplateError as exc:
        raise TemplateProblem(f"template could not be rendered: {exc}") from None


def render_html(source: str, context: Mapping[str, Any]) -> str:
    """Like render, with the values HTML-escaped (the template's own markup stays)."""
    try:
        return str(_compiled_html(source).render(**context))
    except TemplateError as exc:
        raise TemplateProblem(f"template could not be rendered: {exc}") from None

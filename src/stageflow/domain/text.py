"""Text a database can store: no NUL characters (PostgreSQL refuses them) and no lone
surrogates (they cannot be encoded as UTF-8)."""

from __future__ import annotations

from typing import Any

from stageflow.domain.errors import ValidationFailed

MAX_DEPTH = 32


def problem(text: str) -> str | None:
    """What is wrong with ``text``, or None."""
    if "\x00" in text:
        return "contains a NUL character"
    if text.isascii():  # constant time for Python's compact strings: the common case
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains characters that are not valid Unicode"
    return None


def check_storable(value: Any, path: str, depth: int = 0) -> None:
    """Raise ValidationFailed naming the first string (key or value) that cannot be stored."""
    if depth > MAX_DEPTH:
        raise ValidationFailed("the input nests too deeply", field=path or None)
    if isinstance(value, str):
        issue = problem(value)
        if issue:
            raise ValidationFailed(f"'{path or 'value'}' {issue}", field=path or None)
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and problem(key):
                raise ValidationFailed(
                    f"a key in '{path or 'body'}' {problem(key)}", field=path or None
                )
            check_storable(item, f"{path}.{key}" if path else str(key), depth + 1)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            check_storable(item, f"{path}.{index}" if path else str(index), depth + 1)


def a_or_an(word: str) -> str:
    """The word with its indefinite article: "a deal", "an opportunity", "an admin"."""
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"

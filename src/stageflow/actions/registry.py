"""The action registry: action types register with a decorator (STYLE pattern 3).

A duplicate name is an error, and a failed registration leaves the registry untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from stageflow.actions.ports import ActionContext

S = TypeVar("S", bound=BaseModel)


class RegistryError(ValueError):
    """A registration that cannot be accepted."""


class SettingsInvalid(ValueError):
    """Action settings that do not validate; ``field`` names the setting."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class SaveContext:
    """What save-time checks of an action may consult (fields, stages, users, prerequisites)."""

    object_type: str | None
    record_fields: frozenset[str]
    stage_ids: frozenset[int]
    stages_by_object: dict[str, frozenset[int]] = field(default_factory=dict)
    user_ids: frozenset[int] = frozenset()
    fields_by_object: dict[str, frozenset[str]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ActionType(Generic[S]):
    name: str
    settings: type[S]
    run: Callable[[ActionContext, S], dict[str, Any]]
    description: str
    external: bool = False
    check: Callable[[SaveContext, S], None] | None = None

    def parse(self, raw: dict[str, Any]) -> S:
        try:
            return self.settings.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or None
            raise SettingsInvalid(
                f"{where}: {first['msg']}" if where else first["msg"], where
            ) from None


class Registry:
    def __init__(self) -> None:
        self._types: dict[str, ActionType[Any]] = {}

    def register(
        self,
        name: str,
        settings: type[S],
        *,
        description: str,
        external: bool = False,
        check: Callable[[SaveContext, S], None] | None = None,
    ) -> Callable[
        [Callable[[ActionContext, S], dict[str, Any]]], Callable[[ActionContext, S], dict[str, Any]]
    ]:
        if not name.isidentifier():
            raise RegistryError(f"'{name}' is not a valid action name")
        if not (isinstance(settings, type) and issubclass(settings, BaseModel)):
            raise RegistryError(f"settings of '{name}' must be a pydantic model")

        def decorator(
            run: Callable[[ActionContext, S], dict[str, Any]],
        ) -> Callable[[ActionContext, S], dict[str, Any]]:
            if name in self._types:
                raise RegistryError(f"an action named '{name}' is already registered")
            self._types[name] = ActionType(
                name=name,
                settings=settings,
                run=run,
                description=description,
                external=external,
                check=check,
            )
            return run

        return decorator

    def get(self, name: str) -> ActionType[Any]:
        try:
            return self._types[name]
        except KeyError:
            known = ", ".join(sorted(self._types))
            raise SettingsInvalid(f"unknown action '{name}' (known: {known})", "action") from None

    def names(self) -> list[str]:
        return sorted(self._types)

    def schemas(self) -> dict[str, dict[str, Any]]:
        """JSON schema of each action's settings: drives the API docs and the UI forms."""
        return {
            name: {
                "description": t.description,
                "external": t.external,
                "settings": t.settings.model_json_schema(),
            }
            for name, t in sorted(self._types.items())
        }


registry = Registry()

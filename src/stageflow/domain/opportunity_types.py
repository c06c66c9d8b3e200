"""Opportunity types (SPEC E1): each has ordered states and named sub-states; a sub-state
belongs to one of the type's states or to the type as a whole. An opportunity's
``opportunity_type`` field names its type; its sub-states open and close independently."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from stageflow.domain.errors import ValidationFailed
from stageflow.domain.text import problem

MAX_NAME = 100
MAX_STATES = 50
MAX_SUBSTATES = 200


@dataclass(frozen=True, slots=True)
class Substate:
    name: str
    state: str | None = None  # None: it belongs to the type, not to one state


@dataclass(frozen=True, slots=True)
class OpportunityType:
    name: str
    states: tuple[str, ...]
    substates: tuple[Substate, ...]

    @property
    def substate_names(self) -> list[str]:
        return [s.name for s in self.substates]

    def has_substate(self, name: str) -> bool:
        return any(s.name == name for s in self.substates)

    def unknown_substate(self, name: str) -> str:
        """The message for a sub-state this type does not have."""
        known = ", ".join(f"'{n}'" for n in self.substate_names) or "none yet"
        return f"opportunity type '{self.name}' has no sub-state '{name}' (its sub-states: {known})"


def check_name(text: str, what: str, field: str) -> str:
    """A trimmed name of 1 to MAX_NAME storable characters."""
    text = text.strip()
    if not text or len(text) > MAX_NAME:
        raise ValidationFailed(f"{what} is named in 1 to {MAX_NAME} characters", field=field)
    if issue := problem(text):
        raise ValidationFailed(f"{what} '{text}' {issue}", field=field)
    return text


def make_type(name: str, states: Sequence[str], substates: Sequence[Substate]) -> OpportunityType:
    """Check a type's shape: unique state and sub-state names, each sub-state's state one of
    the type's states. Errors name the offending entry."""
    name = check_name(name, "an opportunity type", "name")
    if len(states) > MAX_STATES:
        raise ValidationFailed(f"a type has at most {MAX_STATES} states", field="states")
    if len(substates) > MAX_SUBSTATES:
        raise ValidationFailed(f"a type has at most {MAX_SUBSTATES} sub-states", field="substates")
    clean_states = tuple(check_name(s, "a state", f"states.{i}") for i, s in enumerate(states))
    _unique(clean_states, "state", "states")
    clean: list[Substate] = []
    for i, sub in enumerate(substates):
        sub_name = check_name(sub.name, "a sub-state", f"substates.{i}.name")
        state = sub.state.strip() if sub.state is not None else None
        if state is not None and state not in clean_states:
            known = ", ".join(f"'{s}'" for s in clean_states) or "none"
            raise ValidationFailed(
                f"sub-state '{sub_name}' belongs to state '{state}', which is not one of the "
                f"type's states ({known})",
                field=f"substates.{i}.state",
            )
        clean.append(Substate(sub_name, state))
    _unique(tuple(s.name for s in clean), "sub-state", "substates")
    return OpportunityType(name, clean_states, tuple(clean))


def _unique(names: tuple[str, ...], what: str, field: str) -> None:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name.casefold() in seen:
            raise ValidationFailed(f"the {what} '{name}' is listed twice", field=f"{field}.{i}")
        seen.add(name.casefold())

"""Rules as users configure them (stage rules, SPEC B; sub-state actions, SPEC E) and how they
compile onto the engine: a rule is one action with its timing and conditions, and the rules
that run one after another form one straight-line workflow (DESIGN "Automations").

A rule's conditions are checked when it is about to act, after its wait: a repeat lead due six
months after Closed Won is created only if the deal still meets them then.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Timing(BaseModel):
    """When a rule acts once it is started: at once when nothing is set."""

    model_config = ConfigDict(extra="forbid")
    after: str | None = Field(None, description="ISO 8601 duration, e.g. P6M")
    business_hours: bool = Field(False, description="Count `after` in business hours")
    field: str | None = Field(None, description="A date field of the record")
    offset: str = Field("PT0S", description="With field: e.g. -P1D, the day before")
    at: str | None = Field(None, description='A time of day, e.g. "tomorrow 09:00"')

    @model_validator(mode="after")
    def _one_kind(self) -> Timing:
        given = [n for n in ("after", "field", "at") if getattr(self, n) is not None]
        if len(given) > 1:
            raise ValueError(f"timing takes one of after, field and at, not {' and '.join(given)}")
        if self.business_hours and self.after is None:
            raise ValueError("business_hours goes with after")
        return self

    @property
    def immediate(self) -> bool:
        return self.after is None and self.field is None and self.at is None


class RuleSpec(BaseModel):
    """What a user sets on a rule; saved as the rule's ``spec``."""

    model_config = ConfigDict(extra="forbid")
    timing: Timing = Field(default_factory=Timing)
    after_previous: bool = Field(
        False, description="Start when the previous rule of the same place has finished"
    )
    conditions: dict[str, Any] | None = Field(
        None, description="Filter language; checked when the rule is about to act"
    )
    action: str = Field(description="An action type of GET /actions")
    settings: dict[str, Any] = Field(default_factory=dict)
    channels: list[str] | None = Field(
        None, description="Act only for records from these channels; empty: all"
    )
    comment: str = Field("", max_length=2000)
    enabled: bool = True
    keep_on_exit: bool = Field(
        False, description="Stage rules: keep running when the record leaves the stage first"
    )


class Rule(BaseModel):
    """A stored rule as the compiler needs it."""

    id: int
    name: str
    spec: RuleSpec


def chains(rules: Sequence[Rule]) -> list[list[Rule]]:
    """Group enabled rules, in order, into runs: a rule that starts after the previous one
    joins that one's run; any other rule starts a run of its own."""
    found: list[list[Rule]] = []
    for rule in rules:
        if not rule.spec.enabled:
            continue
        if rule.spec.after_previous and found:
            found[-1].append(rule)
        else:
            found.append([rule])
    return found


def rule_steps(prefix: str, name: str, spec: RuleSpec) -> list[dict[str, Any]]:
    """A rule as engine steps: ``<prefix>-wait`` (its timing), ``<prefix>-if`` (its
    conditions) and ``<prefix>`` (its action)."""
    steps: list[dict[str, Any]] = []
    timing = spec.timing
    if not timing.immediate:
        wait: dict[str, Any] = {"id": f"{prefix}-wait", "type": "delay", "name": f"{name}: wait"}
        if timing.after is not None:
            wait |= {"duration": timing.after, "business_hours": timing.business_hours}
        elif timing.field is not None:
            wait |= {"until_field": timing.field, "offset": timing.offset}
        else:
            wait["at"] = timing.at
        steps.append(wait)
    action: dict[str, Any] = {
        "id": prefix,
        "type": "action",
        "name": name,
        "comment": spec.comment,
        "action": spec.action,
        "settings": spec.settings,
        "channels": spec.channels,
    }
    if spec.conditions is None:
        steps.append(action)
    else:
        steps.append(
            {
                "id": f"{prefix}-if",
                "type": "branch",
                "name": f"{name}: conditions",
                "branches": [
                    {"name": "conditions hold", "condition": spec.conditions, "steps": [action]}
                ],
            }
        )
    return steps


def definition(
    trigger: dict[str, Any], chain: Sequence[Rule], *, stage_bound: bool | None = None
) -> dict[str, Any]:
    """The workflow a run of rules compiles to; step ids name the rules (``rule-12``)."""
    steps = [s for rule in chain for s in rule_steps(f"rule-{rule.id}", rule.name, rule.spec)]
    return {"trigger": trigger, "steps": steps, "stage_bound": stage_bound}


# A single rule is checked as a workflow of its own, with these step ids; errors are then told
# in the rule's terms (timing, conditions, settings).
CHECK_PREFIX = "rule"
CHECK_FIELDS = {
    f"steps.{CHECK_PREFIX}-wait": "timing",
    f"steps.{CHECK_PREFIX}-if": "conditions",
    f"steps.{CHECK_PREFIX}": "settings",
}

# A rule's timing is its wait step: the step's settings by the names the rule gives them.
DELAY_TO_TIMING = {"duration": "after", "until_field": "field"}


def rule_field(field: str | None) -> str | None:
    """Turn the field of an error about a rule checked alone into the rule's own terms."""
    if field is None:
        return None
    for prefix, name in CHECK_FIELDS.items():
        if field == prefix or field.startswith(prefix + "."):
            rest = field[len(prefix) + 1 :]
            if name == "settings" and rest in ("action", "channels"):
                return rest
            if name == "timing":
                rest = DELAY_TO_TIMING.get(rest, rest)
            return f"{name}.{rest}" if rest else name
    return field

"""Automation definitions: a trigger, optional conditions and a graph of steps (DESIGN
"Automations, versions and runs"). Definitions are data, saved as JSON."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from stageflow.automation.triggers import Trigger

DEFINITION_FORMAT = 1
STEP_ID = r"^[A-Za-z][A-Za-z0-9_\-]{0,62}$"


class StepBase(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=STEP_ID, description="Unique within the automation")
    name: str = Field("", max_length=200)
    comment: str = Field("", max_length=2000, description="A note for the people who edit it")


class RetryPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_attempts: int = Field(5, ge=1, le=25)
    initial_backoff: str = Field("PT30S", description="ISO 8601 duration; doubles each time")
    max_backoff: str = Field("PT1H")


class ActionStep(StepBase):
    type: Literal["action"] = "action"
    action: str = Field(description="A registered action type, e.g. set_field")
    settings: dict[str, Any] = Field(default_factory=dict)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    channels: list[str] | None = Field(
        None,
        description="Run only for records that came through these channels (the record's "
        "source, a source_channel value); empty: every channel",
    )


class Branch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = ""
    condition: dict[str, Any] = Field(description="Filter language condition")
    steps: list[Step] = Field(default_factory=list)


class BranchStep(StepBase):
    """Ordered branches: the first whose condition holds runs."""

    type: Literal["branch"] = "branch"
    branches: list[Branch] = Field(min_length=1)
    otherwise: list[Step] | None = Field(None, description="The else branch")


class DelayStep(StepBase):
    """Wait durably: for a duration, until a date field ± offset, or until a time of day."""

    type: Literal["delay"] = "delay"
    duration: str | None = Field(None, description="ISO 8601, e.g. P7D")
    until_field: str | None = Field(None, description="A date/datetime field of the record")
    offset: str = Field("PT0S", description="With until_field: e.g. -P1D")
    at: str | None = Field(
        None,
        description='A time of day: "14:00", "tomorrow 14:00", '
        '"+2 days 09:30", "next monday 09:00"',
    )
    business_hours: bool = Field(False, description="Count duration in business hours/days")

    @model_validator(mode="after")
    def _one_kind(self) -> DelayStep:
        kinds = [k for k in (self.duration, self.until_field, self.at) if k is not None]
        if len(kinds) != 1:
            raise ValueError("a delay needs exactly one of: duration, until_field, at")
        return self


class WaitUntilStep(StepBase):
    """Wait until a condition holds or an event happens, with a timeout path."""

    type: Literal["wait_until"] = "wait_until"
    condition: dict[str, Any] | None = None
    event: str | None = Field(None, description="An event type, e.g. StageChanged")
    timeout: str = Field(description="ISO 8601 duration")
    on_timeout: list[Step] = Field(default_factory=list)

    @model_validator(mode="after")
    def _something_to_wait_for(self) -> WaitUntilStep:
        if self.condition is None and self.event is None:
            raise ValueError("wait_until needs a condition, an event, or both")
        return self


class LoopStep(StepBase):
    """Repeat the body while a condition holds, at most max_iterations times."""

    type: Literal["loop"] = "loop"
    condition: dict[str, Any] = Field(alias="while", description="Checked before each turn")
    max_iterations: int = Field(100, ge=1, le=10_000)
    steps: list[Step] = Field(min_length=1)
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class SetVariableStep(StepBase):
    type: Literal["set_variable"] = "set_variable"
    variable: str = Field(pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    value: Any = None
    template: str | None = Field(None, description="Rendered with the record and variables")
    increment: float | None = Field(None, description="Add to the variable's number")

    @model_validator(mode="after")
    def _one_source(self) -> SetVariableStep:
        given = sum(x is not None for x in (self.value, self.template, self.increment))
        if given > 1:
            raise ValueError("set_variable takes one of value, template, increment")
        return self


class EndStep(StepBase):
    type: Literal["end"] = "end"
    outcome: Literal["completed", "cancelled"] = "completed"
    reason: str = ""


Step = Annotated[
    ActionStep | BranchStep | DelayStep | WaitUntilStep | LoopStep | SetVariableStep | EndStep,
    Field(discriminator="type"),
]


class Definition(BaseModel):
    """What users write (or what a rule compiles to)."""

    model_config = ConfigDict(extra="forbid")
    format: int = DEFINITION_FORMAT
    trigger: Trigger
    conditions: dict[str, Any] | None = Field(None, description="Enrollment filter")
    steps: list[Step] = Field(min_length=1)
    stage_bound: bool | None = Field(
        None,
        description="Cancel pending steps when the record leaves the trigger's stage "
        "(default: yes for stage_entered with a stage)",
    )
    variables: dict[str, Any] = Field(default_factory=dict, description="Initial variables")


Branch.model_rebuild()
BranchStep.model_rebuild()
WaitUntilStep.model_rebuild()
LoopStep.model_rebuild()
Definition.model_rebuild()

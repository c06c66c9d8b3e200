"""Pipelines, stages and picklists (SPEC M4) and the defaults every new workspace gets."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from stageflow.domain.records import ObjectType


class StageKind(StrEnum):
    OPEN = "open"
    WON = "won"
    LOST = "lost"


@dataclass(slots=True)
class Stage:
    name: str
    kind: StageKind
    position: int
    pipeline_id: int | None = None
    id: int | None = None


@dataclass(slots=True)
class Pipeline:
    workspace_id: int
    object_type: ObjectType
    name: str
    is_default: bool = False
    position: int = 0
    stages: list[Stage] = field(default_factory=list)
    id: int | None = None

    def stage(self, stage_id: int) -> Stage | None:
        return next((s for s in self.stages if s.id == stage_id), None)

    @property
    def first_stage(self) -> Stage:
        return min(self.stages, key=lambda s: s.position)


OPEN, WON, LOST = StageKind.OPEN, StageKind.WON, StageKind.LOST

DEFAULT_PIPELINES: dict[ObjectType, tuple[str, tuple[tuple[str, StageKind], ...]]] = {
    ObjectType.LEAD: (
        "Lead pipeline",
        (
            ("New", OPEN),
            ("Attempting", OPEN),
            ("Connected", OPEN),
            ("Qualified", WON),
            ("Disqualified", LOST),
        ),
    ),
    ObjectType.DEAL: (
        "Sales pipeline",
        (
            ("New", OPEN),
            ("Proposal", OPEN),
            ("Negotiation", OPEN),
            ("Closed Won", WON),
            ("Closed Lost", LOST),
        ),
    ),
    ObjectType.OPPORTUNITY: (
        "Opportunities",
        (("New", OPEN), ("In progress", OPEN), ("Won", WON), ("Lost", LOST)),
    ),
}

DEFAULT_PICKLISTS: dict[str, tuple[tuple[str, str], ...]] = {
    "lead_status": (
        ("new", "New"),
        ("open", "Open"),
        ("in_progress", "In progress"),
        ("auto_processing", "Auto processing"),
        ("unqualified", "Unqualified"),
    ),
    "lead_type": (
        ("new_business", "New business"),
        ("existing_business", "Existing business"),
        ("follow_up", "Follow-up"),
    ),
    "disqualification_reasons": (
        ("no_budget", "No budget"),
        ("not_interested", "Not interested"),
        ("bad_timing", "Bad timing"),
        ("wrong_contact", "Wrong contact"),
        ("chose_competitor", "Chose a competitor"),
    ),
    # Asked for when a deal or an opportunity moves to a lost stage.
    "lost_reasons": (
        ("price", "Price"),
        ("chose_competitor", "Chose a competitor"),
        ("no_budget", "No budget"),
        ("no_decision", "No decision"),
        ("timing", "Timing"),
        ("other", "Other"),
    ),
    "source_channel": (
        ("web_form", "Web form"),
        ("email", "Email"),
        ("phone", "Phone"),
        ("whatsapp", "WhatsApp"),
        ("linkedin", "LinkedIn"),
        ("partner", "Partner"),
        ("referral", "Referral"),
        ("manual", "Manual entry"),
        ("import", "Import"),
        ("other", "Other"),
    ),
}

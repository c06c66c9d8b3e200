"""Activities: tasks, calls, meetings, emails, messages, notes (SPEC M3)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from stageflow.domain.errors import ValidationFailed
from stageflow.domain.events import Actor, Event, EventType
from stageflow.domain.text import a_or_an


class ActivityType(StrEnum):
    TASK = "task"
    CALL = "call"
    MEETING = "meeting"
    EMAIL = "email"
    MESSAGE = "message"
    NOTE = "note"


class ActivityStatus(StrEnum):
    OPEN = "open"
    COMPLETED = "completed"


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


OUTCOMES: dict[ActivityType, frozenset[str]] = {
    ActivityType.CALL: frozenset(
        {"connected", "no_answer", "busy", "left_voicemail", "wrong_number"}
    ),
    ActivityType.MEETING: frozenset({"scheduled", "completed", "no_show", "cancelled"}),
}

# Things that happened when logged (an email sent, a note written) are born completed.
BORN_COMPLETED = frozenset({ActivityType.EMAIL, ActivityType.MESSAGE, ActivityType.NOTE})


def check_outcome(type_: ActivityType, outcome: str | None) -> None:
    if outcome is None:
        return
    allowed = OUTCOMES.get(type_)
    if allowed is None:
        raise ValidationFailed(f"{a_or_an(type_.value)} has no outcome", field="outcome")
    if outcome not in allowed:
        raise ValidationFailed(
            f"outcome of {a_or_an(type_.value)} must be one of: {', '.join(sorted(allowed))}",
            field="outcome",
        )


@dataclass(slots=True)
class Activity:
    workspace_id: int
    record_id: int
    type: ActivityType
    subject: str
    created_at: datetime
    updated_at: datetime
    description: str = ""
    due_at: datetime | None = None
    responsible_id: int | None = None
    status: ActivityStatus = ActivityStatus.OPEN
    outcome: str | None = None
    direction: Direction | None = None
    channel: str | None = None
    completed_at: datetime | None = None
    complete_on_exit_stage_id: int | None = None
    # Who completes it when the record leaves that stage: the automation run that scheduled it
    # (None: whoever moves the record).
    exit_actor: Actor | None = None
    version: int = 1
    id: int | None = None
    object_type: str = ""
    events: list[Event] = field(default_factory=list)

    def snapshot(self) -> dict[str, Any]:
        return {
            "activity_id": self.id,
            "type": self.type.value,
            "subject": self.subject,
            "description": self.description,
            "due_at": self.due_at.isoformat() if self.due_at else None,
            "responsible_id": self.responsible_id,
            "status": self.status.value,
            "outcome": self.outcome,
            "direction": self.direction.value if self.direction else None,
            "channel": self.channel,
        }

    def logged(self, actor: Actor) -> None:
        self.events.append(
            self._event(EventType.ACTIVITY_LOGGED, actor, self.created_at, None, self.snapshot())
        )
        if self.status is ActivityStatus.COMPLETED and self.type not in BORN_COMPLETED:
            self.events.append(
                self._event(
                    EventType.ACTIVITY_COMPLETED, actor, self.created_at, None, self.snapshot()
                )
            )

    def change(self, changes: dict[str, Any], actor: Actor, at: datetime) -> bool:
        """Apply validated changes; completing writes an ActivityCompleted event too."""
        before = self.snapshot()
        was_open = self.status is ActivityStatus.OPEN
        for key, value in changes.items():
            setattr(self, key, value)
        if self.status is ActivityStatus.COMPLETED and was_open:
            self.completed_at = at
        elif self.status is ActivityStatus.OPEN:
            self.completed_at = None
        after = self.snapshot()
        if before == after:
            return False
        self.updated_at = at
        self.version += 1
        self.events.append(self._event(EventType.ACTIVITY_UPDATED, actor, at, before, after))
        if was_open and self.status is ActivityStatus.COMPLETED:
            self.events.append(self._event(EventType.ACTIVITY_COMPLETED, actor, at, None, after))
        return True

    def _event(
        self,
        type_: EventType,
        actor: Actor,
        at: datetime,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
    ) -> Event:
        return Event(
            type=type_,
            workspace_id=self.workspace_id,
            actor=actor,
            occurred_at=at,
            record_id=self.record_id,
            object_type=self.object_type,
            before=before,
            after=after,
            data={"activity_id": self.id, "activity_type": self.type.value},
        )


# Moments of a lead's activities that lead automation counts (SPEC H2, H3).
OUTREACH_MOMENTS = ("email_sent", "linkedin_message_sent", "call_logged", "meeting_scheduled")
CONNECTED_MOMENTS = ("email_reply_received", "meeting_completed", "call_connected")
MOMENTS = OUTREACH_MOMENTS + CONNECTED_MOMENTS


def moments(event: Event) -> frozenset[str]:
    """What an activity event means for outreach: an email sent, a call logged, a meeting
    scheduled, a meeting whose outcome became Completed, … (empty for anything else).

    Outreach counts when it is done (SPEC H2 "completes outreach"): an email, message or call
    logged as completed, or a planned one when it is completed; a planned call or an email due
    next month is not outreach yet. Scheduling a meeting is (H2 "schedules a meeting")."""
    after, before = event.after or {}, event.before or {}
    kind, outcome = after.get("type"), after.get("outcome")
    done = after.get("status") == ActivityStatus.COMPLETED
    found: set[str] = set()
    if event.type is EventType.ACTIVITY_LOGGED:
        if kind == ActivityType.MEETING:
            found.add("meeting_scheduled")
        elif kind == ActivityType.EMAIL and after.get("direction") == Direction.INBOUND:
            found.add("email_reply_received")
        elif done:
            found |= _outreach(after)
    elif event.type is EventType.ACTIVITY_UPDATED:
        if done and before.get("status") != ActivityStatus.COMPLETED:
            found |= _outreach(after)
        if before.get("outcome") == outcome:
            return frozenset(found)
    else:
        return frozenset()
    if kind == ActivityType.CALL and outcome == "connected":
        found.add("call_connected")
    elif kind == ActivityType.MEETING and outcome == "completed":
        found.add("meeting_completed")
    return frozenset(found)


def _outreach(activity: dict[str, Any]) -> set[str]:
    """The outreach a done activity is: an outbound email or LinkedIn message, a call."""
    kind = activity.get("type")
    outbound = activity.get("direction") != Direction.INBOUND
    if kind == ActivityType.EMAIL and outbound:
        return {"email_sent"}
    if kind == ActivityType.MESSAGE and activity.get("channel") == "linkedin" and outbound:
        return {"linkedin_message_sent"}
    if kind == ActivityType.CALL:
        return {"call_logged"}
    return set()

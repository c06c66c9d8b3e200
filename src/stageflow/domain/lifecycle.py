"""Contact lifecycle (SPEC L1-L10): lifecycle and lost stages, conversations and their counts.

Lifecycle stages are the workspace's single funnel for contacts (and companies): a short list of
lifecycle stages plus "lost" stages that track where contacts drop out. They are independent of
the pipelines of leads and deals.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from stageflow.domain.errors import ValidationFailed

MAX_STAGES = 20  # lifecycle and lost together (L3)
MAX_NAME = 100
MAX_DESCRIPTION = 500


class LifecycleKind(StrEnum):
    LIFECYCLE = "lifecycle"
    LOST = "lost"


@dataclass(slots=True)
class LifecycleStage:
    workspace_id: int
    name: str
    kind: LifecycleKind
    position: int
    description: str = ""
    emoji: str | None = None
    is_default: bool = False
    id: int | None = None


# (name, description, kind, emoji, default) — L2, in the order new workspaces get them.
DEFAULT_STAGES: tuple[tuple[str, str, LifecycleKind, str | None, bool], ...] = (
    ("New Lead", "The contact has shown interest for the first time.", LifecycleKind.LIFECYCLE,
     None, True),
    ("Hot Lead", "The contact is actively interested and ready to move forward.",
     LifecycleKind.LIFECYCLE, None, False),
    ("Payment", "The contact is weighing the offer; payment is under way.",
     LifecycleKind.LIFECYCLE, None, False),
    ("Customer", "The contact has bought and is now a paying customer.",
     LifecycleKind.LIFECYCLE, None, False),
    ("Cold Lead", "The contact no longer shows interest and has stopped answering.",
     LifecycleKind.LOST, "\N{SNOWFLAKE}\N{VARIATION SELECTOR-16}", False),
)  # fmt: skip


def check_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise ValidationFailed("a stage needs a name", field="name")
    if len(name) > MAX_NAME:
        raise ValidationFailed(f"a stage name is at most {MAX_NAME} characters", field="name")
    return name


def check_description(description: str) -> str:
    if len(description) > MAX_DESCRIPTION:
        raise ValidationFailed(
            f"a description is at most {MAX_DESCRIPTION} characters", field="description"
        )
    return description


def check_emoji(emoji: str) -> str:
    """One emoji (possibly a sequence joined by ZWJ or with modifiers), nothing else."""
    emoji = emoji.strip()
    categories = [unicodedata.category(c) for c in emoji]
    if (
        not emoji
        or len(emoji) > 16
        or not {"So", "Me"} & set(categories)
        or any(
            category not in _EMOJI_PARTS and char not in "\u200d#*0123456789"
            for char, category in zip(emoji, categories, strict=True)
        )
    ):
        raise ValidationFailed("give one emoji, e.g. ❄️", field="emoji")
    return emoji


# Symbols, skin-tone modifiers, variation selectors and keycap marks; plus ZWJ and keycap bases.
_EMOJI_PARTS = frozenset({"So", "Sk", "Mn", "Me"})


class ConversationStatus(StrEnum):
    OPEN = "open"
    SNOOZED = "snoozed"
    CLOSED = "closed"


@dataclass(slots=True)
class Conversation:
    workspace_id: int
    contact_id: int
    status: ConversationStatus
    created_at: datetime
    updated_at: datetime
    snoozed_until: datetime | None = None
    assignee_id: int | None = None
    channel: str | None = None
    last_message_at: datetime | None = None
    version: int = 1
    id: int | None = None

    def tally(self) -> Tally:
        """What this conversation adds to its contact's stage on the dashboard."""
        return Tally.of(self.status, assigned=self.assignee_id is not None)


@dataclass(frozen=True, slots=True)
class Tally:
    """Dashboard counts: contacts, and their open, snoozed and unassigned conversations.
    Unassigned counts conversations that are not closed and have no assignee."""

    contacts: int = 0
    open: int = 0
    snoozed: int = 0
    unassigned: int = 0

    @classmethod
    def of(cls, status: ConversationStatus, *, assigned: bool) -> Tally:
        return cls(
            open=int(status is ConversationStatus.OPEN),
            snoozed=int(status is ConversationStatus.SNOOZED),
            unassigned=int(status is not ConversationStatus.CLOSED and not assigned),
        )

    def __add__(self, other: Tally) -> Tally:
        return Tally(
            self.contacts + other.contacts,
            self.open + other.open,
            self.snoozed + other.snoozed,
            self.unassigned + other.unassigned,
        )

    def __neg__(self) -> Tally:
        return Tally(-self.contacts, -self.open, -self.snoozed, -self.unassigned)

    def __bool__(self) -> bool:
        return bool(self.contacts or self.open or self.snoozed or self.unassigned)


CONTACT = Tally(contacts=1)

# Channels an inbound message may come through; the address of each is normalised so the same
# sender is always found again.
CHANNELS = ("email", "sms", "whatsapp", "telegram", "messenger", "instagram", "web_chat", "line",
            "viber", "wechat", "phone")  # fmt: skip
PHONE_CHANNELS = frozenset({"sms", "whatsapp", "phone", "viber"})
_NOT_DIGITS = re.compile(r"[^0-9]")


def normalize_address(channel: str, address: str) -> str:
    """The form an address is stored and looked up in."""
    address = address.strip()
    if not address:
        raise ValidationFailed("the sender's address is empty", field="address")
    if len(address) > 320:
        raise ValidationFailed("an address is at most 320 characters", field="address")
    if channel == "email":
        if "@" not in address.strip("@"):
            raise ValidationFailed(f"'{address}' is not an email address", field="address")
        return address.lower()
    if channel in PHONE_CHANNELS:
        international = address.startswith(("+", "00"))
        digits = _NOT_DIGITS.sub("", address)
        if address.startswith("00"):
            digits = digits[2:]
        if not 5 <= len(digits) <= 15:
            raise ValidationFailed(f"'{address}' is not a phone number", field="address")
        return ("+" if international else "") + digits
    return address


# Contact fields that identify the contact to inbound messages: field -> (identity, channel
# whose rules normalise it).
ADDRESS_FIELDS = {"email": ("email", "email"), "phone": ("phone", "sms")}


def field_addresses(
    fields: Mapping[str, Any], only: Iterable[str] = ADDRESS_FIELDS
) -> list[tuple[str, str]]:
    """The (identity kind, normalised address) pairs a contact's fields give; values that
    are not addresses a message could come from are left out."""
    found = []
    for field in only:
        kind, channel = ADDRESS_FIELDS[field]
        value = fields.get(field)
        if not value:
            continue
        try:
            found.append((kind, normalize_address(channel, str(value))))
        except ValidationFailed:
            continue
    return found

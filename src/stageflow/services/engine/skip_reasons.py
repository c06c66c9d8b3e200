"""Why an automation that matched a record's event did not enroll it, in a sentence a user
reads on "Why didn't it run?". The engine records a reason code and a technical detail
(``enrollment.SKIP_REASONS``); each code has its sentence here."""

from __future__ import annotations

import re
from collections.abc import Callable

from stageflow.domain.filters import Op

# "amount gt 1000 (it is 500)" as ``domain.filters.unmet`` words a failed condition.
_CONDITION = re.compile(
    r"^(?P<field>\S+) (?P<op>[a-z_]+)(?: (?P<wanted>.*?))? \(it is (?P<is>.*)\)$"
)
_OPS = {
    Op.EQ: "to be {wanted}",
    Op.NEQ: "not to be {wanted}",
    Op.IN: "to be one of {wanted}",
    Op.NOT_IN: "not to be any of {wanted}",
    Op.CONTAINS: "to contain {wanted}",
    Op.NOT_CONTAINS: "not to contain {wanted}",
    Op.STARTS_WITH: "to start with {wanted}",
    Op.GT: "to be more than {wanted}",
    Op.GTE: "to be at least {wanted}",
    Op.LT: "to be less than {wanted}",
    Op.LTE: "to be at most {wanted}",
    Op.IS_EMPTY: "to be empty",
    Op.IS_NOT_EMPTY: "to be filled in",
    Op.CHANGED_TO: "to change to {wanted}",
    Op.CHANGED_FROM: "to change from {wanted}",
}
_CHAIN = re.compile(r"a chain of (?P<depth>\d+) automations; the limit is (?P<limit>\d+)")
_CONDITIONS_PREFIX = "the automation's conditions were not met: "


def field_label(name: str) -> str:
    """``close_date`` → "Close date"; ``trigger.to_stage_id`` → "the event's to stage id"."""
    if name.startswith("trigger."):
        return "the event's " + name.removeprefix("trigger.").replace("_", " ")
    return name.replace("_", " ").capitalize()


def _value(text: str) -> str:
    """A value as ``repr`` wrote it, as a person reads it: no quotes, "empty" for None."""
    if text in ("None", "''", '""'):
        return "empty"
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return f"“{text[1:-1]}”"
    return text


def _conditions(detail: str) -> str:
    failing = detail.removeprefix(_CONDITIONS_PREFIX)
    if failing.startswith("stage_locked_at is_empty"):
        return (
            "The lead was moved back by hand, so lead automation leaves it where it is "
            "(clear “Stage locked at” on the lead to let it move again)."
        )
    if failing == "none of the 'any' conditions held":
        return "None of its “any of” conditions held for this record."
    if failing == "the 'not' condition held":
        return "Its “not” condition held for this record."
    match = _CONDITION.match(failing)
    if match is None:
        return f"Its conditions were not met: {failing}."
    try:
        op = Op(match["op"])
    except ValueError:
        return f"Its conditions were not met: {failing}."
    wanted = _OPS.get(op, op.value.replace("_", " ") + " {wanted}")
    expected = wanted.format(wanted=_value(match["wanted"] or ""))
    return (
        f"{field_label(match['field'])} was {_value(match['is'])}; "
        f"the automation needs it {expected}."
    )


def _loop_guard(detail: str) -> str:
    match = _CHAIN.search(detail)
    if match is None:
        return f"The loop guard stopped it: {detail}."
    return (
        f"The loop guard stopped it: the change came from a chain of {match['depth']} "
        f"automations each starting the next, and at most {match['limit']} may chain."
    )


SENTENCES: dict[str, Callable[[str], str]] = {
    "conditions_not_met": _conditions,
    "already_enrolled": lambda _: (
        "This record has already run this automation, and it runs once per record "
        "(allow re-enrollment in its trigger to run it again)."
    ),
    "own_write": lambda _: (
        "The change was made by this automation itself; an automation never starts again on "
        "its own changes."
    ),
    "loop_guard": lambda detail: _loop_guard(detail),
    "record_gone": lambda _: "The record had been deleted by the time the automation looked.",
}


def explain(reason: str, detail: str) -> str:
    """The sentence for a skip; an unknown code (a newer engine) says its code and detail."""
    sentence = SENTENCES.get(reason)
    if sentence is None:
        return f"Not enrolled ({reason.replace('_', ' ')}): {detail}."
    return sentence(detail)

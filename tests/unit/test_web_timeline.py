"""The timeline in words: who did it (user, API token by name, automation with its run), and
values as names — and the record page reading what a field's input sent."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

from stageflow.domain.fields import FieldDef, FieldType
from stageflow.domain.records import ObjectType
from stageflow.entrypoints.web import timeline
from stageflow.entrypoints.web.pages.record_edits import typed_value

AT = datetime(2026, 12, 4, 14, 30, tzinfo=UTC)


def _names(**more: Any) -> timeline.Names:
    names = timeline.Names(
        users={1: "Demo Owner", 2: "Alex Agent"},
        stages={10: "New", 11: "Proposal"},
        labels={"lead_status": {"new": "New lead"}, "sizes": {"l": "Large"}},
        records={50: "Maria Rossi"},
        zone=ZoneInfo("Europe/Rome"),
    )
    for key, value in more.items():
        setattr(names, key, value)
    return names


def _row(**values: Any) -> SimpleNamespace:
    row: dict[str, Any] = {
        "type": "FieldChanged",
        "before": {},
        "after": {},
        "data": {},
        "actor_kind": "user",
        "actor_id": 1,
        "user_id": 1,
        "source": "ui",
        "run_id": None,
        "actor_version": None,
        "occurred_at": AT,
    }
    row.update(values)
    return SimpleNamespace(**row)


def test_a_user_an_api_token_by_name_and_an_import() -> None:
    names = _names(tokens={7: "Zapier"})
    assert timeline.actor_text(_row(), names) == "Demo Owner in the app"
    token = _row(actor_kind="token", actor_id=7, source="api")
    assert timeline.actor_text(token, names) == "Demo Owner with the API token 'Zapier'"
    revoked = _row(actor_kind="token", actor_id=8, source="api")
    assert timeline.actor_text(revoked, names) == "Demo Owner with an API token"
    assert timeline.actor_text(_row(actor_kind="import", user_id=None), names) == "an import"
    assert timeline.actor_text(_row(actor_kind="sync", user_id=None), names) == "a sync"


def test_an_automation_is_named_with_its_version_and_run_and_links_to_the_run() -> None:
    names = _names(automations={30: "Rule 'Renewal lead'"})
    row = _row(actor_kind="automation", actor_id=30, run_id=812, actor_version=3, user_id=None)
    assert timeline.actor_text(row, names) == "Rule 'Renewal lead' (version 3, run #812)"
    (entry,) = timeline.entries([row], ObjectType.DEAL, names, AT)
    assert entry.who_url == "/runs/812"
    gone = _row(actor_kind="automation", actor_id=31, run_id=None, user_id=None)
    assert timeline.actor_text(gone, names) == "An automation"
    (user_entry,) = timeline.entries([_row()], ObjectType.DEAL, names, AT)
    assert user_entry.who_url is None


def test_field_changes_name_users_labels_and_custom_fields() -> None:
    names = _names(
        definitions={
            "size": FieldDef("size", FieldType.PICKLIST, label="Roof size", picklist="sizes"),
            "installer": FieldDef("installer", FieldType.USER, label="Installer"),
            "signed": FieldDef("signed", FieldType.BOOL, label="Signed"),
            "visit_at": FieldDef("visit_at", FieldType.DATETIME, label="Visit"),
        }
    )
    row = _row(
        before={"owner_id": 1, "size": None, "installer": None, "signed": False},
        after={
            "owner_id": 2,
            "size": "l",
            "installer": 2,
            "signed": True,
            "visit_at": "2026-12-05T08:00:00+00:00",
        },
    )
    what, details = timeline.describe(row, ObjectType.DEAL, names)
    assert what == "Changed"
    assert details == [
        "Owner: Demo Owner → Alex Agent",
        "Roof size: empty → Large",
        "Installer: empty → Alex Agent",
        "Signed: no → yes",
        "Visit: empty → 5 Dec 2026, 09:00",
    ]


def test_substates_and_a_calls_outcome_in_words() -> None:
    names = _names()
    opened = _row(type="SubstateOpened", data={"substate": "Site survey"})
    assert timeline.describe(opened, ObjectType.OPPORTUNITY, names) == (
        "Opened sub-state 'Site survey'",
        [],
    )
    call = _row(
        type="ActivityLogged", after={"type": "call", "subject": "Intro", "outcome": "no_answer"}
    )
    assert timeline.describe(call, ObjectType.LEAD, names) == (
        "Logged a call: Intro",
        ["Outcome: no answer"],
    )


class _Workspaces:
    def get(self, _workspace_id: int) -> Any:
        return SimpleNamespace(settings={"timezone": "Europe/Rome"})


def test_typed_values_become_what_the_field_takes() -> None:
    uow: Any = SimpleNamespace(workspaces=_Workspaces())
    assert typed_value(uow, 1, FieldType.NUMBER, "12,500.50") == 12500.5
    assert typed_value(uow, 1, FieldType.NUMBER, "7500") == 7500
    assert typed_value(uow, 1, FieldType.NUMBER, "abc") == "abc"  # the service says why not
    assert typed_value(uow, 1, FieldType.NUMBER, "  ") is None  # cleared
    assert typed_value(uow, 1, FieldType.BOOL, "true") is True
    assert typed_value(uow, 1, FieldType.USER, "2") == 2
    assert typed_value(uow, 1, FieldType.DATE, "2027-03-31") == "2027-03-31"
    assert typed_value(uow, 1, FieldType.DATETIME, "2026-12-05T09:00") == (
        "2026-12-05T09:00:00+01:00"  # read in the workspace's zone
    )

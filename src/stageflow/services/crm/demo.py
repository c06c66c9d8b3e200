"""The demo workspace a first start creates, so a newcomer has something to look at."""

from __future__ import annotations

import secrets

from stageflow.domain.activities import ActivityType
from stageflow.domain.events import Actor, ActorKind, Source
from stageflow.domain.records import ObjectType
from stageflow.domain.users import Principal, Role
from stageflow.services.commands import CreateActivity, CreateRecord, CreateUser, MoveRecord
from stageflow.services.crm import activities, records
from stageflow.services.crm.workspaces import NewWorkspace, create_user, create_workspace
from stageflow.services.unit_of_work import UnitOfWork

DEMO_OWNER = "owner@demo.stageflow.local"


def create_demo_workspace(uow: UnitOfWork) -> tuple[NewWorkspace, str]:
    """A workspace with users, companies, contacts, a lead and deals. Returns the password."""
    password = secrets.token_urlsafe(12)
    actor = Actor(kind=ActorKind.SYSTEM, source=Source.SYSTEM)
    new = create_workspace(
        uow,
        name="Demo",
        slug="demo",
        owner_email=DEMO_OWNER,
        owner_name="Demo Owner",
        owner_password=password,
        actor=actor,
    )
    assert new.workspace.id is not None
    ws = new.workspace.id
    owner = Principal(workspace_id=ws, user_id=new.owner_id, role=Role.OWNER)
    agent = create_user(
        uow,
        ws,
        CreateUser(email="agent@demo.stageflow.local", name="Alex Agent", role=Role.AGENT),
        actor,
    )

    def make(object_type: ObjectType, **values: object) -> int:
        record = records.create_record(
            uow, owner, object_type, CreateRecord.model_validate(values), actor
        )
        assert record.id is not None
        return record.id

    acme = make(
        ObjectType.COMPANY, name="Acme Solar", fields={"city": "Milan", "industry": "Energy"}
    )
    rossi = make(
        ObjectType.CONTACT,
        fields={"first_name": "Maria", "last_name": "Rossi", "email": "maria.rossi@example.com"},
        associations={"company": [acme]},
        source="web_form",
    )
    nowak = make(
        ObjectType.CONTACT,
        fields={"first_name": "Jan", "last_name": "Nowak", "email": "jan.nowak@example.com"},
        owner_id=agent,
        source="phone",
    )
    make(
        ObjectType.LEAD,
        name="Rooftop panels enquiry",
        source="web_form",
        fields={"status": "new", "email": "maria.rossi@example.com"},
        associations={"contact": [rossi]},
    )
    deal = make(
        ObjectType.DEAL,
        name="Acme rooftop installation",
        fields={"amount": 48000, "currency": "EUR"},
        associations={"contact": [rossi], "company": [acme]},
    )
    make(
        ObjectType.DEAL,
        name="Nowak heat pump",
        owner_id=agent,
        fields={"amount": 9500, "currency": "EUR"},
        associations={"contact": [nowak]},
    )
    proposal = next(
        s
        for p in uow.pipelines.list(ws, ObjectType.DEAL)
        if p.is_default
        for s in p.stages
        if s.name == "Proposal"
    )
    assert proposal.id is not None
    records.move_record(uow, owner, ObjectType.DEAL, deal, MoveRecord(stage_id=proposal.id), actor)
    activities.log_activity(
        uow,
        owner,
        CreateActivity(
            record_id=deal, type=ActivityType.CALL, subject="Discovery call", outcome="connected"
        ),
        actor,
    )
    return new, password

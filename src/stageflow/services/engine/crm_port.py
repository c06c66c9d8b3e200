"""The CRM as automation actions see it: service calls made by the automation's actor."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from stageflow.domain.activities import ActivityType
from stageflow.domain.errors import NotFound
from stageflow.domain.events import Actor, Event, EventType
from stageflow.domain.records import ObjectType
from stageflow.domain.users import Principal, Role
from stageflow.services.channels import reports
from stageflow.services.commands import CreateActivity, CreateRecord, MoveRecord, UpdateRecord
from stageflow.services.context import record_dict
from stageflow.services.crm import activities, records, substates
from stageflow.services.unit_of_work import UnitOfWork

AUTOMATION_USER = 0


def automation_principal(workspace_id: int) -> Principal:
    """Automations act with full rights inside their own workspace, and only there."""
    return Principal(workspace_id=workspace_id, user_id=AUTOMATION_USER, role=Role.OWNER)


class ServiceCrm:
    """Implements actions.ports.CrmPort over the service layer, in the run's transaction."""

    def __init__(
        self, uow: UnitOfWork, workspace_id: int, actor: Actor, on_change: Any = None
    ) -> None:
        self.uow = uow
        self.principal = automation_principal(workspace_id)
        self.actor = actor
        self.on_change = on_change or (lambda: None)

    def create_record(
        self,
        object_type: str,
        *,
        name: str | None,
        fields: dict[str, Any],
        owner_id: int | None,
        pipeline_id: int | None,
        stage_id: int | None,
        associations: dict[str, list[int]],
    ) -> int:
        cmd = CreateRecord.model_validate(
            {
                "name": name,
                "fields": fields,
                "owner_id": owner_id,
                "pipeline_id": pipeline_id,
                "stage_id": stage_id,
                "associations": associations,
            }
        )
        record = records.create_record(
            self.uow, self.principal, ObjectType(object_type), cmd, self.actor
        )
        assert record.id is not None
        return record.id

    def update_record(
        self,
        record_id: int,
        *,
        fields: dict[str, Any] | None = None,
        owner_id: int | None = None,
        name: str | None = None,
    ) -> None:
        values: dict[str, Any] = {}
        if fields:
            values["fields"] = fields
        if owner_id is not None:
            values["owner_id"] = owner_id
        if name is not None:
            values["name"] = name
        records.update_record(
            self.uow,
            self.principal,
            None,
            record_id,
            UpdateRecord.model_validate(values),
            self.actor,
        )
        self.on_change()

    def move_record(
        self, record_id: int, stage_id: int, *, forward_only: bool = False
    ) -> str | None:
        record = records.get_editable(self.uow, self.principal, None, record_id)
        held = records.held_back(self.uow, record, stage_id, forward_only=forward_only)
        if held is not None:
            return held
        records.move_record(
            self.uow, self.principal, None, record_id, MoveRecord(stage_id=stage_id), self.actor
        )
        self.on_change()
        return None

    def copy_record(
        self,
        record_id: int,
        *,
        name: str,
        pipeline_id: int | None,
        stage_id: int | None,
        owner_id: int | None,
        associations: bool,
    ) -> int:
        source = self.uow.records.get(self.principal.workspace_id, record_id)
        if source is None:
            raise NotFound(f"record {record_id} not found")
        linked = self.uow.records.associations([record_id])[record_id] if associations else {}
        cmd = CreateRecord.model_validate(
            {
                "name": name,
                "fields": dict(source.fields),
                "owner_id": owner_id,
                "pipeline_id": pipeline_id if pipeline_id is not None else source.pipeline_id,
                "stage_id": stage_id,
                "associations": {kind: ids for kind, ids in linked.items() if ids},
            }
        )
        copy = records.create_record(self.uow, self.principal, source.object_type, cmd, self.actor)
        assert copy.id is not None
        return copy.id

    def log_activity(
        self,
        record_id: int,
        *,
        type: str,
        subject: str,
        description: str,
        due_at: datetime | None,
        responsible_id: int | None,
        complete_on_stage_exit: bool = False,
    ) -> int:
        cmd = CreateActivity(
            record_id=record_id,
            type=ActivityType(type),
            subject=subject,
            description=description,
            due_at=due_at,
            responsible_id=responsible_id,
            complete_on_stage_exit=complete_on_stage_exit,
        )
        activity = activities.log_activity(self.uow, self.principal, cmd, self.actor)
        assert activity.id is not None
        return activity.id

    def record(self, record_id: int) -> Mapping[str, Any]:
        found = self.uow.records.get(self.principal.workspace_id, record_id)
        return record_dict(self.uow, found) if found else {}

    def notify(self, user_ids: list[int], *, title: str, body: str, record_id: int | None) -> None:
        ws = self.principal.workspace_id
        now = self.uow.clock.now()
        self.uow.notifications.add(
            ws,
            user_ids,
            title=title,
            body=body,
            record_id=record_id,
            run_id=self.actor.run_id,
            now=now,
        )
        self.uow.emit(
            [
                Event(
                    EventType.USER_NOTIFIED,
                    ws,
                    self.actor,
                    now,
                    record_id=record_id,
                    data={"user_ids": user_ids, "title": title},
                )
            ]
        )

    def open_load(self, object_type: str, user_ids: list[int], field: str | None) -> dict[int, int]:
        return self.uow.records.open_load(self.principal.workspace_id, object_type, user_ids, field)

    def next_turn(self, key: str) -> int:
        return self.uow.records.next_turn(self.principal.workspace_id, key)

    def report_template(self, name: str) -> Mapping[str, Any] | None:
        row = self.uow.report_templates.by_name(self.principal.workspace_id, name)
        return None if row is None else {"title": row.title, "html": row.html}

    def keep_file(
        self, record_id: int, *, filename: str, content_type: str, data: bytes, source: str
    ) -> int:
        return reports.keep_file(
            self.uow,
            self.principal.workspace_id,
            record_id,
            filename=filename,
            content_type=content_type,
            data=data,
            source=source,
            actor=self.actor,
        )

    def add_signature_request(
        self, record_id: int, *, file_id: int, signers: list[dict[str, Any]]
    ) -> int:
        ws = self.principal.workspace_id
        now = self.uow.clock.now()
        request_id = self.uow.reports.add_signature_request(
            ws,
            record_id=record_id,
            file_id=file_id,
            signers=signers,
            status="requested",
            run_id=self.actor.run_id,
            created_at=now,
            updated_at=now,
        )
        record = self.uow.records.get(ws, record_id)
        self.uow.emit(
            [
                Event(
                    EventType.SIGNATURE_REQUESTED,
                    ws,
                    self.actor,
                    now,
                    record_id=record_id,
                    object_type=record.object_type.value if record else None,
                    data={
                        "signature_request_id": request_id,
                        "file_id": file_id,
                        "signers": signers,
                    },
                )
            ]
        )
        return request_id

    def set_substate(self, record_id: int, substate: str, *, open_: bool) -> bool:
        change = substates.open_substate if open_ else substates.close_substate
        return change(self.uow, self.principal, record_id, substate, self.actor)

    def user(self, user_id: int) -> Mapping[str, Any] | None:
        row = self.uow.users.get(self.principal.workspace_id, user_id)
        return None if row is None else {"id": row.id, "email": row.email, "name": row.name}

    def email_template(self, name: str) -> Mapping[str, Any] | None:
        row = self.uow.email_templates.by_name(self.principal.workspace_id, name)
        return None if row is None else {"subject": row.subject, "html": row.html, "text": row.text}

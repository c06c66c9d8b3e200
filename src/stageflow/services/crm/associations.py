"""A record's associations with other records (a deal's contact, a contact's company): added,
replaced, and checked against what each object type may be associated with and what the caller
may see (SPEC M1): a record the caller cannot see is answered as one that does not exist."""

from __future__ import annotations

from stageflow.domain.errors import ValidationFailed
from stageflow.domain.events import Actor, Event, EventType
from stageflow.domain.records import ASSOCIATION_TARGETS, ObjectType, Record
from stageflow.domain.text import a_or_an
from stageflow.domain.users import Principal
from stageflow.services.unit_of_work import UnitOfWork


def _check_targets(
    uow: UnitOfWork, principal: Principal, record: Record, wanted: dict[ObjectType, list[int]]
) -> None:
    allowed = ASSOCIATION_TARGETS[record.object_type]
    all_ids = {i for ids in wanted.values() for i in ids}
    found = {
        related_id: kind
        for related_id, (kind, owner_id) in uow.records.types_and_owners(
            record.workspace_id, all_ids
        ).items()
        if principal.can_see_owner(owner_id)
    }
    for target_type, ids in wanted.items():
        if target_type not in allowed:
            raise ValidationFailed(
                f"{a_or_an(record.object_type.value)} cannot be associated with "
                f"{a_or_an(target_type.value)}",
                field=f"associations.{target_type.value}",
            )
        for related_id in ids:
            if found.get(related_id) is not target_type:
                raise ValidationFailed(
                    f"no {target_type.value} {related_id}",
                    field=f"associations.{target_type.value}",
                )


def associate(
    uow: UnitOfWork,
    principal: Principal,
    record: Record,
    wanted: dict[ObjectType, list[int]],
    actor: Actor,
) -> None:
    _check_targets(uow, principal, record, wanted)
    assert record.id is not None
    now = uow.clock.now()
    for target_type, ids in wanted.items():
        for related_id in dict.fromkeys(ids):
            uow.records.associate(record.workspace_id, record.id, related_id)
            uow.emit(
                [
                    Event(
                        EventType.ASSOCIATION_ADDED,
                        record.workspace_id,
                        actor,
                        now,
                        record_id=record.id,
                        object_type=record.object_type.value,
                        data={"related_id": related_id, "related_type": target_type.value},
                    )
                ]
            )


def replace(
    uow: UnitOfWork,
    principal: Principal,
    record: Record,
    wanted: dict[ObjectType, list[int]],
    actor: Actor,
) -> None:
    """Make the record's associations of each type given these; an association with a record
    the caller cannot see stays (it cannot remove what it cannot see)."""
    assert record.id is not None
    _check_targets(uow, principal, record, wanted)
    current = uow.records.associations([record.id])[record.id]
    linked = {i for ids in current.values() for i in ids}
    owners = uow.records.types_and_owners(record.workspace_id, linked)
    hidden = {i for i, (_, owner) in owners.items() if not principal.can_see_owner(owner)}
    now = uow.clock.now()
    for target_type, ids in wanted.items():
        have: set[int] = set(current.get(target_type.value, [])) - hidden
        want = set(ids)
        for related_id in sorted(have - want):
            uow.records.dissociate(record.id, related_id)
            uow.emit(
                [
                    Event(
                        EventType.ASSOCIATION_REMOVED,
                        record.workspace_id,
                        actor,
                        now,
                        record_id=record.id,
                        object_type=record.object_type.value,
                        data={"related_id": related_id, "related_type": target_type.value},
                    )
                ]
            )
        associate(uow, principal, record, {target_type: sorted(want - have)}, actor)

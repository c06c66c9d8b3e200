"""Command handlers for the contact lifecycle (SPEC L1-L8): stages, a record's stage and the
company-to-contacts sync. The dashboard's figures are in ``lifecycle_dashboard``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stageflow.domain.errors import Conflict, NotFound, ValidationFailed
from stageflow.domain.events import Actor, ActorKind, EventType, Source
from stageflow.domain.lifecycle import (
    CONTACT,
    DEFAULT_STAGES,
    MAX_STAGES,
    LifecycleKind,
    LifecycleStage,
    Tally,
    check_description,
    check_emoji,
    check_name,
)
from stageflow.domain.records import (
    LIFECYCLE_OBJECT_TYPES,
    ObjectType,
    Record,
    lifecycle_event,
)
from stageflow.domain.references import RefKind
from stageflow.domain.text import a_or_an
from stageflow.domain.users import Permission, Principal
from stageflow.services.commands import (
    CreateLifecycleStage,
    DeleteLifecycleStage,
    ReorderLifecycleStages,
    UpdateLifecycleStage,
)
from stageflow.services.crm import signals
from stageflow.services.unit_of_work import UnitOfWork

MOVE_PAGE = 1000  # contacts moved per statement when a stage is deleted


# stages ------------------------------------------------------------------------------------


def create_default_stages(uow: UnitOfWork, workspace_id: int) -> None:
    """L2: what every new workspace starts with."""
    now = uow.clock.now()
    positions = dict.fromkeys(LifecycleKind, 0)
    for name, description, kind, emoji, is_default in DEFAULT_STAGES:
        position, positions[kind] = positions[kind], positions[kind] + 1
        stage = LifecycleStage(
            workspace_id=workspace_id,
            name=name,
            description=description,
            kind=kind,
            emoji=emoji,
            position=position,
            is_default=is_default,
        )
        uow.lifecycle.add(stage, now)


def list_stages(uow: UnitOfWork, principal: Principal) -> list[LifecycleStage]:
    return uow.lifecycle.stages(principal.workspace_id)


def get_stage(uow: UnitOfWork, principal: Principal, stage_id: int) -> LifecycleStage:
    stage = uow.lifecycle.get(principal.workspace_id, stage_id)
    if stage is None:
        raise NotFound(f"lifecycle stage {stage_id} not found")
    return stage


def create_stage(
    uow: UnitOfWork, principal: Principal, cmd: CreateLifecycleStage, actor: Actor
) -> LifecycleStage:
    principal.require(Permission.LIFECYCLE_EDIT)
    ws = principal.workspace_id
    uow.lifecycle.lock(ws)
    stages = uow.lifecycle.stages(ws)
    if len(stages) >= MAX_STAGES:
        raise Conflict(
            f"a workspace has at most {MAX_STAGES} lifecycle and lost stages together; "
            "delete one before adding another"
        )
    name = check_name(cmd.name)
    _check_unique(stages, name, None)
    emoji = _emoji_for(cmd.kind, cmd.emoji)
    if cmd.is_default and cmd.kind is LifecycleKind.LOST:
        raise ValidationFailed("a lost stage cannot be the default stage", field="is_default")
    same_kind = [s for s in stages if s.kind is cmd.kind]
    position = len(same_kind) if cmd.position is None else min(cmd.position, len(same_kind))
    now = uow.clock.now()
    if cmd.is_default:
        uow.lifecycle.clear_default(ws, now)
    stage = LifecycleStage(
        workspace_id=ws,
        name=name,
        description=check_description(cmd.description),
        kind=cmd.kind,
        emoji=emoji,
        position=position,
        is_default=cmd.is_default,
    )
    uow.lifecycle.add(stage, now)
    assert stage.id is not None
    order = [s.id for s in same_kind if s.id is not None]
    order.insert(position, stage.id)
    uow.lifecycle.set_positions(ws, order, now)
    uow.emit_config(ws, actor, EventType.LIFECYCLE_STAGE_CREATED, stage=stage_view(stage))
    return get_stage(uow, principal, stage.id)


def update_stage(
    uow: UnitOfWork,
    principal: Principal,
    stage_id: int,
    cmd: UpdateLifecycleStage,
    actor: Actor,
) -> LifecycleStage:
    principal.require(Permission.LIFECYCLE_EDIT)
    ws = principal.workspace_id
    uow.lifecycle.lock(ws)
    stage = get_stage(uow, principal, stage_id)
    given = cmd.model_fields_set
    values: dict[str, Any] = {}
    if cmd.name is not None:
        name = check_name(cmd.name)
        _check_unique(uow.lifecycle.stages(ws), name, stage_id)
        values["name"] = name
    if cmd.description is not None:
        values["description"] = check_description(cmd.description)
    if "emoji" in given:
        values["emoji"] = _emoji_for(stage.kind, cmd.emoji)
    now = uow.clock.now()
    if cmd.is_default is True and not stage.is_default:
        if stage.kind is LifecycleKind.LOST:
            raise ValidationFailed("a lost stage cannot be the default stage", field="is_default")
        uow.lifecycle.clear_default(ws, now)
        values["is_default"] = True
    elif cmd.is_default is False and stage.is_default:
        values["is_default"] = False
    changed = {k: v for k, v in values.items() if getattr(stage, k) != v}
    if changed:
        uow.lifecycle.update(ws, stage_id, changed, now)
        uow.emit_config(
            ws,
            actor,
            EventType.LIFECYCLE_STAGE_UPDATED,
            stage_id=stage_id,
            before={k: getattr(stage, k) for k in changed},
            after=changed,
        )
    return get_stage(uow, principal, stage_id)


def set_default(
    uow: UnitOfWork, principal: Principal, stage_id: int | None, actor: Actor
) -> LifecycleStage | None:
    """Make a stage the default (replacing the old one), or leave none (``None``)."""
    if stage_id is not None:
        update_stage(uow, principal, stage_id, UpdateLifecycleStage(is_default=True), actor)
        return get_stage(uow, principal, stage_id)
    principal.require(Permission.LIFECYCLE_EDIT)
    uow.lifecycle.lock(principal.workspace_id)
    current = uow.lifecycle.default(principal.workspace_id)
    if current is not None and current.id is not None:
        update_stage(uow, principal, current.id, UpdateLifecycleStage(is_default=False), actor)
    return None


def reorder_stages(
    uow: UnitOfWork, principal: Principal, cmd: ReorderLifecycleStages, actor: Actor
) -> list[LifecycleStage]:
    """Every stage id in its new order (lifecycle and lost stages keep their own columns: the
    relative order within each kind is what counts)."""
    principal.require(Permission.LIFECYCLE_EDIT)
    ws = principal.workspace_id
    uow.lifecycle.lock(ws)
    stages = uow.lifecycle.stages(ws)
    known = {s.id for s in stages}
    if len(cmd.order) != len(set(cmd.order)):
        raise ValidationFailed("a stage appears twice in the order", field="order")
    unknown = [i for i in cmd.order if i not in known]
    if unknown:
        raise ValidationFailed(f"no lifecycle stage {unknown[0]}", field="order")
    missing = sorted(i for i in known if i is not None and i not in cmd.order)
    if missing:
        raise ValidationFailed(
            f"the order must list every stage; missing: {', '.join(map(str, missing))}",
            field="order",
        )
    kind = {s.id: s.kind for s in stages}
    now = uow.clock.now()
    for each in LifecycleKind:
        uow.lifecycle.set_positions(ws, [i for i in cmd.order if kind[i] is each], now)
    uow.emit_config(ws, actor, EventType.LIFECYCLE_STAGES_REORDERED, order=cmd.order)
    return uow.lifecycle.stages(ws)


@dataclass(frozen=True)
class DeletePreview:
    stage: LifecycleStage
    contacts: int
    companies: int
    can_delete: bool
    reason: str | None


def delete_preview(uow: UnitOfWork, principal: Principal, stage_id: int) -> DeletePreview:
    """L6: how many contacts use the stage, and whether it may go."""
    principal.require(Permission.LIFECYCLE_EDIT)
    stage = get_stage(uow, principal, stage_id)
    usage = uow.lifecycle.usage(principal.workspace_id, stage_id)
    reason = _undeletable(uow.lifecycle.stages(principal.workspace_id), stage)
    return DeletePreview(stage, usage["contacts"], usage["companies"], reason is None, reason)


def delete_stage(
    uow: UnitOfWork,
    principal: Principal,
    stage_id: int,
    cmd: DeleteLifecycleStage,
    actor: Actor,
) -> DeletePreview:
    """L6: the stage's contacts (and companies) move to ``move_to`` or are cleared, each with a
    LifecycleChanged event, in the same transaction as the delete."""
    principal.require(Permission.LIFECYCLE_EDIT)
    ws = principal.workspace_id
    uow.lifecycle.lock(ws)
    stage = uow.lifecycle.get(ws, stage_id, lock="update")
    if stage is None:
        raise NotFound(f"lifecycle stage {stage_id} not found")
    stages = uow.lifecycle.stages(ws)
    reason = _undeletable(stages, stage)
    if reason is not None:
        raise Conflict(reason)
    signals.check_unreferenced(
        uow, ws, RefKind.LIFECYCLE_STAGE, stage.id, f"lifecycle stage '{stage.name}'"
    )
    if cmd.move_to is not None and cmd.clear:
        raise ValidationFailed("give move_to or clear, not both", field="clear")
    target: LifecycleStage | None = None
    if cmd.move_to is not None:
        if cmd.move_to == stage_id:
            raise ValidationFailed("move the contacts to another stage", field="move_to")
        target = uow.lifecycle.get(ws, cmd.move_to)
        if target is None:
            raise ValidationFailed(f"no lifecycle stage {cmd.move_to}", field="move_to")
    usage = uow.lifecycle.usage(ws, stage_id)
    if (usage["contacts"] or usage["companies"]) and target is None and not cmd.clear:
        raise ValidationFailed(
            f"{usage['contacts']} contacts and {usage['companies']} companies are in "
            f"'{stage.name}': give move_to (another stage) or clear: true",
            field="move_to",
        )
    now = uow.clock.now()
    moved = _move_all(uow, stage, target, actor)
    uow.count(ws, target.id if target else None, uow.lifecycle.take_counts(ws, stage_id))
    uow.lifecycle.delete(ws, stage_id)
    remaining = [s.id for s in stages if s.kind is stage.kind and s.id != stage_id]
    uow.lifecycle.set_positions(ws, [i for i in remaining if i is not None], now)
    uow.emit_config(
        ws,
        actor,
        EventType.LIFECYCLE_STAGE_DELETED,
        stage=stage_view(stage),
        moved_to=target.id if target else None,
        records_moved=moved,
    )
    return DeletePreview(stage, usage["contacts"], usage["companies"], True, None)


def _move_all(
    uow: UnitOfWork, stage: LifecycleStage, target: LifecycleStage | None, actor: Actor
) -> int:
    """Move every record of ``stage`` a page at a time: one UPDATE and one batch of events
    per page (the counts move wholesale, by the caller)."""
    assert stage.id is not None
    ws, moved, after = stage.workspace_id, 0, 0
    now = uow.clock.now()
    uow.records.flush()
    while True:
        page = uow.lifecycle.records_in(ws, stage.id, after_id=after, limit=MOVE_PAGE)
        if not page:
            return moved
        ids = [row.id for row in page]
        uow.lifecycle.move_records(ws, ids, target.id if target else None, now)
        uow.emit(
            [
                lifecycle_event(ws, row.id, ObjectType(row.object_type), stage, target, actor, now)
                for row in page
            ]
        )
        moved += len(ids)
        after = ids[-1]


def _undeletable(stages: list[LifecycleStage], stage: LifecycleStage) -> str | None:
    lifecycle = [s for s in stages if s.kind is LifecycleKind.LIFECYCLE]
    if stage.kind is LifecycleKind.LIFECYCLE and len(lifecycle) <= 1:
        return "the last lifecycle stage cannot be deleted; a workspace keeps at least one"
    return None


# a record's stage --------------------------------------------------------------------------


def initial_stage(
    uow: UnitOfWork, workspace_id: int, object_type: ObjectType, stage_id: int | None
) -> LifecycleStage | None:
    """A new record's stage: the one given, or for contacts the default (L4)."""
    if stage_id is not None:
        if object_type not in LIFECYCLE_OBJECT_TYPES:
            raise ValidationFailed(
                f"{a_or_an(object_type.value)} has no lifecycle stage", field="lifecycle_stage_id"
            )
        return _stage_for_record(uow, workspace_id, stage_id)
    if object_type is not ObjectType.CONTACT:
        return None
    return uow.memo(
        ("lifecycle_default", workspace_id), lambda: uow.lifecycle.default(workspace_id)
    )


def record_created(
    uow: UnitOfWork, record: Record, stage: LifecycleStage | None, actor: Actor
) -> None:
    """After a contact or company is added: the LifecycleChanged event of its first stage and
    the contact's place in the live counts."""
    if stage is not None:
        assert record.id is not None
        uow.emit(
            [
                lifecycle_event(
                    record.workspace_id,
                    record.id,
                    record.object_type,
                    None,
                    stage,
                    actor,
                    record.created_at,
                )
            ]
        )
    if record.object_type is ObjectType.CONTACT:
        uow.count(record.workspace_id, record.lifecycle_stage_id, CONTACT)


def record_deleted(uow: UnitOfWork, record: Record) -> None:
    """Before a contact is deleted (its conversation goes with it)."""
    if record.object_type is ObjectType.CONTACT and record.id is not None:
        uow.records.lock(record)
        conversation = uow.conversations.of_contact(record.workspace_id, record.id)
        tally = CONTACT + (conversation.tally() if conversation else Tally())
        uow.count(record.workspace_id, record.lifecycle_stage_id, -tally)


def set_record_stage(
    uow: UnitOfWork,
    record: Record,
    stage_id: int | None,
    actor: Actor,
    *,
    read_version: int | None = None,
) -> bool:
    """Set, change or clear a contact's or company's stage (L5); False if it was there."""
    ws = record.workspace_id
    stage = _stage_for_record(uow, ws, stage_id) if stage_id is not None else None
    old_id = record.lifecycle_stage_id
    previous = uow.lifecycle.get(ws, old_id) if old_id is not None else None
    version = record.version if read_version is None else read_version
    if record.object_type is ObjectType.CONTACT:
        uow.records.lock(record)  # before its conversation is read for the counts
    if not record.set_lifecycle(stage, previous, actor, uow.clock.now()):
        return False
    uow.records.save(record, version)
    uow.emit(record.events)
    if record.object_type is ObjectType.CONTACT and record.id is not None:
        conversation = uow.conversations.of_contact(ws, record.id)
        tally = CONTACT + (conversation.tally() if conversation else Tally())
        uow.count(ws, old_id, -tally)
        uow.count(ws, stage_id, tally)
    return True


def sync_company_contacts(
    uow: UnitOfWork, company: Record, actor: Actor, principal: Principal | None = None
) -> int:
    """Give a company's contacts the company's stage, as changes with source ``sync`` (the lead
    automation's "sync lifecycle stages" depends on this). Returns how many changed."""
    assert company.id is not None
    sync_actor = Actor(
        kind=ActorKind.SYNC,
        source=Source.SYNC,
        id=company.id,
        user_id=actor.user_id,
        depth=actor.depth,
        run_id=actor.run_id,
        version=actor.version,
    )
    changed = 0
    for contact_id in uow.records.associations([company.id])[company.id].get("contact", []):
        contact = uow.records.get(company.workspace_id, contact_id, ObjectType.CONTACT)
        if contact is not None and (
            principal is None or principal.can_edit_owner(contact.owner_id)
        ):
            changed += set_record_stage(uow, contact, company.lifecycle_stage_id, sync_actor)
    return changed


def _stage_for_record(uow: UnitOfWork, workspace_id: int, stage_id: int) -> LifecycleStage:
    # Held until commit on PostgreSQL: a concurrent delete of this stage waits for us, and if
    # it won the race we see the stage gone rather than fail on the foreign key.
    stage = uow.lifecycle.get(workspace_id, stage_id, lock="share")
    if stage is None:
        raise ValidationFailed(f"no lifecycle stage {stage_id}", field="lifecycle_stage_id")
    return stage


# helpers -----------------------------------------------------------------------------------


def _check_unique(stages: list[LifecycleStage], name: str, own_id: int | None) -> None:
    if any(s.name.casefold() == name.casefold() and s.id != own_id for s in stages):
        raise Conflict(f"a lifecycle stage named '{name}' exists", field="name")


def _emoji_for(kind: LifecycleKind, emoji: str | None) -> str | None:
    if kind is LifecycleKind.LOST:
        if emoji is None:
            raise ValidationFailed("a lost stage needs an emoji", field="emoji")
        return check_emoji(emoji)
    if emoji is not None:
        raise ValidationFailed("only lost stages have an emoji", field="emoji")
    return None


def stage_view(stage: LifecycleStage) -> dict[str, Any]:
    return {
        "id": stage.id,
        "name": stage.name,
        "description": stage.description,
        "kind": stage.kind.value,
        "emoji": stage.emoji,
        "position": stage.position,
        "is_default": stage.is_default,
    }

"""Lifecycle changes racing each other (issue 4): concurrent default changes, and deleting a
stage while contacts are being assigned to it. Both backends; the live counts must always
agree with a full recount."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from stageflow.bootstrap import App
from stageflow.domain.errors import StageflowError, ValidationFailed
from stageflow.domain.lifecycle import ConversationStatus, LifecycleStage
from stageflow.domain.records import ObjectType, Record
from stageflow.services.commands import (
    CreateLifecycleStage,
    CreateRecord,
    DeleteLifecycleStage,
    InboundMessage,
    UpdateConversation,
    UpdateLifecycleStage,
)
from stageflow.services.crm import conversations, imports, lifecycle, records
from stageflow.services.crm.workspaces import actor_for
from tests.conftest import Tenant


def _stages(app: App, tenant: Tenant) -> dict[str, LifecycleStage]:
    with app.uow(read_only=True) as uow:
        return {s.name: s for s in uow.lifecycle.stages(tenant.id)}


def _id(stage: LifecycleStage) -> int:
    assert stage.id is not None
    return stage.id


def _contacts(app: App, tenant: Tenant, n: int) -> list[int]:
    ids = []
    with app.uow() as uow:
        for i in range(n):
            record = records.create_record(
                uow, tenant.owner, ObjectType.CONTACT, CreateRecord(name=f"C{i}"), _actor(tenant)
            )
            assert record.id is not None
            ids.append(record.id)
        uow.commit()
    return ids


def _actor(tenant: Tenant) -> Any:
    return actor_for(tenant.owner)


def _assign(app: App, tenant: Tenant, contact_id: int, stage_id: int) -> None:
    with app.uow() as uow:
        record = uow.records.get(tenant.id, contact_id)
        assert record is not None
        lifecycle.set_record_stage(uow, record, stage_id, _actor(tenant))
        uow.commit()


def _contact(app: App, tenant: Tenant, contact_id: int) -> Record:
    with app.uow(read_only=True) as uow:
        record = uow.records.get(tenant.id, contact_id)
    assert record is not None
    return record


def _counts_agree(app: App, tenant: Tenant) -> None:
    with app.uow() as uow:
        kept = uow.lifecycle.counts(tenant.id)
        actual = uow.lifecycle.recount(tenant.id)
    assert {k: v for k, v in kept.items() if v} == actual


def _defaults(app: App, tenant: Tenant) -> list[str]:
    return [s.name for s in _stages(app, tenant).values() if s.is_default]


def test_concurrent_default_changes_leave_exactly_one(app: App, tenant: Tenant) -> None:
    with app.uow() as uow:
        for i in range(6):
            lifecycle.create_stage(
                uow, tenant.owner, CreateLifecycleStage(name=f"Extra {i}"), _actor(tenant)
            )
        uow.commit()
    stages = [s for s in _stages(app, tenant).values() if s.kind.value == "lifecycle"]
    threads, rounds = 6, 5
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            start.wait(timeout=10)
            for round_ in range(rounds):
                stage = stages[(index + round_) % len(stages)]
                with app.uow() as uow:
                    lifecycle.set_default(uow, tenant.owner, _id(stage), _actor(tenant))
                    uow.commit()
        except BaseException as exc:
            errors.append(exc)

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=60)
    assert errors == []
    assert len(_defaults(app, tenant)) == 1


def test_a_second_default_change_waits_for_the_first(app: App, tenant: Tenant) -> None:
    """Interleaved by hand: the second transaction sees the first's result, not a conflict."""
    stages = _stages(app, tenant)
    done = threading.Event()
    failure: list[BaseException] = []

    def second() -> None:
        try:
            with app.uow() as uow:
                lifecycle.set_default(uow, tenant.owner, _id(stages["Payment"]), _actor(tenant))
                uow.commit()
        except BaseException as exc:
            failure.append(exc)
        done.set()

    with app.uow() as uow:
        lifecycle.set_default(uow, tenant.owner, _id(stages["Hot Lead"]), _actor(tenant))
        thread = threading.Thread(target=second)
        thread.start()
        assert not done.wait(timeout=0.3), "the second change did not wait for the first"
        uow.commit()
    thread.join(timeout=10)
    assert failure == []
    assert _defaults(app, tenant) == ["Payment"]


def test_deleting_a_stage_waits_for_an_assignment_in_flight(app: App, tenant: Tenant) -> None:
    stages = _stages(app, tenant)
    hot, customer = _id(stages["Hot Lead"]), _id(stages["Customer"])
    [contact_id] = _contacts(app, tenant, 1)
    done = threading.Event()
    failure: list[BaseException] = []

    def delete() -> None:
        try:
            with app.uow() as uow:
                lifecycle.delete_stage(
                    uow, tenant.owner, hot, DeleteLifecycleStage(move_to=customer), _actor(tenant)
                )
                uow.commit()
        except BaseException as exc:
            failure.append(exc)
        done.set()

    with app.uow() as uow:
        record = uow.records.get(tenant.id, contact_id)
        assert record is not None
        lifecycle.set_record_stage(uow, record, hot, _actor(tenant))
        thread = threading.Thread(target=delete)
        thread.start()
        assert not done.wait(timeout=0.3), "the delete did not wait for the assignment"
        uow.commit()
    thread.join(timeout=10)
    assert failure == []
    assert _contact(app, tenant, contact_id).lifecycle_stage_id == customer
    _counts_agree(app, tenant)


def test_an_assignment_after_a_delete_in_flight_finds_the_stage_gone(
    app: App, tenant: Tenant
) -> None:
    stages = _stages(app, tenant)
    hot, customer = _id(stages["Hot Lead"]), _id(stages["Customer"])
    [contact_id] = _contacts(app, tenant, 1)
    done = threading.Event()
    failure: list[BaseException] = []

    def assign() -> None:
        try:
            _assign(app, tenant, contact_id, hot)
        except BaseException as exc:
            failure.append(exc)
        done.set()

    with app.uow() as uow:
        lifecycle.delete_stage(
            uow, tenant.owner, hot, DeleteLifecycleStage(move_to=customer), _actor(tenant)
        )
        thread = threading.Thread(target=assign)
        thread.start()
        assert not done.wait(timeout=0.3), "the assignment did not wait for the delete"
        uow.commit()
    thread.join(timeout=10)
    assert len(failure) == 1 and isinstance(failure[0], ValidationFailed)
    assert failure[0].field == "lifecycle_stage_id"
    assert _contact(app, tenant, contact_id).lifecycle_stage_id == _id(stages["New Lead"])
    _counts_agree(app, tenant)


def test_deleting_a_stage_while_contacts_are_assigned_to_it(app: App, tenant: Tenant) -> None:
    stages = _stages(app, tenant)
    hot, customer = _id(stages["Hot Lead"]), _id(stages["Customer"])
    contact_ids = _contacts(app, tenant, 40)
    assigned: list[int] = []
    refused: list[int] = []
    unexpected: list[BaseException] = []
    halfway = threading.Event()

    def assigner() -> None:
        for n, contact_id in enumerate(contact_ids):
            if n == 10:
                halfway.set()
            try:
                _assign(app, tenant, contact_id, hot)
                assigned.append(contact_id)
            except ValidationFailed:
                refused.append(contact_id)
            except StageflowError as exc:
                unexpected.append(exc)
        halfway.set()

    thread = threading.Thread(target=assigner)
    thread.start()
    assert halfway.wait(timeout=30)
    with app.uow() as uow:
        lifecycle.delete_stage(
            uow, tenant.owner, hot, DeleteLifecycleStage(move_to=customer), _actor(tenant)
        )
        uow.commit()
    thread.join(timeout=60)
    assert unexpected == []
    assert len(assigned) + len(refused) == 40 and assigned and refused
    new_lead = _id(stages["New Lead"])
    for contact_id in assigned:
        assert _contact(app, tenant, contact_id).lifecycle_stage_id == customer
    for contact_id in refused:
        assert _contact(app, tenant, contact_id).lifecycle_stage_id == new_lead
    with app.uow(read_only=True) as uow:
        assert uow.lifecycle.usage(tenant.id, hot) == {"contacts": 0, "companies": 0}
    _counts_agree(app, tenant)


def test_renaming_keeps_the_default_and_counts(app: App, tenant: Tenant) -> None:
    stages = _stages(app, tenant)
    _contacts(app, tenant, 3)
    with app.uow() as uow:
        lifecycle.update_stage(
            uow,
            tenant.owner,
            _id(stages["New Lead"]),
            UpdateLifecycleStage(name="Fresh"),
            _actor(tenant),
        )
        uow.commit()
    assert _defaults(app, tenant) == ["Fresh"]
    with app.uow(read_only=True) as uow:
        assert uow.lifecycle.counts(tenant.id)[_id(stages["New Lead"])].contacts == 3


@pytest.mark.parametrize("seed", range(3))
def test_counts_match_a_recount_after_random_changes(app: App, tenant: Tenant, seed: int) -> None:
    import random

    rng = random.Random(seed)
    stage_ids: list[int | None] = [_id(s) for s in _stages(app, tenant).values()] + [None]
    contact_ids = _contacts(app, tenant, 25)
    for _ in range(60):
        contact_id = rng.choice(contact_ids)
        with app.uow() as uow:
            record = uow.records.get(tenant.id, contact_id)
            if record is None:
                continue
            if rng.random() < 0.08:
                records.delete_record(
                    uow, tenant.owner, ObjectType.CONTACT, contact_id, _actor(tenant)
                )
            else:
                lifecycle.set_record_stage(uow, record, rng.choice(stage_ids), _actor(tenant))
            uow.commit()
    _counts_agree(app, tenant)


def test_a_stage_with_more_contacts_than_sqlite_binds_at_once_is_deleted(
    app: App, tenant: Tenant
) -> None:
    """33,000 contacts (more than SQLite's 32,766 bound values in one statement) imported in
    bulk, then their stage deleted: every one moves, with an event each, counts kept."""
    stages = _stages(app, tenant)
    hot, customer = _id(stages["Hot Lead"]), _id(stages["Customer"])
    n = 33_000
    rows = ((i + 2, {"name": f"C{i}", "stage": "Hot Lead"}) for i in range(n))
    with app.uow() as uow:
        checked = imports.check(uow, tenant.owner, ["name", "stage"], rows, {})
        assert checked.ok
        imports.write(uow, tenant.owner, checked)
        uow.commit()
    with app.uow() as uow:
        lifecycle.delete_stage(
            uow, tenant.owner, hot, DeleteLifecycleStage(move_to=customer), _actor(tenant)
        )
        uow.commit()
    with app.uow(read_only=True) as uow:
        assert uow.lifecycle.usage(tenant.id, customer)["contacts"] == n
        moves = uow.lifecycle.transitions(tenant.id, app.clock.now())
    assert moves[(hot, customer)] == n
    _counts_agree(app, tenant)


def _inbound(app: App, tenant: Tenant, address: str = "+393331234567") -> tuple[int, int]:
    with app.uow() as uow:
        got = conversations.receive(
            uow,
            tenant.owner,
            InboundMessage(channel="sms", address=address, text="hi"),
            _actor(tenant),
        )
        uow.commit()
    assert got.contact.id is not None and got.conversation.id is not None
    return got.contact.id, got.conversation.id


def _in_thread_while(app: App, hold: Any, other: Any) -> list[BaseException]:
    """Run ``hold(uow)`` in a transaction, start ``other()`` in a thread, give it time to
    block (PostgreSQL) or wait (SQLite), commit, and return what ``other`` raised."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            other()
        except BaseException as exc:
            failure.append(exc)

    with app.uow() as uow:
        hold(uow)
        thread = threading.Thread(target=run)
        thread.start()
        thread.join(timeout=0.3)
        uow.commit()
    thread.join(timeout=10)
    assert not thread.is_alive()
    return failure


def test_a_conversation_change_and_a_stage_change_at_once_keep_counts(
    app: App, tenant: Tenant
) -> None:
    hot = _id(_stages(app, tenant)["Hot Lead"])
    contact_id, conversation_id = _inbound(app, tenant)

    def close(uow: Any) -> None:
        conversations.update(
            uow,
            tenant.owner,
            conversation_id,
            UpdateConversation(status=ConversationStatus.CLOSED),
            _actor(tenant),
        )

    assert _in_thread_while(app, close, lambda: _assign(app, tenant, contact_id, hot)) == []
    assert _contact(app, tenant, contact_id).lifecycle_stage_id == hot
    _counts_agree(app, tenant)


def test_two_deletes_of_one_contact_count_once(app: App, tenant: Tenant) -> None:
    [contact_id] = _contacts(app, tenant, 1)

    def delete(uow: Any) -> None:
        records.delete_record(uow, tenant.owner, ObjectType.CONTACT, contact_id, _actor(tenant))

    def delete_again() -> None:
        with app.uow() as uow:
            delete(uow)
            uow.commit()

    failure = _in_thread_while(app, delete, delete_again)
    assert len(failure) == 1 and isinstance(failure[0], StageflowError)
    _counts_agree(app, tenant)


def test_a_delete_and_a_stage_change_at_once_keep_counts(app: App, tenant: Tenant) -> None:
    hot = _id(_stages(app, tenant)["Hot Lead"])
    [contact_id] = _contacts(app, tenant, 1)

    def delete() -> None:
        with app.uow() as uow:
            records.delete_record(uow, tenant.owner, ObjectType.CONTACT, contact_id, _actor(tenant))
            uow.commit()

    def move(uow: Any) -> None:
        record = uow.records.get(tenant.id, contact_id)
        lifecycle.set_record_stage(uow, record, hot, _actor(tenant))

    failure = _in_thread_while(app, move, delete)
    assert all(isinstance(f, StageflowError) for f in failure)
    _counts_agree(app, tenant)


def test_two_first_messages_from_one_sender_make_one_contact(app: App, tenant: Tenant) -> None:
    found: list[int] = []

    def first(uow: Any) -> None:
        got = conversations.receive(
            uow,
            tenant.owner,
            InboundMessage(channel="sms", address="+15550001111", text="one"),
            _actor(tenant),
        )
        assert got.contact.id is not None
        found.append(got.contact.id)

    def second() -> None:
        found.append(_inbound(app, tenant, "+1 555 000 1111")[0])

    assert _in_thread_while(app, first, second) == []
    assert len(found) == 2 and found[0] == found[1]
    _counts_agree(app, tenant)

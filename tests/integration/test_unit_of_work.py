"""The unit of work: a change and its events commit together or not at all (DESIGN "Events").

These tests drive the service layer directly, the way every entrypoint does, and read the
result back through a fresh unit of work.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest

from stageflow.adapters.db.repositories.events import EventRepository
from stageflow.bootstrap import App
from stageflow.domain.clock import VirtualClock
from stageflow.domain.errors import StaleVersion
from stageflow.domain.events import Actor, ActorKind, Event, EventType, Source
from stageflow.domain.records import ObjectType, Record
from stageflow.services.commands import CreateRecord, MoveRecord, UpdateRecord
from stageflow.services.crm.records import create_record, delete_record, move_record, update_record
from stageflow.services.crm.workspaces import actor_for
from tests.conftest import Tenant

DEAL = ObjectType.DEAL


def _actor(tenant: Tenant, source: Source = Source.API) -> Actor:
    return actor_for(tenant.owner, source)


def _new_deal(app: App, tenant: Tenant, name: str = "Deal", **fields: Any) -> Record:
    with app.uow() as uow:
        record = create_record(
            uow, tenant.owner, DEAL, CreateRecord(name=name, fields=fields), _actor(tenant)
        )
        uow.commit()
    assert record.id is not None
    return record


def _read(app: App, tenant: Tenant, record_id: int) -> Record | None:
    with app.uow(read_only=True) as uow:
        return uow.records.get(tenant.id, record_id)


def _timeline(app: App, tenant: Tenant, record_id: int) -> list[Any]:
    """The record's events, oldest first."""
    with app.uow(read_only=True) as uow:
        rows = uow.events.timeline(tenant.id, record_id, before_id=None, limit=1000)
    return list(reversed(rows))


def _workspace_events(app: App, tenant: Tenant) -> list[Any]:
    with app.uow(read_only=True) as uow:
        return uow.events.for_workspace(tenant.id, limit=100_000)


def _deal_stages(app: App, tenant: Tenant) -> dict[str, int]:
    with app.uow(read_only=True) as uow:
        pipeline = uow.pipelines.default_for(tenant.id, DEAL)
    assert pipeline is not None
    return {s.name: s.id for s in pipeline.stages if s.id is not None}


# commit: the change and its events ----------------------------------------------------------


def test_committed_change_is_visible_with_its_events(app: App, tenant: Tenant) -> None:
    deal = _new_deal(app, tenant, "Turbines", amount=100)
    assert deal.id is not None
    stages = _deal_stages(app, tenant)

    with app.uow() as uow:
        update_record(
            uow,
            tenant.owner,
            DEAL,
            deal.id,
            UpdateRecord(fields={"amount": 250}, version=1),
            _actor(tenant),
        )
        move_record(
            uow,
            tenant.owner,
            DEAL,
            deal.id,
            MoveRecord(stage_id=stages["Proposal"], version=2),
            _actor(tenant),
        )
        uow.commit()

    stored = _read(app, tenant, deal.id)
    assert stored is not None
    assert stored.fields == {"amount": 250}
    assert stored.stage_id == stages["Proposal"]
    assert stored.version == 3

    events = _timeline(app, tenant, deal.id)
    assert [e.type for e in events] == ["RecordCreated", "FieldChanged", "StageChanged"]
    created, changed, moved = events
    assert created.after["name"] == "Turbines"
    assert created.after["fields"] == {"amount": 100}
    assert (changed.before, changed.after, changed.data) == (
        {"amount": 100},
        {"amount": 250},
        {"field": "amount"},
    )
    assert moved.before["stage_id"] == stages["New"]
    assert moved.after["stage_id"] == stages["Proposal"]
    assert all(e.record_id == deal.id and e.object_type == "deal" for e in events)


def test_event_ids_follow_the_order_changes_happened(app: App, tenant: Tenant) -> None:
    deal = _new_deal(app, tenant, "Ordered", amount=0)
    assert deal.id is not None
    for amount in (1, 2, 3):
        with app.uow() as uow:
            update_record(
                uow,
                tenant.owner,
                DEAL,
                deal.id,
                UpdateRecord(fields={"amount": amount}),
                _actor(tenant),
            )
            uow.commit()
    events = _timeline(app, tenant, deal.id)
    assert [e.after for e in events[1:]] == [{"amount": 1}, {"amount": 2}, {"amount": 3}]
    ids = [e.id for e in events]
    assert ids == sorted(ids)


# rollback: the change and its events are lost together --------------------------------------


def test_leaving_without_commit_loses_the_record_and_its_events(app: App, tenant: Tenant) -> None:
    before = _workspace_events(app, tenant)
    with app.uow() as uow:
        record = create_record(
            uow, tenant.owner, DEAL, CreateRecord(name="Never saved"), _actor(tenant)
        )
        assert record.id is not None
        # Inside the transaction the record exists...
        assert uow.records.get(tenant.id, record.id) is not None
    # ...and outside it, neither it nor any event of it does.
    assert _read(app, tenant, record.id) is None
    assert _timeline(app, tenant, record.id) == []
    assert _workspace_events(app, tenant) == before


def test_leaving_without_commit_loses_an_update_and_its_events(app: App, tenant: Tenant) -> None:
    deal = _new_deal(app, tenant, "Kept", amount=10)
    assert deal.id is not None
    with app.uow() as uow:
        changed = update_record(
            uow,
            tenant.owner,
            DEAL,
            deal.id,
            UpdateRecord(name="Renamed", fields={"amount": 20}),
            _actor(tenant),
        )
        assert changed.version == 2
    stored = _read(app, tenant, deal.id)
    assert stored is not None
    assert (stored.name, stored.fields, stored.version) == ("Kept", {"amount": 10}, 1)
    assert [e.type for e in _timeline(app, tenant, deal.id)] == ["RecordCreated"]


def test_events_already_written_are_rolled_back_without_commit(app: App, tenant: Tenant) -> None:
    """Even events that reached the events table inside the transaction vanish with it."""
    before = _workspace_events(app, tenant)
    with app.uow() as uow:
        record = create_record(
            uow, tenant.owner, DEAL, CreateRecord(name="Flushed"), _actor(tenant)
        )
        assert record.id is not None
        note = Event(
            EventType.FIELD_CHANGED,
            tenant.id,
            _actor(tenant),
            app.clock.now(),
            record_id=record.id,
            object_type="deal",
            data={"field": "name"},
        )
        uow.events.append([note])
        inside = uow.events.timeline(tenant.id, record.id, before_id=None, limit=10)
        assert [e.type for e in inside] == ["FieldChanged"]
    assert _read(app, tenant, record.id) is None
    assert _timeline(app, tenant, record.id) == []
    assert _workspace_events(app, tenant) == before


def test_exception_inside_the_block_loses_the_record_and_its_events(
    app: App, tenant: Tenant
) -> None:
    before = _workspace_events(app, tenant)
    written: list[int] = []

    def write_then_fail() -> None:
        with app.uow() as uow:
            record = create_record(
                uow, tenant.owner, DEAL, CreateRecord(name="Doomed"), _actor(tenant)
            )
            assert record.id is not None
            written.append(record.id)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        write_then_fail()
    assert written, "the record was written inside the block"
    assert _read(app, tenant, written[0]) is None
    assert _timeline(app, tenant, written[0]) == []
    assert _workspace_events(app, tenant) == before
    # The failed unit of work let go of its connection and locks: the next one writes at once.
    survivor = _new_deal(app, tenant, "Next")
    assert survivor.id is not None
    assert _read(app, tenant, survivor.id) is not None


def test_exception_after_commit_keeps_what_was_committed(app: App, tenant: Tenant) -> None:
    written: list[int] = []

    def commit_then_fail() -> None:
        with app.uow() as uow:
            record = create_record(
                uow, tenant.owner, DEAL, CreateRecord(name="Committed"), _actor(tenant)
            )
            assert record.id is not None
            written.append(record.id)
            uow.commit()
            raise RuntimeError("after")

    with pytest.raises(RuntimeError, match="after"):
        commit_then_fail()
    assert _read(app, tenant, written[0]) is not None
    assert [e.type for e in _timeline(app, tenant, written[0])] == ["RecordCreated"]


@pytest.mark.parametrize("write_first", [False, True], ids=["before-writing", "after-writing"])
def test_failure_while_committing_events_leaves_neither_record_nor_events(
    app: App, tenant: Tenant, monkeypatch: pytest.MonkeyPatch, write_first: bool
) -> None:
    deal = _new_deal(app, tenant, "Existing", amount=1)
    assert deal.id is not None
    before = _workspace_events(app, tenant)
    original = EventRepository.append

    def failing_append(self: EventRepository, events: list[Any]) -> None:
        if write_first:
            original(self, events)
        raise RuntimeError("events table unavailable")

    monkeypatch.setattr(EventRepository, "append", failing_append)
    written: list[int] = []
    deal_id = deal.id

    def change_and_commit() -> None:
        with app.uow() as uow:
            record = create_record(
                uow, tenant.owner, DEAL, CreateRecord(name="Half done"), _actor(tenant)
            )
            assert record.id is not None
            written.append(record.id)
            update_record(
                uow,
                tenant.owner,
                DEAL,
                deal_id,
                UpdateRecord(fields={"amount": 2}),
                _actor(tenant),
            )
            uow.commit()

    with pytest.raises(RuntimeError, match="events table unavailable"):
        change_and_commit()
    monkeypatch.undo()

    assert _read(app, tenant, written[0]) is None
    assert _timeline(app, tenant, written[0]) == []
    stored = _read(app, tenant, deal.id)
    assert stored is not None
    assert (stored.fields, stored.version) == ({"amount": 1}, 1)
    assert _workspace_events(app, tenant) == before
    # And the database is free for the next writer.
    assert _new_deal(app, tenant, "After the failure").id is not None


def test_a_new_record_never_inherits_a_deleted_records_timeline(app: App, tenant: Tenant) -> None:
    """Record ids are never reused, so a timeline only ever shows its own record's events."""
    gone = _new_deal(app, tenant, "Deleted")
    assert gone.id is not None
    with app.uow() as uow:
        delete_record(uow, tenant.owner, DEAL, gone.id, _actor(tenant))
        uow.commit()
    assert [e.type for e in _timeline(app, tenant, gone.id)] == ["RecordCreated", "RecordDeleted"]

    fresh = _new_deal(app, tenant, "Fresh")
    assert fresh.id is not None
    assert fresh.id != gone.id
    events = _timeline(app, tenant, fresh.id)
    assert [(e.type, e.after["name"]) for e in events] == [("RecordCreated", "Fresh")]


# optimistic concurrency ---------------------------------------------------------------------


def test_second_save_of_the_same_version_is_stale_and_the_first_change_survives(
    app: App, tenant: Tenant
) -> None:
    """Sequential on purpose: on SQLite a second writer waits for the first (BEGIN IMMEDIATE)."""
    deal = _new_deal(app, tenant, "Contested", amount=1)
    assert deal.id is not None

    # Unit of work 1 reads the record...
    with app.uow(read_only=True) as uow1:
        mine = uow1.records.get(tenant.id, deal.id)
    assert mine is not None
    read_version = mine.version

    # ...unit of work 2 reads, changes and commits it...
    with app.uow() as uow2:
        theirs = uow2.records.get(tenant.id, deal.id)
        assert theirs is not None
        assert theirs.change({"fields": {"amount": 2}}, _actor(tenant), app.clock.now())
        uow2.records.save(theirs, theirs.version - 1)
        uow2.emit(theirs.events)
        uow2.commit()

    # ...then unit of work 1 saves its change to the version it read: stale.
    with app.uow() as uow1b:
        assert mine.change({"fields": {"amount": 3}}, _actor(tenant), app.clock.now())
        with pytest.raises(StaleVersion) as caught:
            uow1b.records.save(mine, read_version)
        uow1b.commit()
    assert caught.value.field == "version"

    stored = _read(app, tenant, deal.id)
    assert stored is not None
    assert (stored.fields, stored.version) == ({"amount": 2}, 2)
    changes = [e.after for e in _timeline(app, tenant, deal.id) if e.type == "FieldChanged"]
    assert changes == [{"amount": 2}]


def test_update_with_a_stale_version_writes_nothing(app: App, tenant: Tenant) -> None:
    deal = _new_deal(app, tenant, "Versioned", amount=1)
    assert deal.id is not None
    with app.uow() as uow:
        update_record(
            uow,
            tenant.owner,
            DEAL,
            deal.id,
            UpdateRecord(fields={"amount": 2}, version=1),
            _actor(tenant),
        )
        uow.commit()
    deal_id = deal.id

    def stale_update() -> None:
        with app.uow() as uow:
            update_record(
                uow,
                tenant.owner,
                DEAL,
                deal_id,
                UpdateRecord(fields={"amount": 3}, version=1),
                _actor(tenant),
            )
            uow.commit()

    with pytest.raises(StaleVersion):
        stale_update()
    stored = _read(app, tenant, deal.id)
    assert stored is not None
    assert (stored.fields, stored.version) == ({"amount": 2}, 2)
    assert len(_timeline(app, tenant, deal.id)) == 2


def test_interleaved_units_of_work_on_postgresql(app: App, tenant: Tenant) -> None:
    """Two open transactions read the same version; the one that saves second is stale."""
    if app.engine.dialect.name == "sqlite":
        pytest.skip("SQLite serialises writers at BEGIN IMMEDIATE; covered sequentially above")
    deal = _new_deal(app, tenant, "Interleaved", amount=1)
    assert deal.id is not None
    with app.uow() as uow1, app.uow() as uow2:
        first = uow1.records.get(tenant.id, deal.id)
        second = uow2.records.get(tenant.id, deal.id)
        assert first is not None and second is not None
        assert first.version == second.version == 1

        assert second.change({"fields": {"amount": 2}}, _actor(tenant), app.clock.now())
        uow2.records.save(second, 1)
        uow2.emit(second.events)
        uow2.commit()

        assert first.change({"fields": {"amount": 3}}, _actor(tenant), app.clock.now())
        with pytest.raises(StaleVersion):
            uow1.records.save(first, 1)
        uow1.emit(first.events)
    stored = _read(app, tenant, deal.id)
    assert stored is not None
    assert (stored.fields, stored.version) == ({"amount": 2}, 2)
    changes = [e.after for e in _timeline(app, tenant, deal.id) if e.type == "FieldChanged"]
    assert changes == [{"amount": 2}]


def test_sqlite_second_writer_waits_for_the_first(app: App, tenant: Tenant) -> None:
    """On SQLite a writer takes the lock at BEGIN, so a second one reads only committed data."""
    if app.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL lets writers interleave; covered by the interleaved test")
    deal = _new_deal(app, tenant, "Serial", amount=1)
    assert deal.id is not None
    record_id = deal.id
    seen: list[int] = []
    second_began = threading.Event()

    def second_writer() -> None:
        second_began.set()
        with app.uow() as uow:
            current = uow.records.get(tenant.id, record_id)
            assert current is not None
            seen.append(current.version)

    with app.uow() as uow1:
        update_record(
            uow1,
            tenant.owner,
            DEAL,
            record_id,
            UpdateRecord(fields={"amount": 2}),
            _actor(tenant),
        )
        thread = threading.Thread(target=second_writer)
        thread.start()
        assert second_began.wait(timeout=5)
        thread.join(timeout=0.3)
        assert thread.is_alive(), "the second writer did not wait for the first"
        uow1.commit()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert seen == [2]


def test_concurrent_increments_lose_no_update(app: App, tenant: Tenant) -> None:
    threads, increments = 8, 10
    total = threads * increments
    deal = _new_deal(app, tenant, "Counter", amount=0)
    assert deal.id is not None
    record_id = deal.id
    start = threading.Barrier(threads)
    retries = [0] * threads

    def worker(index: int) -> None:
        start.wait(timeout=10)
        for _ in range(increments):
            for _attempt in range(500):
                try:
                    with app.uow() as uow:
                        current = uow.records.get(tenant.id, record_id)
                        assert current is not None
                        update_record(
                            uow,
                            tenant.owner,
                            DEAL,
                            record_id,
                            UpdateRecord(
                                fields={"amount": current.fields["amount"] + 1},
                                version=current.version,
                            ),
                            _actor(tenant),
                        )
                        uow.commit()
                    break
                except StaleVersion:
                    retries[index] += 1
            else:
                raise AssertionError("an increment never got through")

    began = time.monotonic()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for future in [pool.submit(worker, i) for i in range(threads)]:
            future.result(timeout=60)
    elapsed = time.monotonic() - began

    stored = _read(app, tenant, record_id)
    assert stored is not None
    assert stored.fields["amount"] == total
    assert stored.version == 1 + total
    changed = [e for e in _timeline(app, tenant, record_id) if e.type == "FieldChanged"]
    assert len(changed) == total
    # Every step 0→1, 1→2, … was written exactly once: no lost and no duplicated update.
    steps = sorted((e.before["amount"], e.after["amount"]) for e in changed)
    assert steps == [(n, n + 1) for n in range(total)]
    assert elapsed < 5, f"{total} increments took {elapsed:.1f}s ({sum(retries)} retries)"


# who and when -------------------------------------------------------------------------------


def test_events_carry_actor_source_and_virtual_time(
    app: App, tenant: Tenant, clock: VirtualClock
) -> None:
    created_at = clock.now()
    deal = _new_deal(app, tenant, "Timed", amount=1)
    assert deal.id is not None

    updated_at = clock.advance(timedelta(hours=2, minutes=30))
    with app.uow() as uow:
        update_record(
            uow,
            tenant.owner,
            DEAL,
            deal.id,
            UpdateRecord(fields={"amount": 2}),
            _actor(tenant, Source.UI),
        )
        uow.commit()

    moved_at = clock.advance(timedelta(days=3))
    automation = Actor(kind=ActorKind.AUTOMATION, source=Source.AUTOMATION, id=77, depth=1)
    stages = _deal_stages(app, tenant)
    with app.uow() as uow:
        move_record(
            uow, tenant.owner, DEAL, deal.id, MoveRecord(stage_id=stages["Proposal"]), automation
        )
        uow.commit()

    created, changed, moved = _timeline(app, tenant, deal.id)
    owner_id = tenant.owner.user_id
    assert (created.actor_kind, created.actor_id, created.user_id, created.source) == (
        "user",
        owner_id,
        owner_id,
        "api",
    )
    assert created.occurred_at == created_at
    assert (changed.actor_kind, changed.user_id, changed.source) == ("user", owner_id, "ui")
    assert changed.occurred_at == updated_at
    assert (moved.actor_kind, moved.actor_id, moved.user_id, moved.source, moved.depth) == (
        "automation",
        77,
        None,
        "automation",
        1,
    )
    assert moved.occurred_at == moved_at

    stored = _read(app, tenant, deal.id)
    assert stored is not None
    assert stored.created_at == created_at
    assert stored.updated_at == moved_at
    assert stored.stage_entered_at == moved_at

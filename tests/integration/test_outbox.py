"""The outbox and its courier: one row per idempotency key, leases (on real time, never the
virtual clock) that let a dead courier's deliveries be picked up again, late outcomes that
cannot overwrite newer ones, and emails handed over at most once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from stageflow.adapters.http import Delivery
from stageflow.bootstrap import App
from stageflow.domain.clock import SystemClock, VirtualClock
from stageflow.services.engine import outbox
from tests.conftest import Tenant


def _queue(app: App, tenant: Tenant, key: str = "run-1/notify/") -> int:
    with app.uow() as uow:
        first = outbox.queue(
            uow,
            tenant.id,
            kind="test",
            idempotency_key=key,
            payload={"n": 1},
            max_attempts=3,
        )
        again = outbox.queue(
            uow,
            tenant.id,
            kind="test",
            idempotency_key=key,
            payload={"n": 2},
            max_attempts=3,
        )
        uow.commit()
    assert again == first
    return first


def _lease_clock(app: App) -> VirtualClock:
    """Real time that the test moves: lets a lease run out without waiting for it."""
    lease = VirtualClock(SystemClock().now())
    app.lease_clock = lease
    return lease


def _courier(app: App, sent: list[int], answer: Delivery | None = None) -> outbox.Courier:
    courier = app.courier()

    def send(row: Any, _courier: outbox.Courier, _workspace: dict[str, Any]) -> Delivery:
        sent.append(row.id)
        return answer or Delivery(ok=True, status_code=200)

    courier.senders["test"] = send
    return courier


def test_one_row_per_idempotency_key(app: App, tenant: Tenant) -> None:
    delivery_id = _queue(app, tenant)
    with app.uow(read_only=True) as uow:
        row = uow.outbox.get(tenant.id, delivery_id)
    assert row.payload == {"n": 1} and row.status == "pending"


def test_a_dead_couriers_delivery_is_sent_again_after_its_lease(
    app: App, tenant: Tenant, clock: VirtualClock
) -> None:
    lease = _lease_clock(app)
    delivery_id = _queue(app, tenant)
    with app.uow() as uow:  # a courier claims it, then dies before sending or recording
        (claimed,) = [
            r
            for r in uow.outbox.claim_due(
                clock.now(), lease.now(), lease.now() + timedelta(seconds=90), 100
            )
            if r.id == delivery_id
        ]
        uow.commit()
    assert claimed.attempts == 1

    sent: list[int] = []
    courier = _courier(app, sent)
    courier.tick()
    assert delivery_id not in sent  # still leased
    clock.advance(timedelta(days=1))
    courier.tick()
    assert delivery_id not in sent  # virtual time does not end a lease
    lease.advance(timedelta(seconds=91))
    courier.tick()
    assert sent.count(delivery_id) == 1
    with app.uow(read_only=True) as uow:
        row = uow.outbox.get(tenant.id, delivery_id)
    assert row.status == "delivered" and row.attempts == 2

    # The dead courier's outcome, written late, changes nothing.
    with app.uow() as uow:
        assert not uow.outbox.finish(delivery_id, 1, {"status": "failed"})
        uow.commit()


def test_retryable_failures_back_off_and_give_up(
    app: App, tenant: Tenant, clock: VirtualClock
) -> None:
    delivery_id = _queue(app, tenant, "run-2/notify/")
    sent: list[int] = []
    courier = _courier(app, sent, Delivery(ok=False, retryable=True, error="HTTP 503"))
    waits = []
    for _ in range(3):
        courier.tick()
        with app.uow(read_only=True) as uow:
            row = uow.outbox.get(tenant.id, delivery_id)
        waits.append(row.next_attempt_at - clock.now())
        clock.advance(timedelta(hours=3))
    assert sent.count(delivery_id) == 3
    assert waits[:2] == [timedelta(seconds=30), timedelta(minutes=2)]
    assert row.status == "failed" and row.last_error == "HTTP 503 (gave up after 3 attempts)"


def test_backoff_grows_to_a_ceiling_and_honours_retry_after() -> None:
    assert [outbox.backoff(n).total_seconds() for n in range(1, 7)] == [
        30,
        120,
        480,
        1920,
        7200,
        7200,
    ]
    assert outbox.backoff(1, retry_after=90).total_seconds() == 90
    assert outbox.backoff(2, retry_after=5).total_seconds() == 120


def test_an_unknown_kind_fails_clearly(app: App, tenant: Tenant) -> None:
    with app.uow() as uow:
        delivery_id = outbox.queue(
            uow, tenant.id, kind="pigeon", idempotency_key="k", payload={}, max_attempts=2
        )
        uow.commit()
    app.courier().tick()
    with app.uow(read_only=True) as uow:
        row = uow.outbox.get(tenant.id, delivery_id)
    assert row.status == "failed" and "pigeon" in row.last_error


def test_a_late_courier_cannot_renew_a_lease_another_took_over(
    app: App, tenant: Tenant, clock: VirtualClock
) -> None:
    lease = _lease_clock(app)
    delivery_id = _queue(app, tenant, "run-3/notify/")
    with app.uow() as uow:
        now = clock.now()
        (first,) = [
            r
            for r in uow.outbox.claim_due(
                now, lease.now(), lease.now() + timedelta(seconds=90), 100
            )
            if r.id == delivery_id
        ]
        uow.commit()
    lease.advance(timedelta(seconds=91))
    with app.uow() as uow:
        now = lease.now()
        (second,) = [
            r
            for r in uow.outbox.claim_due(clock.now(), now, now + timedelta(seconds=90), 100)
            if r.id == delivery_id
        ]
        assert not uow.outbox.renew(delivery_id, first.attempts, now + timedelta(minutes=10))
        assert uow.outbox.renew(delivery_id, second.attempts, now + timedelta(minutes=10))
        uow.commit()


def test_a_last_attempt_with_no_outcome_is_not_sent_again(
    app: App, tenant: Tenant, clock: VirtualClock
) -> None:
    lease = _lease_clock(app)
    with app.uow() as uow:
        delivery_id = outbox.queue(
            uow, tenant.id, kind="test", idempotency_key="once", payload={}, max_attempts=1
        )
        now = lease.now()
        # then the courier dies
        uow.outbox.claim_due(clock.now(), now, now + timedelta(seconds=90), 100)
        uow.commit()
    sent: list[int] = []
    lease.advance(timedelta(minutes=2))
    _courier(app, sent).tick()
    with app.uow(read_only=True) as uow:
        row = uow.outbox.get(tenant.id, delivery_id)
    assert delivery_id not in sent
    assert row.status == "failed" and "outcome of attempt 1 is unknown" in row.last_error


def test_a_name_that_cannot_be_resolved_just_now_is_tried_again(app: App, tenant: Tenant) -> None:
    from stageflow.adapters.http import LookupFailed

    with app.uow() as uow:
        delivery_id = outbox.queue(
            uow,
            tenant.id,
            kind="webhook",
            idempotency_key="dns",
            payload={
                "url": "https://hooks.example/x",
                "method": "POST",
                "headers": {},
                "body": "{}",
                "sign": False,
            },
            max_attempts=3,
        )
        uow.commit()
    courier = app.courier()

    def flaky(host: str, port: int) -> list[str]:
        raise LookupFailed(f"cannot resolve {host!r} just now: Temporary failure")

    courier.resolver = flaky
    courier.tick()
    with app.uow(read_only=True) as uow:
        row = uow.outbox.get(tenant.id, delivery_id)
    assert row.status == "pending" and "just now" in row.last_error

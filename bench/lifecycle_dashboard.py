"""The lifecycle dashboard (L9) with a million contacts and 300,000 conversations: the kept
counts make it a few small indexed reads, against a GROUP BY over every contact.

    .venv/bin/python bench/lifecycle_dashboard.py [--contacts 1000000] [--conversations 300000]
        [--transitions 100000] [--backend sqlite] [--repeat 20]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from _common import database, make_app, report, rss_mb, tenant
from sqlalchemy import insert, text

from stageflow.adapters.db import tables as t
from stageflow.domain.clock import VirtualClock
from stageflow.domain.lifecycle import ConversationStatus, Tally
from stageflow.services.crm.lifecycle import dashboard, recount

BATCH = 10_000
STATUSES = (ConversationStatus.OPEN, ConversationStatus.SNOOZED, ConversationStatus.CLOSED)
WINDOW_SECONDS = 30 * 86_400 - 60  # transitions fall inside the dashboard's 30 days

NAIVE = (
    "select lifecycle_stage_id, count(*) from records "
    "where workspace_id = :ws and object_type = 'contact' group by 1"
)


def stage_of(i: int, stage_ids: list[int]) -> int | None:
    """Contact ``i``'s stage: every stage in turn, and one contact in eight without one."""
    return None if i % 8 == 7 else stage_ids[i % len(stage_ids)]


def insert_batches(app: Any, table: Any, n: int, row: Callable[[int], dict[str, Any]]) -> float:
    """Insert ``row(i)`` for i < n straight into ``table``, 10,000 rows per statement and
    transaction; returns seconds taken."""
    started = time.perf_counter()
    for first in range(0, n, BATCH):
        batch = [row(i) for i in range(first, min(n, first + BATCH))]
        with app.engine.begin() as conn:
            conn.execute(insert(table), batch)
    return time.perf_counter() - started


def timings(fn: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    """Milliseconds of each of ``repeat`` calls, and the last call's result."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - started) * 1000)
    return times, result


def spread(times: list[float]) -> str:
    return (
        f"min {min(times):.2f} / median {statistics.median(times):.2f} / "
        f"max {max(times):.2f} ms ({len(times)} runs)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--conversations", type=int, default=300_000)
    parser.add_argument("--transitions", type=int, default=100_000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    if args.conversations > args.contacts:
        parser.error("a contact has at most one conversation: --conversations <= --contacts")
    now = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    clock = VirtualClock(now)
    created = now - timedelta(days=90)
    rows: list[tuple[str, str]] = []
    with database(args.backend) as url:
        app = make_app(url, clock)
        principal, _ = tenant(app)
        ws, owner = principal.workspace_id, principal.user_id
        with app.uow(read_only=True) as uow:
            stage_ids = [s.id for s in uow.lifecycle.stages(ws) if s.id is not None]
        assert len(stage_ids) == 5, stage_ids

        # contacts, then one conversation each for the first --conversations of them ----------
        seconds = insert_batches(
            app,
            t.records,
            args.contacts,
            lambda i: {
                "workspace_id": ws,
                "object_type": "contact",
                "name": f"Contact {i}",
                "lifecycle_stage_id": stage_of(i, stage_ids),
                "fields": {"email": f"contact{i}@example.com"},
                "version": 1,
                "created_at": created,
                "updated_at": created,
            },
        )
        rows.append((f"inserted {args.contacts:,} contacts", f"{seconds:.1f} s"))
        print(f"inserted {args.contacts:,} contacts in {seconds:.1f} s", flush=True)
        with app.engine.connect() as conn:
            contact_ids = list(
                conn.execute(
                    text(
                        "select id from records where workspace_id = :ws "
                        "and object_type = 'contact' order by id"
                    ),
                    {"ws": ws},
                ).scalars()
            )
        assert len(contact_ids) == args.contacts

        def conversation(i: int) -> dict[str, Any]:
            status = STATUSES[i % 3]
            return {
                "workspace_id": ws,
                "contact_id": contact_ids[i],
                "status": status.value,
                "snoozed_until": now + timedelta(days=1 + i % 7)
                if status is ConversationStatus.SNOOZED
                else None,
                "assignee_id": None if i % 2 == 0 else owner,
                "channel": "email",
                "last_message_at": created,
                "version": 1,
                "created_at": created,
                "updated_at": created,
            }

        seconds = insert_batches(app, t.conversations, args.conversations, conversation)
        rows.append((f"inserted {args.conversations:,} conversations", f"{seconds:.1f} s"))
        print(f"inserted {args.conversations:,} conversations in {seconds:.1f} s", flush=True)

        # lifecycle changes within the last 30 days -------------------------------------------
        choices: list[int | None] = [None, *stage_ids]

        def transition(j: int) -> dict[str, Any]:
            source = choices[j % len(choices)]
            target = stage_ids[(j // len(choices) + j) % len(stage_ids)]
            if target == source:
                target = stage_ids[(stage_ids.index(target) + 1) % len(stage_ids)]
            return {
                "workspace_id": ws,
                "occurred_at": now - timedelta(seconds=(j * 7_919) % WINDOW_SECONDS + 1),
                "from_stage_id": source or 0,
                "to_stage_id": target,
                "changes": 1,
            }

        seconds = insert_batches(app, t.lifecycle_changes, args.transitions, transition)
        rows.append((f"inserted {args.transitions:,} lifecycle changes", f"{seconds:.1f} s"))
        print(f"inserted {args.transitions:,} lifecycle changes in {seconds:.1f} s", flush=True)
        if args.backend == "postgresql":
            with app.engine.connect() as conn:
                conn.execute(text("ANALYZE"))  # what autovacuum would do after a bulk load
                conn.commit()

        # what the dashboard must show ----------------------------------------------------------
        expected: dict[int, Tally] = {}
        for i in range(args.contacts):
            key = stage_of(i, stage_ids) or 0
            one = Tally(contacts=1)
            if i < args.conversations:
                one = one + Tally.of(STATUSES[i % 3], assigned=i % 2 == 1)
            expected[key] = expected.get(key, Tally()) + one
        expected_moves = Counter(
            (row["from_stage_id"] or 0, row["to_stage_id"])
            for row in map(transition, range(args.transitions))
        )

        # the kept counts, rebuilt after loading behind the service layer's back --------------
        started = time.perf_counter()
        with app.uow() as uow:
            recount(uow, ws)
            uow.commit()
        seconds = time.perf_counter() - started
        rows.append(("recount (full scan, the repair tool)", f"{seconds * 1000:.0f} ms"))
        print(f"recount in {seconds * 1000:.0f} ms", flush=True)

        # the dashboard -------------------------------------------------------------------------
        def read_dashboard() -> dict[str, Any]:
            with app.uow(read_only=True) as uow:
                return dashboard(uow, principal)

        times, result = timings(read_dashboard, args.repeat)
        rows.append(("dashboard(uow, principal), own read-only uow", spread(times)))
        cards = [*result["lifecycle"], *result["lost"]]
        shown = {card["id"]: card for card in cards} | {0: result["no_stage"]}
        for key, card in shown.items():
            want = expected.get(key, Tally())
            got = Tally(
                card["contacts"],
                card["open_conversations"],
                card["snoozed_conversations"],
                card["unassigned_conversations"],
            )
            assert got == want, (key, got, want)
        assert sum(card["contacts"] for card in shown.values()) == args.contacts
        opened = sum(card["open_conversations"] for card in shown.values())
        snoozed = sum(card["snoozed_conversations"] for card in shown.values())
        assert opened + snoozed == sum(
            1 for i in range(args.conversations) if STATUSES[i % 3] is not ConversationStatus.CLOSED
        )
        moves = {
            (m["from_stage_id"] or 0, m["to_stage_id"]): m["changes"]
            for m in result["conversion_30d"]["transitions"]
        }
        assert moves == dict(expected_moves), (moves, expected_moves)
        for card in cards:
            assert card["entered_30d"] == sum(
                n for (_, to), n in expected_moves.items() if to == card["id"]
            )
        rows.append(
            (
                "dashboard figures checked",
                f"{args.contacts:,} contacts, {opened:,} open + {snoozed:,} snoozed "
                f"conversations, {sum(moves.values()):,} changes in 30 days",
            )
        )

        # for contrast: counting the contacts themselves ---------------------------------------
        def naive() -> dict[int, int]:
            with app.engine.connect() as conn:
                return {s or 0: int(n) for s, n in conn.execute(text(NAIVE), {"ws": ws})}

        times, grouped = timings(naive, args.repeat)
        assert grouped == {k: v.contacts for k, v in expected.items() if v.contacts}
        rows.append(("naive GROUP BY count over records", spread(times)))
        rows.append(("max RSS", f"{rss_mb():.0f} MB"))
        app.close()
    report(f"lifecycle dashboard on {args.backend}", rows)


if __name__ == "__main__":
    main()

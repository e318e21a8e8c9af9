"""Enqueue with debit, claiming with leases, cancel with refund, listing."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import pytest

from gateway.model.errors import NotFound, UserError
from gateway.model.message import MessageState
from gateway.model.outcomes import Accepted, Retry
from gateway.model.records import Enqueued, OutcomeRecord
from gateway.store.sqlite import queue as sqlite_queue
from gateway.store.sqlite.store import SqliteStore
from tests.clock import FakeClock
from tests.gateway.store.support import make_account, new_message


async def test_claim_takes_due_messages_by_priority_then_age(
    store: SqliteStore, clock: FakeClock
) -> None:
    await make_account(store)
    ids = []
    for prio, at in [(0, None), (3, None), (0, None), (2, clock.now + 3600)]:
        r = (await store.enqueue([new_message(priority=prio, send_at=at)])).results[0]
        assert isinstance(r, Enqueued)
        ids.append(r.message.id)
        clock.advance(0.01)
    claimed = await store.claim_due("w1", now=clock.now, limit=10, lease_seconds=7200)
    assert [m.id for m in claimed] == [ids[1], ids[0], ids[2]]  # the deferred one waits
    assert all(m.state is MessageState.DISPATCHING and m.lease_owner == "w1" for m in claimed)
    assert await store.claim_due("w2", now=clock.now, limit=10, lease_seconds=30) == []
    later = await store.claim_due("w2", now=clock.now + 3600, limit=10, lease_seconds=30)
    assert [m.id for m in later] == [ids[3]]


async def test_claim_respects_limit(store: SqliteStore, clock: FakeClock) -> None:
    await make_account(store)
    await store.enqueue([new_message(f"+3361234560{i}") for i in range(5)])
    assert len(await store.claim_due("w", now=clock.now, limit=2, lease_seconds=30)) == 2
    assert len(await store.claim_due("w", now=clock.now, limit=10, lease_seconds=30)) == 3


async def test_expired_lease_gives_the_message_back(store: SqliteStore, clock: FakeClock) -> None:
    await make_account(store)
    await store.enqueue([new_message()])
    [m] = await store.claim_due("crashed", now=clock.now, limit=10, lease_seconds=30)
    assert await store.claim_due("w2", now=clock.now + 29, limit=10, lease_seconds=30) == []
    [again] = await store.claim_due("w2", now=clock.now + 31, limit=10, lease_seconds=30)
    assert (again.id, again.lease_owner) == (m.id, "w2")
    assert (m.attempts, again.attempts) == (0, 1)  # the lost lease counts as an attempt


async def test_cancel_queued_message_refunds_it(store: SqliteStore) -> None:
    await make_account(store, credit=100)
    r = (await store.enqueue([new_message(segments=2, price=5)])).results[0]
    assert isinstance(r, Enqueued)
    changes = await store.cancel(r.message.id)
    assert [(c.old, c.new) for c in changes.changes] == [
        (MessageState.QUEUED, MessageState.CANCELLED)
    ]
    assert [e.amount for e in changes.refunds] == [10]
    assert (await store.balance("acme")).balance == 100
    assert (await store.get_message(r.message.id)).message.state is MessageState.CANCELLED
    assert await store.verify_ledger() == {}


async def test_cancel_only_while_queued(store: SqliteStore, clock: FakeClock) -> None:
    await make_account(store)
    await store.enqueue([new_message()])
    [m] = await store.claim_due("w", now=clock.now, limit=1, lease_seconds=30)
    with pytest.raises(UserError, match="only a queued message can be cancelled"):
        await store.cancel(m.id)
    with pytest.raises(NotFound):
        await store.cancel("NOSUCHMESSAGE")


async def test_balance_equals_journal_sum_after_everything(
    store: SqliteStore, clock: FakeClock
) -> None:
    await make_account(store, credit=500)
    await store.enqueue([new_message(f"+336123456{i:02d}", segments=2) for i in range(30)])
    await store.claim_due("w", now=clock.now, limit=10, lease_seconds=30)
    queued = await store.list_messages(state=MessageState.QUEUED)
    for m in queued[:5]:
        await store.cancel(m.id)
    assert await store.verify_ledger() == {}
    conn = sqlite3.connect(store.path)
    total = conn.execute("SELECT sum(amount) FROM ledger").fetchone()[0]
    conn.close()
    assert total == (await store.balance("acme")).balance == 500 - 60 + 10


async def test_claim_skips_far_future_messages_enqueued_first(
    store: SqliteStore, clock: FakeClock
) -> None:
    await make_account(store, credit=5000)
    later = [new_message(f"+336100{i:05d}", send_at=clock.now + 86400) for i in range(3000)]
    await store.enqueue(later)
    clock.advance(1)
    due = []
    for prio in (0, 2, 0, 1):
        r = (await store.enqueue([new_message(priority=prio)])).results[0]
        assert isinstance(r, Enqueued)
        due.append(r.message)
        clock.advance(0.01)
    claimed = await store.claim_due("w", now=clock.now, limit=3, lease_seconds=10**6)
    assert [m.id for m in claimed] == [due[1].id, due[3].id, due[0].id]
    claimed = await store.claim_due("w", now=clock.now, limit=3, lease_seconds=10**6)
    assert [m.id for m in claimed] == [due[2].id]
    tomorrow = await store.claim_due("w", now=clock.now + 86400, limit=5000, lease_seconds=60)
    assert len(tomorrow) == 3000


def _plans(path: str, run: Callable[[sqlite3.Connection], object]) -> list[str]:
    """The query plan of each statement ``run`` executes on the database (rolled back)."""
    conn = sqlite3.connect(path)
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    run(conn)
    conn.set_trace_callback(None)
    conn.rollback()
    plans = [
        " | ".join(r[3] for r in conn.execute(f"EXPLAIN QUERY PLAN {sql}"))
        for sql in statements
        if sql.strip() not in {"BEGIN", "COMMIT"}
    ]
    conn.close()
    return plans


async def test_claim_queries_use_the_queue_indexes(store: SqliteStore, clock: FakeClock) -> None:
    def claim(conn: sqlite3.Connection) -> object:
        return sqlite_queue.claim_due(conn, "w", now=clock.now, limit=5, lease_seconds=60)

    # nothing waits for later: every queued row is due, taken in index order
    _, future, claim_all = _plans(store.path, claim)
    assert "USING INDEX messages_next (next_attempt_at>?)" in future
    assert "SCAN messages USING INDEX messages_due" in claim_all
    assert "TEMP B-TREE" not in claim_all  # index order: no sort
    # one waits for later: the first rows in claim order, then the due ones
    await make_account(store, credit=100)
    await store.enqueue([new_message(send_at=clock.now + 3600)])
    _, _, walk, due_range = _plans(store.path, claim)
    assert "SCAN messages USING INDEX messages_due" in walk
    assert "USING INDEX messages_next (next_attempt_at<?)" in due_range


async def test_restarted_worker_takes_back_its_own_leases_only(
    store: SqliteStore, clock: FakeClock
) -> None:
    await make_account(store)
    await store.enqueue([new_message(f"+3361234567{i}") for i in range(4)])
    mine = await store.claim_due("gw1", now=clock(), limit=2, lease_seconds=300)
    theirs = await store.claim_due("gw2", now=clock(), limit=2, lease_seconds=300)
    assert (len(mine), len(theirs)) == (2, 2)
    assert await store.release_leases("gw1") == 2
    again = await store.claim_due("gw1", now=clock(), limit=10, lease_seconds=300)
    assert sorted(m.id for m in again) == sorted(m.id for m in mine)
    assert all(m.attempts == 1 for m in again)  # the segments may have left: look first
    assert await store.release_leases("gw3") == 0


async def test_queue_depths_count_the_states_not_final_from_their_indexes(
    store: SqliteStore, clock: FakeClock
) -> None:
    await make_account(store)
    await store.enqueue([new_message(destination=f"+3361234567{i}") for i in range(4)])
    claimed = await store.claim_due("w", now=clock.now, limit=2, lease_seconds=60)
    await store.record_outcomes(
        [
            OutcomeRecord(
                message_id=claimed[0].id, index=0, link="op-a", outcome=Accepted(smsc_id="x1")
            )
        ],
        now=clock.now,
    )
    depths = await store.queue_depths()
    assert depths == {
        MessageState.QUEUED: 2,
        MessageState.DISPATCHING: 1,
        MessageState.SUBMITTED: 1,
    }
    assert {s: n for s, n in (await store.count_by_state()).items() if s in depths} == depths
    await store.ping()


async def test_waiting_for_a_link_becomes_due_at_once_by_priority(
    store: SqliteStore, clock: FakeClock
) -> None:
    await make_account(store)
    at = clock.now
    numbers = [f"+3361234567{i}" for i in range(5)]
    later = at + 600  # scheduled: stays later whatever the retry said
    results = (
        await store.enqueue(
            [
                new_message(n, priority=p, send_at=s)
                for n, p, s in [
                    (numbers[0], 0, None),
                    (numbers[1], 3, None),
                    (numbers[2], 1, None),
                    (numbers[3], 2, None),
                    (numbers[4], 3, later),
                ]
            ]
        )
    ).results
    ids = [r.message.id for r in results if isinstance(r, Enqueued)]
    claimed = await store.claim_due("w", now=later, limit=10, lease_seconds=60)
    assert len(claimed) == 5
    retries = {
        ids[0]: ("link_down", 20.0),
        ids[1]: ("no_link_bound", 25.0),
        ids[2]: ("ESME_RSYSERR", 5.0),
        ids[3]: ("timeout", 400.0),
        ids[4]: ("link_down", 10.0),
    }
    await store.record_outcomes(
        [
            OutcomeRecord(
                message_id=i,
                index=0,
                link="op-a",
                outcome=Retry(reason=reason),
                retry_at=at + delay,
            )
            for i, (reason, delay) in retries.items()
        ],
        now=at,
    )
    woken = await store.wake_waiting(
        reasons=("link_down", "no_link_bound", "timeout"), now=at, within=300
    )
    # ESME_RSYSERR waits its own back-off; the timeout one is past the horizon
    assert woken == 3
    due = await store.claim_due("w", now=at, limit=10, lease_seconds=60)
    assert [m.id for m in due] == [ids[1], ids[0]]  # priority 3 first
    scheduled = (await store.get_message(ids[4])).message
    assert scheduled.next_attempt_at == later


async def test_waking_waiting_messages_reads_only_the_next_minutes(
    store: SqliteStore, clock: FakeClock
) -> None:
    [plan] = _plans(
        store.path,
        lambda conn: sqlite_queue.wake_waiting(conn, ("link_down",), now=clock.now, within=300),
    )
    assert "USING INDEX messages_next (next_attempt_at>? AND next_attempt_at<?)" in plan

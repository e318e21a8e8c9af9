"""SQLite's queue queries: the indexes that claims and wakes read (the rules are
tested on every backend in tests/gateway/store/contract/test_queue.py)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from gateway.store.sqlite import queue as sqlite_queue
from gateway.store.sqlite.store import SqliteStore
from tests.clock import FakeClock
from tests.gateway.store.support import make_account, new_message


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


async def test_waking_waiting_messages_reads_only_the_next_minutes(
    store: SqliteStore, clock: FakeClock
) -> None:
    [plan] = _plans(
        store.path,
        lambda conn: sqlite_queue.wake_waiting(conn, ("link_down",), now=clock.now, within=300),
    )
    assert "USING INDEX messages_next (next_attempt_at>? AND next_attempt_at<?)" in plan

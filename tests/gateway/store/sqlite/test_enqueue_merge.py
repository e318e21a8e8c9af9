"""The enqueues of one SQLite transaction run as one (the Engine's ``merge``): the
same outcome as one after the other, with one write per table."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from gateway.model.errors import InsufficientCredit, NotFound
from gateway.model.records import Enqueued, EnqueueResult, Refused
from gateway.store.sqlite import enqueue as enq
from gateway.store.sqlite.engine import Engine
from gateway.store.sqlite.store import SqliteStore
from gateway.store.sqlite.transactions import TransactionRunner
from tests.clock import FakeClock
from tests.gateway.store.support import make_account, new_message


class Held:
    """A store whose writer can be held, so that the writes made meanwhile queue up
    and go in its next transaction together."""

    def __init__(self, engine: Engine, store: SqliteStore) -> None:
        self.engine = engine
        self.store = store
        self._release = threading.Event()

    async def together(self, *calls: Any) -> list[Any]:
        """Run ``calls`` (coroutines) in one transaction; their results or errors."""

        entered = threading.Event()

        def block(conn: sqlite3.Connection) -> None:
            del conn
            entered.set()
            self._release.wait(10)

        self._release.clear()
        blocker = asyncio.create_task(self.engine.write(block))
        await asyncio.to_thread(entered.wait, 10)  # the writer is held in it
        tasks = [asyncio.create_task(c) for c in calls]
        await asyncio.sleep(0)  # each ran to its write: queued behind the held one
        self._release.set()
        await blocker
        return list(await asyncio.gather(*tasks, return_exceptions=True))


@pytest.fixture
async def held(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Held]:
    engine = await asyncio.to_thread(Engine, str(tmp_path / "gw.db"))
    store = SqliteStore(engine=engine, clock=clock)
    try:
        yield Held(engine, store)
    finally:
        await store.close()


@pytest.fixture
def merges(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of enqueues each merged call took."""
    sizes: list[int] = []
    real = enq.enqueue_many

    def counted(
        conn: sqlite3.Connection, works: Sequence[enq.PreparedEnqueue]
    ) -> list[EnqueueResult | Exception]:
        sizes.append(len(works))
        return real(conn, works)

    monkeypatch.setattr(enq, "enqueue_many", counted)
    return sizes


def debits(store: SqliteStore) -> list[tuple[str, int]]:
    conn = sqlite3.connect(store.path)
    try:
        rows = conn.execute(
            "SELECT message_id, balance_after FROM ledger WHERE kind = 'debit' ORDER BY id"
        ).fetchall()
    finally:
        conn.close()
    return [(r[0], r[1]) for r in rows]


async def test_enqueues_of_one_transaction_are_one_and_chain_the_balance(
    held: Held, merges: list[int]
) -> None:
    await make_account(held.store, credit=3)
    merges.clear()
    numbers = [f"+3361234560{i}" for i in range(5)]
    results = await held.together(*(held.store.enqueue([new_message(n)]) for n in numbers))
    assert merges == [5]  # one call for the five
    outcomes = [r.results[0] for r in results]
    assert [type(o) for o in outcomes] == [Enqueued, Enqueued, Enqueued, Refused, Refused]
    assert all(isinstance(o.error, InsufficientCredit) for o in outcomes[3:])
    ids = [o.message.id for o in outcomes[:3]]
    assert debits(held.store) == list(zip(ids, [2, 1, 0], strict=True))
    assert (await held.store.balance("acme")).balance == 0


async def test_an_unknown_account_refuses_its_own_enqueue_only(
    held: Held, merges: list[int]
) -> None:
    await make_account(held.store, credit=10)
    merges.clear()
    results = await held.together(
        held.store.enqueue([new_message("+33612345601")]),
        held.store.enqueue([new_message("+33612345602", account="ghost")]),
        held.store.enqueue([new_message("+33612345603")]),
    )
    assert merges == [3]
    assert isinstance(results[1], NotFound)
    assert "unknown account 'ghost'" in str(results[1])
    assert [type(results[i].results[0]) for i in (0, 2)] == [Enqueued, Enqueued]
    assert len(debits(held.store)) == 2


async def test_a_client_ref_repeated_in_one_transaction_is_stored_and_charged_once(
    held: Held, merges: list[int]
) -> None:
    await make_account(held.store, credit=10)
    merges.clear()
    same = new_message("+33612345601", client_ref="order-7", body_hash="h")
    other = new_message("+33612345601", client_ref="order-7", body_hash="not-h")
    first, again, conflict = await held.together(
        held.store.enqueue([same]), held.store.enqueue([same]), held.store.enqueue([other])
    )
    assert merges == [3]
    [a] = first.results
    [b] = again.results
    [c] = conflict.results
    assert isinstance(a, Enqueued)
    assert isinstance(b, Enqueued)
    assert (b.message.id, b.duplicate) == (a.message.id, True)
    assert isinstance(c, Refused)
    assert "already used with a different request" in str(c.error)
    assert debits(held.store) == [(a.message.id, 9)]


def test_a_merge_that_raises_runs_its_jobs_one_by_one(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "t.db", isolation_level=None)
    conn.execute("CREATE TABLE t (v INTEGER)")
    runner = TransactionRunner(conn, str(tmp_path / "t.db"))

    def merge(c: sqlite3.Connection, calls: list[tuple[Any, ...]]) -> list[tuple[bool, Any]]:
        c.execute("INSERT INTO t VALUES (-1)")  # rolled back with the merge
        raise RuntimeError("merge refused")

    def insert(c: sqlite3.Connection, v: int) -> int:
        if v == 2:
            raise ValueError("two")
        c.execute("INSERT INTO t VALUES (?)", (v,))
        return v

    results = runner.run([(insert, (1,), merge), (insert, (2,), merge), (insert, (3,), merge)])
    runner.close()
    assert [(ok, str(v)) for ok, v in results] == [(True, "1"), (False, "two"), (True, "3")]
    assert [r[0] for r in conn.execute("SELECT v FROM t ORDER BY v")] == [1, 3]
    conn.close()

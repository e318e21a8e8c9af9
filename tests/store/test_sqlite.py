"""The writer thread: group commit, one failing operation does not sink its batch."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from gateway.errors import AlreadyExists, StoreError
from gateway.store.base import Store
from gateway.store.sqlite_store import SqliteStore
from tests.store.support import FakeClock, make_account, new_message


def test_sqlite_store_implements_the_store_interface(store: SqliteStore) -> None:
    interface: Store = store  # checked by mypy: every method, same signatures
    assert interface is store


async def test_many_concurrent_writes_all_commit(store: SqliteStore) -> None:
    names = [f"acc{i}" for i in range(300)]
    await asyncio.gather(*(store.create_account(n) for n in names))
    assert [a.name for a in await store.list_accounts()] == sorted(names)


async def test_failing_operation_in_a_batch_rolls_back_alone(store: SqliteStore) -> None:
    await store.create_account("dup")
    results = await asyncio.gather(
        store.create_account("a1"), store.create_account("dup"), store.create_account("a2"),
        return_exceptions=True,
    )
    assert isinstance(results[1], AlreadyExists)
    assert {a.name for a in await store.list_accounts()} == {"dup", "a1", "a2"}


async def test_closed_store_refuses_work(store: SqliteStore) -> None:
    await store.close()
    with pytest.raises(StoreError, match="closed"):
        await store.create_account("late")
    with pytest.raises(StoreError, match="closed"):
        await store.list_accounts()


async def test_pragmas_of_the_write_connection(store: SqliteStore) -> None:
    conn = sqlite3.connect(store.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


async def test_month_spent_reads_zero_in_a_new_month(store: SqliteStore, clock: FakeClock) -> None:
    await make_account(store)
    await store.enqueue([new_message(segments=3)])
    assert (await store.balance("acme")).month_spent == 3
    clock.advance(40 * 86400)
    assert (await store.balance("acme")).month_spent == 0

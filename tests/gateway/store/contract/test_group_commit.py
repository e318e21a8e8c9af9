"""Many enqueue calls at once: several per transaction (group commit), each answered apart.

Both backends merge the enqueue calls that arrive while a transaction is in
flight (SQLite: its writer thread; PostgreSQL: gateway/store/postgres/
grouping.py). What every caller must see is what one call after the other
would give: each message stored and debited once, one bad call failing or
refused alone, the balance and the month's cap exact, also with two
processes (two stores) on one database.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.model.errors import ClientRefConflict, InsufficientCredit, MonthlyCapReached, NotFound
from gateway.model.records import Enqueued, EnqueueResult, Refused
from gateway.store.base import Store
from gateway.store.postgres.store import PostgresStore
from tests.clock import FakeClock
from tests.gateway.store.contract.accounts import make_account
from tests.gateway.store.support import new_message, open_sqlite, pending_events

CALLS = 200


def _number(i: int) -> str:
    return f"+3361{i:07d}"


async def test_many_concurrent_single_enqueues_are_all_stored_and_debited_once(
    any_store: Store, clock: FakeClock
) -> None:
    await make_account(any_store, clock, credit=CALLS * 2)
    before = any_store.writer_stats().transactions
    results = await asyncio.gather(
        *(any_store.enqueue([new_message(_number(i), price=2)]) for i in range(CALLS))
    )
    transactions = any_store.writer_stats().transactions - before
    ids = set()
    for res in results:
        [r] = res.results
        assert isinstance(r, Enqueued)
        assert not r.duplicate
        ids.add(r.message.id)
    assert len(ids) == CALLS
    assert transactions < CALLS / 4  # merged: not one transaction per call
    stored = await any_store.list_messages(limit=CALLS + 10)
    assert {m.id for m in stored} == ids
    assert {m.destination for m in stored} == {_number(i) for i in range(CALLS)}
    history = await any_store.history("acme")
    debits = [e for e in history if e.message_id is not None]
    assert sorted(e.message_id or "" for e in debits) == sorted(ids)
    # in the journal's order, each debit's balance after is 2 below the one before
    assert [e.balance_after for e in debits] == list(range(CALLS * 2 - 2, -1, -2))
    assert (await any_store.balance("acme")).balance == 0
    assert await any_store.verify_ledger() == {}
    events = await pending_events(any_store, limit=CALLS * 2)
    assert sorted(e.payload.count(b'"state":"queued"') for e in events) == [1] * CALLS


async def test_one_bad_call_among_good_ones_fails_alone(any_store: Store, clock: FakeClock) -> None:
    await make_account(any_store, clock, credit=100)
    await make_account(any_store, clock, "poor", credit=1)
    await any_store.enqueue([new_message(_number(0), client_ref="r1", body_hash="h1")])
    good = [any_store.enqueue([new_message(_number(i))]) for i in range(1, 21)]
    ghost = any_store.enqueue([new_message(_number(99), account="ghost")])
    conflict = any_store.enqueue([new_message(_number(98), client_ref="r1", body_hash="other")])
    retry = any_store.enqueue([new_message(_number(0), client_ref="r1", body_hash="h1")])
    poor = any_store.enqueue(
        [new_message(_number(97), account="poor"), new_message(_number(96), account="poor")]
    )
    *goods, lost, refused, again, partly = await asyncio.gather(
        *good, ghost, conflict, retry, poor, return_exceptions=True
    )
    for res in goods:
        assert isinstance(res, EnqueueResult)
        assert [type(r) for r in res.results] == [Enqueued]
    assert isinstance(lost, NotFound)
    assert "ghost" in str(lost)
    assert isinstance(refused, EnqueueResult)
    [r] = refused.results
    assert isinstance(r, Refused)
    assert isinstance(r.error, ClientRefConflict)
    assert isinstance(again, EnqueueResult)
    [d] = again.results
    assert isinstance(d, Enqueued)
    assert d.duplicate
    assert isinstance(partly, EnqueueResult)
    assert [type(r) for r in partly.results] == [Enqueued, Refused]
    assert isinstance(partly.results[1], Refused)
    assert isinstance(partly.results[1].error, InsufficientCredit)
    assert (await any_store.balance("acme")).balance == 100 - 21
    assert (await any_store.balance("poor")).balance == 0
    assert len(await any_store.list_messages(limit=100)) == 22
    assert await any_store.verify_ledger() == {}


async def test_calls_merged_in_one_transaction_share_a_client_ref_as_if_serial(
    any_store: Store, clock: FakeClock
) -> None:
    await make_account(any_store, clock)
    same = [
        any_store.enqueue([new_message(_number(1), client_ref="x", body_hash="h")])
        for _ in range(5)
    ]
    other = any_store.enqueue([new_message(_number(2), client_ref="x", body_hash="changed")])
    *firsts, changed = await asyncio.gather(*same, other)
    messages = [r.message for res in firsts for r in res.results if isinstance(r, Enqueued)]
    assert len(messages) == 5
    assert len({m.id for m in messages}) == 1
    [c] = changed.results
    assert isinstance(c, Refused)
    assert isinstance(c.error, ClientRefConflict)
    assert (await any_store.balance("acme")).balance == 999


@pytest.fixture(params=["sqlite", "postgres"])
async def two_stores(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[tuple[Store, Store]]:
    """Two stores on one database, as two daemons have them."""
    stores: list[Store] = []
    try:
        for _ in range(2):
            if request.param == "sqlite":
                stores.append(await open_sqlite(tmp_path / "gw.db", clock=clock))
            else:
                url: str = request.getfixturevalue("postgres_url")
                stores.append(await PostgresStore.open(url, clock=clock))
        yield stores[0], stores[1]
    finally:
        for store in stores:
            await store.close()


async def test_two_daemons_enqueueing_at_once_never_pass_the_cap_nor_the_credit(
    two_stores: tuple[Store, Store], clock: FakeClock
) -> None:
    a, b = two_stores
    await make_account(a, clock, credit=1000, monthly_cap=61)
    await make_account(a, clock, "small", credit=30, credit_limit=5)
    capped = [(a, b)[i % 2].enqueue([new_message(_number(i), segments=2)]) for i in range(60)]
    credit = [
        (b, a)[i % 2].enqueue([new_message(_number(i), account="small", segments=2)])
        for i in range(40)
    ]
    results = await asyncio.gather(*capped, *credit)
    flat = [r for res in results for r in res.results]
    capped_flat, credit_flat = flat[:60], flat[60:]
    assert sum(isinstance(r, Enqueued) for r in capped_flat) == 30  # 30 x 2 = 60 of the 61
    assert all(
        isinstance(r.error, MonthlyCapReached) for r in capped_flat if isinstance(r, Refused)
    )
    assert sum(isinstance(r, Enqueued) for r in credit_flat) == 17  # 34 of 30 + 5
    assert all(
        isinstance(r.error, InsufficientCredit) for r in credit_flat if isinstance(r, Refused)
    )
    assert (await b.balance("acme")).month_spent == 60
    assert (await b.balance("small")).balance == 30 - 34
    assert await a.verify_ledger() == {}
    assert len(await b.list_messages(limit=200)) == 47


async def test_the_month_rolls_and_the_cap_counts_from_zero_in_a_new_month(
    any_store: Store, clock: FakeClock
) -> None:
    await make_account(any_store, clock, credit=1000, monthly_cap=10)
    [r] = (await any_store.enqueue([new_message(segments=10)])).results
    assert isinstance(r, Enqueued)
    [r] = (await any_store.enqueue([new_message(segments=1)])).results
    assert isinstance(r, Refused)
    assert isinstance(r.error, MonthlyCapReached)
    clock.advance(31 * 86400)  # the next month
    results = await asyncio.gather(*(any_store.enqueue([new_message()]) for _ in range(4)))
    assert all(isinstance(r, Enqueued) for res in results for r in res.results)
    balance = await any_store.balance("acme")
    assert (balance.balance, balance.month_spent) == (1000 - 14, 4)
    assert await any_store.verify_ledger() == {}


async def test_a_low_balance_alert_is_raised_once_per_crossing(
    any_store: Store, clock: FakeClock
) -> None:
    await make_account(any_store, clock, credit=100)
    await any_store.set_account("acme", alert_below=50)

    async def crossings(segments: int) -> list[int]:
        res = await any_store.enqueue([new_message(segments=segments)])
        assert all(isinstance(r, Enqueued) for r in res.results)
        return [c.balance for c in res.crossings]

    assert await crossings(30) == []  # 70: above
    assert await crossings(30) == [40]  # below: raised
    assert await crossings(5) == []  # still below: not again
    await any_store.topup("acme", 200, reference="more")  # 235: armed again
    assert await crossings(100) == []  # 135
    assert await crossings(90) == [45]
    assert (await any_store.balance("acme")).balance == 45
    assert await any_store.verify_ledger() == {}

"""Group commit on PostgreSQL (gateway/store/postgres/grouping.py): a call the server
refuses, merged with others, fails alone; its transaction's other calls are run again."""

from __future__ import annotations

import asyncio
import dataclasses

import asyncpg
import pytest

from gateway.model.records import Enqueued, EnqueueResult
from gateway.store.postgres.store import PostgresStore
from tests.clock import FakeClock
from tests.gateway.store.contract.accounts import make_account
from tests.gateway.store.support import new_message, pending_events


async def test_a_call_the_server_refuses_fails_alone(postgres_url: str, clock: FakeClock) -> None:
    store = await PostgresStore.open(postgres_url, clock=clock)
    try:
        await make_account(store, clock, credit=100)
        bad = dataclasses.replace(new_message("+33600000099"), text="nul \x00 byte")
        good = [store.enqueue([new_message(f"+336000000{i:02d}")]) for i in range(10)]
        *goods, refused = await asyncio.gather(*good, store.enqueue([bad]), return_exceptions=True)
        for res in goods:
            assert isinstance(res, EnqueueResult)
            assert [type(r) for r in res.results] == [Enqueued]
        assert isinstance(refused, asyncpg.PostgresError)
        assert (await store.balance("acme")).balance == 90
        assert len(await store.list_messages(limit=100)) == 10
        assert await store.verify_ledger() == {}
        # the good calls, run again alone, wrote their events once
        events = await pending_events(store)
        assert sorted(e.payload.count(b'"state":"queued"') for e in events) == [1] * 10
    finally:
        await store.close()


async def test_a_caller_gone_before_its_transaction_is_left_out(
    postgres_url: str, clock: FakeClock
) -> None:
    store = await PostgresStore.open(postgres_url, clock=clock)
    try:
        await make_account(store, clock, credit=100)
        first = asyncio.ensure_future(store.enqueue([new_message("+33600000001")]))
        await asyncio.sleep(0)  # its transaction starts
        gone = asyncio.ensure_future(store.enqueue([new_message("+33600000002")]))
        await asyncio.sleep(0)
        gone.cancel()
        with pytest.raises(asyncio.CancelledError):
            await gone
        [r] = (await first).results
        assert isinstance(r, Enqueued)
        assert [m.destination for m in await store.list_messages()] == ["+33600000001"]
        assert (await store.balance("acme")).balance == 99
    finally:
        await store.close()

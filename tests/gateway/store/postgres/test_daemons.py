"""Two daemons on one PostgreSQL database, each its own store (its own pool): claims,
receipts on the other one's bind, worker names of their own, one events leader."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from gateway.link.interface import Receipt
from gateway.model.errors import StoreInUse
from gateway.model.message import MessageState
from gateway.model.outcomes import Accepted, ReceiptState
from gateway.model.records import Enqueued, OutcomeRecord
from gateway.store.postgres.store import PostgresStore
from tests.clock import FakeClock
from tests.gateway.store.contract.accounts import make_account
from tests.gateway.store.support import new_message


@pytest.fixture
async def daemons(postgres_url: str, clock: FakeClock) -> AsyncIterator[list[PostgresStore]]:
    stores = [await PostgresStore.open(postgres_url, clock=clock) for _ in range(2)]
    try:
        yield stores
    finally:
        for store in stores:
            await store.close()


async def test_two_daemons_claim_each_message_once(
    daemons: list[PostgresStore], clock: FakeClock
) -> None:
    one, two = daemons
    await make_account(one, clock)
    await one.enqueue([new_message(f"+336123{i:05d}") for i in range(100)])

    async def claim(store: PostgresStore, worker: str) -> list[str]:
        got: list[str] = []
        while batch := await store.claim_due(worker, now=clock.now, limit=5, lease_seconds=60):
            got.extend(m.id for m in batch)
        return got

    first, second = await asyncio.gather(claim(one, "gw1"), claim(two, "gw2"))
    assert not set(first) & set(second)
    assert len(first) + len(second) == 100


async def test_a_receipt_on_one_daemons_bind_matches_the_other_daemons_acceptance(
    daemons: list[PostgresStore], clock: FakeClock
) -> None:
    sender, receiver = daemons
    await make_account(sender, clock)
    stored = await sender.enqueue([new_message(f"+336123{i:05d}") for i in range(30)])
    ids = [r.message.id for r in stored.results if isinstance(r, Enqueued)]
    claimed = await sender.claim_due("gw1", now=clock.now, limit=30, lease_seconds=60)
    await asyncio.gather(
        *(
            sender.record_outcomes(
                [
                    OutcomeRecord(
                        message_id=m.id, index=0, link="op", outcome=Accepted(smsc_id=m.id)
                    )
                ],
                now=clock.now,
            )
            for m in claimed
        ),
        *(
            receiver.record_receipts(
                [Receipt(link="op", smsc_id=m.id, state=ReceiptState.DELIVERED)], now=clock.now
            )
            for m in claimed
        ),
    )
    states = {m.state for m in await receiver.get_messages(ids)}
    assert states == {MessageState.DELIVERED}
    assert (await sender.expire_unconfirmed(before=clock.now + 10**6)).dropped == ()


async def test_a_second_daemon_with_the_same_worker_name_is_refused(postgres_url: str) -> None:
    first = await PostgresStore.open(postgres_url)
    second = await PostgresStore.open(postgres_url)
    try:
        await first.hold_worker("gw-1")
        with pytest.raises(StoreInUse, match="worker = 'gw-1'"):
            await second.hold_worker("gw-1")
        await second.hold_worker("gw-2")  # a name of its own: fine
    finally:
        await first.close()
    third = await PostgresStore.open(postgres_url)
    try:
        await third.hold_worker("gw-1")  # the first one ended: its name is free
    finally:
        await third.close()
        await second.close()


async def test_one_daemon_leads_and_another_takes_over_when_it_ends(postgres_url: str) -> None:
    a = await PostgresStore.open(postgres_url, lead_recheck=0.0)
    b = await PostgresStore.open(postgres_url, lead_recheck=0.0)
    try:
        assert await a.lead("events")
        assert not await b.lead("events")
        assert await a.lead("events")  # it keeps leading
        assert await b.lead("other-role")  # roles are led apart
        await a.close()
        assert await b.lead("events")
    finally:
        await b.close()


async def test_an_answer_is_kept_for_the_recheck_time(postgres_url: str) -> None:
    a = await PostgresStore.open(postgres_url, lead_recheck=3600.0)
    b = await PostgresStore.open(postgres_url, lead_recheck=3600.0)
    try:
        assert await a.lead("events")
        assert not await b.lead("events")
        await a.close()
        assert not await b.lead("events")  # not asked again within the recheck time
    finally:
        await b.close()

"""Receipts for ESMEs with two daemons on one PostgreSQL database: each delivery
given to one taker at a time, a receipt recorded by both daemons stored once."""

from __future__ import annotations

import asyncio

from gateway.link.interface import Receipt
from gateway.model.outcomes import Accepted, ReceiptState
from gateway.model.records import OutcomeRecord
from gateway.store.postgres.store import PostgresStore
from tests.clock import FakeClock
from tests.gateway.store.contract.accounts import make_account
from tests.gateway.store.esme_support import claimed, from_esme


async def test_two_daemons_take_each_delivery_once(
    daemons: list[PostgresStore], clock: FakeClock
) -> None:
    one, two = daemons
    await make_account(one, clock)
    ms = await claimed(one, clock.now, *(from_esme(f"+336123{i:05d}") for i in range(60)))
    await one.record(
        [
            OutcomeRecord(message_id=m.id, index=0, link="op", outcome=Accepted(smsc_id=f"s{i}"))
            for i, m in enumerate(ms)
        ],
        [Receipt(link="op", smsc_id=f"s{i}", state=ReceiptState.DELIVERED) for i in range(60)],
        now=clock.now,
    )

    async def take(store: PostgresStore, owner: str) -> list[int]:
        got: list[int] = []
        while batch := await store.take_deliveries(
            "esme1", owner=owner, limit=4, now=clock.now, lease=60
        ):
            got.extend(d.id for d in batch)
        return got

    first, second = await asyncio.gather(take(one, "gw1"), take(two, "gw2"))
    assert not set(first) & set(second)
    assert len(first) + len(second) == 60


async def test_a_receipt_recorded_by_both_daemons_stores_one_delivery(
    daemons: list[PostgresStore], clock: FakeClock
) -> None:
    one, two = daemons
    await make_account(one, clock)
    ms = await claimed(one, clock.now, *(from_esme(f"+336123{i:05d}") for i in range(20)))
    await one.record_outcomes(
        [
            OutcomeRecord(message_id=m.id, index=0, link="op", outcome=Accepted(smsc_id=f"s{i}"))
            for i, m in enumerate(ms)
        ],
        now=clock.now,
    )
    receipts = [
        Receipt(link="op", smsc_id=f"s{i}", state=ReceiptState.DELIVERED) for i in range(20)
    ]
    # the SMSC sends each receipt again, on the other daemon's bind
    await asyncio.gather(
        *(s.record_receipts([r], now=clock.now) for r in receipts for s in (one, two))
    )
    taken = await one.take_deliveries("esme1", owner="gw1", limit=100, now=clock.now, lease=60)
    assert sorted(d.message_id or "" for d in taken) == sorted(m.id for m in ms)

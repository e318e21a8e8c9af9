"""Two daemons on one PostgreSQL database, each its own store (its own pool): claims,
receipts and reply parts on the other one's bind, sweeps of silent replies, worker
names of their own, one events leader."""

from __future__ import annotations

import asyncio

import pytest

from gateway.link.interface import InboundPart, Receipt
from gateway.model.errors import StoreInUse
from gateway.model.message import MessageState
from gateway.model.outcomes import Accepted, ReceiptState
from gateway.model.records import Enqueued, OutcomeRecord, ReassembledReply
from gateway.store.postgres.store import PostgresStore
from tests.clock import FakeClock
from tests.gateway.store.contract.accounts import make_account
from tests.gateway.store.replies import LONG_GSM, parts_of
from tests.gateway.store.support import new_message


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


async def test_parts_of_one_reply_on_two_daemons_binds_make_it_once(
    daemons: list[PostgresStore], clock: FakeClock
) -> None:
    one, two = daemons
    replies = [parts_of(LONG_GSM, reference=r, at=clock.now) for r in range(40)]

    async def add(store: PostgresStore, parts: list[InboundPart]) -> list[ReassembledReply]:
        got = []
        for part in parts:
            reply = await store.add_inbound_part(part, account=None, now=clock.now)
            if reply is not None:
                got.append(reply)
        return got

    # each daemon gets every other part of every reply, the last two of each at once
    first, second = await asyncio.gather(
        add(one, [p for parts in replies for p in parts[0::2]]),
        add(two, [p for parts in replies for p in parts[1::2]]),
    )
    assert len(first) + len(second) == len(replies)
    assert {r.message.text for r in first + second} == {LONG_GSM}
    assert len(await one.list_inbound(limit=1000)) == len(replies)


async def test_two_daemons_sweeps_release_each_silent_reply_once(
    daemons: list[PostgresStore], clock: FakeClock
) -> None:
    one, two = daemons
    for reference in range(60):
        part = parts_of(LONG_GSM, reference=reference, at=clock.now)[reference % 2]
        await (one if reference % 3 else two).add_inbound_part(part, account=None, now=clock.now)
    clock.advance(301)
    before = clock.now - 300

    async def sweep(store: PostgresStore) -> list[str]:
        ids: list[str] = []
        while batch := await store.expire_inbound_parts(before=before, now=clock.now, limit=7):
            ids.extend(r.message.id for r in batch)
        return ids

    a, b = await asyncio.gather(sweep(one), sweep(two))
    assert len(a) + len(b) == 60
    assert {r.id for r in await two.list_inbound(limit=1000)} == set(a) | set(b)


async def test_an_order_paid_on_both_daemons_at_once_credits_once(
    daemons: list[PostgresStore],
) -> None:
    one, two = daemons
    await one.create_account("acme")
    orders = [await one.create_order("acme", 100 + i) for i in range(5)]
    payments = await asyncio.gather(
        *(store.pay_order(o.id) for o in orders for store in (one, two, one, two))
    )
    assert sum(not p.duplicate for p in payments) == len(orders)
    assert (await two.balance("acme")).balance == sum(o.credits for o in orders)
    assert len(await one.history("acme")) == len(orders)
    assert await two.verify_ledger() == {}

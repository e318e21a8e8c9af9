"""The parts of concatenated replies held in the store until their reply is whole
(Store.add_inbound_part, Store.expire_inbound_parts), on every backend."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json

import pytest

from gateway.link.interface import InboundPart
from gateway.model.records import ReassembledReply
from gateway.store.base import Store
from tests.clock import FakeClock
from tests.gateway.store.contract.accounts import make_account
from tests.gateway.store.replies import LONG_GSM, LONG_UCS2, parts_of
from tests.gateway.store.support import pending_events

TIMEOUT = 300.0


async def add_all(
    store: Store, parts: list[InboundPart], now: float
) -> list[ReassembledReply | None]:
    return [await store.add_inbound_part(p, account="acme", now=now) for p in parts]


async def expire(store: Store, now: float) -> list[ReassembledReply]:
    return list(await store.expire_inbound_parts(before=now - TIMEOUT, now=now))


@pytest.mark.parametrize("text", [LONG_GSM, LONG_UCS2])
async def test_parts_in_any_order_make_one_whole_reply(
    any_store: Store, clock: FakeClock, text: str
) -> None:
    await make_account(any_store, clock)
    orders = list(itertools.islice(itertools.permutations(range(len(parts_of(text)))), 6))
    for reference, order in enumerate(orders):
        parts = parts_of(text, reference=reference, at=clock.now)
        results = await add_all(any_store, [parts[i] for i in order], clock.now)
        assert results[:-1] == [None] * (len(parts) - 1)
        reply = results[-1]
        assert reply is not None
        assert reply.message.text == text
        assert (reply.total, reply.received, reply.missing) == (len(parts), len(parts), ())
        assert reply.message.account == "acme"
    stored = await any_store.list_inbound(account="acme")
    assert [r.text for r in stored] == [text] * len(orders)
    inbound = [e for e in await pending_events(any_store) if e.kind == "inbound"]
    assert sorted(json.loads(e.payload)["id"] for e in inbound) == sorted(r.id for r in stored)


async def test_two_senders_replies_interleaved_stay_apart(
    any_store: Store, clock: FakeClock
) -> None:
    a = parts_of(LONG_GSM, source="+33611111111", at=clock.now)
    b = parts_of(LONG_UCS2, source="+33622222222", at=clock.now)
    done = [
        r
        for p in itertools.chain(*itertools.zip_longest(a, b))
        if p is not None
        if (r := await any_store.add_inbound_part(p, account=None, now=clock.now)) is not None
    ]
    assert sorted(r.message.text for r in done) == sorted([LONG_GSM, LONG_UCS2])


async def test_a_part_redelivered_before_completion_changes_nothing(
    any_store: Store, clock: FakeClock
) -> None:
    parts = parts_of(LONG_GSM, at=clock.now)
    assert await any_store.add_inbound_part(parts[0], account=None, now=clock.now) is None
    again = dataclasses.replace(parts[0], link="l2", received_at=clock.now + 1)
    assert await any_store.add_inbound_part(again, account=None, now=clock.now) is None
    *held, reply = await add_all(any_store, parts[1:], clock.now)
    assert held == [None] * (len(parts) - 2)
    assert reply is not None
    assert reply.message.text == LONG_GSM
    assert reply.message.link == "l1"  # the first copy wins
    assert [r.text for r in await any_store.list_inbound()] == [LONG_GSM]


async def test_a_part_redelivered_after_completion_starts_no_new_reply(
    any_store: Store, clock: FakeClock
) -> None:
    parts = parts_of(LONG_GSM, at=clock.now)
    assert (await add_all(any_store, parts, clock.now))[-1] is not None
    clock.advance(5)
    for part in parts:
        assert await any_store.add_inbound_part(part, account=None, now=clock.now) is None
    clock.advance(TIMEOUT + 1)
    assert await expire(any_store, clock.now) == []  # the done parts are only forgotten
    assert [r.text for r in await any_store.list_inbound()] == [LONG_GSM]
    # once forgotten, the key is free for a new reply
    later = parts_of(LONG_GSM, at=clock.now)
    assert (await add_all(any_store, later, clock.now))[-1] is not None
    assert len(await any_store.list_inbound()) == 2


async def test_a_new_reply_reusing_a_stored_replys_key_is_stored_too(
    any_store: Store, clock: FakeClock
) -> None:
    first = parts_of("a" * 200, at=clock.now)
    second = parts_of("b" * 200, at=clock.now + 10)
    assert len(first) == len(second) == 2
    assert (await add_all(any_store, first, clock.now))[-1] is not None
    results = await add_all(any_store, second, clock.now + 10)
    assert results[0] is None
    assert results[1] is not None
    assert results[1].message.text == "b" * 200
    assert sorted(r.text for r in await any_store.list_inbound()) == ["a" * 200, "b" * 200]


async def test_a_silent_reply_is_released_incomplete_once(
    any_store: Store, clock: FakeClock
) -> None:
    parts = parts_of(LONG_GSM, at=clock.now)
    await add_all(any_store, parts[:1] + parts[2:], clock.now)
    clock.advance(TIMEOUT - 1)
    assert await expire(any_store, clock.now) == []
    clock.advance(2)
    [reply] = await any_store.expire_inbound_parts(before=clock.now - TIMEOUT, now=clock.now)
    assert reply.missing == (2,)
    assert not reply.complete
    assert reply.received == len(parts) - 1
    assert reply.message.text.startswith(LONG_GSM[:100])
    assert reply.message.account == "acme"
    assert await expire(any_store, clock.now) == []
    assert [r.id for r in await any_store.list_inbound()] == [reply.message.id]


async def test_a_late_part_keeps_its_reply_held(any_store: Store, clock: FakeClock) -> None:
    parts = parts_of(LONG_GSM, at=clock.now)
    await any_store.add_inbound_part(parts[0], account=None, now=clock.now)
    clock.advance(200)
    late = dataclasses.replace(parts[1], received_at=clock.now)
    await any_store.add_inbound_part(late, account=None, now=clock.now)
    clock.advance(200)
    assert await expire(any_store, clock.now) == []  # its newest part is 200 s old
    clock.advance(101)
    [reply] = await expire(any_store, clock.now)
    assert reply.received == 2


async def test_expiry_releases_many_keys_in_turns(any_store: Store, clock: FakeClock) -> None:
    for reference in range(5):
        part = parts_of(LONG_GSM, reference=reference, at=clock.now)[0]
        await any_store.add_inbound_part(part, account=None, now=clock.now)
    clock.advance(TIMEOUT + 1)
    before = clock.now - TIMEOUT
    first = await any_store.expire_inbound_parts(before=before, now=clock.now, limit=3)
    rest = await any_store.expire_inbound_parts(before=before, now=clock.now, limit=3)
    assert (len(first), len(rest)) == (3, 2)
    assert await any_store.expire_inbound_parts(before=before, now=clock.now) == []
    assert len(await any_store.list_inbound()) == 5


async def test_parts_added_concurrently_make_one_reply(any_store: Store, clock: FakeClock) -> None:
    replies = [parts_of(LONG_GSM, reference=r, at=clock.now) for r in range(10)]
    results = await asyncio.gather(
        *(
            any_store.add_inbound_part(p, account=None, now=clock.now)
            for parts in replies
            for p in parts + parts[:1]  # and a copy of each first part
        )
    )
    stored = [r for r in results if r is not None]
    assert len(stored) == len(replies)
    assert {r.message.text for r in stored} == {LONG_GSM}
    assert len(await any_store.list_inbound()) == len(replies)

"""Enqueue with its debits, and reading messages back, on every backend."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from gateway.model.errors import ClientRefConflict, InsufficientCredit, MonthlyCapReached, NotFound
from gateway.model.esme import EsmeOrigin
from gateway.model.message import MessageState, SegmentState
from gateway.model.raw_body import RawBody
from gateway.model.records import Enqueued, EntryKind, Lease, Message, Refused
from gateway.store.base import Store
from tests.clock import FakeClock
from tests.gateway.store.contract.accounts import make_account
from tests.gateway.store.support import new_message


def _ids(results: tuple[Enqueued | Refused, ...]) -> list[str]:
    return [r.message.id for r in results if isinstance(r, Enqueued)]


async def test_enqueue_debits_and_inserts_message_and_segments(
    any_store: Store, clock: FakeClock
) -> None:
    await make_account(any_store, clock, credit=100)
    [done] = (await any_store.enqueue([new_message(segments=3, price=2)])).results
    assert isinstance(done, Enqueued)
    assert (done.message.credits, done.message.state) == (6, MessageState.QUEUED)
    assert (done.message.attempts, done.message.lease_owner) == (0, None)
    view = await any_store.get_message(done.message.id)
    assert view.message == done.message
    assert [(s.index, s.state) for s in view.segments] == [
        (i, SegmentState.PENDING) for i in range(3)
    ]
    assert (await any_store.balance("acme")).balance == 94
    debit = (await any_store.history("acme"))[-1]
    assert (debit.kind, debit.amount, debit.balance_after, debit.message_id) == (
        EntryKind.DEBIT,
        -6,
        94,
        done.message.id,
    )


async def test_enqueue_refuses_what_credit_does_not_cover_and_writes_nothing_of_it(
    any_store: Store, clock: FakeClock
) -> None:
    await make_account(any_store, clock, credit=100)
    batch = [new_message(f"+3361234567{i}", segments=40) for i in range(3)]
    result = await any_store.enqueue(batch)
    assert [type(r) for r in result.results] == [Enqueued, Enqueued, Refused]
    refused = result.results[2]
    assert isinstance(refused, Refused)
    assert isinstance(refused.error, InsufficientCredit)
    assert "balance 20" in str(refused.error)
    assert "needed 40" in str(refused.error)
    assert refused.destination == "+33612345672"
    assert len(await any_store.list_messages()) == 2
    assert await any_store.verify_ledger() == {}


async def test_the_credit_limit_lets_the_balance_go_below_zero_that_far(
    any_store: Store, clock: FakeClock
) -> None:
    await make_account(any_store, clock, credit=10, credit_limit=5)
    result = await any_store.enqueue([new_message(segments=15), new_message(segments=1)])
    assert [type(r) for r in result.results] == [Enqueued, Refused]
    assert (await any_store.balance("acme")).balance == -5


async def test_the_monthly_cap_refuses_what_would_pass_it(
    any_store: Store, clock: FakeClock
) -> None:
    await make_account(any_store, clock, credit=100, monthly_cap=10)
    result = await any_store.enqueue([new_message(segments=6), new_message(segments=6)])
    [ok, capped] = result.results
    assert isinstance(ok, Enqueued)
    assert isinstance(capped, Refused)
    assert isinstance(capped.error, MonthlyCapReached)
    assert (await any_store.balance("acme")).month_spent == 6


async def test_unknown_account_is_refused_whole(any_store: Store, clock: FakeClock) -> None:
    await make_account(any_store, clock)
    with pytest.raises(NotFound, match="unknown account 'ghost'"):
        await any_store.enqueue([new_message(), new_message(account="ghost")])
    assert await any_store.list_messages() == []
    assert (await any_store.balance("acme")).balance == 1000


async def test_message_ids_sort_by_creation_time(any_store: Store, clock: FakeClock) -> None:
    await make_account(any_store, clock)
    first = await any_store.enqueue([new_message()])
    clock.advance(0.01)
    second = await any_store.enqueue([new_message()])
    [a], [b] = _ids(first.results), _ids(second.results)
    assert a < b
    assert len(a) == 26


async def test_same_client_ref_and_body_returns_the_existing_message(
    any_store: Store, clock: FakeClock
) -> None:
    await make_account(any_store, clock)
    first = await any_store.enqueue([new_message(client_ref="r1", body_hash="h")])
    again = await any_store.enqueue([new_message(client_ref="r1", body_hash="h")])
    a, b = first.results[0], again.results[0]
    assert isinstance(a, Enqueued)
    assert isinstance(b, Enqueued)
    assert b.duplicate
    assert b.message == a.message
    assert (await any_store.balance("acme")).balance == 999


async def test_one_client_ref_for_several_destinations_in_one_batch(
    any_store: Store, clock: FakeClock
) -> None:
    await make_account(any_store, clock)
    batch = [
        new_message("+33611111111", client_ref="r1", body_hash="h"),
        new_message("+33622222222", client_ref="r1", body_hash="h"),
        new_message("+33611111111", client_ref="r1", body_hash="h"),
    ]
    [one, two, same] = (await any_store.enqueue(batch)).results
    assert isinstance(one, Enqueued)
    assert isinstance(two, Enqueued)
    assert isinstance(same, Enqueued)
    assert (one.duplicate, two.duplicate, same.duplicate) == (False, False, True)
    assert same.message.id == one.message.id
    assert (await any_store.balance("acme")).balance == 998


async def test_same_client_ref_with_other_body_is_a_conflict(
    any_store: Store, clock: FakeClock
) -> None:
    await make_account(any_store, clock)
    await any_store.enqueue([new_message(client_ref="r1", body_hash="h")])
    again = await any_store.enqueue([new_message(client_ref="r1", body_hash="other")])
    [r] = again.results
    assert isinstance(r, Refused)
    assert isinstance(r.error, ClientRefConflict)


async def test_with_a_lease_messages_due_now_are_stored_leased(
    any_store: Store, clock: FakeClock
) -> None:
    await make_account(any_store, clock)
    later = clock.now + 60
    result = await any_store.enqueue(
        [new_message(), new_message(send_at=later)], lease=Lease(worker="gw", seconds=300)
    )
    [now_id, later_id] = _ids(result.results)
    [due, scheduled] = await any_store.get_messages([now_id, later_id])
    assert (due.state, due.lease_owner, due.lease_until) == (
        MessageState.DISPATCHING,
        "gw",
        clock.now + 300,
    )
    assert (scheduled.state, scheduled.lease_owner) == (MessageState.QUEUED, None)
    assert await any_store.leased_to("gw") == [now_id]
    assert await any_store.claim_due("gw2", now=clock.now, limit=10, lease_seconds=30) == []


async def test_release_gives_back_unsent_leases_without_an_attempt(
    any_store: Store, clock: FakeClock
) -> None:
    await make_account(any_store, clock)
    result = await any_store.enqueue(
        [new_message(f"+3361234567{i}") for i in range(3)], lease=Lease(worker="gw", seconds=300)
    )
    ids = _ids(result.results)
    assert await any_store.release("other", ids) == 0  # not its leases
    assert await any_store.release("gw", []) == 0
    assert await any_store.release("gw", ids[:2]) == 2
    assert await any_store.leased_to("gw") == ids[2:]
    released = await any_store.get_messages(ids[:2])
    assert [(m.state, m.attempts, m.lease_owner) for m in released] == [
        (MessageState.QUEUED, 0, None)
    ] * 2


async def test_get_messages_gives_those_that_exist_in_the_order_asked(
    any_store: Store, clock: FakeClock
) -> None:
    await make_account(any_store, clock)
    ids = _ids(
        (await any_store.enqueue([new_message(f"+3361234567{i}") for i in range(3)])).results
    )
    got = await any_store.get_messages([ids[2], "NOSUCHMESSAGE", ids[0]])
    assert [m.id for m in got] == [ids[2], ids[0]]
    assert await any_store.get_messages([]) == []


async def test_a_message_is_read_back_as_it_was_given(any_store: Store, clock: FakeClock) -> None:
    await make_account(any_store, clock)
    nm = dataclasses.replace(
        new_message(priority=3, client_ref="c", body_hash="h", send_at=clock.now + 5),
        validity=3600,
        callback_url="https://app.example/hook",
        text="héllo ☃",
        encoding="ucs2",
    )
    [r] = (await any_store.enqueue([nm])).results
    assert isinstance(r, Enqueued)
    m = (await any_store.get_message(r.message.id)).message
    assert m == r.message
    assert (m.text, m.validity, m.priority, m.callback_url, m.send_at) == (
        "héllo ☃",
        3600,
        3,
        "https://app.example/hook",
        clock.now + 5,
    )
    assert m.next_attempt_at == clock.now + 5


async def test_unknown_message_is_not_found(any_store: Store) -> None:
    with pytest.raises(NotFound, match="no message 'NOSUCHMESSAGE'"):
        await any_store.get_message("NOSUCHMESSAGE")


async def test_list_messages_filters_newest_first(any_store: Store, clock: FakeClock) -> None:
    await make_account(any_store, clock)
    await make_account(any_store, clock, "other")
    await any_store.enqueue([new_message(), new_message(account="other")])
    clock.advance(60)
    [last] = _ids((await any_store.enqueue([new_message()])).results)
    assert len(await any_store.list_messages(account="acme")) == 2
    assert [m.id for m in await any_store.list_messages(since=clock.now - 1)] == [last]
    assert (await any_store.list_messages(limit=1))[0].id == last
    assert len(await any_store.list_messages(state=MessageState.QUEUED, account="other")) == 1
    assert len(await any_store.list_messages(state=MessageState.CANCELLED)) == 0
    assert (await any_store.count_by_state()) == {MessageState.QUEUED: 3}
    with pytest.raises(NotFound):
        await any_store.list_messages(account="ghost")


async def test_concurrent_enqueues_on_one_account_never_overdraw_it(
    any_store: Store, clock: FakeClock
) -> None:
    await make_account(any_store, clock, credit=50, credit_limit=10)
    batches = [[new_message(f"+336123456{i:02d}", segments=3)] * 2 for i in range(20)]
    results = await asyncio.gather(*(any_store.enqueue(b) for b in batches))
    taken = sum(isinstance(r, Enqueued) for res in results for r in res.results)
    assert taken == 20  # 60 credits of 40 x 3: the first 20 messages
    assert (await any_store.balance("acme")).balance == 50 - 60
    assert await any_store.verify_ledger() == {}
    assert len(await any_store.list_messages(limit=100)) == 20


async def test_concurrent_enqueues_on_one_account_never_pass_the_monthly_cap(
    any_store: Store, clock: FakeClock
) -> None:
    await make_account(any_store, clock, credit=1000, monthly_cap=25)
    batches = [[new_message(f"+336123456{i:02d}", segments=2)] for i in range(30)]
    results = await asyncio.gather(*(any_store.enqueue(b) for b in batches))
    refused = [r for res in results for r in res.results if isinstance(r, Refused)]
    assert len(refused) == 18  # 12 x 2 = 24 of the 25
    assert all(isinstance(r.error, MonthlyCapReached) for r in refused)
    assert (await any_store.balance("acme")).month_spent == 24
    assert await any_store.verify_ledger() == {}


async def test_concurrent_retries_with_one_client_ref_store_one_message(
    any_store: Store, clock: FakeClock
) -> None:
    await make_account(any_store, clock)
    results = await asyncio.gather(
        *(any_store.enqueue([new_message(client_ref="once", body_hash="h")]) for _ in range(8))
    )
    messages: list[Message] = []
    for res in results:
        [r] = res.results
        assert isinstance(r, Enqueued)
        messages.append(r.message)
    assert len({m.id for m in messages}) == 1
    assert (await any_store.balance("acme")).balance == 999


async def test_a_segment_an_esme_cut_is_stored_and_claimed_as_given(
    any_store: Store, clock: FakeClock
) -> None:
    await make_account(any_store, clock, credit=100)
    raw = RawBody(
        data_coding=0xF5, udh=bytes((5, 0, 3, 9, 2, 1)), body=b"\x00\xff", encoding="8bit"
    )
    origin = EsmeOrigin(system_id="acme1", registered_delivery=1)
    batch = [
        dataclasses.replace(new_message(), raw=raw.pack(), encoding="8bit", origin=origin),
        new_message("+33612345679"),
    ]
    [cut, whole] = (await any_store.enqueue(batch)).results
    assert isinstance(cut, Enqueued)
    assert isinstance(whole, Enqueued)
    assert (cut.message.raw, whole.message.raw) == (raw.pack(), None)
    stored = await any_store.get_message(cut.message.id)
    assert RawBody.unpack(stored.message.raw or b"") == raw
    assert stored.message.encoding == "8bit"
    assert len(stored.segments) == 1
    claimed = await any_store.claim_due("gw", now=clock(), limit=10, lease_seconds=60)
    assert {m.id: m.raw for m in claimed} == {cut.message.id: raw.pack(), whole.message.id: None}

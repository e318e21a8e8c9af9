"""The stoplist on every backend: add, remove, list, the lookup a send makes, and
a stop reply that puts its source on the list in the reply's transaction."""

from __future__ import annotations

import re

import pytest

from gateway.model.errors import InvalidRecipient, NotFound
from gateway.model.orders import StopEntry, Stopped, StopSource
from gateway.model.records import Enqueued, InboundMessage, Refused
from gateway.store.base import Store
from tests.clock import FakeClock
from tests.gateway.store.support import make_account, new_message

A, B, C = "+33600000001", "+33600000002", "+33600000003"


async def test_add_list_remove(any_store: Store, clock: FakeClock) -> None:
    await any_store.create_account("acme")
    entry, added = await any_store.add_stop("acme", B)
    assert added
    assert entry == StopEntry(
        account="acme", number=B, source=StopSource.OPERATOR, created_at=clock.now
    )
    clock.advance(10)
    again, added = await any_store.add_stop("acme", B, source=StopSource.REPLY)
    assert (again, added) == (entry, False)  # the first entry stays
    await any_store.add_stop("acme", A, source=StopSource.REPLY)
    assert [(e.number, e.source) for e in await any_store.list_stops("acme")] == [
        (A, StopSource.REPLY),
        (B, StopSource.OPERATOR),
    ]
    removed = await any_store.remove_stop("acme", B)
    assert removed == entry
    assert [e.number for e in await any_store.list_stops("acme")] == [A]
    with pytest.raises(NotFound, match=re.escape(f"{B} is not on the stoplist of account 'acme'")):
        await any_store.remove_stop("acme", B)


async def test_stoplists_are_per_account(any_store: Store) -> None:
    await any_store.create_account("acme")
    await any_store.create_account("beta")
    await any_store.add_stop("acme", A)
    assert await any_store.stopped_numbers("acme", [A, B]) == {A}
    assert await any_store.stopped_numbers("beta", [A, B]) == set()
    assert await any_store.list_stops("beta") == []


async def test_stopped_numbers_of_a_large_batch(any_store: Store) -> None:
    await any_store.create_account("acme")
    numbers = [f"+3361{i:07d}" for i in range(1200)]
    for n in numbers[::300]:
        await any_store.add_stop("acme", n)
    assert await any_store.stopped_numbers("acme", [*numbers, numbers[0]]) == set(numbers[::300])
    assert await any_store.stopped_numbers("acme", []) == set()


async def test_bad_number_or_unknown_account_refused(any_store: Store) -> None:
    await any_store.create_account("acme")
    with pytest.raises(InvalidRecipient, match="bad number '0612'"):
        await any_store.add_stop("acme", "0612")
    for call in (any_store.add_stop, any_store.remove_stop):
        with pytest.raises(NotFound, match="ghost"):
            await call("ghost", A)
    with pytest.raises(NotFound, match="ghost"):
        await any_store.list_stops("ghost")


def reply(clock: FakeClock, *, id: str, account: str | None, text: str = "STOP") -> InboundMessage:  # noqa: A002
    return InboundMessage(
        id=id,
        account=account,
        link="op-a",
        source=C,
        destination="36180",
        text=text,
        received_at=clock.now,
    )


async def test_stop_reply_is_stored_and_stops_its_source(
    any_store: Store, clock: FakeClock
) -> None:
    await any_store.create_account("acme")
    await any_store.add_inbound(reply(clock, id="in-1", account="acme"), stop=True)
    assert [m.id for m in await any_store.list_inbound(account="acme")] == ["in-1"]
    assert await any_store.list_stops("acme") == [
        StopEntry(account="acme", number=C, source=StopSource.REPLY, created_at=clock.now)
    ]
    clock.advance(1)
    await any_store.add_inbound(reply(clock, id="in-2", account="acme"), stop=True)  # again
    assert len(await any_store.list_stops("acme")) == 1
    await any_store.add_inbound(reply(clock, id="in-3", account=None), stop=True)  # nobody's
    await any_store.add_inbound(reply(clock, id="in-4", account="acme", text="hello"))
    assert await any_store.stopped_numbers("acme", [C]) == {C}
    assert len(await any_store.list_inbound()) == 4


async def test_a_send_to_a_stopped_number_is_refused_in_its_own_transaction(
    any_store: Store,
) -> None:
    # the STOP is committed after the sender checked the stoplist (the pipeline's
    # quote reads it) and before its enqueue commits: the store refuses it there
    await make_account(any_store, credit=10)
    await any_store.add_stop("acme", B)
    result = await any_store.enqueue([new_message(A), new_message(B), new_message(C)])
    assert [r.destination if isinstance(r, Refused) else None for r in result.results] == [
        None,
        B,
        None,
    ]
    [refused] = [r for r in result.results if isinstance(r, Refused)]
    assert isinstance(refused.error, Stopped)
    assert (await any_store.balance("acme")).balance == 8  # the stopped one is not charged
    assert await any_store.stopped_numbers("beta", [B]) == set()


async def test_a_retried_request_gets_the_message_it_stored_before_its_number_stopped(
    any_store: Store,
) -> None:
    await make_account(any_store, credit=10)
    sent = new_message(B, client_ref="r1", body_hash="h1")
    [first] = (await any_store.enqueue([sent])).results
    await any_store.add_stop("acme", B)
    [again] = (await any_store.enqueue([sent])).results
    assert isinstance(first, Enqueued)
    assert isinstance(again, Enqueued)
    assert (again.message.id, again.duplicate) == (first.message.id, True)
    assert (await any_store.balance("acme")).balance == 9

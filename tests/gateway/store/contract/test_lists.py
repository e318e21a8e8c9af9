"""The account lists the HTTP API pages through (messages, journal) and sender
requests with their reason, on every backend."""

from __future__ import annotations

from gateway.model.message import SenderKind, SenderStatus
from gateway.model.records import Enqueued, EntryKind, InboundMessage
from gateway.store.base import Store
from tests.clock import FakeClock
from tests.gateway.store.contract.accounts import make_account
from tests.gateway.store.support import new_message


async def _send(store: Store, count: int) -> list[str]:
    result = await store.enqueue([new_message() for _ in range(count)])
    ids = [r.message.id for r in result.results if isinstance(r, Enqueued)]
    assert len(ids) == count
    return ids


async def test_messages_page_by_key_newest_first(any_store: Store, clock: FakeClock) -> None:
    await make_account(any_store, clock)
    first = await _send(any_store, 3)  # the same created_at: the id breaks the tie
    clock.advance(10)
    second = await _send(any_store, 2)
    page = await any_store.list_messages(account="acme", limit=3)
    expected = [*sorted(second, reverse=True), max(first)]
    assert [m.id for m in page] == expected
    last = page[-1]
    clock.advance(10)
    await _send(any_store, 4)  # newer messages do not shift the next page
    rest = await any_store.list_messages(
        account="acme", before=(last.created_at, last.id), limit=10
    )
    assert [m.id for m in rest] == sorted(first, reverse=True)[1:]


async def test_messages_between_since_and_until(any_store: Store, clock: FakeClock) -> None:
    await make_account(any_store, clock)
    start = clock.now
    early = await _send(any_store, 1)
    clock.advance(60)
    middle = await _send(any_store, 1)
    clock.advance(60)
    await _send(any_store, 1)
    listed = await any_store.list_messages(account="acme", since=start + 30, until=start + 120)
    assert [m.id for m in listed] == middle
    listed = await any_store.list_messages(account="acme", until=start + 60)
    assert [m.id for m in listed] == early  # until is exclusive


async def test_history_pages_back_from_a_cursor(any_store: Store, clock: FakeClock) -> None:
    await make_account(any_store, clock, credit=0)
    start = clock.now
    for n in range(5):
        await any_store.topup("acme", 10 + n, reference=f"order-{n}")
        clock.advance(60)
    entries = await any_store.history("acme")
    assert [e.amount for e in entries] == [10, 11, 12, 13, 14]
    last_two = await any_store.history("acme", limit=2)
    assert [e.amount for e in last_two] == [13, 14]
    before = await any_store.history("acme", limit=2, before=last_two[0].id)
    assert [e.amount for e in before] == [11, 12]
    window = await any_store.history("acme", since=start + 60, until=start + 180)
    assert [e.amount for e in window] == [11, 12]
    assert all(e.kind is EntryKind.TOPUP for e in window)


async def test_sender_request_keeps_its_reason(any_store: Store) -> None:
    await any_store.create_account("acme")
    asked = await any_store.add_sender("acme", "ACME", SenderKind.ALPHA, reason="our brand")
    assert (asked.status, asked.request_reason, asked.reason) == (
        SenderStatus.PENDING,
        "our brand",
        None,
    )
    refused = await any_store.set_sender_status(
        "acme", "ACME", SenderStatus.REFUSED, reason="brand not proven"
    )
    assert (refused.request_reason, refused.reason) == ("our brand", "brand not proven")
    assert await any_store.list_senders("acme") == [refused]


async def test_replies_page_by_id_within_a_time_range(any_store: Store) -> None:
    await any_store.create_account("acme")
    for i in range(5):
        await any_store.add_inbound(
            InboundMessage(
                id=f"IN{i}",
                account="acme",
                link="op-a",
                source="+33612345678",
                destination="+33700000000",
                text=f"reply {i}",
                received_at=1000.0 + i,
            )
        )
    first = await any_store.list_inbound(account="acme", limit=2)
    assert [m.id for m in first] == ["IN4", "IN3"]
    rest = await any_store.list_inbound(account="acme", before="IN3")
    assert [m.id for m in rest] == ["IN2", "IN1", "IN0"]
    window = await any_store.list_inbound(account="acme", since=1001, until=1003)
    assert [m.id for m in window] == ["IN2", "IN1"]

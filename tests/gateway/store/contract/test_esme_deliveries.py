"""Receipts and replies for ESMEs: stored with the change that causes them, once,
as the ESME asked; taken under a lease, settled, retried, expired (every backend)."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable

import pytest

from gateway.link.interface import Receipt
from gateway.model.esme import (
    INTERMEDIATE,
    RECEIPT_FAILURE,
    RECEIPT_FINAL,
    DeliveryKind,
    EsmeDelivery,
)
from gateway.model.message import MessageState
from gateway.model.outcomes import Accepted, ReceiptState
from gateway.model.records import EsmeDeliveryCount, InboundMessage, Message, OutcomeRecord
from gateway.store.base import Store
from gateway.store.sqlite.store import SqliteStore
from tests.clock import FakeClock
from tests.gateway.store import esme_support
from tests.gateway.store.contract.accounts import make_account
from tests.gateway.store.esme_support import claimed, from_esme
from tests.gateway.store.replies import LONG_GSM, parts_of
from tests.gateway.store.support import new_message

_R = ReceiptState


AddCredential = Callable[[str, str], Awaitable[None]]


@pytest.fixture
def add_credential(any_store: Store, request: pytest.FixtureRequest) -> AddCredential:
    url = None if isinstance(any_store, SqliteStore) else request.getfixturevalue("postgres_url")

    async def add(account: str, system_id: str) -> None:
        await esme_support.add_credential(any_store, account, system_id, postgres_url=url)

    return add


def _accepted(m: Message, smsc_id: str, index: int = 0) -> OutcomeRecord:
    return OutcomeRecord(
        message_id=m.id, index=index, link="op-a", outcome=Accepted(smsc_id=smsc_id)
    )


def _receipt(smsc_id: str, state: ReceiptState = _R.DELIVERED, error: str | None = None) -> Receipt:
    return Receipt(link="op-a", smsc_id=smsc_id, state=state, error=error)


async def _take_all(
    store: Store, clock: FakeClock, system_id: str = "esme1", owner: str = "d1"
) -> list[EsmeDelivery]:
    return await store.take_deliveries(system_id, owner=owner, limit=100, now=clock.now, lease=60)


async def test_a_final_state_stores_the_receipt_the_esme_asked_for(
    any_store: Store, clock: FakeClock
) -> None:
    await make_account(any_store, clock)
    [m] = await claimed(any_store, clock.now, from_esme())
    await any_store.record_outcomes([_accepted(m, "s1")], now=clock.now)
    assert await any_store.pending_deliveries() == []  # submitted: nothing for the ESME
    clock.advance(5)
    await any_store.record_receipts([_receipt("s1")], now=clock.now)
    [d] = await _take_all(any_store, clock)
    assert (d.kind, d.system_id, d.message_id, d.state) == (
        DeliveryKind.RECEIPT,
        "esme1",
        m.id,
        _R.DELIVERED,
    )
    assert (d.source, d.destination) == (m.destination, m.sender)
    assert (d.done_at, d.submitted_at, d.segments, d.error, d.attempts) == (
        clock.now,
        m.created_at,
        1,
        0,
        0,
    )
    assert await any_store.pending_deliveries() == [
        EsmeDeliveryCount(system_id="esme1", kind=DeliveryKind.RECEIPT, count=1)
    ]


async def test_the_receipt_and_the_final_state_are_one_transaction(
    any_store: Store, clock: FakeClock, request: pytest.FixtureRequest
) -> None:
    await make_account(any_store, clock)
    ms = await claimed(any_store, clock.now, from_esme("+33611111111"), new_message("+33622222222"))
    await any_store.record_outcomes(
        [_accepted(m, f"s{i}") for i, m in enumerate(ms)], now=clock.now
    )
    url = None if isinstance(any_store, SqliteStore) else request.getfixturevalue("postgres_url")
    await esme_support.refuse_deliveries(any_store, postgres_url=url)
    with pytest.raises(Exception, match="deliveries refused"):
        await any_store.record_receipts([_receipt("s0"), _receipt("s1")], now=clock.now)
    # the receipt could not be stored: neither could the final states of the round
    states = [(await any_store.get_message(m.id)).message.state for m in ms]
    assert states == [MessageState.SUBMITTED, MessageState.SUBMITTED]


async def test_a_receipt_recorded_twice_stores_one_delivery(
    any_store: Store, clock: FakeClock
) -> None:
    await make_account(any_store, clock)
    [m] = await claimed(any_store, clock.now, from_esme())
    await any_store.record_outcomes([_accepted(m, "s1")], now=clock.now)
    await any_store.record_receipts([_receipt("s1"), _receipt("s1")], now=clock.now)
    await any_store.record_receipts([_receipt("s1")], now=clock.now)
    assert len(await _take_all(any_store, clock)) == 1


async def test_a_receipt_with_its_acceptance_in_one_round_stores_one(
    any_store: Store, clock: FakeClock
) -> None:
    await make_account(any_store, clock)
    [m] = await claimed(any_store, clock.now, from_esme())
    await any_store.record([_accepted(m, "s1")], [_receipt("s1")], now=clock.now)
    [d] = await _take_all(any_store, clock)
    assert d.state is _R.DELIVERED


async def test_no_receipt_when_none_was_asked_nor_for_other_front_doors(
    any_store: Store, clock: FakeClock
) -> None:
    await make_account(any_store, clock)
    ms = await claimed(
        any_store,
        clock.now,
        from_esme("+33611111111", registered_delivery=0),
        new_message("+33622222222"),
    )
    await any_store.record_outcomes(
        [_accepted(m, f"s{i}") for i, m in enumerate(ms)], now=clock.now
    )
    await any_store.record_receipts([_receipt("s0"), _receipt("s1")], now=clock.now)
    assert await _take_all(any_store, clock) == []
    assert await any_store.pending_deliveries() == []


async def test_failure_only_receipts_skip_deliveries(any_store: Store, clock: FakeClock) -> None:
    await make_account(any_store, clock)
    ok, bad = await claimed(
        any_store,
        clock.now,
        from_esme("+33611111111", registered_delivery=RECEIPT_FAILURE),
        from_esme("+33622222222", registered_delivery=RECEIPT_FAILURE),
    )
    await any_store.record_outcomes([_accepted(ok, "s0"), _accepted(bad, "s1")], now=clock.now)
    await any_store.record_receipts(
        [_receipt("s0"), _receipt("s1", _R.UNDELIVERABLE, error="011")], now=clock.now
    )
    [d] = await _take_all(any_store, clock)
    assert (d.message_id, d.state, d.error) == (bad.id, _R.UNDELIVERABLE, 11)


async def test_intermediate_receipts_only_when_asked(any_store: Store, clock: FakeClock) -> None:
    await make_account(any_store, clock)
    wants, final_only = await claimed(
        any_store,
        clock.now,
        from_esme("+33611111111", registered_delivery=RECEIPT_FINAL | INTERMEDIATE),
        from_esme("+33622222222", registered_delivery=RECEIPT_FINAL),
    )
    await any_store.record_outcomes(
        [_accepted(wants, "s0"), _accepted(final_only, "s1")], now=clock.now
    )
    await any_store.record_receipts(
        [_receipt("s0", _R.ENROUTE), _receipt("s1", _R.ENROUTE)], now=clock.now
    )
    [d] = await _take_all(any_store, clock)
    assert (d.message_id, d.state) == (wants.id, _R.ENROUTE)
    await any_store.record_receipts([_receipt("s0"), _receipt("s1")], now=clock.now)
    later = await _take_all(any_store, clock, owner="d2")
    assert sorted((x.message_id, x.state) for x in later) == sorted(
        [(wants.id, _R.DELIVERED), (final_only.id, _R.DELIVERED)]
    )


async def test_a_cancelled_message_gets_a_deleted_receipt(
    any_store: Store, clock: FakeClock
) -> None:
    await make_account(any_store, clock)
    result = (await any_store.enqueue([from_esme()])).results[0]
    mid = result.message.id  # type: ignore[union-attr]
    await any_store.cancel(mid)
    [d] = await _take_all(any_store, clock)
    assert (d.message_id, d.state, d.segments) == (mid, _R.DELETED, 1)


async def test_a_message_expired_without_receipt_gets_an_expired_receipt(
    any_store: Store, clock: FakeClock
) -> None:
    await make_account(any_store, clock)
    [m] = await claimed(any_store, clock.now, from_esme(segments=2))
    await any_store.record_outcomes([_accepted(m, "s0"), _accepted(m, "s1", 1)], now=clock.now)
    clock.advance(100)
    changes = await any_store.expire_unconfirmed(before=clock.now - 10)
    assert [c.new for c in changes.changes] == [MessageState.EXPIRED]
    [d] = await _take_all(any_store, clock)
    assert (d.state, d.segments) == (_R.EXPIRED, 2)


async def test_a_reply_is_stored_for_each_credential_of_its_account(
    any_store: Store, clock: FakeClock, add_credential: AddCredential
) -> None:
    await make_account(any_store, clock)
    await make_account(any_store, clock, "other")
    await add_credential("acme", "esme1")
    await add_credential("acme", "esme2")
    await add_credential("other", "esme3")
    reply = InboundMessage(
        id="in1",
        account="acme",
        link="op-a",
        source="+33699999999",
        destination="+33700000001",
        text="yes please",
        received_at=clock.now,
    )
    await any_store.add_inbound(reply)
    await any_store.add_inbound(reply)  # the same reply again: stored once
    await any_store.add_inbound(dataclasses.replace(reply, id="in2", account=None))
    for system_id in ("esme1", "esme2"):
        [d] = await _take_all(any_store, clock, system_id)
        assert (d.kind, d.source, d.destination, d.text, d.done_at) == (
            DeliveryKind.REPLY,
            "+33699999999",
            "+33700000001",
            "yes please",
            clock.now,
        )
    assert await _take_all(any_store, clock, "esme3") == []


async def test_a_long_reply_goes_to_the_esme_whole_and_once(
    any_store: Store, clock: FakeClock, add_credential: AddCredential
) -> None:
    await make_account(any_store, clock)
    await add_credential("acme", "esme1")
    parts = parts_of(LONG_GSM, at=clock.now)
    for p in [*parts, parts[0]]:
        await any_store.add_inbound_part(p, account="acme", now=clock.now)
    [d] = await _take_all(any_store, clock)
    assert (d.kind, d.text) == (DeliveryKind.REPLY, LONG_GSM)


async def _one_receipt(store: Store, clock: FakeClock) -> Message:
    await make_account(store, clock)
    [m] = await claimed(store, clock.now, from_esme())
    await store.record([_accepted(m, "s1")], [_receipt("s1")], now=clock.now)
    return m


async def test_a_taken_delivery_is_leased_to_its_taker(any_store: Store, clock: FakeClock) -> None:
    await _one_receipt(any_store, clock)
    [d] = await _take_all(any_store, clock, owner="d1")
    assert await _take_all(any_store, clock, owner="d2") == []
    assert await _take_all(any_store, clock, "esme2", owner="d2") == []
    clock.advance(61)  # the lease ran out (its taker died)
    [again] = await _take_all(any_store, clock, owner="d2")
    assert again.id == d.id


async def test_a_done_delivery_is_never_handed_out_again(
    any_store: Store, clock: FakeClock
) -> None:
    await _one_receipt(any_store, clock)
    [d] = await _take_all(any_store, clock)
    await any_store.deliveries_done([d.id])
    clock.advance(3600)
    assert await _take_all(any_store, clock) == []
    assert await any_store.pending_deliveries() == []


async def test_a_refused_delivery_comes_back_at_its_retry_time_with_its_attempt(
    any_store: Store, clock: FakeClock
) -> None:
    await _one_receipt(any_store, clock)
    [d] = await _take_all(any_store, clock)
    await any_store.delivery_retry(d.id, at=clock.now + 30)
    assert await _take_all(any_store, clock) == []
    clock.advance(30)
    [again] = await _take_all(any_store, clock)
    assert (again.id, again.attempts) == (d.id, 1)


async def test_released_deliveries_are_due_at_once_for_any_taker(
    any_store: Store, clock: FakeClock
) -> None:
    await _one_receipt(any_store, clock)
    [d] = await _take_all(any_store, clock, owner="d1")
    assert await any_store.release_deliveries("d2") == 0  # not d2's
    assert await any_store.release_deliveries("d1", [d.id]) == 1
    [again] = await _take_all(any_store, clock, owner="d2")
    assert (again.id, again.attempts) == (d.id, 0)
    assert await any_store.release_deliveries("d2") == 1


async def test_delivered_ones_are_deleted_after_they_were_kept_a_while(
    any_store: Store, clock: FakeClock, request: pytest.FixtureRequest
) -> None:
    url = None if isinstance(any_store, SqliteStore) else request.getfixturevalue("postgres_url")
    await _one_receipt(any_store, clock)
    [d] = await _take_all(any_store, clock)
    await any_store.deliveries_done([d.id])
    assert await any_store.expire_deliveries(before=0, delivered_before=clock.now) == []
    assert await esme_support.delivery_rows(any_store, postgres_url=url) == 1  # kept a while
    clock.advance(1)
    # deleted, and not counted as expired
    assert await any_store.expire_deliveries(before=0, delivered_before=clock.now) == []
    assert await esme_support.delivery_rows(any_store, postgres_url=url) == 0


async def test_deliveries_expire_counted_per_credential_and_kind(
    any_store: Store, clock: FakeClock, add_credential: AddCredential
) -> None:
    await _one_receipt(any_store, clock)
    await add_credential("acme", "esme1")
    await any_store.add_inbound(
        InboundMessage(
            id="in1",
            account="acme",
            link="op-a",
            source="+33699999999",
            destination="+33700000001",
            text="hi",
            received_at=clock.now,
        )
    )
    clock.advance(10)
    assert await any_store.expire_deliveries(before=clock.now - 20) == []
    expired = await any_store.expire_deliveries(before=clock.now)
    assert sorted(expired, key=lambda c: c.kind.value) == [
        EsmeDeliveryCount(system_id="esme1", kind=DeliveryKind.RECEIPT, count=1),
        EsmeDeliveryCount(system_id="esme1", kind=DeliveryKind.REPLY, count=1),
    ]
    assert await _take_all(any_store, clock) == []
    assert await any_store.pending_deliveries() == []

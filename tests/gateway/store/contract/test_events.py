"""The event outbox: status events written with each change (and their webhook rows),
inbound, on every backend."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from gateway.link.interface import Receipt
from gateway.model.errors import NotCancellable, UserError
from gateway.model.message import IllegalTransition, MessageState
from gateway.model.outcomes import Accepted, ReceiptState, Rejected, Retry
from gateway.model.records import Enqueued, InboundMessage, Message, OutcomeRecord
from gateway.store.base import Store
from gateway.store.payloads import iso_ms
from tests.clock import FakeClock
from tests.gateway.store.contract.accounts import make_account
from tests.gateway.store.support import new_message, pending_events

HOOK = "https://app.example/hooks/sms"


async def _events(store: Store) -> list[tuple[str, str, dict[str, Any]]]:
    return [(e.account, e.kind, json.loads(e.payload)) for e in await pending_events(store, 1000)]


async def _states(store: Store) -> list[tuple[str | None, str]]:
    return [(p["previous"], p["state"]) for _, kind, p in await _events(store) if kind == "status"]


async def _enqueue(
    store: Store,
    *,
    callback_url: str | None = None,
    segments: int = 1,
    client_ref: str | None = None,
) -> Message:
    nm = dataclasses.replace(
        new_message(
            segments=segments, client_ref=client_ref, body_hash="h" if client_ref else None
        ),
        callback_url=callback_url,
    )
    [r] = (await store.enqueue([nm])).results
    assert isinstance(r, Enqueued)
    return r.message


async def _claimed(store: Store, clock: FakeClock, **kw: Any) -> Message:
    m = await _enqueue(store, **kw)
    [claimed] = await store.claim_due("w", now=clock.now, limit=1, lease_seconds=60)
    assert claimed.id == m.id
    return m


def _outcome(m: Message, outcome: Accepted | Rejected | Retry, index: int = 0) -> OutcomeRecord:
    return OutcomeRecord(message_id=m.id, index=index, link="op-a", outcome=outcome)


async def test_enqueue_writes_one_queued_event_with_the_documented_payload(
    any_store: Store, clock: FakeClock
) -> None:
    await make_account(any_store, clock)
    m = await _enqueue(any_store, client_ref="order-7")
    [event] = await pending_events(any_store, 10)
    assert (event.account, event.kind) == ("acme", "status")
    assert (
        event.payload
        == (
            f'{{"event":"status","id":"{m.id}","account":"acme","to":"+33612345678",'
            f'"state":"queued","previous":null,"at":"{iso_ms(clock.now)}",'
            '"client_ref":"order-7","error":null}'
        ).encode()
    )
    assert iso_ms(clock.now) == "2026-03-15T12:00:00.000Z"


async def test_duplicate_by_client_ref_writes_no_second_event(
    any_store: Store, clock: FakeClock
) -> None:
    await make_account(any_store, clock)
    first = await _enqueue(any_store, client_ref="r1")
    again = await _enqueue(any_store, client_ref="r1")
    assert again.id == first.id
    assert await _states(any_store) == [(None, "queued")]


async def test_enqueue_refused_for_credit_writes_no_event(
    any_store: Store, clock: FakeClock
) -> None:
    await make_account(any_store, clock, credit=0)
    [r] = (await any_store.enqueue([new_message()])).results
    assert not isinstance(r, Enqueued)
    assert await pending_events(any_store, 10) == []


async def test_failed_operation_leaves_no_event_row(any_store: Store, clock: FakeClock) -> None:
    await make_account(any_store, clock)
    m = await _enqueue(any_store)
    await any_store.ack_mqtt_events([e.batch for e in await pending_events(any_store, 10)])
    await any_store.cancel(m.id)
    # cancelled -> delivered is illegal: the whole operation rolls back, its event too
    with pytest.raises(IllegalTransition):
        await any_store.finish(m.id, MessageState.DELIVERED)
    assert await _states(any_store) == [("queued", "cancelled")]


async def test_claim_and_retry_write_no_event_submit_and_receipt_do(
    any_store: Store, clock: FakeClock
) -> None:
    await make_account(any_store, clock)
    m = await _claimed(any_store, clock)
    await any_store.record_outcomes([_outcome(m, Retry(reason="throttled"))], now=clock.now)
    [again] = await any_store.claim_due("w", now=clock.now, limit=1, lease_seconds=60)
    assert again.id == m.id
    await any_store.record_outcomes([_outcome(m, Accepted(smsc_id="x1"))], now=clock.now)
    await any_store.record_receipts(
        [Receipt(link="op-a", smsc_id="x1", state=ReceiptState.DELIVERED)], now=clock.now
    )
    assert await _states(any_store) == [
        (None, "queued"),
        ("dispatching", "submitted"),
        ("submitted", "delivered"),
    ]
    events = await _events(any_store)
    assert [p["error"] for _, _, p in events] == [None, None, None]  # the retry's is past


async def test_lease_taken_back_writes_no_event(any_store: Store, clock: FakeClock) -> None:
    await make_account(any_store, clock)
    await _claimed(any_store, clock)
    assert len(await any_store.claim_due("w2", now=clock.now + 61, limit=1, lease_seconds=60)) == 1
    assert await _states(any_store) == [(None, "queued")]


async def test_rejected_event_carries_the_reason(any_store: Store, clock: FakeClock) -> None:
    await make_account(any_store, clock)
    m = await _claimed(any_store, clock)
    await any_store.record_outcomes(
        [_outcome(m, Rejected(reason="invalid destination"))], now=clock.now
    )
    [*_, (_, _, last)] = await _events(any_store)
    assert (last["previous"], last["state"], last["error"]) == (
        "dispatching",
        "rejected",
        "invalid destination",
    )


async def test_undeliverable_event_carries_the_receipt_error(
    any_store: Store, clock: FakeClock
) -> None:
    await make_account(any_store, clock)
    m = await _claimed(any_store, clock)
    await any_store.record_outcomes([_outcome(m, Accepted(smsc_id="u1"))], now=clock.now)
    await any_store.record_receipts(
        [
            Receipt(
                link="op-a",
                smsc_id="u1",
                error="absent subscriber",
                state=ReceiptState.UNDELIVERABLE,
            )
        ],
        now=clock.now,
    )
    [*_, (_, _, last)] = await _events(any_store)
    assert (last["state"], last["error"]) == ("undeliverable", "absent subscriber")


@pytest.mark.parametrize("state", [MessageState.FAILED, MessageState.EXPIRED])
async def test_finish_writes_its_event(
    any_store: Store, clock: FakeClock, state: MessageState
) -> None:
    await make_account(any_store, clock)
    m = await _claimed(any_store, clock)
    await any_store.finish(m.id, state, reason="gave up")
    assert (await _states(any_store))[-1] == ("dispatching", state.value)


async def test_cancel_writes_cancelled_event(any_store: Store, clock: FakeClock) -> None:
    await make_account(any_store, clock)
    m = await _enqueue(any_store)
    await any_store.cancel(m.id)
    assert await _states(any_store) == [(None, "queued"), ("queued", "cancelled")]


async def test_cancel_of_a_message_not_queued_raises_not_cancellable(
    any_store: Store, clock: FakeClock
) -> None:
    await make_account(any_store, clock)
    m = await _claimed(any_store, clock)
    with pytest.raises(NotCancellable) as caught:
        await any_store.cancel(m.id)
    assert (caught.value.message_id, caught.value.state) == (m.id, "dispatching")
    assert isinstance(caught.value, UserError)


async def test_webhook_rows_only_for_messages_with_a_callback_url(
    any_store: Store, clock: FakeClock
) -> None:
    await make_account(any_store, clock)
    await _enqueue(any_store)
    m = await _enqueue(any_store, callback_url=HOOK)
    [hook] = await any_store.due_webhooks(now=clock.now, limit=10)
    assert (hook.account, hook.url, hook.attempts) == ("acme", HOOK, 0)
    status = [e for e in await pending_events(any_store, 10) if json.loads(e.payload)["id"] == m.id]
    assert [hook.payload] == [e.payload for e in status]


async def test_without_mqtt_outbox_no_event_rows_but_webhooks_and_inbound_stored(
    any_store: Store, clock: FakeClock
) -> None:
    any_store.mqtt_outbox = False  # a daemon without [mqtt]: nothing would publish them
    await make_account(any_store, clock)
    m = await _claimed(any_store, clock, callback_url=HOOK)
    await any_store.record_outcomes([_outcome(m, Accepted(smsc_id="x1"))], now=clock.now)
    await any_store.record_receipts(
        [Receipt(link="op-a", smsc_id="x1", state=ReceiptState.DELIVERED)], now=clock.now
    )
    await any_store.add_inbound(
        InboundMessage(
            id="in-1",
            account="acme",
            link="op-a",
            source="+33600000001",
            destination="36180",
            text="STOP",
            received_at=clock.now,
        )
    )
    assert await pending_events(any_store, 10) == []
    assert (await any_store.get_message(m.id)).message.state is MessageState.DELIVERED
    assert [r.id for r in await any_store.list_inbound(account="acme")] == ["in-1"]
    hooks = [
        json.loads(h.payload)["state"]
        for h in await any_store.due_webhooks(now=clock.now, limit=10)
    ]
    assert hooks == ["queued", "submitted", "delivered"]


async def test_ack_deletes_batches_and_pending_is_oldest_first(
    any_store: Store, clock: FakeClock
) -> None:
    await make_account(any_store, clock)
    for _ in range(3):
        await _enqueue(any_store)
    events = await pending_events(any_store, 2)
    assert [e.batch for e in events] == sorted(e.batch for e in events)
    await any_store.ack_mqtt_events([e.batch for e in events])
    rest = await pending_events(any_store, 10)
    assert len(rest) == 1
    assert rest[0].batch > events[-1].batch
    await any_store.ack_mqtt_events([])
    await any_store.ack_mqtt_events([rest[0].batch])
    assert await pending_events(any_store, 10) == []


async def test_ack_of_scattered_batches_deletes_only_those(
    any_store: Store, clock: FakeClock
) -> None:
    await make_account(any_store, clock)
    for _ in range(5):
        await _enqueue(any_store)
    batches = [e.batch for e in await pending_events(any_store, 10)]
    await any_store.ack_mqtt_events([batches[4], batches[0], batches[1], batches[3]])
    assert [e.batch for e in await pending_events(any_store, 10)] == [batches[2]]


async def test_a_transactions_events_share_one_row_read_whole(
    any_store: Store, clock: FakeClock
) -> None:
    await make_account(any_store, clock)
    result = await any_store.enqueue([new_message(destination=f"+3361234567{i}") for i in range(5)])
    await any_store.add_event(account="acme", kind="rejected", payload={"error": "x"})
    events = await pending_events(any_store, 2)  # the first row is read whole
    assert [json.loads(e.payload)["id"] for e in events] == [
        r.message.id for r in result.results if isinstance(r, Enqueued)
    ]
    assert {(e.batch, e.batch_size) for e in events} == {(events[0].batch, 5)}
    assert [e.kind for e in await pending_events(any_store, 6)] == ["status"] * 5 + ["rejected"]


async def test_add_event_stores_a_rejected_event(any_store: Store) -> None:
    batch = await any_store.add_event(
        account="nobody", kind="rejected", payload={"error": "malformed_json", "detail": "é"}
    )
    [event] = await pending_events(any_store, 10)
    assert (event.batch, event.account, event.kind) == (batch, "nobody", "rejected")
    assert event.payload == '{"error":"malformed_json","detail":"é"}'.encode()
    with pytest.raises(ValueError, match="unknown event kind"):
        await any_store.add_event(account="acme", kind="other", payload={})


async def test_inbound_with_an_account_writes_one_event(any_store: Store, clock: FakeClock) -> None:
    await make_account(any_store, clock)
    reply = InboundMessage(
        id="in-1",
        account="acme",
        link="op-a",
        source="+33600000001",
        destination="36180",
        text="STOP",
        received_at=clock.now,
    )
    await any_store.add_inbound(reply)
    await any_store.add_inbound(reply)  # stored again after a crash: no second event
    await any_store.add_inbound(dataclasses.replace(reply, id="in-2", account=None))
    assert await _events(any_store) == [
        (
            "acme",
            "inbound",
            {
                "event": "inbound",
                "id": "in-1",
                "from": "+33600000001",
                "to": "36180",
                "text": "STOP",
                "link": "op-a",
                "received_at": "2026-03-15T12:00:00.000Z",
            },
        )
    ]

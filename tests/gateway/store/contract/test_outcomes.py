"""Segment outcomes, receipts (in any order), final states and their refunds, on every
backend; receipts and answers recorded at once by several writers too."""

from __future__ import annotations

import asyncio
import json

import pytest

from gateway.link.interface import Receipt
from gateway.model.errors import NotCancellable, NotFound
from gateway.model.message import IllegalTransition, MessageState, SegmentState
from gateway.model.outcomes import Accepted, ReceiptState, Rejected, Retry
from gateway.model.records import Enqueued, EntryKind, Message, OutcomeRecord
from gateway.store.base import Store
from gateway.store.postgres import dispatch as postgres_dispatch
from gateway.store.sqlite import dispatch as sqlite_dispatch
from tests.clock import FakeClock
from tests.gateway.store.contract.accounts import make_account
from tests.gateway.store.support import new_message, pending_events

_S = SegmentState
_M = MessageState


async def _claimed(store: Store, clock: FakeClock, *, segments: int = 1, price: int = 1) -> Message:
    r = (await store.enqueue([new_message(segments=segments, price=price)])).results[0]
    assert isinstance(r, Enqueued)
    [m] = await store.claim_due("w", now=clock.now, limit=1, lease_seconds=60)
    return m


def _accepted(m: Message, index: int, smsc_id: str) -> OutcomeRecord:
    return OutcomeRecord(
        message_id=m.id, index=index, link="op-a", outcome=Accepted(smsc_id=smsc_id)
    )


def _receipt(smsc_id: str, state: ReceiptState = ReceiptState.DELIVERED) -> Receipt:
    return Receipt(link="op-a", smsc_id=smsc_id, state=state)


async def _kept_receipts(store: Store, clock: FakeClock) -> int:
    """How many receipts the store keeps waiting for their acceptance, counted as an
    expiry that takes every one drops them (it ends submitted messages too: call it last)."""
    dropped = (await store.expire_unconfirmed(before=clock.now + 10**6)).dropped
    return sum(why == "expired" for _, why in dropped)


async def test_all_segments_accepted_makes_the_message_submitted(
    any_store: Store, clock: FakeClock
) -> None:
    await make_account(any_store, clock)
    m = await _claimed(any_store, clock, segments=2)
    first = await any_store.record_outcomes([_accepted(m, 0, "s0")], now=clock.now)
    assert first.changes == ()  # one segment still to go
    second = await any_store.record_outcomes([_accepted(m, 1, "s1")], now=clock.now)
    assert [(c.old, c.new) for c in second.changes] == [(_M.DISPATCHING, _M.SUBMITTED)]
    view = await any_store.get_message(m.id)
    assert [(s.state, s.smsc_id, s.link) for s in view.segments] == [
        (_S.ACCEPTED, "s0", "op-a"),
        (_S.ACCEPTED, "s1", "op-a"),
    ]
    assert view.message.lease_owner == "w"


async def test_receipts_for_every_segment_deliver_the_message(
    any_store: Store, clock: FakeClock
) -> None:
    await make_account(any_store, clock)
    m = await _claimed(any_store, clock, segments=2)
    await any_store.record_outcomes([_accepted(m, 0, "s0"), _accepted(m, 1, "s1")], now=clock.now)
    one = await any_store.record_receipts([_receipt("s0")], now=clock.now)
    assert one.changes == ()
    two = await any_store.record_receipts([_receipt("s1")], now=clock.now)
    assert [c.new for c in two.changes] == [_M.DELIVERED]
    view = await any_store.get_message(m.id)
    assert view.message.state is _M.DELIVERED
    assert view.message.lease_owner is None
    assert view.segments[0].receipt_state is ReceiptState.DELIVERED


async def test_receipt_before_its_submit_response_is_kept_and_applied(
    any_store: Store, clock: FakeClock
) -> None:
    await make_account(any_store, clock)
    m = await _claimed(any_store, clock)
    early = await any_store.record_receipts([_receipt("s0")], now=clock.now)
    assert early.unmatched == (("op-a", "delivered"),)  # not a delivery (yet)
    changes = await any_store.record_outcomes([_accepted(m, 0, "s0")], now=clock.now)
    assert [c.new for c in changes.changes] == [_M.DELIVERED]
    assert changes.matched_late == (("op-a", "delivered"),)
    assert (await any_store.get_message(m.id)).segments[0].state is _S.DELIVERED


async def test_early_receipts_of_a_batch_apply_in_order_and_leave_others_pending(
    any_store: Store, clock: FakeClock
) -> None:
    await make_account(any_store, clock)
    m = await _claimed(any_store, clock, segments=2)
    await any_store.record_receipts(
        [_receipt("s0", ReceiptState.ENROUTE), _receipt("s1"), _receipt("s0"), _receipt("other")],
        now=clock.now,
    )
    changes = await any_store.record_outcomes(
        [_accepted(m, 0, "s0"), _accepted(m, 1, "s1")], now=clock.now
    )
    assert [c.new for c in changes.changes] == [_M.DELIVERED]
    view = await any_store.get_message(m.id)
    assert [(s.state, s.receipt_state) for s in view.segments] == [
        (_S.DELIVERED, ReceiptState.DELIVERED),
        (_S.DELIVERED, ReceiptState.DELIVERED),
    ]
    # the receipt nobody claimed yet stays; the taken ones are gone
    late = await _claimed(any_store, clock)
    again = await any_store.record_outcomes([_accepted(late, 0, "other")], now=clock.now)
    assert [c.new for c in again.changes] == [_M.DELIVERED]
    m2 = await _claimed(any_store, clock)
    none = await any_store.record_outcomes([_accepted(m2, 0, "s1")], now=clock.now)
    assert [c.new for c in none.changes] == [_M.SUBMITTED]


async def test_enroute_receipt_is_recorded_without_state_change(
    any_store: Store, clock: FakeClock
) -> None:
    await make_account(any_store, clock)
    m = await _claimed(any_store, clock)
    await any_store.record_outcomes([_accepted(m, 0, "s0")], now=clock.now)
    changes = await any_store.record_receipts([_receipt("s0", ReceiptState.ENROUTE)], now=clock.now)
    assert changes.changes == ()
    seg = (await any_store.get_message(m.id)).segments[0]
    assert (seg.state, seg.receipt_state) == (_S.ACCEPTED, ReceiptState.ENROUTE)


async def test_duplicate_receipt_changes_nothing(any_store: Store, clock: FakeClock) -> None:
    await make_account(any_store, clock)
    m = await _claimed(any_store, clock)
    await any_store.record_outcomes([_accepted(m, 0, "s0")], now=clock.now)
    await any_store.record_receipts([_receipt("s0")], now=clock.now)
    again = await any_store.record_receipts([_receipt("s0", ReceiptState.EXPIRED)], now=clock.now)
    assert again.changes == ()
    assert (await any_store.get_message(m.id)).message.state is _M.DELIVERED


async def test_rejected_segment_rejects_message_and_refunds_unaccepted_segments(
    any_store: Store, clock: FakeClock
) -> None:
    await make_account(any_store, clock, credit=100)
    m = await _claimed(any_store, clock, segments=3, price=2)
    changes = await any_store.record_outcomes(
        [
            _accepted(m, 0, "s0"),
            OutcomeRecord(
                message_id=m.id,
                index=1,
                link="op-a",
                outcome=Rejected(reason="ESME_RINVDSTADR", status=0x0B),
            ),
        ],
        now=clock.now,
    )
    assert [c.new for c in changes.changes] == [_M.REJECTED]
    assert [e.amount for e in changes.refunds] == [4]  # segments 1 and 2 never accepted
    view = await any_store.get_message(m.id)
    assert view.message.error == "ESME_RINVDSTADR"
    assert [s.state for s in view.segments] == [_S.ACCEPTED, _S.REJECTED, _S.REJECTED]
    assert (await any_store.balance("acme")).balance == 100 - 6 + 4
    assert await any_store.verify_ledger() == {}


async def test_retry_puts_message_back_in_queue_later(any_store: Store, clock: FakeClock) -> None:
    await make_account(any_store, clock)
    m = await _claimed(any_store, clock)
    changes = await any_store.record_outcomes(
        [
            OutcomeRecord(
                message_id=m.id,
                index=0,
                link="op-a",
                outcome=Retry(reason="ESME_RTHROTTLED"),
                retry_at=clock.now + 10,
            )
        ],
        now=clock.now,
    )
    assert [c.new for c in changes.changes] == [_M.QUEUED]
    view = await any_store.get_message(m.id)
    assert (view.message.attempts, view.message.next_attempt_at) == (1, clock.now + 10)
    assert view.message.lease_owner is None
    assert await any_store.claim_due("w", now=clock.now + 5, limit=5, lease_seconds=60) == []
    assert len(await any_store.claim_due("w", now=clock.now + 10, limit=5, lease_seconds=60)) == 1


@pytest.mark.parametrize("final", [_M.EXPIRED, _M.FAILED, _M.REJECTED])
async def test_finish_refunds_never_accepted_segments_once(
    any_store: Store, clock: FakeClock, final: MessageState
) -> None:
    await make_account(any_store, clock, credit=100)
    m = await _claimed(any_store, clock, segments=2, price=3)
    await any_store.record_outcomes([_accepted(m, 0, "s0")], now=clock.now)
    changes = await any_store.finish(m.id, final, reason="validity passed")
    assert [c.new for c in changes.changes] == [final]
    assert [e.amount for e in changes.refunds] == [3]
    assert (await any_store.balance("acme")).balance == 100 - 6 + 3
    with pytest.raises(IllegalTransition):
        await any_store.finish(m.id, _M.CANCELLED)
    assert (await any_store.balance("acme")).balance == 97


async def test_expiring_a_queued_message_refunds_it_all(any_store: Store, clock: FakeClock) -> None:
    await make_account(any_store, clock, credit=100)
    r = (await any_store.enqueue([new_message(segments=2, price=5)])).results[0]
    assert isinstance(r, Enqueued)
    changes = await any_store.finish(r.message.id, _M.EXPIRED)
    assert [e.amount for e in changes.refunds] == [10]
    segs = (await any_store.get_message(r.message.id)).segments
    assert [s.state for s in segs] == [_S.EXPIRED, _S.EXPIRED]


async def test_late_outcome_after_lease_expiry_records_segment_only(
    any_store: Store, clock: FakeClock
) -> None:
    await make_account(any_store, clock)
    m = await _claimed(any_store, clock)
    await any_store.claim_due("w2", now=clock.now + 61, limit=1, lease_seconds=60)  # taken back
    await any_store.finish(m.id, _M.FAILED)  # e.g. the second worker gave up
    changes = await any_store.record_outcomes([_accepted(m, 0, "s0")], now=clock.now)
    assert changes.changes == ()
    assert (await any_store.get_message(m.id)).message.state is _M.FAILED


async def test_payload_mode_receipt_delivers_every_segment_with_its_smsc_id(
    any_store: Store, clock: FakeClock
) -> None:
    await make_account(any_store, clock)
    m = await _claimed(any_store, clock, segments=3)
    await any_store.record_outcomes([_accepted(m, i, "one-pdu") for i in range(3)], now=clock.now)
    changes = await any_store.record_receipts([_receipt("one-pdu")], now=clock.now)
    assert [c.new for c in changes.changes] == [_M.DELIVERED]
    view = await any_store.get_message(m.id)
    assert [s.state for s in view.segments] == [_S.DELIVERED] * 3


async def test_payload_mode_receipt_before_the_response_reaches_every_segment(
    any_store: Store, clock: FakeClock
) -> None:
    await make_account(any_store, clock)
    m = await _claimed(any_store, clock, segments=3)
    early = await any_store.record_receipts([_receipt("one-pdu")], now=clock.now)
    assert early.unmatched_receipts == 1
    changes = await any_store.record_outcomes(
        [_accepted(m, i, "one-pdu") for i in range(3)], now=clock.now
    )
    assert [c.new for c in changes.changes] == [_M.DELIVERED]
    view = await any_store.get_message(m.id)
    assert [s.state for s in view.segments] == [_S.DELIVERED] * 3


async def test_payload_mode_segment_accepted_later_takes_its_siblings_receipt(
    any_store: Store, clock: FakeClock
) -> None:
    await make_account(any_store, clock)
    m = await _claimed(any_store, clock, segments=2)
    await any_store.record_receipts([_receipt("one-pdu")], now=clock.now)
    await any_store.record_outcomes([_accepted(m, 0, "one-pdu")], now=clock.now)
    changes = await any_store.record_outcomes([_accepted(m, 1, "one-pdu")], now=clock.now)
    assert [c.new for c in changes.changes] == [_M.DELIVERED]
    view = await any_store.get_message(m.id)
    assert [s.receipt_state for s in view.segments] == [ReceiptState.DELIVERED] * 2


async def test_submitted_message_without_receipt_ends_expired_without_refund(
    any_store: Store, clock: FakeClock
) -> None:
    await make_account(any_store, clock, credit=100)
    result = await any_store.enqueue([new_message(segments=2, price=3)])
    [done] = result.results
    assert isinstance(done, Enqueued)
    [msg] = await any_store.claim_due("w", now=clock(), limit=1, lease_seconds=60)
    await any_store.record_outcomes(
        [
            OutcomeRecord(message_id=msg.id, index=i, link="l1", outcome=Accepted(smsc_id=f"id{i}"))
            for i in range(2)
        ],
        now=clock(),
    )
    assert (await any_store.expire_unconfirmed(before=clock() - 10)).changes == ()
    clock.advance(100)
    changes = await any_store.expire_unconfirmed(before=clock() - 10)
    assert [(c.old, c.new) for c in changes.changes] == [
        (MessageState.SUBMITTED, MessageState.EXPIRED)
    ]
    assert changes.refunds == ()
    assert (await any_store.balance("acme")).balance == 94
    view = await any_store.get_message(msg.id)
    assert view.message.error == "no delivery receipt came"


async def test_a_receipt_with_its_acceptance_makes_one_change_to_delivered(
    any_store: Store, clock: FakeClock
) -> None:
    await make_account(any_store, clock)
    m = await _claimed(any_store, clock)
    changes = await any_store.record([_accepted(m, 0, "s0")], [_receipt("s0")], now=clock.now)
    assert [(c.old, c.new) for c in changes.changes] == [(_M.DISPATCHING, _M.DELIVERED)]
    assert changes.unmatched_receipts == 0
    [seg] = (await any_store.get_message(m.id)).segments
    assert (seg.state, seg.smsc_id, seg.receipt_state) == (
        _S.DELIVERED,
        "s0",
        ReceiptState.DELIVERED,
    )


async def test_one_batch_records_new_acceptances_and_receipts_of_earlier_ones(
    any_store: Store, clock: FakeClock
) -> None:
    await make_account(any_store, clock)
    earlier = await _claimed(any_store, clock)
    await any_store.record([_accepted(earlier, 0, "e0")], [], now=clock.now)
    fresh = await _claimed(any_store, clock)
    early = await any_store.record([], [_receipt("f0", ReceiptState.ENROUTE)], now=clock.now)
    assert early.unmatched_receipts == 1  # overtook its submit_sm_resp: kept
    changes = await any_store.record(
        [_accepted(fresh, 0, "f0")], [_receipt("e0"), _receipt("f0")], now=clock.now
    )
    assert sorted((c.message_id, c.new) for c in changes.changes) == sorted(
        [(earlier.id, _M.DELIVERED), (fresh.id, _M.DELIVERED)]
    )
    [seg] = (await any_store.get_message(fresh.id)).segments
    assert seg.receipt_state is ReceiptState.DELIVERED  # the early ENROUTE, then this one
    assert await _kept_receipts(any_store, clock) == 0  # the kept one was taken, not left


async def test_receipts_nothing_was_accepted_for_are_dropped_after_the_timeout(
    any_store: Store, clock: FakeClock
) -> None:
    await make_account(any_store, clock)
    early = await any_store.record([], [_receipt("never-sent")], now=clock.now)
    assert early.unmatched_receipts == 1
    kept = await any_store.expire_unconfirmed(before=clock.now - 10)
    assert kept.dropped == ()  # younger than the timeout: kept
    gone = await any_store.expire_unconfirmed(before=clock.now + 10)
    assert gone.dropped == (("op-a", "expired"),)  # said, not silent
    assert (await any_store.expire_unconfirmed(before=clock.now + 10)).dropped == ()


async def test_receipts_kept_unmatched_are_bounded_the_oldest_dropped_first(
    any_store: Store,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the bound is each backend's setting
    monkeypatch.setattr(sqlite_dispatch, "MAX_KEPT_RECEIPTS", 3)
    monkeypatch.setattr(postgres_dispatch, "MAX_KEPT_RECEIPTS", 3)
    await make_account(any_store, clock)
    m = await _claimed(any_store, clock)
    await any_store.record([], [_receipt("s0")], now=clock.now)  # overtook its answer
    flood = await any_store.record([], [_receipt(f"unknown-{i}") for i in range(4)], now=clock.now)
    assert flood.unmatched == (("op-a", "delivered"),) * 4
    assert flood.dropped == (("op-a", "overflow"),) * 2  # s0 and unknown-0
    late = await any_store.record_outcomes([_accepted(m, 0, "s0")], now=clock.now)
    assert late.matched_late == ()  # dropped: the message waits for its receipt
    assert (await any_store.get_message(m.id)).message.state is _M.SUBMITTED
    more = await any_store.record([], [_receipt("unknown-9")], now=clock.now)
    assert more.dropped == (("op-a", "overflow"),)
    assert await _kept_receipts(any_store, clock) == 3


async def _status_events(store: Store, message_id: str) -> list[str]:
    return [
        json.loads(e.payload)["state"]
        for e in await pending_events(store)
        if e.kind == "status" and json.loads(e.payload)["id"] == message_id
    ]


@pytest.mark.parametrize("receipt_first", [True, False])
async def test_a_receipt_and_its_answer_in_either_order_deliver_once(
    any_store: Store, clock: FakeClock, receipt_first: bool
) -> None:
    await make_account(any_store, clock)
    m = await _claimed(any_store, clock)
    answer, receipt = [_accepted(m, 0, "s0")], [_receipt("s0")]
    if receipt_first:
        await any_store.record_receipts(receipt, now=clock.now)
        await any_store.record_outcomes(answer, now=clock.now)
    else:
        await any_store.record_outcomes(answer, now=clock.now)
        await any_store.record_receipts(receipt, now=clock.now)
    assert (await any_store.get_message(m.id)).message.state is _M.DELIVERED
    # a kept receipt is applied with the acceptance: one change, straight to delivered
    expected = ["queued", "delivered"] if receipt_first else ["queued", "submitted", "delivered"]
    assert await _status_events(any_store, m.id) == expected
    assert await _kept_receipts(any_store, clock) == 0


async def test_receipts_recorded_while_their_answers_are_deliver_each_message_once(
    any_store: Store, clock: FakeClock
) -> None:
    # a receipt arriving on one daemon's bind while another records the answer it
    # answers: matched through the store, whichever commits first
    await make_account(any_store, clock)
    count = 40
    await any_store.enqueue([new_message(f"+336123{i:05d}") for i in range(count)])
    claimed = await any_store.claim_due("w", now=clock.now, limit=count, lease_seconds=60)
    await asyncio.gather(
        *(
            writer
            for i, m in enumerate(claimed)
            for writer in (
                any_store.record_outcomes([_accepted(m, 0, f"id-{i}")], now=clock.now),
                any_store.record_receipts([_receipt(f"id-{i}")], now=clock.now),
            )
        )
    )
    messages = await any_store.get_messages([m.id for m in claimed])
    assert [m.state for m in messages] == [_M.DELIVERED] * count
    for m in claimed:
        assert (await _status_events(any_store, m.id))[-1] == "delivered"
        assert (await _status_events(any_store, m.id)).count("delivered") == 1
    assert await _kept_receipts(any_store, clock) == 0


async def test_a_message_ended_by_two_writers_at_once_is_refunded_once(
    any_store: Store, clock: FakeClock
) -> None:
    await make_account(any_store, clock, credit=100)
    m = await _claimed(any_store, clock, segments=3, price=2)
    rejected = OutcomeRecord(
        message_id=m.id, index=0, link="op-a", outcome=Rejected(reason="ESME_RINVDSTADR")
    )
    results = await asyncio.gather(
        any_store.record_outcomes([rejected], now=clock.now),
        any_store.finish(m.id, _M.FAILED, reason="gave up"),
        any_store.finish(m.id, _M.EXPIRED, reason="validity passed"),
        return_exceptions=True,
    )
    assert all(
        not isinstance(r, BaseException) or isinstance(r, IllegalTransition) for r in results
    )
    refunds = [e for e in await any_store.history("acme") if e.kind is EntryKind.REFUND]
    assert [(e.amount, e.message_id) for e in refunds] == [(6, m.id)]
    assert (await any_store.balance("acme")).balance == 100
    assert await any_store.verify_ledger() == {}


async def test_concurrent_cancels_cancel_and_refund_once(
    any_store: Store, clock: FakeClock
) -> None:
    await make_account(any_store, clock, credit=100)
    [r] = (await any_store.enqueue([new_message(segments=2, price=5)])).results
    assert isinstance(r, Enqueued)
    results = await asyncio.gather(
        *(any_store.cancel(r.message.id) for _ in range(4)), return_exceptions=True
    )
    done = [c for c in results if not isinstance(c, BaseException)]
    assert len(done) == 1
    assert all(isinstance(c, NotCancellable) for c in results if isinstance(c, BaseException))
    assert [e.amount for e in done[0].refunds] == [10]
    assert (await any_store.balance("acme")).balance == 100


async def test_finishing_an_unknown_message_is_not_found(any_store: Store) -> None:
    with pytest.raises(NotFound):
        await any_store.finish("NOSUCHMESSAGE", _M.FAILED)

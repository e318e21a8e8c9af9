"""Segment outcomes, receipts (in any order), final states and their refunds."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import pytest

from gateway.link.interface import Receipt
from gateway.model.message import IllegalTransition, MessageState, SegmentState
from gateway.model.outcomes import Accepted, ReceiptState, Rejected, Retry
from gateway.model.records import Enqueued, Message, OutcomeRecord
from gateway.store.outcomes import aggregate
from gateway.store.sqlite import dispatch as sqlite_dispatch
from gateway.store.sqlite.store import SqliteStore
from tests.clock import FakeClock
from tests.gateway.store.support import make_account, new_message

_S = SegmentState
_M = MessageState


async def _claimed(
    store: SqliteStore, clock: FakeClock, *, segments: int = 1, price: int = 1
) -> Message:
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


def _pending_receipts(path: str) -> int:
    """How many receipts the store keeps waiting for their acceptance."""
    with closing(sqlite3.connect(path)) as conn:
        (count,) = conn.execute("SELECT count(*) FROM pending_receipts").fetchone()
    return int(count)


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        ([_S.PENDING, _S.ACCEPTED], None),
        ([_S.ACCEPTED, _S.DELIVERED], _M.SUBMITTED),
        ([_S.DELIVERED, _S.DELIVERED], _M.DELIVERED),
        ([_S.DELIVERED, _S.EXPIRED], _M.EXPIRED),
        ([_S.EXPIRED, _S.UNDELIVERABLE], _M.UNDELIVERABLE),
        ([_S.REJECTED, _S.EXPIRED], _M.REJECTED),
        ([_S.FAILED, _S.DELIVERED], _M.FAILED),
    ],
)
def test_aggregate_rule(states: list[SegmentState], expected: MessageState | None) -> None:
    assert aggregate(states) is expected


async def test_all_segments_accepted_makes_the_message_submitted(
    store: SqliteStore, clock: FakeClock
) -> None:
    await make_account(store)
    m = await _claimed(store, clock, segments=2)
    first = await store.record_outcomes([_accepted(m, 0, "s0")], now=clock.now)
    assert first.changes == ()  # one segment still to go
    second = await store.record_outcomes([_accepted(m, 1, "s1")], now=clock.now)
    assert [(c.old, c.new) for c in second.changes] == [(_M.DISPATCHING, _M.SUBMITTED)]
    view = await store.get_message(m.id)
    assert [(s.state, s.smsc_id, s.link) for s in view.segments] == [
        (_S.ACCEPTED, "s0", "op-a"),
        (_S.ACCEPTED, "s1", "op-a"),
    ]
    assert view.message.lease_owner == "w"


async def test_receipts_for_every_segment_deliver_the_message(
    store: SqliteStore, clock: FakeClock
) -> None:
    await make_account(store)
    m = await _claimed(store, clock, segments=2)
    await store.record_outcomes([_accepted(m, 0, "s0"), _accepted(m, 1, "s1")], now=clock.now)
    one = await store.record_receipts([_receipt("s0")], now=clock.now)
    assert one.changes == ()
    two = await store.record_receipts([_receipt("s1")], now=clock.now)
    assert [c.new for c in two.changes] == [_M.DELIVERED]
    view = await store.get_message(m.id)
    assert view.message.state is _M.DELIVERED
    assert view.message.lease_owner is None
    assert view.segments[0].receipt_state is ReceiptState.DELIVERED


async def test_receipt_before_its_submit_response_is_kept_and_applied(
    store: SqliteStore, clock: FakeClock
) -> None:
    await make_account(store)
    m = await _claimed(store, clock)
    early = await store.record_receipts([_receipt("s0")], now=clock.now)
    assert early.unmatched == (("op-a", "delivered"),)  # not a delivery (yet)
    changes = await store.record_outcomes([_accepted(m, 0, "s0")], now=clock.now)
    assert [c.new for c in changes.changes] == [_M.DELIVERED]
    assert changes.matched_late == (("op-a", "delivered"),)
    assert (await store.get_message(m.id)).segments[0].state is _S.DELIVERED


async def test_early_receipts_of_a_batch_apply_in_order_and_leave_others_pending(
    store: SqliteStore, clock: FakeClock
) -> None:
    await make_account(store)
    m = await _claimed(store, clock, segments=2)
    await store.record_receipts(
        [_receipt("s0", ReceiptState.ENROUTE), _receipt("s1"), _receipt("s0"), _receipt("other")],
        now=clock.now,
    )
    changes = await store.record_outcomes(
        [_accepted(m, 0, "s0"), _accepted(m, 1, "s1")], now=clock.now
    )
    assert [c.new for c in changes.changes] == [_M.DELIVERED]
    view = await store.get_message(m.id)
    assert [(s.state, s.receipt_state) for s in view.segments] == [
        (_S.DELIVERED, ReceiptState.DELIVERED),
        (_S.DELIVERED, ReceiptState.DELIVERED),
    ]
    # the receipt nobody claimed yet stays; the taken ones are gone
    late = await _claimed(store, clock)
    again = await store.record_outcomes([_accepted(late, 0, "other")], now=clock.now)
    assert [c.new for c in again.changes] == [_M.DELIVERED]
    m2 = await _claimed(store, clock)
    none = await store.record_outcomes([_accepted(m2, 0, "s1")], now=clock.now)
    assert [c.new for c in none.changes] == [_M.SUBMITTED]


async def test_enroute_receipt_is_recorded_without_state_change(
    store: SqliteStore, clock: FakeClock
) -> None:
    await make_account(store)
    m = await _claimed(store, clock)
    await store.record_outcomes([_accepted(m, 0, "s0")], now=clock.now)
    changes = await store.record_receipts([_receipt("s0", ReceiptState.ENROUTE)], now=clock.now)
    assert changes.changes == ()
    seg = (await store.get_message(m.id)).segments[0]
    assert (seg.state, seg.receipt_state) == (_S.ACCEPTED, ReceiptState.ENROUTE)


async def test_duplicate_receipt_changes_nothing(store: SqliteStore, clock: FakeClock) -> None:
    await make_account(store)
    m = await _claimed(store, clock)
    await store.record_outcomes([_accepted(m, 0, "s0")], now=clock.now)
    await store.record_receipts([_receipt("s0")], now=clock.now)
    again = await store.record_receipts([_receipt("s0", ReceiptState.EXPIRED)], now=clock.now)
    assert again.changes == ()
    assert (await store.get_message(m.id)).message.state is _M.DELIVERED


async def test_rejected_segment_rejects_message_and_refunds_unaccepted_segments(
    store: SqliteStore, clock: FakeClock
) -> None:
    await make_account(store, credit=100)
    m = await _claimed(store, clock, segments=3, price=2)
    changes = await store.record_outcomes(
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
    view = await store.get_message(m.id)
    assert view.message.error == "ESME_RINVDSTADR"
    assert [s.state for s in view.segments] == [_S.ACCEPTED, _S.REJECTED, _S.REJECTED]
    assert (await store.balance("acme")).balance == 100 - 6 + 4
    assert await store.verify_ledger() == {}


async def test_retry_puts_message_back_in_queue_later(store: SqliteStore, clock: FakeClock) -> None:
    await make_account(store)
    m = await _claimed(store, clock)
    changes = await store.record_outcomes(
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
    view = await store.get_message(m.id)
    assert (view.message.attempts, view.message.next_attempt_at) == (1, clock.now + 10)
    assert view.message.lease_owner is None
    assert await store.claim_due("w", now=clock.now + 5, limit=5, lease_seconds=60) == []
    assert len(await store.claim_due("w", now=clock.now + 10, limit=5, lease_seconds=60)) == 1


@pytest.mark.parametrize("final", [_M.EXPIRED, _M.FAILED, _M.REJECTED])
async def test_finish_refunds_never_accepted_segments_once(
    store: SqliteStore, clock: FakeClock, final: MessageState
) -> None:
    await make_account(store, credit=100)
    m = await _claimed(store, clock, segments=2, price=3)
    await store.record_outcomes([_accepted(m, 0, "s0")], now=clock.now)
    changes = await store.finish(m.id, final, reason="validity passed")
    assert [c.new for c in changes.changes] == [final]
    assert [e.amount for e in changes.refunds] == [3]
    assert (await store.balance("acme")).balance == 100 - 6 + 3
    with pytest.raises(IllegalTransition):
        await store.finish(m.id, _M.CANCELLED)
    assert (await store.balance("acme")).balance == 97


async def test_expiring_a_queued_message_refunds_it_all(
    store: SqliteStore, clock: FakeClock
) -> None:
    await make_account(store, credit=100)
    r = (await store.enqueue([new_message(segments=2, price=5)])).results[0]
    assert isinstance(r, Enqueued)
    changes = await store.finish(r.message.id, _M.EXPIRED)
    assert [e.amount for e in changes.refunds] == [10]
    segs = (await store.get_message(r.message.id)).segments
    assert [s.state for s in segs] == [_S.EXPIRED, _S.EXPIRED]


async def test_late_outcome_after_lease_expiry_records_segment_only(
    store: SqliteStore, clock: FakeClock
) -> None:
    await make_account(store)
    m = await _claimed(store, clock)
    await store.claim_due("w2", now=clock.now + 61, limit=1, lease_seconds=60)  # taken back
    await store.finish(m.id, _M.FAILED)  # e.g. the second worker gave up
    changes = await store.record_outcomes([_accepted(m, 0, "s0")], now=clock.now)
    assert changes.changes == ()
    assert (await store.get_message(m.id)).message.state is _M.FAILED


async def test_payload_mode_receipt_delivers_every_segment_with_its_smsc_id(
    store: SqliteStore, clock: FakeClock
) -> None:
    await make_account(store)
    m = await _claimed(store, clock, segments=3)
    await store.record_outcomes([_accepted(m, i, "one-pdu") for i in range(3)], now=clock.now)
    changes = await store.record_receipts([_receipt("one-pdu")], now=clock.now)
    assert [c.new for c in changes.changes] == [_M.DELIVERED]
    view = await store.get_message(m.id)
    assert [s.state for s in view.segments] == [_S.DELIVERED] * 3


async def test_payload_mode_receipt_before_the_response_reaches_every_segment(
    store: SqliteStore, clock: FakeClock
) -> None:
    await make_account(store)
    m = await _claimed(store, clock, segments=3)
    early = await store.record_receipts([_receipt("one-pdu")], now=clock.now)
    assert early.unmatched_receipts == 1
    changes = await store.record_outcomes(
        [_accepted(m, i, "one-pdu") for i in range(3)], now=clock.now
    )
    assert [c.new for c in changes.changes] == [_M.DELIVERED]
    view = await store.get_message(m.id)
    assert [s.state for s in view.segments] == [_S.DELIVERED] * 3


async def test_payload_mode_segment_accepted_later_takes_its_siblings_receipt(
    store: SqliteStore, clock: FakeClock
) -> None:
    await make_account(store)
    m = await _claimed(store, clock, segments=2)
    await store.record_receipts([_receipt("one-pdu")], now=clock.now)
    await store.record_outcomes([_accepted(m, 0, "one-pdu")], now=clock.now)
    changes = await store.record_outcomes([_accepted(m, 1, "one-pdu")], now=clock.now)
    assert [c.new for c in changes.changes] == [_M.DELIVERED]
    view = await store.get_message(m.id)
    assert [s.receipt_state for s in view.segments] == [ReceiptState.DELIVERED] * 2


async def test_submitted_message_without_receipt_ends_expired_without_refund(
    store: SqliteStore, clock: FakeClock
) -> None:
    await make_account(store, credit=100)
    result = await store.enqueue([new_message(segments=2, price=3)])
    [done] = result.results
    assert isinstance(done, Enqueued)
    [msg] = await store.claim_due("w", now=clock(), limit=1, lease_seconds=60)
    await store.record_outcomes(
        [
            OutcomeRecord(message_id=msg.id, index=i, link="l1", outcome=Accepted(smsc_id=f"id{i}"))
            for i in range(2)
        ],
        now=clock(),
    )
    assert (await store.expire_unconfirmed(before=clock() - 10)).changes == ()
    clock.advance(100)
    changes = await store.expire_unconfirmed(before=clock() - 10)
    assert [(c.old, c.new) for c in changes.changes] == [
        (MessageState.SUBMITTED, MessageState.EXPIRED)
    ]
    assert changes.refunds == ()
    assert (await store.balance("acme")).balance == 94
    view = await store.get_message(msg.id)
    assert view.message.error == "no delivery receipt came"


async def test_a_receipt_with_its_acceptance_makes_one_change_to_delivered(
    store: SqliteStore, clock: FakeClock
) -> None:
    await make_account(store)
    m = await _claimed(store, clock)
    changes = await store.record([_accepted(m, 0, "s0")], [_receipt("s0")], now=clock.now)
    assert [(c.old, c.new) for c in changes.changes] == [(_M.DISPATCHING, _M.DELIVERED)]
    assert changes.unmatched_receipts == 0
    [seg] = (await store.get_message(m.id)).segments
    assert (seg.state, seg.smsc_id, seg.receipt_state) == (
        _S.DELIVERED,
        "s0",
        ReceiptState.DELIVERED,
    )


async def test_one_batch_records_new_acceptances_and_receipts_of_earlier_ones(
    store: SqliteStore, clock: FakeClock
) -> None:
    await make_account(store)
    earlier = await _claimed(store, clock)
    await store.record([_accepted(earlier, 0, "e0")], [], now=clock.now)
    fresh = await _claimed(store, clock)
    early = await store.record([], [_receipt("f0", ReceiptState.ENROUTE)], now=clock.now)
    assert early.unmatched_receipts == 1  # overtook its submit_sm_resp: kept
    changes = await store.record(
        [_accepted(fresh, 0, "f0")], [_receipt("e0"), _receipt("f0")], now=clock.now
    )
    assert sorted((c.message_id, c.new) for c in changes.changes) == sorted(
        [(earlier.id, _M.DELIVERED), (fresh.id, _M.DELIVERED)]
    )
    [seg] = (await store.get_message(fresh.id)).segments
    assert seg.receipt_state is ReceiptState.DELIVERED  # the early ENROUTE, then this one
    assert _pending_receipts(store.path) == 0  # the kept one was taken, not left behind


async def test_receipts_nothing_was_accepted_for_are_dropped_after_the_timeout(
    store: SqliteStore, clock: FakeClock
) -> None:
    await make_account(store)
    early = await store.record([], [_receipt("never-sent")], now=clock.now)
    assert early.unmatched_receipts == 1
    kept = await store.expire_unconfirmed(before=clock.now - 10)
    assert kept.dropped == ()
    assert _pending_receipts(store.path) == 1  # younger than the timeout: kept
    gone = await store.expire_unconfirmed(before=clock.now + 10)
    assert gone.dropped == (("op-a", "expired"),)  # said, not silent
    assert _pending_receipts(store.path) == 0


async def test_receipts_kept_unmatched_are_bounded_the_oldest_dropped_first(
    store: SqliteStore,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sqlite_dispatch, "MAX_KEPT_RECEIPTS", 3)
    await make_account(store)
    m = await _claimed(store, clock)
    await store.record([], [_receipt("s0")], now=clock.now)  # overtook its answer
    flood = await store.record([], [_receipt(f"unknown-{i}") for i in range(4)], now=clock.now)
    assert flood.unmatched == (("op-a", "delivered"),) * 4
    assert flood.dropped == (("op-a", "overflow"),) * 2  # s0 and unknown-0
    assert _pending_receipts(store.path) == 3
    late = await store.record_outcomes([_accepted(m, 0, "s0")], now=clock.now)
    assert late.matched_late == ()  # dropped: the message waits for its receipt
    assert (await store.get_message(m.id)).message.state is _M.SUBMITTED
    more = await store.record([], [_receipt("unknown-9")], now=clock.now)
    assert more.dropped == (("op-a", "overflow"),)
    assert _pending_receipts(store.path) == 3

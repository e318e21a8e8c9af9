"""Claims with leases, leases taken back, waking retries, cancelling, on every backend."""

from __future__ import annotations

import asyncio

import pytest

from gateway.model.errors import NotCancellable, NotFound, UserError
from gateway.model.message import MessageState
from gateway.model.outcomes import Accepted, Retry
from gateway.model.records import Enqueued, Message, OutcomeRecord
from gateway.store.base import Store
from tests.clock import FakeClock
from tests.gateway.store.contract.accounts import make_account
from tests.gateway.store.support import new_message


async def _enqueued(
    store: Store,
    *,
    priority: int = 0,
    send_at: float | None = None,
    segments: int = 1,
    price: int = 1,
) -> Message:
    nm = new_message(priority=priority, send_at=send_at, segments=segments, price=price)
    [r] = (await store.enqueue([nm])).results
    assert isinstance(r, Enqueued)
    return r.message


async def test_claim_takes_due_messages_by_priority_then_age(
    any_store: Store, clock: FakeClock
) -> None:
    await make_account(any_store, clock)
    ids = []
    for prio, at in [(0, None), (3, None), (0, None), (2, clock.now + 3600)]:
        ids.append((await _enqueued(any_store, priority=prio, send_at=at)).id)
        clock.advance(0.01)
    claimed = await any_store.claim_due("w1", now=clock.now, limit=10, lease_seconds=7200)
    assert [m.id for m in claimed] == [ids[1], ids[0], ids[2]]  # the deferred one waits
    assert all(m.state is MessageState.DISPATCHING and m.lease_owner == "w1" for m in claimed)
    assert all(m.lease_until == clock.now + 7200 for m in claimed)
    assert await any_store.claim_due("w2", now=clock.now, limit=10, lease_seconds=30) == []
    later = await any_store.claim_due("w2", now=clock.now + 3600, limit=10, lease_seconds=30)
    assert [m.id for m in later] == [ids[3]]
    assert sorted(await any_store.leased_to("w1")) == sorted(ids[:3])


async def test_claim_respects_limit(any_store: Store, clock: FakeClock) -> None:
    await make_account(any_store, clock)
    await any_store.enqueue([new_message(f"+3361234560{i}") for i in range(5)])
    assert len(await any_store.claim_due("w", now=clock.now, limit=2, lease_seconds=30)) == 2
    assert len(await any_store.claim_due("w", now=clock.now, limit=10, lease_seconds=30)) == 3


async def test_expired_lease_gives_the_message_back(any_store: Store, clock: FakeClock) -> None:
    await make_account(any_store, clock)
    await any_store.enqueue([new_message()])
    [m] = await any_store.claim_due("crashed", now=clock.now, limit=10, lease_seconds=30)
    assert await any_store.claim_due("w2", now=clock.now + 29, limit=10, lease_seconds=30) == []
    [again] = await any_store.claim_due("w2", now=clock.now + 31, limit=10, lease_seconds=30)
    assert (again.id, again.lease_owner) == (m.id, "w2")
    assert (m.attempts, again.attempts) == (0, 1)  # the lost lease counts as an attempt
    assert await any_store.leased_to("crashed") == []


async def test_claim_skips_far_future_messages_enqueued_first(
    any_store: Store, clock: FakeClock
) -> None:
    await make_account(any_store, clock, credit=5000)
    later = [new_message(f"+336100{i:05d}", send_at=clock.now + 86400) for i in range(3000)]
    await any_store.enqueue(later)
    clock.advance(1)
    due = []
    for prio in (0, 2, 0, 1):
        due.append(await _enqueued(any_store, priority=prio))
        clock.advance(0.01)
    claimed = await any_store.claim_due("w", now=clock.now, limit=3, lease_seconds=10**6)
    assert [m.id for m in claimed] == [due[1].id, due[3].id, due[0].id]
    claimed = await any_store.claim_due("w", now=clock.now, limit=3, lease_seconds=10**6)
    assert [m.id for m in claimed] == [due[2].id]
    tomorrow = await any_store.claim_due("w", now=clock.now + 86400, limit=5000, lease_seconds=60)
    assert len(tomorrow) == 3000


async def test_concurrent_claimers_never_get_the_same_message(
    any_store: Store, clock: FakeClock
) -> None:
    await make_account(any_store, clock)
    stored = await any_store.enqueue([new_message(f"+336123{i:05d}") for i in range(300)])
    everything = {r.message.id for r in stored.results if isinstance(r, Enqueued)}

    async def claimer(name: str) -> list[str]:
        got: list[str] = []
        while batch := await any_store.claim_due(name, now=clock.now, limit=7, lease_seconds=60):
            got.extend(m.id for m in batch)
        return got

    claims = await asyncio.gather(*(claimer(f"w{i}") for i in range(6)))
    taken = [mid for got in claims for mid in got]
    assert len(taken) == len(set(taken)) == 300
    assert set(taken) == everything
    for i, got in enumerate(claims):
        assert sorted(await any_store.leased_to(f"w{i}")) == sorted(got)


async def test_restarted_worker_takes_back_its_own_leases_only(
    any_store: Store, clock: FakeClock
) -> None:
    await make_account(any_store, clock)
    await any_store.enqueue([new_message(f"+3361234567{i}") for i in range(4)])
    mine = await any_store.claim_due("gw1", now=clock(), limit=2, lease_seconds=300)
    theirs = await any_store.claim_due("gw2", now=clock(), limit=2, lease_seconds=300)
    assert (len(mine), len(theirs)) == (2, 2)
    assert await any_store.release_leases("gw1") == 2
    again = await any_store.claim_due("gw1", now=clock(), limit=10, lease_seconds=300)
    assert sorted(m.id for m in again) == sorted(m.id for m in mine)
    assert all(m.attempts == 1 for m in again)  # the segments may have left: look first
    assert await any_store.release_leases("gw3") == 0
    assert sorted(await any_store.leased_to("gw2")) == sorted(m.id for m in theirs)


async def test_queue_depths_count_the_states_not_final(any_store: Store, clock: FakeClock) -> None:
    await make_account(any_store, clock)
    assert await any_store.queue_depths() == {
        MessageState.QUEUED: 0,
        MessageState.DISPATCHING: 0,
        MessageState.SUBMITTED: 0,
    }
    await any_store.enqueue([new_message(destination=f"+3361234567{i}") for i in range(4)])
    claimed = await any_store.claim_due("w", now=clock.now, limit=2, lease_seconds=60)
    await any_store.record_outcomes(
        [
            OutcomeRecord(
                message_id=claimed[0].id, index=0, link="op-a", outcome=Accepted(smsc_id="x1")
            )
        ],
        now=clock.now,
    )
    depths = await any_store.queue_depths()
    assert depths == {
        MessageState.QUEUED: 2,
        MessageState.DISPATCHING: 1,
        MessageState.SUBMITTED: 1,
    }
    assert await any_store.count_by_state() == depths
    await any_store.ping()


async def test_waiting_for_a_link_becomes_due_at_once_by_priority(
    any_store: Store, clock: FakeClock
) -> None:
    await make_account(any_store, clock)
    at = clock.now
    numbers = [f"+3361234567{i}" for i in range(5)]
    later = at + 600  # scheduled: stays later whatever the retry said
    results = (
        await any_store.enqueue(
            [
                new_message(n, priority=p, send_at=s)
                for n, p, s in [
                    (numbers[0], 0, None),
                    (numbers[1], 3, None),
                    (numbers[2], 1, None),
                    (numbers[3], 2, None),
                    (numbers[4], 3, later),
                ]
            ]
        )
    ).results
    ids = [r.message.id for r in results if isinstance(r, Enqueued)]
    claimed = await any_store.claim_due("w", now=later, limit=10, lease_seconds=60)
    assert len(claimed) == 5
    retries = {
        ids[0]: ("link_down", 20.0),
        ids[1]: ("no_link_bound", 25.0),
        ids[2]: ("ESME_RSYSERR", 5.0),
        ids[3]: ("timeout", 400.0),
        ids[4]: ("link_down", 10.0),
    }
    await any_store.record_outcomes(
        [
            OutcomeRecord(
                message_id=i,
                index=0,
                link="op-a",
                outcome=Retry(reason=reason),
                retry_at=at + delay,
            )
            for i, (reason, delay) in retries.items()
        ],
        now=at,
    )
    assert await any_store.wake_waiting(reasons=(), now=at, within=300) == 0
    woken = await any_store.wake_waiting(
        reasons=("link_down", "no_link_bound", "timeout"), now=at, within=300
    )
    # ESME_RSYSERR waits its own back-off; the timeout one is past the horizon
    assert woken == 3
    due = await any_store.claim_due("w", now=at, limit=10, lease_seconds=60)
    assert [m.id for m in due] == [ids[1], ids[0]]  # priority 3 first
    scheduled = (await any_store.get_message(ids[4])).message
    assert scheduled.next_attempt_at == later


async def test_cancel_queued_message_refunds_it(any_store: Store, clock: FakeClock) -> None:
    await make_account(any_store, clock, credit=100)
    m = await _enqueued(any_store, segments=2, price=5)
    changes = await any_store.cancel(m.id)
    assert [(c.message_id, c.old, c.new) for c in changes.changes] == [
        (m.id, MessageState.QUEUED, MessageState.CANCELLED)
    ]
    assert [(e.amount, e.message_id, e.balance_after) for e in changes.refunds] == [(10, m.id, 100)]
    assert (await any_store.balance("acme")).balance == 100
    view = await any_store.get_message(m.id)
    assert (view.message.state, view.message.error) == (MessageState.CANCELLED, "cancelled")
    assert await any_store.verify_ledger() == {}


async def test_cancel_only_while_queued(any_store: Store, clock: FakeClock) -> None:
    await make_account(any_store, clock)
    await any_store.enqueue([new_message()])
    [m] = await any_store.claim_due("w", now=clock.now, limit=1, lease_seconds=30)
    with pytest.raises(UserError, match="only a queued message can be cancelled") as caught:
        await any_store.cancel(m.id)
    assert isinstance(caught.value, NotCancellable)
    assert (caught.value.message_id, caught.value.state) == (m.id, "dispatching")
    with pytest.raises(NotFound):
        await any_store.cancel("NOSUCHMESSAGE")


async def test_balance_equals_journal_sum_after_everything(
    any_store: Store, clock: FakeClock
) -> None:
    await make_account(any_store, clock, credit=500)
    await any_store.enqueue([new_message(f"+336123456{i:02d}", segments=2) for i in range(30)])
    await any_store.claim_due("w", now=clock.now, limit=10, lease_seconds=30)
    queued = await any_store.list_messages(state=MessageState.QUEUED)
    await asyncio.gather(*(any_store.cancel(m.id) for m in queued[:5]))
    assert await any_store.verify_ledger() == {}
    total = sum(e.amount for e in await any_store.history("acme"))
    assert total == (await any_store.balance("acme")).balance == 500 - 60 + 10

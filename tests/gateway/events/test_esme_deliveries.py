"""The delivery pump: receipts and replies handed to bound ESME targets at least once,
given back on a lost bind, retried after a refusal, expired, resumed after a restart."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
import structlog
from prometheus_client import CollectorRegistry

from gateway.events.esme_deliveries import DeliveryPump, DeliveryStore, PumpSettings, refused_delay
from gateway.link.interface import Receipt
from gateway.model.esme import DeliveryKind, DeliveryRefused, EsmeDelivery
from gateway.model.outcomes import Accepted, ReceiptState
from gateway.model.records import EsmeDeliveryCount, InboundMessage, OutcomeRecord
from gateway.ops.metrics import Metrics
from gateway.store.postgres.store import PostgresStore
from gateway.store.sqlite.store import SqliteStore
from tests.clock import FakeClock
from tests.esme_target import Target
from tests.gateway.store.contract.accounts import make_account
from tests.gateway.store.esme_support import add_credential, claimed, from_esme
from tests.gateway.store.support import open_sqlite
from tests.waiting import eventually

FAST = PumpSettings(poll=0.05, lease=600, retry_min=5, retry_max=40, sweep=0.05, ttl=3600)


class Looks:
    """The store, counting the pump's looks that found nothing."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        self.empty = 0

    async def take_deliveries(
        self, system_id: str, *, owner: str, limit: int, now: float, lease: float
    ) -> list[EsmeDelivery]:
        got = await self.store.take_deliveries(
            system_id, owner=owner, limit=limit, now=now, lease=lease
        )
        self.empty += not got
        return got

    async def deliveries_done(self, ids: Sequence[int]) -> None:
        await self.store.deliveries_done(ids)

    async def delivery_retry(self, id: int, *, at: float) -> None:  # noqa: A002
        await self.store.delivery_retry(id, at=at)

    async def release_deliveries(self, owner: str, ids: Sequence[int] = ()) -> int:
        return await self.store.release_deliveries(owner, ids)

    async def expire_deliveries(
        self, *, before: float, delivered_before: float | None = None
    ) -> list[EsmeDeliveryCount]:
        return await self.store.expire_deliveries(before=before, delivered_before=delivered_before)

    async def pending_deliveries(self) -> list[EsmeDeliveryCount]:
        return await self.store.pending_deliveries()


@pytest.fixture
async def store(tmp_path: Path, clock: FakeClock) -> AsyncIterator[SqliteStore]:
    s = await open_sqlite(tmp_path / "gw.db", clock=clock)
    await make_account(s, clock)
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


def pump_on(
    store: DeliveryStore,
    clock: FakeClock,
    registry: CollectorRegistry,
    *,
    settings: PumpSettings = FAST,
    owner: str = "gw1",
) -> DeliveryPump:
    return DeliveryPump(
        store=store,
        owner=owner,
        settings=settings,
        metrics=Metrics(registry=registry),
        logger=structlog.get_logger(),
        clock=clock,
    )


@contextlib.asynccontextmanager
async def running(pump: DeliveryPump) -> AsyncIterator[DeliveryPump]:
    task = asyncio.create_task(pump.run())
    try:
        yield pump
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def delivered_receipts(store: SqliteStore, clock: FakeClock, count: int) -> list[str]:
    """``count`` messages from esme1 delivered: their receipts stored; their ids."""
    ms = await claimed(store, clock.now, *(from_esme(f"+336123{i:05d}") for i in range(count)))
    await store.record(
        [
            OutcomeRecord(message_id=m.id, index=0, link="op", outcome=Accepted(smsc_id=m.id))
            for m in ms
        ],
        [Receipt(link="op", smsc_id=m.id, state=ReceiptState.DELIVERED) for m in ms],
        now=clock.now,
    )
    return [m.id for m in ms]


def sample(registry: CollectorRegistry, name: str, kind: str = "receipt") -> float | None:
    return registry.get_sample_value(name, {"system_id": "esme1", "kind": kind})


async def test_what_waited_for_a_bind_is_delivered_once_one_binds(
    store: SqliteStore, clock: FakeClock, registry: CollectorRegistry
) -> None:
    ids = await delivered_receipts(store, clock, 12)  # more than one window
    target = Target()
    async with running(pump_on(store, clock, registry)) as pump:
        pump.attach(target)
        await eventually(lambda: len(target.delivered) == 12, what="12 receipts delivered")
        await eventually(lambda: sample(registry, "smsgw_esme_deliveries_pending") == 0)
    assert sorted(d.message_id or "" for d in target.delivered) == sorted(ids)
    assert sample(registry, "smsgw_esme_deliveries_total") == 12
    assert await store.pending_deliveries() == []


async def test_a_delivery_stored_while_bound_goes_out_when_the_pump_is_woken(
    store: SqliteStore, clock: FakeClock, registry: CollectorRegistry
) -> None:
    slow_poll = PumpSettings(poll=60, sweep=60)
    target = Target()
    looks = Looks(store)
    async with running(pump_on(looks, clock, registry, settings=slow_poll)) as pump:
        pump.attach(target)
        await eventually(lambda: looks.empty == 1, what="its first look, finding nothing")
        [mid] = await delivered_receipts(store, clock, 1)
        pump.wake("esme1")
        await eventually(lambda: len(target.delivered) == 1, timeout=5, what="the receipt")
    assert target.delivered[0].message_id == mid


@pytest.mark.parametrize("failure", [ConnectionError("bind closed"), RuntimeError("a bug")])
async def test_a_lost_bind_gives_its_delivery_back_for_another_bind(
    store: SqliteStore, clock: FakeClock, registry: CollectorRegistry, failure: Exception
) -> None:
    [mid] = await delivered_receipts(store, clock, 1)
    gone = Target(answers=[failure])
    other = Target()
    async with running(pump_on(store, clock, registry)) as pump:
        pump.attach(gone)
        await eventually(lambda: len(gone.tried) == 1, what="the first attempt")
        pump.detach(gone)
        pump.attach(other)  # its lease (600 s) was given back: no wait for it
        await eventually(lambda: len(other.delivered) == 1, timeout=5, what="the second bind")
    assert other.delivered[0].message_id == mid
    assert other.delivered[0].attempts == 0  # a lost bind is no refusal


async def test_a_detached_bind_gives_back_what_it_had_in_flight(
    store: SqliteStore, clock: FakeClock, registry: CollectorRegistry
) -> None:
    await delivered_receipts(store, clock, 3)
    stuck = Target()
    stuck.hold.clear()  # never answers
    other = Target()
    async with running(pump_on(store, clock, registry)) as pump:
        pump.attach(stuck)
        await eventually(lambda: len(stuck.tried) == 3, what="three in flight")
        pump.detach(stuck)
        pump.attach(other)
        await eventually(lambda: len(other.delivered) == 3, timeout=5, what="the other bind")


class SlowDone(Looks):
    """The store, holding each deliveries_done until ``go`` is set."""

    def __init__(self, store: SqliteStore) -> None:
        super().__init__(store)
        self.recording = asyncio.Event()
        self.go = asyncio.Event()
        self.released: list[int] = []
        self.recorded: list[list[int]] = []  # the ids of each call

    async def deliveries_done(self, ids: Sequence[int]) -> None:
        self.recording.set()
        self.recorded.append(list(ids))
        await self.go.wait()
        await self.store.deliveries_done(ids)

    async def release_deliveries(self, owner: str, ids: Sequence[int] = ()) -> int:
        self.released.extend(ids)
        return await self.store.release_deliveries(owner, ids)


async def test_an_answered_delivery_stays_done_when_the_bind_ends_while_it_is_recorded(
    store: SqliteStore, clock: FakeClock, registry: CollectorRegistry
) -> None:
    [mid] = await delivered_receipts(store, clock, 1)
    slow = SlowDone(store)
    target = Target()
    async with running(pump_on(slow, clock, registry)) as pump:
        pump.attach(target)
        await slow.recording.wait()  # the ESME answered; its record is on the way
        pump.detach(target)  # and it unbinds at once
        slow.go.set()
        await eventually(lambda: sample(registry, "smsgw_esme_deliveries_total") == 1)
    assert [d.message_id for d in target.delivered] == [mid]
    assert slow.released == []  # not handed back for a second send
    assert await store.pending_deliveries() == []


async def test_answers_that_come_together_are_recorded_together(
    store: SqliteStore, clock: FakeClock, registry: CollectorRegistry
) -> None:
    await delivered_receipts(store, clock, 5)
    slow = SlowDone(store)
    slow.go.set()
    target = Target()
    target.hold.clear()
    async with running(pump_on(slow, clock, registry)) as pump:
        pump.attach(target)
        await eventually(lambda: len(target.tried) == 5, what="five in flight")
        target.hold.set()  # the ESME answers the five at once
        await eventually(lambda: sample(registry, "smsgw_esme_deliveries_total") == 5)
    assert slow.recorded == [sorted(d.id for d in target.tried)]  # one store write
    assert await store.pending_deliveries() == []


class SlowStart(Looks):
    """The store, holding the pump's first release (of what it held before) until
    ``go`` is set."""

    def __init__(self, store: SqliteStore) -> None:
        super().__init__(store)
        self.starting = asyncio.Event()
        self.go = asyncio.Event()
        self.started = asyncio.Event()

    async def release_deliveries(self, owner: str, ids: Sequence[int] = ()) -> int:
        if ids:
            return await self.store.release_deliveries(owner, ids)
        self.starting.set()
        await self.go.wait()
        try:
            return await self.store.release_deliveries(owner, ids)
        finally:
            self.started.set()


async def test_a_bind_attached_while_the_pump_starts_keeps_what_it_takes(
    store: SqliteStore, clock: FakeClock, registry: CollectorRegistry
) -> None:
    await delivered_receipts(store, clock, 3)
    slow = SlowStart(store)
    target = Target()
    target.hold.clear()  # in flight until the test ends
    async with running(pump_on(slow, clock, registry)) as pump:
        await slow.starting.wait()  # giving back what it held before it started
        pump.attach(target)  # an ESME binds meanwhile
        slow.go.set()
        await slow.started.wait()
        await eventually(lambda: len(target.tried) == 3, what="three in flight")
        # still this daemon's: another daemon's bind finds none of them to send
        taken = await store.take_deliveries("esme1", owner="gw2", limit=9, now=clock.now, lease=60)
        assert taken == []


async def test_a_refused_delivery_is_retried_after_its_back_off(
    store: SqliteStore, clock: FakeClock, registry: CollectorRegistry
) -> None:
    [mid] = await delivered_receipts(store, clock, 1)
    target = Target(answers=[DeliveryRefused(0x00000008)])
    async with running(pump_on(store, clock, registry)) as pump:
        pump.attach(target)
        await eventually(lambda: sample(registry, "smsgw_esme_deliveries_refused_total") == 1)
        # not due before its back-off: no taker gets it
        early = await store.take_deliveries(
            "esme1", owner="probe", limit=1, now=clock.now + FAST.retry_min - 0.1, lease=1
        )
        assert early == []
        clock.advance(FAST.retry_min)
        pump.wake()
        await eventually(lambda: len(target.delivered) == 1, timeout=5, what="the retry")
    assert (target.delivered[0].message_id, target.delivered[0].attempts) == (mid, 1)
    assert len(target.tried) == 2


def test_the_refusal_back_off_doubles_and_is_capped() -> None:
    delays = [refused_delay(n, FAST) for n in range(6)]
    assert delays == [5, 10, 20, 40, 40, 40]
    assert refused_delay(10_000, FAST) == FAST.retry_max


async def test_deliveries_older_than_the_ttl_expire_counted_and_logged(
    store: SqliteStore, clock: FakeClock, registry: CollectorRegistry
) -> None:
    await delivered_receipts(store, clock, 2)
    clock.advance(FAST.ttl + 1)
    with structlog.testing.capture_logs() as logs:
        async with running(pump_on(store, clock, registry)):
            await eventually(lambda: sample(registry, "smsgw_esme_deliveries_expired_total") == 2)
    [event] = [e for e in logs if e["event"] == "esme_delivery_expired"]
    assert (event["system_id"], event["kind"], event["deliveries"]) == ("esme1", "receipt", 2)
    assert await store.pending_deliveries() == []


async def test_a_restarted_daemon_delivers_what_was_pending_and_leased_to_it(
    tmp_path: Path, store: SqliteStore, clock: FakeClock, registry: CollectorRegistry
) -> None:
    ids = await delivered_receipts(store, clock, 3)
    # the daemon gw1 had taken one when it died (its lease runs 600 s more)
    [held] = await store.take_deliveries("esme1", owner="gw1", limit=1, now=clock.now, lease=600)
    await store.close()
    again = await open_sqlite(tmp_path / "gw.db", clock=clock)
    target = Target()
    try:
        async with running(pump_on(again, clock, registry)) as pump:
            pump.attach(target)
            await eventually(lambda: len(target.delivered) == 3, timeout=5, what="all three")
    finally:
        await again.close()
    assert sorted(d.message_id or "" for d in target.delivered) == sorted(ids)
    assert held.id in {d.id for d in target.delivered}


async def test_replies_go_to_the_bound_credential_whole(
    store: SqliteStore, clock: FakeClock, registry: CollectorRegistry
) -> None:
    await add_credential(store, "acme", "esme1")
    text = "a reply long enough to need several parts " * 5
    await store.add_inbound(
        InboundMessage(
            id="in1",
            account="acme",
            link="op",
            source="+33699999999",
            destination="+33700000001",
            text=text,
            received_at=clock.now,
        )
    )
    target = Target()
    async with running(pump_on(store, clock, registry)) as pump:
        pump.attach(target)
        await eventually(lambda: len(target.delivered) == 1, what="the reply")
    [d] = target.delivered
    assert (d.kind, d.text) == (DeliveryKind.REPLY, text)
    assert sample(registry, "smsgw_esme_deliveries_total", "reply") == 1


async def test_two_daemons_with_binds_of_one_credential_send_each_delivery_once(
    postgres_url: str, clock: FakeClock
) -> None:
    one, two = [await PostgresStore.open(postgres_url, clock=clock) for _ in range(2)]
    try:
        await make_account(one, clock)
        ms = await claimed(one, clock.now, *(from_esme(f"+336123{i:05d}") for i in range(30)))
        targets = [Target(), Target()]
        pumps = [
            pump_on(store, clock, CollectorRegistry(), owner=owner)
            for store, owner in ((one, "gw1"), (two, "gw2"))
        ]
        async with running(pumps[0]), running(pumps[1]):
            for pump, target in zip(pumps, targets, strict=True):
                pump.attach(target)
            # daemon one's receipts, for binds on both daemons
            await one.record(
                [
                    OutcomeRecord(
                        message_id=m.id, index=0, link="op", outcome=Accepted(smsc_id=m.id)
                    )
                    for m in ms
                ],
                [Receipt(link="op", smsc_id=m.id, state=ReceiptState.DELIVERED) for m in ms],
                now=clock.now,
            )
            await eventually(
                lambda: sum(len(t.delivered) for t in targets) >= 30, what="30 receipts"
            )

            async def settled() -> bool:
                return await one.pending_deliveries() == []

            await eventually(settled, what="every delivery settled")
        sent = [d.message_id or "" for t in targets for d in t.tried]
        assert sorted(sent) == sorted(m.id for m in ms)  # each tried once, by one bind
    finally:
        await one.close()
        await two.close()


async def test_a_receipt_stored_by_another_daemon_reaches_this_ones_bind(
    postgres_url: str, clock: FakeClock, registry: CollectorRegistry
) -> None:
    writer, bound = [await PostgresStore.open(postgres_url, clock=clock) for _ in range(2)]
    try:
        await make_account(writer, clock)
        target = Target()
        async with running(pump_on(bound, clock, registry, settings=PumpSettings(poll=0.5))) as p:
            p.attach(target)
            [m] = await claimed(writer, clock.now, from_esme())
            await writer.record(
                [OutcomeRecord(message_id=m.id, index=0, link="op", outcome=Accepted(smsc_id="x"))],
                [Receipt(link="op", smsc_id="x", state=ReceiptState.DELIVERED)],
                now=clock.now,
            )  # nothing wakes the other daemon's pump: its poll finds it
            await eventually(lambda: len(target.delivered) == 1, timeout=5, what="the receipt")
        assert target.delivered[0].message_id == m.id
    finally:
        await writer.close()
        await bound.close()

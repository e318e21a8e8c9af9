"""Outbox events to MQTT: a row leaves the outbox only once the broker acknowledged it."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import signal
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, cast

import aiomqtt
import pytest
import structlog
from prometheus_client import CollectorRegistry

from gateway.events import webhooks
from gateway.events.callbacks import CallbackPolicy
from gateway.events.mqtt_bridge import MqttBridge, MqttSettings
from gateway.events.publisher import BATCH, MQTT_BATCH, EventPublisher
from gateway.model.message import SenderKind, SenderStatus
from gateway.model.records import OutboxBatch, WebhookEvent
from gateway.ops.metrics import Metrics
from gateway.store import open_store
from gateway.store.base import Store
from gateway.store.payloads import encode
from tests.fixtures.mosquitto import MosquittoBroker, receive
from tests.gateway.store.support import new_message
from tests.waiting import eventually
from tests.webhook_receiver import webhook_receiver


class CountingOutbox:
    """The real SQLite store, with the publisher's outbox reads and acknowledgements counted."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.acks: list[list[int]] = []
        self.reads = 0
        self.webhook_reads = 0

    def __getattr__(self, name: str) -> Any:  # everything else goes to the store
        return getattr(self.store, name)

    async def add(self, account: str, kind: str, n: int) -> bytes:
        """Store an event; return the payload the broker should carry."""
        payload = {"n": n}
        await self.store.add_event(account=account, kind=kind, payload=payload)
        return encode(payload)

    async def pending_ids(self) -> list[int]:
        """Outbox rows (batch ids) still waiting."""
        return [b.id for b in await self.store.pending_mqtt_events(limit=100_000)]

    async def empty(self) -> bool:
        return not await self.pending_ids()

    async def pending_mqtt_events(self, *, limit: int) -> list[OutboxBatch]:
        self.reads += 1
        return await self.store.pending_mqtt_events(limit=limit)

    async def due_webhooks(
        self,
        *,
        now: float,
        limit: int,
        after: int = 0,
    ) -> list[WebhookEvent]:
        self.webhook_reads += 1  # once per round of the webhook loop
        return await self.store.due_webhooks(now=now, limit=limit, after=after)

    async def ack_mqtt_events(self, batches: Sequence[int]) -> None:
        self.acks.append(list(batches))
        await self.store.ack_mqtt_events(batches)


@pytest.fixture
async def outbox(tmp_path: Path) -> AsyncIterator[CountingOutbox]:
    store = await open_store(f"sqlite:///{tmp_path}/gw.db", synchronous="normal")
    await store.create_account("acme")
    await store.create_account("beta")
    try:
        yield CountingOutbox(store)
    finally:
        await store.close()


@contextlib.asynccontextmanager
async def running_publisher(
    broker: MosquittoBroker, store: CountingOutbox
) -> AsyncIterator[tuple[EventPublisher, MqttBridge]]:
    async def on_send(_account: str, _payload: bytes) -> None:
        return None

    bridge = MqttBridge(
        settings=MqttSettings.from_url(
            broker.url, client_id="gw-events", reconnect_min=0.05, reconnect_max=0.2
        ),
        on_send=on_send,
        logger=structlog.get_logger(),
    )
    publisher = EventPublisher(
        store=cast("Store", store),
        metrics=Metrics(registry=CollectorRegistry()),
        logger=structlog.get_logger(),
        # webhook receivers of these tests listen on loopback
        callbacks=CallbackPolicy.from_config(["127.0.0.1"]),
    )
    publisher.attach_mqtt(bridge)
    tasks = [asyncio.create_task(bridge.run()), asyncio.create_task(publisher.run())]
    try:
        await asyncio.wait_for(bridge.connected.wait(), timeout=10)
        yield publisher, bridge
    finally:
        await publisher.close(timeout=1)
        bridge.stop()
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=10)


async def test_events_are_published_on_their_topics_then_deleted(
    mosquitto_broker: MosquittoBroker,
    outbox: CountingOutbox,
) -> None:
    store = outbox
    expected: list[tuple[str, bytes]] = []
    for n in range(MQTT_BATCH + 300):  # more than one batch
        account, kind = ("acme", "status") if n % 3 else ("beta", "inbound")
        payload = await store.add(account, kind, n)
        expected.append((f"smsgw/{account}/{kind}", payload))
    async with aiomqtt.Client(
        mosquitto_broker.host, mosquitto_broker.port, identifier="watcher"
    ) as watcher:
        await watcher.subscribe("smsgw/#", qos=1)
        async with running_publisher(mosquitto_broker, store) as (publisher, _bridge):
            publisher.poke()
            got = await receive(watcher, len(expected))
            await eventually(store.empty, what="an empty outbox")
    assert got == expected
    assert len(store.acks) >= 2  # acknowledged a batch at a time


async def test_events_wait_in_the_outbox_while_the_broker_is_down(
    mosquitto_broker: MosquittoBroker,
    outbox: CountingOutbox,
) -> None:
    store = outbox
    async with running_publisher(mosquitto_broker, store) as (publisher, bridge):
        mosquitto_broker.stop()
        await eventually(lambda: not bridge.connected.is_set(), what="the disconnection")
        await store.add("acme", "status", 1)
        reads = store.reads
        publisher.poke()
        await eventually(lambda: store.reads >= reads + 2, what="two tries")
        assert await store.pending_ids() == [1]
        mosquitto_broker.start()
        await eventually(store.empty, timeout=15, what="an empty outbox")
    assert store.acks == [[1]]


async def test_events_are_kept_when_the_broker_does_not_acknowledge(
    mosquitto_broker: MosquittoBroker,
    outbox: CountingOutbox,
) -> None:
    store = outbox
    async with running_publisher(mosquitto_broker, store) as (publisher, _bridge):
        assert mosquitto_broker.process is not None
        mosquitto_broker.process.send_signal(signal.SIGSTOP)  # connected, but silent
        try:
            await store.add("acme", "status", 1)
            reads = store.reads
            publisher.poke()
            await eventually(lambda: store.reads > reads, what="a publish waiting for its PUBACK")
            assert await store.pending_ids() == [1]
        finally:
            mosquitto_broker.process.send_signal(signal.SIGCONT)
        await eventually(store.empty, timeout=20, what="an empty outbox")


async def test_without_a_broker_leftover_rows_are_cleared_once_then_never_read(
    outbox: CountingOutbox,
) -> None:
    for n in range(MQTT_BATCH + 5):  # written while the daemon had [mqtt]
        await outbox.add("acme", "status", n)
    publisher = EventPublisher(
        store=cast("Store", outbox),
        metrics=Metrics(registry=CollectorRegistry()),
        logger=structlog.get_logger(),
    )
    task = asyncio.create_task(publisher.run())
    try:
        await eventually(lambda: len(outbox.acks) == 2, what="the leftover rows cleared")
        rounds = outbox.webhook_reads
        publisher.poke()  # a change woke it: one more round, without an outbox read
        await eventually(lambda: outbox.webhook_reads > rounds, what="another round")
        await publisher.close(timeout=1)
        await asyncio.wait_for(task, timeout=10)
    finally:
        task.cancel()
    assert await outbox.empty()
    assert outbox.reads == 2  # a full batch, then the rest; none after
    assert [len(a) for a in outbox.acks] == [MQTT_BATCH, 5]


class _HalfDeaf:
    """An MQTT bridge whose broker acknowledges every other event of the first batch."""

    def __init__(self) -> None:
        self.published: list[bytes] = []
        self.rounds = 0

    def topic(self, account: str, kind: str) -> str:
        return f"smsgw/{account}/{kind}"

    async def publish_many(self, messages: Sequence[tuple[str, bytes]]) -> list[bool]:
        self.rounds += 1
        self.published += [payload for _, payload in messages]
        return [self.rounds > 1 or i % 2 == 0 for i in range(len(messages))]


async def test_a_batch_published_in_part_stays_whole_and_goes_out_again(
    outbox: CountingOutbox,
) -> None:
    await outbox.store.add_sender("acme", "ACME", SenderKind.ALPHA)
    await outbox.store.set_sender_status("acme", "ACME", SenderStatus.APPROVED)
    await outbox.store.set_price("+", 1)
    await outbox.store.topup("acme", 100, reference="t")
    await outbox.store.enqueue([new_message(destination=f"+3361234567{i}") for i in range(4)])
    bridge = _HalfDeaf()
    publisher = EventPublisher(
        store=cast("Store", outbox),
        metrics=Metrics(registry=CollectorRegistry()),
        logger=structlog.get_logger(),
    )
    publisher.attach_mqtt(cast("MqttBridge", bridge))
    task = asyncio.create_task(publisher.run())
    try:
        await eventually(outbox.empty, what="the batch acknowledged in full")
    finally:
        await publisher.close(timeout=1)
        await asyncio.wait_for(task, timeout=10)
    assert bridge.rounds == 2
    assert len(bridge.published) == 8  # the four events, then the four again
    assert bridge.published[:4] == bridge.published[4:]
    assert len(outbox.acks) == 1


class HangingReceiver:
    """A webhook receiver that accepts connections, reads, and never answers."""

    def __init__(self) -> None:
        self.connections = 0
        self._release = asyncio.Event()
        self._server: asyncio.Server | None = None
        self.url = ""

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        await self._release.wait()  # the request is read by nobody, never answered
        writer.close()

    async def __aenter__(self) -> HangingReceiver:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/hook"
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self._release.set()
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


async def _with_callbacks(store: Store, account: str, url: str, count: int) -> None:
    """``count`` messages of ``account`` with ``url`` as their callback ("queued" hooks)."""
    await store.enqueue(
        [
            dataclasses.replace(
                new_message(destination=f"+3361{len(account)}{i:06d}", account=account),
                callback_url=url,
            )
            for i in range(count)
        ]
    )


async def test_a_receiver_that_never_answers_delays_no_other_account(
    mosquitto_broker: MosquittoBroker,
    outbox: CountingOutbox,
) -> None:
    store = outbox.store
    for account in ("acme", "beta"):
        await store.add_sender(account, "ACME", SenderKind.ALPHA)
        await store.set_sender_status(account, "ACME", SenderStatus.APPROVED)
        await store.topup(account, 1000, reference="t")
    await store.set_price("+", 1)
    async with (
        HangingReceiver() as hanging,
        webhook_receiver() as beta_hooks,
        aiomqtt.Client(
            mosquitto_broker.host, mosquitto_broker.port, identifier="watcher"
        ) as watcher,
    ):
        await watcher.subscribe("smsgw/beta/status", qos=1)
        # more of acme's hooks to the silent host than the publisher reads at once
        await _with_callbacks(store, "acme", hanging.url, BATCH + webhooks.CONCURRENCY)
        async with running_publisher(mosquitto_broker, outbox) as (publisher, _bridge):
            publisher.poke()
            await eventually(
                lambda: hanging.connections >= webhooks.HOST_CONCURRENCY,
                what="acme's attempts hanging",
            )
            await _with_callbacks(store, "beta", beta_hooks.url, 1)
            publisher.poke()
            # well within one attempt's timeout: nothing of beta's waits for acme's
            prompt = webhooks.ATTEMPT_TIMEOUT / 4
            [(topic, payload)] = await receive(watcher, 1, timeout=prompt)
            assert topic == "smsgw/beta/status"
            assert json.loads(payload)["state"] == "queued"
            await eventually(lambda: bool(beta_hooks.seen), timeout=prompt, what="beta's webhook")
            # the silent host gets no more than its share of attempts at once
            assert hanging.connections == webhooks.HOST_CONCURRENCY

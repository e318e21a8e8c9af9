"""Outbox events to MQTT: a row leaves the outbox only once the broker acknowledged it."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, cast

import aiomqtt
import structlog
from prometheus_client import CollectorRegistry

from gateway.events import MQTT_BATCH, EventPublisher
from gateway.metrics import Metrics
from gateway.mqtt import MqttBridge, MqttSettings
from gateway.store.base import Store
from gateway.store.records import OutboxEvent
from tests.fixtures.mosquitto import MosquittoBroker


class OutboxStore:
    """The three calls the publisher makes, on an in-memory outbox."""

    def __init__(self) -> None:
        self.rows: dict[int, OutboxEvent] = {}
        self.acks: list[list[int]] = []
        self.reads = 0

    def add(self, account: str, kind: str, payload: bytes) -> None:
        event_id = len(self.rows) + sum(map(len, self.acks)) + 1
        self.rows[event_id] = OutboxEvent(id=event_id, account=account, kind=kind,
                                          payload=payload)

    async def pending_mqtt_events(self, *, limit: int) -> list[OutboxEvent]:
        self.reads += 1
        return [self.rows[i] for i in sorted(self.rows)[:limit]]

    async def ack_mqtt_events(self, ids: Sequence[int]) -> None:
        self.acks.append(list(ids))
        for i in ids:
            del self.rows[i]

    async def due_webhooks(self, *, now: float, limit: int) -> list[Any]:
        del now, limit
        return []


async def wait_for_condition(predicate: Callable[[], bool], *, timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110 - polls a plain condition with a deadline
            await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def running_publisher(
    broker: MosquittoBroker, store: OutboxStore
) -> AsyncIterator[tuple[EventPublisher, MqttBridge]]:
    async def on_send(_account: str, _payload: bytes) -> None:
        return None

    bridge = MqttBridge(
        settings=MqttSettings.from_url(broker.url, client_id="gw-events", reconnect_min=0.05,
                                       reconnect_max=0.2),
        on_send=on_send, logger=structlog.get_logger(),
    )
    publisher = EventPublisher(store=cast("Store", store),
                               metrics=Metrics(registry=CollectorRegistry()),
                               logger=structlog.get_logger())
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
) -> None:
    store = OutboxStore()
    expected: list[tuple[str, bytes]] = []
    for n in range(MQTT_BATCH + 300):  # more than one batch
        account, kind = ("acme", "status") if n % 3 else ("beta", "inbound")
        store.add(account, kind, b'{"n": %d}' % n)
        expected.append((f"smsgw/{account}/{kind}", b'{"n": %d}' % n))
    async with aiomqtt.Client(mosquitto_broker.host, mosquitto_broker.port,
                              identifier="watcher") as watcher:
        await watcher.subscribe("smsgw/#", qos=1)
        async with running_publisher(mosquitto_broker, store) as (publisher, _bridge):
            publisher.poke()
            got: list[tuple[str, bytes]] = []
            async with asyncio.timeout(20):
                async for message in watcher.messages:
                    assert isinstance(message.payload, bytes)
                    got.append((message.topic.value, message.payload))
                    if len(got) == len(expected):
                        break
            await wait_for_condition(lambda: not store.rows)
    assert got == expected
    assert len(store.acks) >= 2  # acknowledged a batch at a time


async def test_events_wait_in_the_outbox_while_the_broker_is_down(
    mosquitto_broker: MosquittoBroker,
) -> None:
    store = OutboxStore()
    async with running_publisher(mosquitto_broker, store) as (publisher, bridge):
        mosquitto_broker.stop()
        await wait_for_condition(lambda: not bridge.connected.is_set())
        store.add("acme", "status", b'{"state": "delivered"}')
        reads = store.reads
        publisher.poke()
        await wait_for_condition(lambda: store.reads >= reads + 2)  # tried, and again
        assert list(store.rows) == [1]
        mosquitto_broker.start()
        await wait_for_condition(lambda: not store.rows, timeout=15)
    assert store.acks == [[1]]


async def test_events_are_kept_when_the_broker_does_not_acknowledge(
    mosquitto_broker: MosquittoBroker,
) -> None:
    store = OutboxStore()
    async with running_publisher(mosquitto_broker, store) as (publisher, _bridge):
        assert mosquitto_broker.process is not None
        mosquitto_broker.process.send_signal(signal.SIGSTOP)  # connected, but silent
        try:
            store.add("acme", "status", b"{}")
            reads = store.reads
            publisher.poke()
            await wait_for_condition(lambda: store.reads > reads)  # sent, waiting for a PUBACK
            assert list(store.rows) == [1]
        finally:
            mosquitto_broker.process.send_signal(signal.SIGCONT)
        await wait_for_condition(lambda: not store.rows, timeout=20)

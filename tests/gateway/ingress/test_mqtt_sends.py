"""MQTT ingress handler: every send ends stored or durably rejected; only a store down raises."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt
import pytest
import structlog
from prometheus_client import CollectorRegistry

from gateway.events.mqtt_bridge import MqttBridge, MqttSettings
from gateway.events.publisher import EventPublisher
from gateway.ingress.mqtt_sends import MqttSendHandler
from gateway.ingress.pipeline import SendRequest, SendResult, SendService
from gateway.model.errors import StoreError
from gateway.model.message import SenderKind, SenderStatus
from gateway.ops.metrics import Metrics
from gateway.store.sqlite.store import SqliteStore
from tests.fixtures.mosquitto import MosquittoBroker
from tests.gateway.store.support import open_sqlite
from tests.waiting import eventually


def send(text: str, ref: str) -> bytes:
    return json.dumps(
        {"from": "ACME", "to": ["+33612345678"], "text": text, "client_ref": ref}
    ).encode()


class BuggySendService(SendService):
    """The real send service, with a bug that one text sets off."""

    async def send(self, request: SendRequest) -> SendResult:
        if request.text == "boom":
            msg = "a bug this text sets off"
            raise RuntimeError(msg)
        return await super().send(request)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = await open_sqlite(tmp_path / "gw.db", synchronous="normal")
    await store.create_account("acme")
    await store.add_sender("acme", "ACME", SenderKind.ALPHA)
    await store.set_sender_status("acme", "ACME", SenderStatus.APPROVED)
    await store.set_price("+", 1)
    await store.topup("acme", 100, reference="t")
    try:
        yield store
    finally:
        await store.close()


def handler_for(store: SqliteStore, publisher: EventPublisher | None = None) -> MqttSendHandler:
    log = structlog.get_logger()
    return MqttSendHandler(
        store=store,
        send_service=BuggySendService(store=store, log=log),
        poke_events=publisher.poke if publisher else lambda: None,
        metrics=Metrics(registry=CollectorRegistry()),
        logger=log,
    )


@contextlib.asynccontextmanager
async def running_ingress(
    broker: MosquittoBroker,
    store: SqliteStore,
) -> AsyncIterator[MqttBridge]:
    publisher = EventPublisher(
        store=store, metrics=Metrics(registry=CollectorRegistry()), logger=structlog.get_logger()
    )
    bridge = MqttBridge(
        settings=MqttSettings.from_url(
            broker.url, client_id="gw-ingress", reconnect_min=0.05, reconnect_max=0.2
        ),
        on_send=handler_for(store, publisher),
        logger=structlog.get_logger(),
    )
    publisher.attach_mqtt(bridge)
    tasks = [asyncio.create_task(bridge.run()), asyncio.create_task(publisher.run())]
    try:
        await asyncio.wait_for(bridge.connected.wait(), timeout=10)
        yield bridge
    finally:
        await publisher.close(timeout=1)
        bridge.stop()
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=10)


async def test_a_send_that_sets_off_a_bug_is_rejected_and_the_next_one_is_stored(
    mosquitto_broker: MosquittoBroker,
    store: SqliteStore,
) -> None:
    rejected: list[dict[str, object]] = []
    async with (
        aiomqtt.Client(mosquitto_broker.host, mosquitto_broker.port, identifier="up") as up,
        running_ingress(mosquitto_broker, store) as bridge,
    ):
        await up.subscribe("smsgw/acme/rejected", qos=1)

        async def collect() -> None:
            async for message in up.messages:
                assert isinstance(message.payload, bytes)
                rejected.append(json.loads(message.payload))

        reader = asyncio.create_task(collect())
        try:
            await up.publish("smsgw/acme/send", send("boom", "bug-1"), qos=1)
            await up.publish("smsgw/acme/send", send("fine", "ok-1"), qos=1)

            async def stored() -> bool:
                return bool(await store.list_messages(account="acme"))

            await eventually(stored, what="the send after the bug stored")
            await eventually(lambda: bool(rejected), what="the bug's rejection")
        finally:
            reader.cancel()
        assert bridge.connections == 1  # the connection was never dropped
    [doc] = rejected
    assert doc["error"] == "internal"
    assert doc["client_ref"] == "bug-1"
    [message] = await store.list_messages(account="acme")
    assert message.client_ref == "ok-1"


async def test_a_store_that_does_not_answer_leaves_the_send_to_be_delivered_again(
    store: SqliteStore,
) -> None:
    handler = handler_for(store)
    await store.close()
    with pytest.raises(StoreError):
        await handler("acme", send("fine", "ok-1"))

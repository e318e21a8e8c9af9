"""MQTT sends against the whole daemon: what one message holds cannot wedge the bridge."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from tests.e2e.system import PRICE, TOPUP, System, running_system, status_events
from tests.fixtures.mosquitto import MosquittoBroker
from tests.waiting import eventually

GOOD = {"from": "ACME", "to": ["+33612345678"], "text": "after the poison", "client_ref": "ok-1"}


class Upstream:
    """An application on the broker: publishes sends, collects status and rejected events."""

    def __init__(self, client: aiomqtt.Client) -> None:
        self.client = client
        self.status: list[bytes] = []
        self.rejected: list[dict[str, Any]] = []

    async def collect(self) -> None:
        async for message in self.client.messages:
            assert isinstance(message.payload, bytes)
            if message.topic.matches("smsgw/acme/rejected"):
                self.rejected.append(json.loads(message.payload))
            else:
                self.status.append(message.payload)

    def states(self, client_ref: str) -> list[str]:
        ids = {d["id"] for d in map(json.loads, self.status) if d.get("client_ref") == client_ref}
        return [s for i in ids for s in status_events(self.status, i)]


def broker_connections(broker: MosquittoBroker, client_id: str) -> int:
    """How many times ``client_id`` connected, as the broker's log says."""
    log = broker.log_path.read_text(encoding="utf-8", errors="replace")
    return log.count(f" as {client_id} ")


@pytest.fixture
async def mqtt_system(
    tmp_path: Path,
    mosquitto_broker: MosquittoBroker,
) -> AsyncIterator[tuple[System, Upstream]]:
    async with (
        running_system(tmp_path, mqtt_url=mosquitto_broker.url) as gw,
        aiomqtt.Client(
            mosquitto_broker.host, mosquitto_broker.port, identifier="upstream"
        ) as client,
    ):
        await client.subscribe("smsgw/acme/status", qos=1)
        await client.subscribe("smsgw/acme/rejected", qos=1)
        upstream = Upstream(client)
        reader = asyncio.create_task(upstream.collect())
        try:
            yield gw, upstream
        finally:
            reader.cancel()


@pytest.mark.parametrize("field", ["client_ref", "text", "from", "callback_url"])
async def test_a_lone_surrogate_is_rejected_with_its_reason_and_later_sends_flow(
    mqtt_system: tuple[System, Upstream],
    mosquitto_broker: MosquittoBroker,
    field: str,
) -> None:
    broker = mosquitto_broker
    _, up = mqtt_system
    poison = {"from": "ACME", "to": ["+33612345678"], "text": "poison", "client_ref": "p-1"}
    # json.dumps escapes a lone surrogate as \ud800, the form a client sends
    poison[field] = "x\ud800" if field != "callback_url" else "https://app.example/\ud800"
    await up.client.publish("smsgw/acme/send", json.dumps(poison), qos=1)
    await up.client.publish("smsgw/acme/send", json.dumps(GOOD), qos=1)
    await eventually(lambda: "delivered" in up.states("ok-1"), what="the good send delivered")
    await eventually(lambda: bool(up.rejected), what="the poison's rejection")
    [rejected] = up.rejected
    assert rejected["error"] == "invalid_value"
    assert f"field '{field}'" in rejected["detail"]
    assert "not valid Unicode" in rejected["detail"]
    # the ref is echoed when it is a ref; one that cannot be stored is not
    assert rejected["client_ref"] == (None if field == "client_ref" else "p-1")
    assert "\\ud800" in rejected["payload"]  # the excerpt shows the escape as sent
    assert broker_connections(broker, "gw-e2e") == 1  # the poison never dropped it


async def next_message(client: aiomqtt.Client) -> aiomqtt.Message:
    return await asyncio.wait_for(anext(aiter(client.messages)), timeout=10)


async def test_retained_sends_are_refused_once_and_never_charged_again(
    tmp_path: Path,
    mosquitto_broker: MosquittoBroker,
) -> None:
    broker = mosquitto_broker
    retained = dict(GOOD, client_ref="r-1")
    live = dict(GOOD, client_ref="r-2")
    rejected: list[dict[str, Any]] = []
    async with aiomqtt.Client(broker.host, broker.port, identifier="upstream") as client:
        await client.subscribe("smsgw/acme/status", qos=1)
        await client.subscribe("smsgw/acme/rejected", qos=1)
        up = Upstream(client)
        reader = asyncio.create_task(up.collect())
        try:
            # published retained before the gateway subscribes: only the broker's copy reaches it
            await client.publish("smsgw/acme/send", json.dumps(retained), qos=1, retain=True)
            async with running_system(tmp_path, mqtt_url=broker.url) as gw:
                await eventually(lambda: bool(up.rejected), what="the retained copy refused")
                [doc] = up.rejected
                assert (doc["error"], doc["client_ref"]) == ("retained", "r-1")
                assert "retain flag" in doc["detail"]
                assert await gw.balance() == TOPUP  # nothing sent, nothing charged
                # published retained while the gateway is subscribed: it arrives as any send
                await client.publish("smsgw/acme/send", json.dumps(live), qos=1, retain=True)
                await eventually(lambda: "delivered" in up.states("r-2"), what="r-2 delivered")
                reader.cancel()  # the restart ends this subscriber's session
                rejected.extend(up.rejected)
                # a broker restart: the gateway subscribes again, the broker's copy of r-2 comes
                broker.restart()
                where = f"{broker.host}:{broker.port}"

                async def refused_twice() -> bool:
                    reconnected = await gw.metric("smsgw_mqtt_connections_total", broker=where)
                    refusals = await gw.metric(
                        "smsgw_messages_rejected_total", account="acme", reason="retained"
                    )
                    return reconnected == 2 and refusals == 2

                await eventually(refused_twice, what="the copy of r-2 refused")
                # the copies were cleared: a new subscriber gets no retained send first
                async with aiomqtt.Client(broker.host, broker.port, identifier="look") as look:
                    await look.subscribe("smsgw/acme/send", qos=1)
                    await look.publish("smsgw/acme/send", b"", qos=1)  # empty: not a send
                    assert (await next_message(look)).payload == b""
                assert await gw.balance() == TOPUP - PRICE  # r-2 charged once
                assert len(gw.submits()) == 1  # r-2, once
        finally:
            reader.cancel()
    assert [d["client_ref"] for d in rejected] == ["r-1"]


async def test_an_mqtt_send_to_an_internal_callback_url_is_rejected(
    mqtt_system: tuple[System, Upstream],
) -> None:
    gw, up = mqtt_system
    send = dict(GOOD, client_ref="ssrf-1", callback_url="http://169.254.169.254/latest")
    await up.client.publish("smsgw/acme/send", json.dumps(send), qos=1)
    await eventually(lambda: bool(up.rejected), what="the rejection")
    [doc] = up.rejected
    assert (doc["error"], doc["client_ref"]) == ("invalid_value", "ssrf-1")
    assert "link-local" in doc["detail"]
    assert await gw.balance() == TOPUP  # refused before any charge


async def test_a_send_too_large_to_read_is_rejected_and_later_sends_flow(
    mqtt_system: tuple[System, Upstream],
    mosquitto_broker: MosquittoBroker,
) -> None:
    gw, up = mqtt_system
    huge = b'{"from": "ACME", "text": "' + b"x" * (2 * 1024 * 1024) + b'"}'  # over 1 MiB
    await up.client.publish("smsgw/acme/send", huge, qos=1)
    await up.client.publish("smsgw/acme/send", json.dumps(GOOD), qos=1)
    await eventually(lambda: "delivered" in up.states("ok-1"), what="the good send delivered")
    await eventually(lambda: bool(up.rejected), what="the huge send's rejection")
    [doc] = up.rejected
    assert doc["error"] == "too_large"
    assert f"({len(huge)} bytes)" in doc["detail"]
    assert doc["payload"].startswith('{"from": "ACME", "text": "xxx')
    assert await gw.balance() == TOPUP - PRICE  # the good one only
    assert broker_connections(mosquitto_broker, "gw-e2e") == 1  # never dropped for it

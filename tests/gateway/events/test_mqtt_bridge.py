"""MQTT ingress: acknowledged only once stored, in order, redelivered after a crash."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
import structlog

from gateway.events import mqtt_bridge
from gateway.events.mqtt.client import MqttClient
from gateway.events.mqtt_bridge import MqttBridge, MqttSettings, MqttUnavailable, _AckQueue
from gateway.model.errors import ConfigError
from tests.fixtures.mosquitto import MosquittoBroker, receive
from tests.waiting import eventually

Handler = Callable[[str, bytes], Awaitable[None]]


@contextlib.asynccontextmanager
async def running_bridge(
    broker: MosquittoBroker, on_send: Handler, *, client_id: str = "gw-test"
) -> AsyncIterator[MqttBridge]:
    bridge = MqttBridge(
        settings=MqttSettings.from_url(
            broker.url, client_id=client_id, reconnect_min=0.05, reconnect_max=0.2
        ),
        on_send=on_send,
        logger=structlog.get_logger(),
    )
    task = asyncio.create_task(bridge.run())
    try:
        await asyncio.wait_for(bridge.connected.wait(), timeout=10)
        yield bridge
    finally:
        bridge.stop()
        await asyncio.wait_for(task, timeout=10)


async def _ignore_sends(_account: str, _payload: bytes) -> None:
    """The send handler of tests that only publish."""


async def publish(broker: MosquittoBroker, topic: str, payload: bytes) -> None:
    async with aiomqtt.Client(broker.host, broker.port, identifier="upstream") as up:
        await up.publish(topic, payload, qos=1)


def test_ack_queue_releases_in_arrival_order() -> None:
    acked: list[int] = []
    q = _AckQueue(lambda mid, _qos: acked.append(mid))
    a, b, c = q.arrived(1, 1), q.arrived(2, 1), q.arrived(3, 0)
    q.finished(c)
    q.finished(b)
    assert acked == []
    q.finished(a)
    assert acked == [1, 2]  # QoS 0 needs no PUBACK


def test_url_is_checked() -> None:
    with pytest.raises(ConfigError, match=r"\[mqtt\] url"):
        MqttSettings.from_url("http://broker")
    s = MqttSettings.from_url("mqtts://broker.example", shared_group="gw")
    assert (s.port, s.tls, s.send_filter) == (8883, True, "$share/gw/smsgw/+/send")


async def test_send_reaches_the_handler_with_its_account(
    mosquitto_broker: MosquittoBroker,
) -> None:
    got: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()

    async def on_send(account: str, payload: bytes) -> None:
        await got.put((account, payload))

    async with running_bridge(mosquitto_broker, on_send):
        await publish(mosquitto_broker, "smsgw/acme/send", b'{"to": ["+33612345678"]}')
        assert await asyncio.wait_for(got.get(), 10) == ("acme", b'{"to": ["+33612345678"]}')


async def test_publish_waits_for_the_broker_and_fails_when_disconnected(
    mosquitto_broker: MosquittoBroker,
) -> None:
    async with aiomqtt.Client(
        mosquitto_broker.host, mosquitto_broker.port, identifier="watcher"
    ) as watcher:
        await watcher.subscribe("smsgw/acme/status", qos=1)
        async with running_bridge(mosquitto_broker, _ignore_sends) as bridge:
            await bridge.publish(bridge.topic("acme", "status"), b'{"state": "queued"}')
            message = await asyncio.wait_for(anext(aiter(watcher.messages)), 10)
            assert message.payload == b'{"state": "queued"}'
        with pytest.raises(MqttUnavailable):
            await bridge.publish("smsgw/acme/status", b"{}")


async def test_send_not_stored_is_delivered_again_after_reconnect(
    mosquitto_broker: MosquittoBroker,
) -> None:
    calls: list[bytes] = []
    stored = asyncio.Event()

    async def on_send(_account: str, payload: bytes) -> None:
        calls.append(payload)
        if len(calls) == 1:
            msg = "store unreachable"
            raise OSError(msg)
        stored.set()

    async with running_bridge(mosquitto_broker, on_send) as bridge:
        await publish(mosquitto_broker, "smsgw/acme/send", b"one")
        await asyncio.wait_for(stored.wait(), 10)
        assert calls == [b"one", b"one"]
        assert bridge.connections >= 2


def test_daemon_killed_before_storing_loses_nothing(mosquitto_broker: MosquittoBroker) -> None:
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.gateway.events.mqtt_crash_child",
            mosquitto_broker.url,
            "gw-crash",
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[3],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[3])},
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "connected"
        asyncio.run(publish(mosquitto_broker, "smsgw/acme/send", b"precious"))
        assert child.stdout.readline().strip() == "received acme precious"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if child.stdout is not None:
            child.stdout.close()

    async def restarted() -> list[tuple[str, bytes]]:
        got: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()

        async def on_send(account: str, payload: bytes) -> None:
            await got.put((account, payload))

        async with running_bridge(mosquitto_broker, on_send, client_id="gw-crash"):
            return [await asyncio.wait_for(got.get(), 20)]

    assert asyncio.run(restarted()) == [("acme", b"precious")]


async def test_publish_many_is_acknowledged_and_arrives_in_order(
    mosquitto_broker: MosquittoBroker,
) -> None:
    messages = [(f"smsgw/acct{i % 3}/status", b'{"n": %d}' % i) for i in range(1200)]
    async with aiomqtt.Client(
        mosquitto_broker.host, mosquitto_broker.port, identifier="watcher"
    ) as watcher:
        await watcher.subscribe("smsgw/+/status", qos=1)
        async with running_bridge(mosquitto_broker, _ignore_sends) as bridge:
            assert await bridge.publish_many(messages) == [True] * len(messages)
            got = await receive(watcher, len(messages))
    assert got == messages


async def test_publish_many_reports_nothing_acknowledged_when_the_broker_is_silent(
    mosquitto_broker: MosquittoBroker,
) -> None:
    async with running_bridge(mosquitto_broker, _ignore_sends) as bridge:
        assert mosquitto_broker.process is not None
        mosquitto_broker.process.send_signal(signal.SIGSTOP)  # no PUBACK can come
        try:
            acked = await bridge.publish_many(
                [("smsgw/acme/status", b"1"), ("smsgw/acme/status", b"2")], timeout=0.3
            )
        finally:
            mosquitto_broker.process.send_signal(signal.SIGCONT)
        assert acked == [False, False]
        # the connection is still usable: later PUBACKs of the forgotten ones are ignored
        assert await bridge.publish_many([("smsgw/acme/status", b"3")]) == [True]


async def test_publish_many_before_connecting_raises_unavailable() -> None:
    bridge = MqttBridge(
        settings=MqttSettings(host="127.0.0.1"),
        on_send=_ignore_sends,
        logger=structlog.get_logger(),
    )
    with pytest.raises(MqttUnavailable):
        await bridge.publish_many([("smsgw/acme/status", b"{}")])


async def test_a_burst_of_sends_is_handled_whole(mosquitto_broker: MosquittoBroker) -> None:
    # many PUBLISH packets arrive in one read: the ones left in the buffer are
    # handled although the socket does not signal them again
    got: list[bytes] = []
    all_in = asyncio.Event()

    async def on_send(_account: str, payload: bytes) -> None:
        got.append(payload)
        if len(got) == 300:
            all_in.set()

    async with running_bridge(mosquitto_broker, on_send):
        async with aiomqtt.Client(
            mosquitto_broker.host,
            mosquitto_broker.port,
            identifier="upstream",
            max_inflight_messages=300,
        ) as up:
            await asyncio.gather(
                *(up.publish("smsgw/acme/send", b"%d" % i, qos=1) for i in range(300))
            )
        await asyncio.wait_for(all_in.wait(), 10)
    assert sorted(got, key=int) == [b"%d" % i for i in range(300)]


async def test_publish_many_writes_a_batch_in_few_system_calls(
    mosquitto_broker: MosquittoBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    clients: list[MqttClient] = []

    class SeenClient(MqttClient):
        """The bridge's client, kept here to read its count of transport writes."""

        def __init__(self, **options: Any) -> None:
            super().__init__(**options)
            clients.append(self)

    monkeypatch.setattr(mqtt_bridge, "MqttClient", SeenClient)
    async with running_bridge(mosquitto_broker, _ignore_sends) as bridge:
        (client,) = clients
        before = client.writes
        messages = [("smsgw/acme/status", b'{"n": %d}' % i) for i in range(500)]
        assert await bridge.publish_many(messages) == [True] * 500
        writes = client.writes - before
    assert 1 <= writes <= 5  # the batch as one buffer, not one send() per event


async def test_sends_beyond_the_concurrency_limit_wait_and_are_all_acknowledged(
    mosquitto_broker: MosquittoBroker,
) -> None:
    running, peak, handled = 0, 0, list[bytes]()
    release = asyncio.Event()

    async def on_send(_account: str, payload: bytes) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await release.wait()
        running -= 1
        handled.append(payload)

    bridge = MqttBridge(
        settings=MqttSettings.from_url(mosquitto_broker.url, client_id="gw-window", concurrency=2),
        on_send=on_send,
        logger=structlog.get_logger(),
    )
    task = asyncio.create_task(bridge.run())
    try:
        await asyncio.wait_for(bridge.connected.wait(), 10)
        async with aiomqtt.Client(mosquitto_broker.host, mosquitto_broker.port) as up:
            for n in range(10):
                await up.publish("smsgw/acme/send", b"%d" % n, qos=1)
        await eventually(lambda: running == 2, what="two handlers running")
        release.set()
        await eventually(lambda: len(handled) == 10, what="every send handled")
    finally:
        bridge.stop()
        await asyncio.wait_for(task, 10)
    assert peak == 2
    # all were acknowledged: the next connection of the session gets the next send first
    got: asyncio.Queue[bytes] = asyncio.Queue()

    async def collect(_account: str, payload: bytes) -> None:
        await got.put(payload)

    await publish(mosquitto_broker, "smsgw/acme/send", b"next")
    bridge = MqttBridge(
        settings=MqttSettings.from_url(mosquitto_broker.url, client_id="gw-window"),
        on_send=collect,
        logger=structlog.get_logger(),
    )
    task = asyncio.create_task(bridge.run())
    try:
        assert await asyncio.wait_for(got.get(), 10) == b"next"
    finally:
        bridge.stop()
        await asyncio.wait_for(task, 10)


async def test_a_send_over_the_packet_limit_goes_to_its_handler_unread(
    mosquitto_broker: MosquittoBroker,
) -> None:
    too_large: list[tuple[str, int, int]] = []
    sends: list[bytes] = []

    async def on_too_large(account: str, head: bytes, size: int) -> None:
        too_large.append((account, len(head), size))

    async def on_send(_account: str, payload: bytes) -> None:
        sends.append(payload)

    bridge = MqttBridge(
        settings=MqttSettings.from_url(mosquitto_broker.url, client_id="gw-big"),
        on_send=on_send,
        on_too_large=on_too_large,
        logger=structlog.get_logger(),
    )
    async with contextlib.AsyncExitStack() as stack:
        task = asyncio.create_task(bridge.run())
        stack.callback(bridge.stop)
        await asyncio.wait_for(bridge.connected.wait(), 10)
        await publish(mosquitto_broker, "smsgw/acme/send", b"x" * (3 * 1024 * 1024))
        await publish(mosquitto_broker, "smsgw/acme/send", b"small")
        await eventually(lambda: sends == [b"small"], what="the send after the large one")
        bridge.stop()
        await asyncio.wait_for(task, 10)
    [(account, head, size)] = too_large
    assert (account, head) == ("acme", 1024)
    assert size == 3 * 1024 * 1024
    assert bridge.connections == 1


async def test_a_broker_that_stops_answering_is_left_and_rejoined(
    mosquitto_broker: MosquittoBroker,
) -> None:
    bridge = MqttBridge(
        settings=MqttSettings.from_url(
            mosquitto_broker.url, client_id="gw-ka", keepalive=1, reconnect_min=0.05
        ),
        on_send=_ignore_sends,
        logger=structlog.get_logger(),
    )
    task = asyncio.create_task(bridge.run())
    try:
        await asyncio.wait_for(bridge.connected.wait(), timeout=10)
        assert mosquitto_broker.process is not None
        mosquitto_broker.process.send_signal(signal.SIGSTOP)
        try:
            await eventually(lambda: not bridge.connected.is_set(), what="the silence noticed")
        finally:
            mosquitto_broker.process.send_signal(signal.SIGCONT)
        await asyncio.wait_for(bridge.connected.wait(), timeout=10)
        assert bridge.connections == 2
        assert await bridge.publish_many([("smsgw/acme/status", b"1")]) == [True]
    finally:
        bridge.stop()
        await asyncio.wait_for(task, timeout=10)

"""The asyncio MQTT client and the bridge on it, against a real mosquitto: TLS, credentials,
a broker gone silent, PUBLISHes sent again after a reconnect, a refused subscription."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt
import pytest
import structlog
from structlog.testing import capture_logs

from gateway.events.mqtt.client import Message, MqttClient
from gateway.events.mqtt.decoding import decode
from gateway.events.mqtt.encoding import encode
from gateway.events.mqtt.errors import MqttTimeout
from gateway.events.mqtt.framing import FrameReader
from gateway.events.mqtt.packets import (
    Connack,
    Connect,
    Puback,
    Publish,
    Suback,
    Subscribe,
    Unsuback,
    Unsubscribe,
)
from gateway.events.mqtt.session import Session
from gateway.events.mqtt_bridge import MqttBridge, MqttSettings
from gateway.model.secrets import Secret
from tests.fixtures.mosquitto import MosquittoBroker, receive, start_broker, tls_certificate
from tests.waiting import eventually


def client_for(session: Session, got: list[Message] | None = None, **options: object) -> MqttClient:
    return MqttClient(
        session=session,
        client_id="client-test",
        on_message=(got.append if got is not None else lambda _m: None),
        logger=structlog.get_logger(),
        **options,  # type: ignore[arg-type]
    )


@contextlib.asynccontextmanager
async def running(bridge: MqttBridge) -> AsyncIterator[MqttBridge]:
    task = asyncio.create_task(bridge.run())
    try:
        await asyncio.wait_for(bridge.connected.wait(), timeout=10)
        yield bridge
    finally:
        bridge.stop()
        await asyncio.wait_for(task, timeout=10)


def bridge_for(url: str, **options: object) -> tuple[MqttBridge, asyncio.Queue[bytes]]:
    sends: asyncio.Queue[bytes] = asyncio.Queue()

    async def on_send(_account: str, payload: bytes) -> None:
        await sends.put(payload)

    bridge = MqttBridge(
        settings=MqttSettings.from_url(url, reconnect_min=0.05, reconnect_max=0.2, **options),
        on_send=on_send,
        logger=structlog.get_logger(),
    )
    return bridge, sends


@pytest.fixture
def tls_broker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MosquittoBroker:
    cert, key = tls_certificate(tmp_path)
    # the bridge trusts the system's CAs (ssl.create_default_context): here, this one
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    return start_broker(tmp_path, listener=[f"certfile {cert}", f"keyfile {key}"], scheme="mqtts")


async def test_sends_and_events_go_over_tls(tls_broker: MosquittoBroker, tmp_path: Path) -> None:
    context = ssl.create_default_context(cafile=tmp_path / "broker.crt")
    try:
        bridge, sends = bridge_for(tls_broker.url)
        async with (
            aiomqtt.Client(
                tls_broker.host, tls_broker.port, identifier="up", tls_context=context
            ) as up,
            running(bridge),
        ):
            await up.subscribe("smsgw/acme/status", qos=1)
            await up.publish("smsgw/acme/send", b'{"over": "tls"}', qos=1)
            assert await asyncio.wait_for(sends.get(), 10) == b'{"over": "tls"}'
            assert await bridge.publish_many([("smsgw/acme/status", b"s")]) == [True]
            assert await receive(up, 1) == [("smsgw/acme/status", b"s")]
    finally:
        tls_broker.stop()


async def test_an_untrusted_certificate_is_refused(
    tls_broker: MosquittoBroker, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    stranger, _ = tls_certificate(other)  # a certificate that signed nothing here
    try:
        client = client_for(Session())
        with pytest.raises(ssl.SSLCertVerificationError):
            await client.connect(
                tls_broker.host,
                tls_broker.port,
                tls=ssl.create_default_context(cafile=stranger),
            )
    finally:
        tls_broker.stop()


@pytest.fixture
def password_broker(tmp_path: Path) -> MosquittoBroker:
    passwords = tmp_path / "passwords"
    subprocess.run(
        ["mosquitto_passwd", "-c", "-b", str(passwords), "gw", "right horse"],
        check=True,
        capture_output=True,
    )
    passwords.chmod(0o644)
    return start_broker(tmp_path, settings=["allow_anonymous false", f"password_file {passwords}"])


async def test_the_password_is_checked_by_the_broker_and_never_logged(
    password_broker: MosquittoBroker,
) -> None:
    try:
        good, _ = bridge_for(password_broker.url, username="gw", password=Secret("right horse"))
        async with running(good):
            assert good.connections == 1
        with capture_logs() as logs:
            bad, _ = bridge_for(password_broker.url, username="gw", password=Secret("wrong horse"))
            task = asyncio.create_task(bad.run())
            try:
                await eventually(
                    lambda: any(e["event"] == "mqtt_disconnected" for e in logs),
                    what="the refusal",
                )
            finally:
                bad.stop()
                await asyncio.wait_for(task, 10)
        [refusal, *_] = [e for e in logs if e["event"] == "mqtt_disconnected"]
        assert refusal["error"].startswith("MQTT connection refused: ")
        assert "return code" in refusal["error"]
        assert not bad.connected.is_set()
        assert all("horse" not in repr(e) for e in logs)
    finally:
        password_broker.stop()


async def test_a_broker_gone_silent_is_found_dead_by_keepalive(
    mosquitto_broker: MosquittoBroker,
) -> None:
    client = client_for(Session(), keepalive=1)
    await client.connect(mosquitto_broker.host, mosquitto_broker.port)
    assert mosquitto_broker.process is not None
    mosquitto_broker.process.send_signal(signal.SIGSTOP)
    try:
        error = await asyncio.wait_for(client.done, 10)
    finally:
        mosquitto_broker.process.send_signal(signal.SIGCONT)
    assert isinstance(error, MqttTimeout)
    assert "no PINGRESP" in str(error)


async def test_publishes_not_acknowledged_go_again_after_a_reconnect(
    mosquitto_broker: MosquittoBroker,
) -> None:
    session = Session()
    async with aiomqtt.Client(
        mosquitto_broker.host, mosquitto_broker.port, identifier="watcher"
    ) as watcher:
        await watcher.subscribe("smsgw/acme/status", qos=1)
        first = client_for(session)
        await first.connect(mosquitto_broker.host, mosquitto_broker.port)
        assert mosquitto_broker.process is not None
        mosquitto_broker.process.send_signal(signal.SIGSTOP)  # no PUBACK can come
        try:
            acked = await first.publish_many([("smsgw/acme/status", b"once")], timeout=0.2)
            first.abort()  # the connection is lost with the PUBLISH unacknowledged
            await first.done
        finally:
            mosquitto_broker.process.send_signal(signal.SIGCONT)
        assert acked == [False]
        assert list(session.inflight) == [1]
        second = client_for(session)
        connected = await second.connect(mosquitto_broker.host, mosquitto_broker.port)
        assert (connected.session_present, connected.resent) == (True, 1)
        await eventually(lambda: not session.inflight, what="the PUBACK of the one sent again")
        [(topic, payload)] = await receive(watcher, 1)
        assert (topic, payload) == ("smsgw/acme/status", b"once")
        await second.disconnect()


async def test_messages_the_session_kept_arrive_flagged_as_sent_before(
    mosquitto_broker: MosquittoBroker,
) -> None:
    session, got = Session(), list[Message]()
    first = client_for(session, got)
    await first.connect(mosquitto_broker.host, mosquitto_broker.port)
    assert await first.subscribe("smsgw/+/send", qos=1) == 1
    async with aiomqtt.Client(mosquitto_broker.host, mosquitto_broker.port) as up:
        await up.publish("smsgw/acme/send", b"kept", qos=1)
    await eventually(lambda: bool(got), what="the send")
    await first.disconnect()  # never acknowledged
    second = client_for(session, got)
    await second.connect(mosquitto_broker.host, mosquitto_broker.port)
    await eventually(lambda: len(got) == 2, what="the send delivered again")
    again = got[1]
    assert isinstance(again, Publish)
    assert (again.payload, again.dup, again.packet_id) == (b"kept", True, got[0].packet_id)
    second.ack(again.packet_id)
    await second.disconnect()


class RefusingBroker:
    """A broker over TCP that refuses every subscription (SUBACK 0x80, MQTT 3.1.1 3.9.3)
    and takes every PUBLISH: mosquitto grants what its ACL denies, then drops it."""

    def __init__(self, *, answer_subscribe: bool = True) -> None:
        self.published: list[Publish] = []
        self.answer_subscribe = answer_subscribe

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        frames = FrameReader(max_packet=1 << 20)
        while data := await reader.read(65536):
            for frame in frames.feed(data):
                assert isinstance(frame, tuple)
                packet = decode(*frame)
                if isinstance(packet, Connect):
                    writer.write(encode(Connack(session_present=False, return_code=0)))
                elif isinstance(packet, Subscribe) and self.answer_subscribe:
                    writer.write(encode(Suback(packet_id=packet.packet_id, return_codes=(0x80,))))
                elif isinstance(packet, Unsubscribe):
                    writer.write(encode(Unsuback(packet_id=packet.packet_id)))
                elif isinstance(packet, Publish):
                    self.published.append(packet)
                    writer.write(encode(Puback(packet_id=packet.packet_id)))
        writer.close()


async def test_a_refused_subscription_is_logged_and_events_still_go_out() -> None:
    broker = RefusingBroker()
    server = await asyncio.start_server(broker.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        with capture_logs() as logs:
            bridge, _ = bridge_for(f"mqtt://127.0.0.1:{port}")
            async with running(bridge):
                assert await bridge.publish_many([("smsgw/acme/status", b"s")]) == [True]
    refused = [e for e in logs if e["event"] == "mqtt_subscribe_refused"]
    assert [e["topic"] for e in refused] == ["smsgw/+/send"]
    assert [(p.topic, p.payload) for p in broker.published] == [("smsgw/acme/status", b"s")]


async def test_a_subscription_left_unanswered_times_out() -> None:
    server = await asyncio.start_server(
        RefusingBroker(answer_subscribe=False).serve, "127.0.0.1", 0
    )
    async with server:
        client = client_for(Session())
        await client.connect("127.0.0.1", server.sockets[0].getsockname()[1])
        with pytest.raises(MqttTimeout, match=r"no SUBACK from the MQTT broker within 0\.1 s"):
            await client.subscribe("smsgw/+/send", timeout=0.1)
        await client.disconnect()

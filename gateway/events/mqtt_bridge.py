"""MQTT ingress and event publishing (README: MQTT) on aiomqtt.

A send is acknowledged to the broker only after the handler returns, that is
after the message (or its rejection) is durably stored. aiomqtt acknowledges
QoS 1 messages as soon as they are read; its paho client can be switched to
manual acknowledgement, which is what this module does, keeping the rest of
aiomqtt (connection, subscriptions, publish awaiting PUBACK).

MQTT 3.1.1 (4.6) wants PUBACKs in the order the PUBLISHes arrived, while the
handlers run concurrently: acknowledgements wait in a FIFO and leave it in
order. A handler that raises (the store is unreachable) leaves its message
unacknowledged and ends the connection; the persistent session
(clean_session=False) makes the broker deliver it again after reconnecting,
to this daemon or, with a shared subscription, to another one.

A send published with the retain flag is kept by the broker and delivered
again at every subscription, each connect's (MQTT 3.1.1 3.3.1.3). Such a
copy comes flagged retained and is refused: ``on_retained`` stores its
rejection, the bridge clears it from the broker (an empty retained PUBLISH
on its topic, the protocol's way) and remembers it, so that it is refused
once, never sent nor charged. A retained send published while the gateway
is subscribed reaches it unflagged, as any send (the protocol says so), and
is sent once. Empty payloads (such clears) are not sends and are ignored.

Events go out in batches (:meth:`MqttBridge.publish_many`): PUBLISH packets
encoded here go into paho's output queue (its network loop runs on the event
loop's thread) and their PUBACKs are counted per batch, at a tenth of the CPU
of aiomqtt's per-message ``publish`` (an Event, a timeout, an O(pending) scan,
a warning logged per message above ten pending) and paho's message objects.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import random
import socket
import ssl
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import aiomqtt
import paho.mqtt.client as paho_mqtt
from paho.mqtt.enums import MQTTErrorCode

from gateway.config.secrets import Secret
from gateway.model.errors import ConfigError

SendHandler = Callable[[str, bytes], Awaitable[None]]
REFUSED_RETAINED = 1024  # retained copies remembered as refused (by digest)
CLEAR_TIMEOUT = 10.0  # seconds to wait for the broker to take a clear of a retained send


class MqttUnavailable(Exception):
    """Not connected to the broker right now; the caller keeps the event and retries."""


SHARED_GROUP = "smsgw"  # the shared subscription of several workers when [mqtt] names none


@dataclass(frozen=True, slots=True, kw_only=True)
class MqttSettings:
    host: str
    port: int = 1883
    tls: bool = False
    topic_prefix: str = "smsgw"
    client_id: str = "smsgw"
    shared_group: str | None = None  # "$share/{group}/..." when several daemons share the load
    username: str | None = None
    password: Secret | None = None
    keepalive: int = 30
    concurrency: int = 64  # sends handled at once
    reconnect_min: float = 0.5
    reconnect_max: float = 30.0

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> MqttSettings:
        parts = urlsplit(url)
        if parts.scheme not in {"mqtt", "mqtts"} or not parts.hostname:
            msg = f"[mqtt] url: {url!r} is not mqtt://host[:port] or mqtts://host[:port]"
            raise ConfigError(msg)
        tls = parts.scheme == "mqtts"
        return cls(
            host=parts.hostname, port=parts.port or (8883 if tls else 1883), tls=tls, **kwargs
        )

    @property
    def send_filter(self) -> str:
        topic = f"{self.topic_prefix}/+/send"
        return f"$share/{self.shared_group}/{topic}" if self.shared_group else topic

    @property
    def other_filter(self) -> str:
        """The form of the send filter not in use (shared or not): a persistent session
        kept from a run configured the other way drops it, or it would get sends twice."""
        topic = f"{self.topic_prefix}/+/send"
        return topic if self.shared_group else f"$share/{SHARED_GROUP}/{topic}"


class _Batch:
    """One :meth:`MqttBridge.publish_many` call: mids acknowledged, still waiting."""

    __slots__ = ("acked", "waiting", "wake")

    def __init__(self) -> None:
        self.acked, self.waiting, self.wake = set[int](), 0, asyncio.Event()


class _Pubacks:
    """PUBACKs of one connection, matched to the batches waiting for them."""

    def __init__(self) -> None:
        self._waiting: dict[int, _Batch] = {}  # mid -> its batch
        self.closed = False

    @property
    def pending(self) -> int:
        return len(self._waiting)

    def expect(self, mid: int, batch: _Batch) -> None:
        self._waiting[mid] = batch
        batch.waiting += 1

    def acked(self, mid: int) -> bool:
        """Count a PUBACK; False when the message is not one of ours."""
        batch = self._waiting.pop(mid, None)
        if batch is None:
            return False  # aiomqtt's own publish, or a batch that gave up waiting
        batch.acked.add(mid)
        batch.waiting -= 1
        if batch.waiting == 0:
            batch.wake.set()
        return True

    def forget(self, batch: _Batch) -> None:
        """The batch stops waiting (timeout): its late PUBACKs are ignored."""
        for mid in [m for m, b in self._waiting.items() if b is batch]:
            del self._waiting[mid]

    def close(self) -> None:
        """The connection is gone: nothing more will be acknowledged on it."""
        self.closed = True
        batches = {id(b): b for b in self._waiting.values()}
        self._waiting.clear()
        for batch in batches.values():
            batch.wake.set()


_PUBLISH_QOS1 = 0x32  # packet type 3, QoS 1 in the flags (3.3.1)


def encode_publish(topic: bytes, payload: bytes, mid: int) -> bytes:
    """An MQTT 3.1.1 PUBLISH packet, QoS 1, not retained (3.3)."""
    remaining = 2 + len(topic) + 2 + len(payload)
    header = bytearray((_PUBLISH_QOS1,))
    while True:  # remaining length: base-128 digits, least significant first (2.2.3)
        digit, remaining = remaining & 0x7F, remaining >> 7
        header.append(digit | 0x80 if remaining else digit)
        if not remaining:
            break
    return b"".join((header, len(topic).to_bytes(2, "big"), topic, mid.to_bytes(2, "big"), payload))


READ_CHUNK = 65536  # bytes asked of the socket at once (paho alone asks 1, 1, then the rest)


_PUBACK = 0x40  # packet type 4, no flags: a QoS 1 acknowledgement (3.4)


def _buffer_reads(
    paho: paho_mqtt.Client,
    puback: Callable[[int], bool] | None = None,
) -> Callable[[], bool]:
    """Make paho read the socket in chunks; returns "bytes are waiting in the buffer".

    paho reads every packet with three ``recv`` calls (its type, its length,
    the rest): three system calls per PUBACK. Reading up to READ_CHUNK at once
    and serving paho from a buffer makes it one per burst. Bytes left in the
    buffer are not signalled by the socket, so the reader keeps calling paho
    while the buffer is not empty (see :func:`_take_pubacks`).

    ``puback(mid)``: PUBACKs (3.1.1: the packet id alone) at the front of the
    buffer when paho starts a packet are offered to it first; those it takes
    (True: one of our published events) never reach paho's packet handling,
    ten function calls each.
    """
    recv = paho._sock_recv  # paho's own: TLS want-read/want-write become BlockingIOError
    buffer = bytearray()

    def sock_recv(bufsize: int) -> bytes:
        while True:
            if not buffer:
                data = recv(READ_CHUNK)
                if len(data) <= bufsize and puback is None:
                    return data  # b"" (connection closed) included
                if not data:
                    return data
                buffer.extend(data)
            if puback is not None and bufsize == 1 and paho._in_packet["command"] == 0:
                eaten = 0
                while (
                    len(buffer) - eaten >= 4
                    and buffer[eaten] == _PUBACK
                    and buffer[eaten + 1] == 2
                    and puback((buffer[eaten + 2] << 8) | buffer[eaten + 3])
                ):
                    eaten += 4
                if eaten:
                    del buffer[:eaten]
                    if not buffer:
                        continue  # all ours: read on (or tell paho there is nothing)
            out = bytes(buffer[:bufsize])
            del buffer[:bufsize]
            return out

    paho._sock_recv = sock_recv  # type: ignore[method-assign]
    return lambda: bool(buffer)


def _take_pubacks(paho: paho_mqtt.Client, pubacks: _Pubacks, quick_ack: _QuickAck) -> None:
    """Count our PUBACKs (3.1.1: the packet id alone) before paho's generic path."""
    generic = paho._handle_pubackcomp

    def acked(mid: int) -> bool:
        if pubacks.acked(mid):
            quick_ack.soon()
            return True
        return False

    def handle(cmd: Literal["PUBACK", "PUBCOMP"]) -> MQTTErrorCode:
        packet = paho._in_packet["packet"]
        if cmd == "PUBACK" and len(packet) == 2 and acked((packet[0] << 8) | packet[1]):
            return MQTTErrorCode.MQTT_ERR_SUCCESS
        return generic(cmd)

    paho._handle_pubackcomp = handle  # type: ignore[method-assign]
    buffered = _buffer_reads(paho, acked)
    # paho reads as many packets per wakeup as it has messages in flight, and
    # ours are not among them: read on while PUBACKs of ours keep coming, and
    # while packets wait in the read buffer (the socket will not tell)
    read = paho.loop_read

    def loop_read(max_packets: int = 1) -> MQTTErrorCode:
        while True:
            before = pubacks.pending
            rc = read(max_packets)
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                return rc
            if not buffered() and pubacks.pending in (before, 0):
                return rc

    paho.loop_read = loop_read  # type: ignore[method-assign]


class _QuickAck:
    """One TCP_QUICKACK per burst of PUBACKs read (Linux).

    A broker sending PUBACKs with Nagle on (mosquitto without
    ``set_tcp_nodelay true``) holds the rest until the first is ACKed at the
    TCP level, which a delayed ACK puts off up to 40 ms, per batch.
    """

    def __init__(self, paho: paho_mqtt.Client) -> None:
        self._paho = paho
        self._loop = asyncio.get_running_loop()  # paho calls back on this loop's thread
        self._option = getattr(socket, "TCP_QUICKACK", None)
        self._scheduled = False

    def soon(self) -> None:
        if not self._scheduled and self._option is not None:
            self._scheduled = True
            self._loop.call_soon(self._send)

    def _send(self) -> None:
        self._scheduled = False
        sock = self._paho.socket()
        if isinstance(sock, socket.socket) and self._option is not None:  # TLS too
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, self._option, 1)


class _AckQueue:
    """PUBACKs released in arrival order once their handlers finished."""

    def __init__(self, ack: Callable[[int, int], object]) -> None:
        self._ack = ack
        self._fifo: collections.deque[list[int]] = collections.deque()  # [mid, qos, done]

    def arrived(self, mid: int, qos: int) -> list[int]:
        entry = [mid, qos, 0]
        self._fifo.append(entry)
        return entry

    def finished(self, entry: list[int]) -> None:
        entry[2] = 1
        fifo = self._fifo
        while fifo and fifo[0][2]:
            mid, qos, _ = fifo.popleft()
            if qos > 0:
                self._ack(mid, qos)


class MqttBridge:
    """Consumes ``{prefix}/+/send`` and publishes events, reconnecting with back-off."""

    def __init__(
        self,
        *,
        settings: MqttSettings,
        on_send: SendHandler,
        logger: Any,  # a structlog bound logger
        rng: random.Random | None = None,
        on_connection: Callable[[bool], None] | None = None,  # metrics: connected or not
        on_retained: SendHandler | None = None,  # a retained copy of a send: its rejection
    ) -> None:
        self._settings = settings
        self._on_send = on_send
        self._on_retained = on_retained
        # digests of the retained copies refused: one seen again (its clear was not
        # allowed, or lost) is acknowledged without a second rejection
        self._refused: collections.OrderedDict[bytes, None] = collections.OrderedDict()
        self._on_connection = on_connection
        self._log = logger.bind(component="mqtt")
        self._rng = rng or random.Random()
        self._client: aiomqtt.Client | None = None
        self._pubacks = _Pubacks()
        self._stopping = asyncio.Event()
        self.connected = asyncio.Event()
        self.connections = 0  # successful connections so far (metrics, tests)

    def topic(self, account: str, kind: str) -> str:
        return f"{self._settings.topic_prefix}/{account}/{kind}"

    async def publish(self, topic: str, payload: bytes, *, timeout: float = 10.0) -> None:
        """Publish with QoS 1 and wait for the broker's PUBACK."""
        if not (await self.publish_many([(topic, payload)], timeout=timeout))[0]:
            raise MqttUnavailable(topic)

    async def publish_many(
        self, messages: Sequence[tuple[str, bytes]], *, timeout: float = 10.0
    ) -> list[bool]:
        """Publish ``(topic, payload)`` pairs in order with QoS 1, pipelined.

        Returns, per message, whether the broker acknowledged it (PUBACK)
        within ``timeout``; a connection lost on the way ends the wait early.
        Raises :class:`MqttUnavailable` when not connected (nothing was sent).
        """
        client, pubacks = self._client, self._pubacks
        paho = client._client if client is not None else None
        if paho is None or paho.socket() is None or pubacks.closed or not self.connected.is_set():
            raise MqttUnavailable(messages[0][0] if messages else "")
        batch = _Batch()
        mids: list[int] = []
        packets: list[bytes] = []
        for topic, payload in messages:
            encoded = topic.encode()
            if not encoded or len(encoded) > 0xFFFF or b"+" in encoded or b"#" in encoded:
                self._log.error("mqtt_publish_refused", topic=topic)
                mids.append(-1)
                continue
            mid = paho._mid_generate()  # shared with aiomqtt's calls: no clash
            packets.append(encode_publish(encoded, payload, mid))
            mids.append(mid)
            pubacks.expect(mid, batch)
        if packets:
            # one entry of paho's output queue for the whole batch: one send() for all
            # (paho writes each entry with its own system call); QoS 1 entries are
            # only written, never looked into again
            paho._packet_queue(_PUBLISH_QOS1, b"".join(packets), max(mids), 1)
        if batch.waiting:
            try:
                async with asyncio.timeout(timeout):
                    await batch.wake.wait()
            except TimeoutError:
                pubacks.forget(batch)
        return [mid in batch.acked for mid in mids]

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Stay connected until :meth:`stop`; never raises for broker trouble."""
        delay = self._settings.reconnect_min
        while not self._stopping.is_set():
            try:
                await self._session()
                delay = self._settings.reconnect_min
            except (aiomqtt.MqttError, OSError, _HandlerFailed) as exc:
                self._log.warning("mqtt_disconnected", error=str(exc), retry_in=round(delay, 2))
            finally:
                self._client = None
                self._pubacks.close()  # batches still waiting give up on this connection
                if self.connected.is_set() and self._on_connection is not None:
                    self._on_connection(False)
                self.connected.clear()
            if self._stopping.is_set():
                return
            # jittered exponential back-off ("full jitter" on the upper half)
            sleep = delay / 2 + self._rng.random() * delay / 2
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(sleep):
                    await self._stopping.wait()
            delay = min(delay * 2, self._settings.reconnect_max)

    async def _session(self) -> None:
        s = self._settings
        tls_context = ssl.create_default_context() if s.tls else None
        client = aiomqtt.Client(
            s.host,
            s.port,
            identifier=s.client_id,
            clean_session=False,  # persistent session: unacked sends come back
            keepalive=s.keepalive,
            username=s.username,
            password=s.password.reveal() if s.password else None,
            tls_context=tls_context,
            max_concurrent_outgoing_calls=None,
        )
        client.pending_calls_threshold = 1_000_000  # its warning is per publish, O(pending)
        paho = client._client  # aiomqtt exposes no manual-ack switch of its own
        paho.manual_ack_set(True)
        acks = _AckQueue(paho.ack)
        pubacks = _Pubacks()
        _take_pubacks(paho, pubacks, _QuickAck(paho))
        failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        async with client:
            self._client, self._pubacks = client, pubacks
            await client.unsubscribe(s.other_filter)
            await client.subscribe(s.send_filter, qos=1)
            self.connections += 1
            self.connected.set()
            if self._on_connection is not None:
                self._on_connection(True)
            self._log.info("mqtt_connected", host=s.host, port=s.port, topic=s.send_filter)
            window = asyncio.Semaphore(s.concurrency)
            handlers: set[asyncio.Task[None]] = set()
            reader = asyncio.create_task(
                self._read(client, acks, window, failed, handlers), name="mqtt-reader"
            )
            stop = asyncio.create_task(self._stopping.wait(), name="mqtt-stop")
            try:
                waiters: set[asyncio.Future[Any]] = {stop, reader, failed}
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stop.cancel()
                reader.cancel()
                await asyncio.gather(stop, reader, return_exceptions=True)
                if handlers:
                    # sends being stored finish, and are acknowledged if we still can
                    await asyncio.wait(handlers)
            if failed.done():
                raise _HandlerFailed(str(failed.exception()))
            if not reader.cancelled() and (exc := reader.exception()) is not None:
                raise exc

    async def _read(
        self,
        client: aiomqtt.Client,
        acks: _AckQueue,
        window: asyncio.Semaphore,
        failed: asyncio.Future[None],
        handlers: set[asyncio.Task[None]],
    ) -> None:
        prefix = self._settings.topic_prefix + "/"
        async for message in client.messages:
            entry = acks.arrived(message.mid, message.qos)
            topic = message.topic.value
            account = topic[len(prefix) : -len("/send")] if topic.startswith(prefix) else ""
            if not account or "/" in account:
                # not ours to store; acknowledge so it does not come back forever
                self._log.warning("mqtt_topic_ignored", topic=topic)
                acks.finished(entry)
                continue
            payload = message.payload
            data = payload if isinstance(payload, bytes) else str(payload or "").encode()
            if not data:
                # an empty PUBLISH clears a retained message (ours too): nothing to send
                self._log.info("mqtt_empty_send_ignored", account=account)
                acks.finished(entry)
                continue
            await window.acquire()
            work = (
                self._refuse_retained(client, topic, account, data)
                if message.retain
                else self._on_send(account, data)
            )
            task = asyncio.create_task(
                self._handle(
                    work, account=account, entry=entry, acks=acks, window=window, failed=failed
                )
            )
            handlers.add(task)
            task.add_done_callback(handlers.discard)

    async def _refuse_retained(
        self, client: aiomqtt.Client, topic: str, account: str, data: bytes
    ) -> None:
        """A retained copy: rejected once (never sent), then cleared from the broker."""
        digest = hashlib.sha256(topic.encode() + b"\0" + data).digest()
        if digest in self._refused:
            self._log.info("mqtt_retained_send_ignored", account=account)
        else:
            self._log.warning("mqtt_retained_send_refused", account=account)
            if self._on_retained is not None:
                await self._on_retained(account, data)
            self._refused[digest] = None
            if len(self._refused) > REFUSED_RETAINED:
                self._refused.popitem(last=False)
        try:
            await client.publish(topic, b"", qos=1, retain=True, timeout=CLEAR_TIMEOUT)
        except (aiomqtt.MqttError, TimeoutError) as exc:
            # refused all the same; it comes back at the next subscription, and is ignored
            self._log.warning("mqtt_retained_send_not_cleared", account=account, error=str(exc))

    async def _handle(
        self,
        work: Awaitable[None],
        *,
        account: str,
        entry: list[int],
        acks: _AckQueue,
        window: asyncio.Semaphore,
        failed: asyncio.Future[None],
    ) -> None:
        try:
            await work
        except Exception as exc:  # noqa: BLE001 - any failure means: do not acknowledge
            self._log.error("mqtt_send_not_stored", account=account, error=repr(exc))
            if not failed.done():
                failed.set_exception(exc)
            return
        finally:
            window.release()
        acks.finished(entry)


class _HandlerFailed(Exception):
    """A send could not be stored; the connection is dropped so that it comes back."""

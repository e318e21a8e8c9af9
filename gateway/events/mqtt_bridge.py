"""MQTT ingress and event publishing (README: MQTT), on smsgw's own MQTT 3.1.1 client
(gateway.events.mqtt_protocol, gateway.events.mqtt_connection).

A send is acknowledged to the broker only after the handler returns, that is
after the message (or its rejection) is durably stored. MQTT 3.1.1 (4.6)
wants PUBACKs in the order the PUBLISHes arrived, while the handlers run
concurrently: acknowledgements wait in a FIFO and leave it in order. A
handler that raises (the store is unreachable) leaves its message
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

Events go out in batches (:meth:`MqttBridge.publish_many`): the PUBLISH
packets of a batch are written at once and their PUBACKs counted per batch,
the connection's reader counting runs of PUBACKs without decoding each. An
event not acknowledged stays in the store's outbox and is published again:
events are delivered at least once.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from gateway.config.secrets import Secret
from gateway.events import mqtt_protocol as mp
from gateway.events.mqtt_connection import MqttConnection, open_connection
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

    def acked_all(self, mids: list[int]) -> None:
        for mid in mids:
            self.acked(mid)

    def acked(self, mid: int) -> bool:
        """Count a PUBACK; False when the message is not one of ours."""
        batch = self._waiting.pop(mid, None)
        if batch is None:
            return False  # a batch that gave up waiting
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
        self._conn: MqttConnection | None = None
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
        conn, pubacks = self._conn, self._pubacks
        if conn is None or not conn.is_open or pubacks.closed or not self.connected.is_set():
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
            try:
                mid = conn.ids.take()
            except mp.MqttProtocolError:  # 65,535 in flight: the broker stopped answering
                mids.append(-1)
                continue
            packets.append(mp.publish(encoded, payload, qos=1, packet_id=mid))
            mids.append(mid)
            pubacks.expect(mid, batch)
        if packets:
            conn.write(b"".join(packets))  # one write, one system call, for the batch
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
            except (OSError, TimeoutError, mp.MqttProtocolError, _HandlerFailed) as exc:
                error = str(exc) or type(exc).__name__
                self._log.warning("mqtt_disconnected", error=error, retry_in=round(delay, 2))
            finally:
                self._conn = None
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
        pubacks = _Pubacks()
        inbox: asyncio.Queue[mp.Publish] = asyncio.Queue()
        conn, _ = await open_connection(
            s.host,
            s.port,
            tls=s.tls,
            connect=mp.connect(
                s.client_id,
                keepalive=s.keepalive,
                clean_session=False,  # persistent session: unacked sends come back
                username=s.username,
                password=s.password.reveal() if s.password else None,
            ),
            on_publish=inbox.put_nowait,
            on_pubacks=pubacks.acked_all,
        )
        try:
            await conn.unsubscribe(s.other_filter)
            await conn.subscribe(s.send_filter, qos=1)
            self._conn, self._pubacks = conn, pubacks
            self.connections += 1
            self.connected.set()
            if self._on_connection is not None:
                self._on_connection(True)
            self._log.info("mqtt_connected", host=s.host, port=s.port, topic=s.send_filter)
            await self._serve(conn, inbox)
        finally:
            conn.close()

    async def _serve(self, conn: MqttConnection, inbox: asyncio.Queue[mp.Publish]) -> None:
        """Take sends until stopped, the connection ends, or a send cannot be stored."""
        acks = _AckQueue(lambda mid, _qos: conn.ack(mid))
        failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        handlers: set[asyncio.Task[None]] = set()
        tasks: set[asyncio.Future[Any]] = {
            asyncio.create_task(
                self._read(conn, inbox, acks, failed, handlers), name="mqtt-reader"
            ),
            asyncio.create_task(conn.keepalive(self._settings.keepalive), name="mqtt-keepalive"),
            asyncio.create_task(self._stopping.wait(), name="mqtt-stop"),
        }
        try:
            ends: set[asyncio.Future[Any]] = {*tasks, failed, conn.closed}
            await asyncio.wait(ends, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if handlers:
                # sends being stored finish, and are acknowledged if we still can
                await asyncio.wait(handlers)
        if failed.done():
            raise _HandlerFailed(str(failed.exception()))
        for task in tasks:
            if not task.cancelled() and (exc := task.exception()) is not None:
                raise exc
        if conn.closed.done() and not self._stopping.is_set():
            raise conn.closed.result() or ConnectionError("the broker closed the connection")

    async def _read(
        self,
        conn: MqttConnection,
        inbox: asyncio.Queue[mp.Publish],
        acks: _AckQueue,
        failed: asyncio.Future[None],
        handlers: set[asyncio.Task[None]],
    ) -> None:
        prefix = self._settings.topic_prefix + "/"
        window = asyncio.Semaphore(self._settings.concurrency)
        while True:
            message = await inbox.get()
            entry = acks.arrived(message.packet_id, message.qos)
            topic = message.topic
            account = topic[len(prefix) : -len("/send")] if topic.startswith(prefix) else ""
            if not account or "/" in account or not topic.endswith("/send"):
                # not ours to store; acknowledge so it does not come back forever
                self._log.warning("mqtt_topic_ignored", topic=topic)
                acks.finished(entry)
                continue
            if not message.payload:
                # an empty PUBLISH clears a retained message (ours too): nothing to send
                self._log.info("mqtt_empty_send_ignored", account=account)
                acks.finished(entry)
                continue
            await window.acquire()
            work = (
                self._refuse_retained(conn, topic, account, message.payload)
                if message.retain
                else self._on_send(account, message.payload)
            )
            task = asyncio.create_task(
                self._handle(
                    work, account=account, entry=entry, acks=acks, window=window, failed=failed
                )
            )
            handlers.add(task)
            task.add_done_callback(handlers.discard)

    async def _refuse_retained(
        self, conn: MqttConnection, topic: str, account: str, data: bytes
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
        clear = topic.encode()
        try:
            await conn.request(
                lambda pid: mp.publish(clear, b"", qos=1, packet_id=pid, retain=True),
                timeout=CLEAR_TIMEOUT,
            )
        except (ConnectionError, TimeoutError, mp.MqttProtocolError) as exc:
            # refused all the same; it comes back at the next subscription, and is ignored
            error = str(exc) or type(exc).__name__
            self._log.warning("mqtt_retained_send_not_cleared", account=account, error=error)

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

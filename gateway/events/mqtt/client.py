"""One MQTT 3.1.1 connection on asyncio: the sans-IO :class:`.connection.Connection`
moved over TCP or TLS, and QoS 1 publishing in batches.

The protocol is an :class:`asyncio.Protocol`: bytes read are handed to the
connection, the bytes it queues are written once per call that queued them
(a batch of PUBLISHes is one ``write``; PUBACKs of handled messages queued
in one turn of the event loop are one), and one timer is armed at the
connection's next deadline. Messages received are handed to ``on_message``
at once, in arrival order; the caller acknowledges each with :meth:`ack`.

:meth:`MqttClient.publish_many` publishes with QoS 1 and counts the PUBACKs
per batch: a dict from packet id to its batch, one wakeup when the batch is
whole. A batch that times out stops waiting (its late PUBACKs are
ignored); one on a connection that closes is woken at once. Its PUBLISHes
stay in the session and go out again (DUP) if the next connection finds the
session present.

On Linux a burst of PUBACKs read is acknowledged at the TCP level at once
(TCP_QUICKACK): a broker with Nagle on (mosquitto without ``set_tcp_nodelay
true``) holds the rest of a batch's PUBACKs until the first is ACKed, which a
delayed ACK puts off up to 40 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Callable, Sequence
from typing import Any

from gateway.events.mqtt.connection import MAX_PACKET, Connection
from gateway.events.mqtt.encoding import check_topic_name
from gateway.events.mqtt.errors import (
    MqttConnectionLost,
    MqttError,
    MqttTimeout,
    MqttUsageError,
)
from gateway.events.mqtt.events import Acked, Connected, PublishTooLarge
from gateway.events.mqtt.packets import Publish, Suback, Unsuback
from gateway.events.mqtt.session import Session
from gateway.model.secrets import Secret

__all__ = ["Batch", "MqttClient", "NotConnected"]

Message = Publish | PublishTooLarge
TOPICS_KEPT = 4096  # topic names kept encoded (an account's few kinds of event each)
REQUEST_TIMEOUT = 10.0  # seconds a SUBSCRIBE or UNSUBSCRIBE may wait for its answer
CLOSE_TIMEOUT = 5.0  # seconds DISCONNECT may take to drain before the socket is cut
_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)


class NotConnected(MqttConnectionLost):
    """The client is not connected (any more): nothing was sent."""


class Batch:
    """One :meth:`MqttClient.publish_many` call: packet ids acknowledged, PUBACKs awaited."""

    __slots__ = ("acked", "waiting", "wake")

    def __init__(self) -> None:
        self.acked, self.waiting, self.wake = set[int](), 0, asyncio.Event()


class MqttClient(asyncio.Protocol):
    """One connection to the broker; made by :meth:`connect`, ended by :meth:`disconnect`."""

    def __init__(
        self,
        *,
        session: Session,
        client_id: str,
        on_message: Callable[[Message], object],
        logger: Any,  # a structlog bound logger
        username: str | None = None,
        password: Secret | None = None,  # revealed into CONNECT only, never logged
        keepalive: int = 30,
        clean_session: bool = False,
        connect_timeout: float = 10.0,
        max_packet: int = MAX_PACKET,
    ) -> None:
        self._conn = Connection(
            session=session,
            client_id=client_id,
            keepalive=keepalive,
            clean_session=clean_session,
            username=username,
            password=password.reveal().encode() if password is not None else None,
            connect_timeout=connect_timeout,
            max_packet=max_packet,
        )
        self.connect_timeout = connect_timeout
        self._on_message = on_message
        self._log = logger
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._socket: Any = None  # for TCP_QUICKACK
        self._waiting: dict[int, Batch] = {}  # packet id -> its batch
        self._requests: dict[int, asyncio.Future[Suback | Unsuback]] = {}
        self._connected: asyncio.Future[Connected] = self._loop.create_future()
        self.done: asyncio.Future[MqttError] = self._loop.create_future()  # what ended it
        self._error: MqttError | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._flush_soon = False
        self.writes = 0  # transport writes so far (a batch of PUBLISHes is one)
        self._topics: dict[str, bytes] = {}  # topic names published, encoded and checked

    async def connect(
        self, host: str, port: int, *, tls: ssl.SSLContext | None = None
    ) -> Connected:
        """Connect and wait for CONNACK; raises MqttError or OSError (the connection
        refused, closed, or not answered within ``connect_timeout``). Messages may
        reach ``on_message`` before this returns (those the session kept)."""
        timeout = self.connect_timeout
        try:
            async with asyncio.timeout(timeout):
                await self._loop.create_connection(
                    lambda: self, host, port, ssl=tls, server_hostname=host if tls else None
                )
        except TimeoutError:
            msg = f"MQTT broker {host}:{port}: no connection within {timeout:g} s"
            raise MqttConnectionLost(msg) from None
        try:
            return await self._connected  # the CONNACK deadline is the connection's timer
        except BaseException:
            self.abort()
            raise

    # --- state -------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._conn.connected and self._transport is not None

    @property
    def session_present(self) -> bool:
        return self._conn.session_present

    # --- publishing --------------------------------------------------------------

    async def publish_many(
        self, messages: Sequence[tuple[str, bytes]], *, timeout: float, retain: bool = False
    ) -> list[bool]:
        """Publish ``(topic, payload)`` pairs in order with QoS 1 in one write; per
        message, whether its PUBACK came within ``timeout``. A connection lost on
        the way ends the wait. Raises NotConnected when nothing could be sent."""
        if not self.connected:
            raise NotConnected("not connected to the MQTT broker")
        conn = self._conn
        publish, waiting = conn.publish, self._waiting
        room = conn.session.room
        batch = Batch()
        ids: list[int] = []
        topics = self._topics
        deferred = 0
        for topic, payload in messages:
            encoded = topics.get(topic)
            if encoded is None:
                encoded = topic.encode()
                try:
                    check_topic_name(encoded)
                except MqttUsageError:
                    self._log.error("mqtt_publish_refused", topic=topic)
                    ids.append(-1)
                    continue
                if len(topics) < TOPICS_KEPT:
                    topics[topic] = encoded
            if room <= 0:
                ids.append(-1)  # the session holds MAX_INFLIGHT already: later
                deferred += 1
                continue
            packet_id = publish(encoded, payload, retain=retain)
            room -= 1
            waiting[packet_id] = batch
            ids.append(packet_id)
        if deferred:
            self._log.warning(
                "mqtt_publish_deferred", deferred=deferred, in_flight=len(conn.session.inflight)
            )
        batch.waiting = len(ids) - ids.count(-1)
        self._flush()
        if batch.waiting:
            try:
                async with asyncio.timeout(timeout):
                    await batch.wake.wait()
            except TimeoutError:
                self._forget(batch)
        acked = batch.acked
        return [packet_id in acked for packet_id in ids]

    def _forget(self, batch: Batch) -> None:
        """The batch stops waiting: its late PUBACKs are ignored."""
        waiting = self._waiting
        for packet_id in [i for i, b in waiting.items() if b is batch]:
            del waiting[packet_id]

    def _acked(self, packet_ids: list[int]) -> None:
        pop = self._waiting.pop
        for packet_id in packet_ids:
            batch = pop(packet_id, None)
            if batch is None:
                continue  # a batch that gave up waiting, or a PUBLISH sent again (DUP)
            batch.acked.add(packet_id)
            batch.waiting -= 1
            if batch.waiting == 0:
                batch.wake.set()

    # --- subscriptions and acknowledgements ----------------------------------------

    async def subscribe(
        self, topic_filter: str, *, qos: int = 1, timeout: float = REQUEST_TIMEOUT
    ) -> int:
        """Subscribe and wait for SUBACK; the granted QoS, or 0x80 when refused (3.9.3)."""
        answer = await self._request(
            "SUBACK", self._conn.subscribe, [(topic_filter, qos)], timeout=timeout
        )
        assert isinstance(answer, Suback)  # noqa: S101 - the connection matched it by id
        return answer.return_codes[0]

    async def unsubscribe(self, topic_filter: str, *, timeout: float = REQUEST_TIMEOUT) -> None:
        await self._request("UNSUBACK", self._conn.unsubscribe, [topic_filter], timeout=timeout)

    async def _request(
        self, answer: str, make: Callable[[Any], int], filters: Any, *, timeout: float
    ) -> Suback | Unsuback:
        if not self.connected:
            raise NotConnected("not connected to the MQTT broker")
        packet_id = make(filters)
        future: asyncio.Future[Suback | Unsuback] = self._loop.create_future()
        self._requests[packet_id] = future
        self._flush()
        try:
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError:
            msg = f"no {answer} from the MQTT broker within {timeout:g} s"
            raise MqttTimeout(msg) from None
        finally:
            self._requests.pop(packet_id, None)

    def ack(self, packet_id: int) -> None:
        """PUBACK a QoS 1 message received; written with the others of this loop turn."""
        self._conn.ack(packet_id)
        if not self._flush_soon and self._transport is not None:
            self._flush_soon = True
            self._loop.call_soon(self._flush)

    def pause_reading(self) -> None:
        if self._transport is not None and self._transport.is_reading():
            self._transport.pause_reading()

    def resume_reading(self) -> None:
        if self._transport is not None and not self._transport.is_reading():
            self._transport.resume_reading()

    # --- ending ------------------------------------------------------------------

    async def disconnect(self) -> None:
        """Send DISCONNECT (the broker keeps the session, drops no message) and close."""
        transport = self._transport
        if transport is None:
            return
        if self._conn.connected:
            self._conn.disconnect()
            self._flush()
        self._end(MqttConnectionLost("disconnected from the MQTT broker"))
        transport.close()
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await asyncio.shield(self.done)
        except TimeoutError:
            transport.abort()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def _fail(self, error: MqttError) -> None:
        """The protocol broke or timed out: cut the connection, ``error`` says why."""
        self._end(error)
        if self._transport is not None:
            self._transport.abort()

    def _end(self, error: MqttError) -> None:
        if self._error is None:
            self._error = error

    # --- asyncio.Protocol ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)  # noqa: S101 - a stream transport
        self._transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in {socket.AF_INET, socket.AF_INET6}:
            self._socket = sock
        self._conn.connect(self._loop.time())
        self._flush()

    def data_received(self, data: bytes) -> None:
        try:
            events = self._conn.receive_data(data, self._loop.time())
        except MqttError as exc:
            self._fail(exc)
            return
        quick_ack = False
        for event in events:
            if type(event) is Acked:
                self._acked(event.packet_ids)
                quick_ack = True
            elif isinstance(event, Publish | PublishTooLarge):
                self._on_message(event)
            elif isinstance(event, Suback | Unsuback):
                future = self._requests.get(event.packet_id)
                if future is not None and not future.done():
                    future.set_result(event)
            elif isinstance(event, Connected) and not self._connected.done():
                self._connected.set_result(event)
        if quick_ack and _QUICKACK is not None and self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
        self._flush()

    def eof_received(self) -> bool:
        return False  # the broker closed its side: close ours

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None:
            self._end(MqttConnectionLost(f"MQTT connection lost: {exc}"))
        self._end(MqttConnectionLost("the MQTT broker closed the connection"))
        error = self._error
        assert error is not None  # noqa: S101 - just set
        self._transport = self._socket = None
        self._conn.lost()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._connected.done():
            self._connected.set_exception(error)
        for future in self._requests.values():
            if not future.done():
                future.set_exception(error)
        batches = {id(b): b for b in self._waiting.values()}
        self._waiting.clear()
        for batch in batches.values():
            batch.wake.set()  # nothing more will be acknowledged on this connection
        if not self.done.done():
            self.done.set_result(error)

    # --- writing and the timer ---------------------------------------------------------

    def _flush(self) -> None:
        self._flush_soon = False
        transport = self._transport
        if transport is None:
            return
        now = self._loop.time()
        data = self._conn.data_to_send(now)
        if data:
            transport.write(data)
            self.writes += 1
        deadline = self._conn.get_timer()
        if deadline is None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        elif self._timer is None or deadline < self._timer_at:
            # a later deadline (keepalive moved on) waits for the armed one to fire
            if self._timer is not None:
                self._timer.cancel()
            self._timer_at = deadline
            self._timer = self._loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        try:
            self._conn.handle_timer(self._loop.time())
        except MqttError as exc:
            self._fail(exc)
            return
        self._flush()

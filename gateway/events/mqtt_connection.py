"""One connection to the MQTT broker: the asyncio side of gateway.events.mqtt_protocol.

:func:`open_connection` connects (TCP, or TLS with the system's CAs), sends
CONNECT and waits for the CONNACK (a refusal is one clear line,
:class:`MqttRefused`). The connection then writes packets, answers the
requests it made (SUBACK, UNSUBACK, a PUBACK awaited), hands the broker's
PUBLISHes and the PUBACKs of packets it did not wait for itself to the
callbacks of its owner (gateway.events.mqtt_bridge), and keeps the session
alive with PINGREQs (a broker silent for a whole keepalive interval ends it).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Callable
from typing import Any

from gateway.events import mqtt_protocol as mp

CONNECT_TIMEOUT = 10.0  # seconds for TCP, TLS and CONNACK together
REQUEST_TIMEOUT = 10.0  # seconds a SUBSCRIBE or UNSUBSCRIBE waits for its answer
_QUICKACK = getattr(socket, "TCP_QUICKACK", None)  # Linux


class MqttRefused(ConnectionError):
    """The broker refused the connection (CONNACK return code)."""


class MqttConnection(asyncio.Protocol):
    """The packets of one connection; see the module's docstring."""

    def __init__(
        self,
        *,
        on_publish: Callable[[mp.Publish], None],
        on_pubacks: Callable[[list[int]], None],
    ) -> None:
        self._on_publish = on_publish
        self._on_pubacks = on_pubacks
        self._reader = mp.Reader(fast_pubacks=True)
        self.ids = mp.PacketIds()
        self._transport: asyncio.Transport | None = None
        self._connack: asyncio.Future[mp.ConnAck] | None = None
        self._waiting: dict[int, asyncio.Future[Any]] = {}  # packet id -> its answer
        self._pinged = False  # a PINGREQ is waiting for its PINGRESP
        self._heard = False  # something came since the last keepalive tick
        self._quickack_due = False
        # done once the connection ended: the error that ended it (None: a clean close)
        self.closed: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()

    # --- asyncio.Protocol ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)  # noqa: S101 - a stream transport
        self._transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self._heard = True
        try:
            packets = self._reader.feed(data)
        except mp.MqttProtocolError as exc:
            self._fail(exc)
            return
        if self._reader.pubacks:
            ids, self._reader.pubacks = self._reader.pubacks, []
            self._pubacks(ids)
        for packet in packets:
            self._packet(packet)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        error = exc or ConnectionError("the broker closed the connection")
        if self._connack is not None and not self._connack.done():
            self._connack.set_exception(error)
        for waiter in self._waiting.values():
            if not waiter.done():
                waiter.set_exception(error)
        self._waiting.clear()
        if not self.closed.done():
            self.closed.set_result(exc)

    # --- what came -----------------------------------------------------------------------
    def _pubacks(self, ids: list[int]) -> None:
        theirs = []
        for pid in ids:
            if not self.ids.release(pid):
                continue  # not in flight: a duplicate, or a batch that gave up waiting
            waiter = self._waiting.pop(pid, None)
            if waiter is None:
                theirs.append(pid)
            elif not waiter.done():
                waiter.set_result(None)
        if theirs:
            self._on_pubacks(theirs)
        if not self._quickack_due and _QUICKACK is not None:
            # a broker sending PUBACKs with Nagle on holds the next ones until this
            # burst is ACKed at the TCP level, which a delayed ACK puts off up to 40 ms
            self._quickack_due = True
            asyncio.get_running_loop().call_soon(self._quickack)

    def _quickack(self) -> None:
        self._quickack_due = False
        sock = self._transport.get_extra_info("socket") if self._transport else None
        if sock is not None and _QUICKACK is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)

    def _packet(self, packet: mp.Packet) -> None:
        match packet:
            case mp.Publish():
                self._on_publish(packet)
            case mp.ConnAck():
                if self._connack is not None and not self._connack.done():
                    self._connack.set_result(packet)
            case mp.SubAck(packet_id=pid) | mp.UnsubAck(packet_id=pid):
                self.ids.release(pid)
                waiter = self._waiting.pop(pid, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(packet)
            case mp.PingResp():
                self._pinged = False
            case mp.PubAck():  # counted by the reader; not reached
                self._pubacks([packet.packet_id])

    def _fail(self, exc: Exception) -> None:
        if not self.closed.done():
            self.closed.set_result(exc)
        if self._transport is not None:
            self._transport.abort()

    # --- what we send --------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        return self._transport is not None and not self._transport.is_closing()

    def write(self, data: bytes) -> None:
        if self._transport is None or self._transport.is_closing():
            raise ConnectionError("not connected to the broker")
        self._transport.write(data)

    def ack(self, packet_id: int) -> None:
        """PUBACK a PUBLISH of the broker (a closed connection acks nothing: it comes back)."""
        if self.is_open:
            self.write(mp.puback(packet_id))

    async def handshake(self, connect: bytes) -> mp.ConnAck:
        self._connack = asyncio.get_running_loop().create_future()
        self.write(connect)
        answer = await self._connack
        if answer.code:
            reason = mp.CONNACK_REFUSALS.get(answer.code, f"return code {answer.code}")
            raise MqttRefused(f"the broker refused the connection: {reason}")
        return answer

    async def request(self, packet: Callable[[int], bytes], *, timeout: float) -> Any:
        """Send a packet with a new packet id; its answer (SUBACK, UNSUBACK, PUBACK)."""
        pid = self.ids.take()
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[pid] = waiter
        try:
            self.write(packet(pid))
            async with asyncio.timeout(timeout):
                return await waiter
        finally:
            if self._waiting.pop(pid, None) is not None:
                self.ids.release(pid)

    async def subscribe(self, topic_filter: str, qos: int) -> None:
        answer = await self.request(
            lambda pid: mp.subscribe(pid, [(topic_filter, qos)]), timeout=REQUEST_TIMEOUT
        )
        if answer.codes and answer.codes[0] == 0x80:
            msg = f"the broker refused the subscription to {topic_filter!r} (check its ACL)"
            raise MqttRefused(msg)

    async def unsubscribe(self, topic_filter: str) -> None:
        await self.request(lambda pid: mp.unsubscribe(pid, [topic_filter]), timeout=REQUEST_TIMEOUT)

    async def keepalive(self, interval: float) -> None:
        """PINGREQ every ``interval`` s; a broker that sent nothing for a whole interval
        and did not answer the last PINGREQ is gone (raises ConnectionError)."""
        while True:
            await asyncio.sleep(interval)
            if self._pinged and not self._heard:
                msg = f"the broker did not answer for {interval:g} s"
                raise ConnectionError(msg)
            self._heard = False
            self._pinged = True
            self.write(mp.pingreq())

    def close(self) -> None:
        """DISCONNECT, then close (a clean end: the broker drops no will)."""
        if self._transport is not None and not self._transport.is_closing():
            with contextlib.suppress(ConnectionError):
                self.write(mp.disconnect())
            self._transport.close()


async def open_connection(
    host: str,
    port: int,
    *,
    tls: bool,
    connect: bytes,
    on_publish: Callable[[mp.Publish], None],
    on_pubacks: Callable[[list[int]], None],
) -> tuple[MqttConnection, mp.ConnAck]:
    """A connection the broker accepted, and its CONNACK."""
    loop = asyncio.get_running_loop()
    context = ssl.create_default_context() if tls else None
    conn = MqttConnection(on_publish=on_publish, on_pubacks=on_pubacks)
    async with asyncio.timeout(CONNECT_TIMEOUT):
        await loop.create_connection(lambda: conn, host, port, ssl=context)
        try:
            answer = await conn.handshake(connect)
        except BaseException:
            conn.close()
            raise
    return conn, answer

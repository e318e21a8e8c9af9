"""The client side of MQTT 3.1.1, sans-IO: bytes and ``now`` in, events and bytes out.

Usage, as the asyncio client (:mod:`.client`) does it::

    session = Session()                       # outlives connections (clean_session=False)
    c = Connection(session=session, client_id="gw", keepalive=30)
    c.connect(now); transport.write(c.data_to_send(now))
    for event in c.receive_data(data, now): ...   # Connected, Publish, Acked, Suback...
    packet_id = c.publish(b"topic", b"payload")    # QoS 1: in flight until its PUBACK
    c.ack(message.packet_id)                       # a QoS 1 message received, handled
    deadline = c.get_timer(); c.handle_timer(now)  # CONNACK deadline, keepalive

Timers are data: the CONNACK awaited ``connect_timeout`` seconds, a PINGREQ
when nothing was sent or received for ``keepalive`` seconds, and a dead
connection when its PINGRESP does not come within ``keepalive`` more (3.1.2.10).

The :class:`Session` is the client's session state (4.1): QoS 1 PUBLISHes
sent and not acknowledged, by packet id. When a connection with
clean_session=False is accepted with the session present, they are sent
again with the DUP flag and their ids (4.4); when the broker kept no session
they are dropped (3.2.2.2). Packet ids are allocated skipping those in use.

Errors raise (:class:`MqttProtocolError` when the broker broke the protocol,
:class:`ConnectRefused`, :class:`MqttTimeout`) and leave the connection
``CLOSED``; events decoded from the same bytes before the error are lost
with the connection, which is what losing a connection means anyway.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

from gateway.events.mqtt.decoding import decode, decode_publish
from gateway.events.mqtt.encoding import encode, encode_puback, encode_publish
from gateway.events.mqtt.errors import (
    ConnectRefused,
    MqttProtocolError,
    MqttTimeout,
    MqttUsageError,
)
from gateway.events.mqtt.events import Acked, Connected, Event, PublishTooLarge
from gateway.events.mqtt.framing import PAYLOAD_HEAD, FrameReader, Oversized
from gateway.events.mqtt.packets import (
    Connack,
    Connect,
    Pingresp,
    Publish,
    Suback,
    Subscribe,
    Unsuback,
    Unsubscribe,
)
from gateway.events.mqtt.session import Session

__all__ = ["MAX_PACKET", "Connection", "ConnectionState"]

MAX_PACKET = 1024 * 1024  # longest packet buffered from the broker (a send is 256 KiB at most)
_PUBACK = 0x40


class ConnectionState(enum.Enum):
    IDLE = "idle"  # nothing sent yet
    CONNECTING = "connecting"  # CONNECT sent, awaiting CONNACK
    CONNECTED = "connected"
    CLOSED = "closed"  # DISCONNECT sent, or an error: the caller closes the socket

    def check(self, target: ConnectionState) -> ConnectionState:
        if target not in _TRANSITIONS[self]:
            msg = f"MQTT connection: illegal transition {self.value} -> {target.value}"
            raise MqttUsageError(msg)
        return target


_S = ConnectionState
_TRANSITIONS: dict[ConnectionState, frozenset[ConnectionState]] = {
    _S.IDLE: frozenset({_S.CONNECTING, _S.CLOSED}),
    _S.CONNECTING: frozenset({_S.CONNECTED, _S.CLOSED}),
    _S.CONNECTED: frozenset({_S.CLOSED}),
    _S.CLOSED: frozenset({_S.CLOSED}),
}


class Connection:
    """One network connection's MQTT state machine on the client side."""

    def __init__(
        self,
        *,
        session: Session,
        client_id: str,
        keepalive: int,
        clean_session: bool = False,
        username: str | None = None,
        password: bytes | None = None,
        connect_timeout: float = 10.0,
        max_packet: int = MAX_PACKET,
    ) -> None:
        self.session = session
        self._connect = Connect(
            client_id=client_id,
            keepalive=keepalive,
            clean_session=clean_session,
            username=username,
            password=password,
        )
        encode(self._connect)  # refuses what MQTT 3.1.1 does not allow, before connecting
        self.keepalive = keepalive
        self.connect_timeout = connect_timeout
        self.state = ConnectionState.IDLE
        self.session_present = False
        self._reader = FrameReader(max_packet=max_packet)
        self._out: list[bytes] = []
        self._deadline: float | None = None  # CONNACK, then PINGRESP awaited
        self._last_sent = self._last_received = 0.0
        self._ping_sent = False

    # --- queries -----------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self.state is ConnectionState.CONNECTED

    def data_to_send(self, now: float) -> bytes:
        out = self._out
        if not out:
            return b""
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        self._last_sent = now
        return data

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` has something to do; None: never."""
        if self._deadline is not None:
            return self._deadline
        if self.state is ConnectionState.CONNECTED and self.keepalive:
            return min(self._last_sent, self._last_received) + self.keepalive
        return None

    # --- actions -----------------------------------------------------------------

    def connect(self, now: float) -> None:
        """Queue CONNECT (the first packet, 3.1)."""
        self.state = self.state.check(ConnectionState.CONNECTING)
        self.session.control.clear()  # SUBSCRIBEs of a lost connection get no answer
        self._out.append(encode(self._connect))
        self._deadline = now + self.connect_timeout
        self._last_sent = self._last_received = now

    def publish(self, topic: bytes, payload: bytes, *, qos: int = 1, retain: bool = False) -> int:
        """Queue a PUBLISH to ``topic`` (UTF-8, checked by the caller with
        :func:`~.packets.check_topic_name`); its packet id (0 for QoS 0)."""
        if self.state is not ConnectionState.CONNECTED:
            msg = f"MQTT PUBLISH while {self.state.value}"
            raise MqttUsageError(msg)
        if qos == 0:
            self._out.append(encode_publish(topic, payload, 0, qos=0, retain=retain))
            return 0
        if qos != 1:
            msg = f"MQTT PUBLISH QoS {qos}: this client publishes at QoS 0 or 1"
            raise MqttUsageError(msg)
        session = self.session
        if len(session.inflight) >= session.max_inflight:
            msg = f"MQTT PUBLISH beyond {session.max_inflight} in flight"
            raise MqttUsageError(msg)
        packet_id = session.allocate()
        packet = encode_publish(topic, payload, packet_id, qos=1, retain=retain)
        session.inflight[packet_id] = packet
        self._out.append(packet)
        return packet_id

    def subscribe(self, filters: Sequence[tuple[str, int]]) -> int:
        """Queue a SUBSCRIBE of ``(topic filter, QoS)`` pairs; its packet id (see Suback)."""
        return self._control(Subscribe, tuple(filters))

    def unsubscribe(self, filters: Sequence[str]) -> int:
        """Queue an UNSUBSCRIBE; its packet id (see Unsuback)."""
        return self._control(Unsubscribe, tuple(filters))

    def _control(self, kind: type[Subscribe | Unsubscribe], filters: tuple[object, ...]) -> int:
        if self.state is not ConnectionState.CONNECTED:
            msg = f"MQTT {kind.__name__.upper()} while {self.state.value}"
            raise MqttUsageError(msg)
        packet_id = self.session.allocate()
        self._out.append(encode(kind(packet_id=packet_id, filters=filters)))  # type: ignore[arg-type]
        self.session.control[packet_id] = len(filters)
        return packet_id

    def ack(self, packet_id: int) -> None:
        """Queue the PUBACK of a QoS 1 message received; nothing once closed (the broker
        sends the message again on the next connection)."""
        if self.state is ConnectionState.CONNECTED:
            self._out.append(encode_puback(packet_id))

    def disconnect(self) -> None:
        """Queue DISCONNECT (3.14): the last packet; the caller then closes the socket."""
        if self.state is ConnectionState.CONNECTED:
            self._out.append(b"\xe0\x00")
        self.state = self.state.check(ConnectionState.CLOSED)
        self._deadline = None

    def lost(self) -> None:
        """The network connection is gone (its socket closed): nothing more is sent."""
        self._close()
        self._out.clear()

    def handle_timer(self, now: float) -> None:
        """Send a PINGREQ when due; raises MqttTimeout when the broker fell silent."""
        if self.state is ConnectionState.CONNECTING and self._deadline is not None:
            if now >= self._deadline:
                self._close()
                msg = f"no CONNACK from the MQTT broker within {self.connect_timeout:g} s"
                raise MqttTimeout(msg)
        elif self.state is ConnectionState.CONNECTED and self.keepalive:
            if self._ping_sent and self._deadline is not None:
                if now >= self._deadline:
                    self._close()
                    msg = f"no PINGRESP from the MQTT broker within {self.keepalive} s"
                    raise MqttTimeout(msg)
            elif now >= min(self._last_sent, self._last_received) + self.keepalive:
                self._out.append(b"\xc0\x00")  # PINGREQ (3.12)
                self._ping_sent = True
                self._deadline = now + self.keepalive

    def receive_data(self, data: bytes, now: float) -> list[Event]:
        """Events in the bytes the broker sent; raises for a broken protocol."""
        if self.state is ConnectionState.CLOSED:
            return []
        self._last_received = now
        try:
            frames = self._reader.feed(data)
        except MqttProtocolError:
            self._close()
            raise
        events: list[Event] = []
        acked: list[int] | None = None  # the Acked event being filled
        inflight = self.session.inflight
        connected = self.state is ConnectionState.CONNECTED
        event: Event | None
        for frame in frames:
            if isinstance(frame, Oversized):
                event = self._oversized(frame)
            else:
                first, body = frame
                if first == _PUBACK and connected and len(body) == 2:
                    packet_id = (body[0] << 8) | body[1]
                    if inflight.pop(packet_id, None) is not None:
                        if acked is None:
                            acked = []
                            events.append(Acked(acked))
                        acked.append(packet_id)
                    elif not packet_id:
                        self._close()
                        msg = "malformed MQTT packet: PUBACK with packet id 0 (2.3.1)"
                        raise MqttProtocolError(msg)
                    # else: the PUBACK of a PUBLISH dropped with a lost session: nothing
                    continue
                event = self._packet(first, body)
            connected = self.state is ConnectionState.CONNECTED
            if event is not None:
                events.append(event)
                acked = None
        return events

    # --- receiving ---------------------------------------------------------------

    def _close(self) -> None:
        self.state = ConnectionState.CLOSED
        self._deadline = None

    def _violation(self, what: str) -> MqttProtocolError:
        self._close()
        return MqttProtocolError(f"the MQTT broker broke the protocol: {what}")

    def _packet(self, first: int, body: bytes) -> Event | None:
        try:
            packet = decode(first, body)
        except MqttProtocolError:
            self._close()
            raise
        if self.state is ConnectionState.CONNECTING:
            if not isinstance(packet, Connack):
                raise self._violation(f"{type(packet).__name__.upper()} before CONNACK (3.2)")
            return self._connack(packet)
        match packet:
            case Publish():
                if packet.qos > 1:
                    raise self._violation("a QoS 2 PUBLISH; this client subscribes at QoS 1")
                return packet
            case Suback() | Unsuback():
                expected = self.session.control.pop(packet.packet_id, None)
                if expected is None:
                    raise self._violation(f"{type(packet).__name__.upper()} of no request")
                if isinstance(packet, Suback) and len(packet.return_codes) != expected:
                    raise self._violation(
                        f"SUBACK with {len(packet.return_codes)} return codes for "
                        f"{expected} topic filters (3.9.3)"
                    )
                return packet
            case Pingresp():
                self._ping_sent = False
                self._deadline = None
                return None
            case _:
                # PUBACK of a length other than 2 raised in decode; the rest are never ours
                raise self._violation(f"{type(packet).__name__.upper()}, not sent to clients")

    def _connack(self, packet: Connack) -> Connected:
        if packet.return_code:
            self._close()
            raise ConnectRefused(packet.return_code)
        self.state = self.state.check(ConnectionState.CONNECTED)
        self._deadline = None
        self.session_present = packet.session_present
        inflight = self.session.inflight
        if not packet.session_present:
            inflight.clear()  # the broker kept no session: neither do we (3.2.2.2)
            return Connected(session_present=False, resent=0)
        for packet_id, sent in inflight.items():
            again = bytes((sent[0] | 0x08,)) + sent[1:]  # DUP (3.3.1.1), same id (4.4)
            inflight[packet_id] = again
            self._out.append(again)
        return Connected(session_present=True, resent=len(inflight))

    def _oversized(self, frame: Oversized) -> PublishTooLarge:
        if self.state is not ConnectionState.CONNECTED:
            raise self._violation(f"a {frame.size}-byte PUBLISH before CONNACK (3.2)")
        try:
            head = decode_publish(frame.first & 0x0F, frame.head)
        except MqttProtocolError:
            self._close()
            raise
        if head.qos > 1:
            raise self._violation("a QoS 2 PUBLISH; this client subscribes at QoS 1")
        return PublishTooLarge(
            topic=head.topic,
            packet_id=head.packet_id,
            qos=head.qos,
            retain=head.retain,
            size=frame.size - (len(frame.head) - len(head.payload)),  # the payload's
            head=head.payload[:PAYLOAD_HEAD],
        )

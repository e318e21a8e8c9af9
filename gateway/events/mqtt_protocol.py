"""MQTT 3.1.1 for a client, sans-IO: packets to bytes, bytes to packets.

What smsgw's bridge needs of MQTT (OASIS MQTT 3.1.1): CONNECT / CONNACK,
SUBSCRIBE / SUBACK, UNSUBSCRIBE / UNSUBACK, PUBLISH at QoS 0 and 1 both
ways, PUBACK, PINGREQ / PINGRESP and DISCONNECT. QoS 2 is never asked for
(subscriptions and publishes are QoS 1), so a QoS 2 PUBLISH is a protocol
error. :class:`Reader` takes the bytes as they come (any split) and returns
whole packets; the encoders return the bytes of one packet. No I/O, no
clock: gateway.events.mqtt_connection moves the bytes and keeps time.

A PUBACK is 4 bytes (0x40 0x02, then the packet id): the reader counts a
run of them without building an object each (:attr:`Reader.pubacks`), as a
broker acknowledging a batch of events sends hundreds at once.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ConnAck",
    "MqttProtocolError",
    "PacketIds",
    "PingResp",
    "Publish",
    "Reader",
    "SubAck",
    "UnsubAck",
    "connect",
    "disconnect",
    "pingreq",
    "puback",
    "publish",
    "subscribe",
    "unsubscribe",
]

MAX_PACKET = 16 * 1024 * 1024  # the largest packet accepted from the broker (bytes)
_MAX_REMAINING = 268_435_455  # what four bytes of remaining length can say (2.2.3)

CONNECT, CONNACK, PUBLISH, PUBACK = 1, 2, 3, 4
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK = 8, 9, 10, 11
PINGREQ, PINGRESP, DISCONNECT = 12, 13, 14

# CONNACK return codes (3.2.2.3)
CONNACK_REFUSALS = {
    1: "the broker does not speak MQTT 3.1.1",
    2: "the broker refused the client id",
    3: "the broker is unavailable",
    4: "bad user name or password",
    5: "not authorised",
}


class MqttProtocolError(Exception):
    """The broker sent something MQTT 3.1.1 does not allow; the connection must close."""


@dataclass(frozen=True, slots=True)
class ConnAck:
    session_present: bool
    code: int  # 0: accepted; else CONNACK_REFUSALS


@dataclass(frozen=True, slots=True)
class SubAck:
    packet_id: int
    codes: tuple[int, ...]  # per filter: the QoS granted, or 0x80 (failure)


@dataclass(frozen=True, slots=True)
class UnsubAck:
    packet_id: int


@dataclass(frozen=True, slots=True)
class Publish:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    dup: bool
    packet_id: int  # 0 at QoS 0


@dataclass(frozen=True, slots=True)
class PubAck:
    packet_id: int


@dataclass(frozen=True, slots=True)
class PingResp:
    pass


Packet = ConnAck | SubAck | UnsubAck | Publish | PubAck | PingResp


# --- encoding ------------------------------------------------------------------------


def _remaining(n: int) -> bytes:
    """The remaining length: base-128 digits, least significant first (2.2.3)."""
    out = bytearray()
    while True:
        digit, n = n & 0x7F, n >> 7
        out.append(digit | 0x80 if n else digit)
        if not n:
            return bytes(out)


def _text(value: str | bytes) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    if len(data) > 0xFFFF:
        msg = "an MQTT string is at most 65,535 bytes"
        raise ValueError(msg)
    return len(data).to_bytes(2, "big") + data


def _packet(first: int, body: bytes) -> bytes:
    if len(body) > _MAX_REMAINING:
        msg = "an MQTT packet is at most 256 MB"
        raise ValueError(msg)
    return bytes((first,)) + _remaining(len(body)) + body


def connect(
    client_id: str,
    *,
    keepalive: int,
    clean_session: bool,
    username: str | None = None,
    password: str | None = None,
) -> bytes:
    """CONNECT (3.1): protocol "MQTT" level 4."""
    flags = (0x02 if clean_session else 0) | (0x80 if username is not None else 0)
    flags |= 0x40 if password is not None else 0
    body = _text("MQTT") + bytes((4, flags)) + keepalive.to_bytes(2, "big") + _text(client_id)
    if username is not None:
        body += _text(username)
    if password is not None:
        body += _text(password)
    return _packet(CONNECT << 4, body)


def subscribe(packet_id: int, filters: list[tuple[str, int]]) -> bytes:
    """SUBSCRIBE (3.8): (filter, QoS) pairs."""
    body = packet_id.to_bytes(2, "big") + b"".join(_text(f) + bytes((q,)) for f, q in filters)
    return _packet(SUBSCRIBE << 4 | 0x02, body)


def unsubscribe(packet_id: int, filters: list[str]) -> bytes:
    """UNSUBSCRIBE (3.10)."""
    return _packet(
        UNSUBSCRIBE << 4 | 0x02, packet_id.to_bytes(2, "big") + b"".join(map(_text, filters))
    )


def publish(
    topic: bytes, payload: bytes, *, qos: int, packet_id: int = 0, retain: bool = False
) -> bytes:
    """PUBLISH (3.3), QoS 0 or 1."""
    first = PUBLISH << 4 | qos << 1 | (1 if retain else 0)
    ident = packet_id.to_bytes(2, "big") if qos else b""
    remaining = 2 + len(topic) + len(ident) + len(payload)
    return b"".join(
        (
            bytes((first,)),
            _remaining(remaining),
            len(topic).to_bytes(2, "big"),
            topic,
            ident,
            payload,
        )
    )


def puback(packet_id: int) -> bytes:
    return bytes((PUBACK << 4, 2)) + packet_id.to_bytes(2, "big")


def pingreq() -> bytes:
    return bytes((PINGREQ << 4, 0))


def disconnect() -> bytes:
    return bytes((DISCONNECT << 4, 0))


class PacketIds:
    """Packet identifiers 1..65535 (2.3.1), never one still in flight."""

    def __init__(self) -> None:
        self._next = 1
        self.in_flight: set[int] = set()

    def take(self) -> int:
        if len(self.in_flight) >= 0xFFFF:
            msg = "every MQTT packet identifier is in flight"
            raise MqttProtocolError(msg)
        while True:
            pid = self._next
            self._next = pid % 0xFFFF + 1
            if pid not in self.in_flight:
                self.in_flight.add(pid)
                return pid

    def release(self, pid: int) -> bool:
        """The packet's answer came: its id is free again (False: it was not in flight)."""
        if pid in self.in_flight:
            self.in_flight.discard(pid)
            return True
        return False


# --- decoding ------------------------------------------------------------------------


class Reader:
    """Whole packets out of the broker's bytes, whatever their split.

    :meth:`feed` returns the packets completed by ``data``, in order; PUBACKs
    come as :class:`PubAck` unless ``fast_pubacks`` is set, in which case the
    packet ids of the PUBACKs are appended to :attr:`pubacks` instead (the
    caller drains it).
    """

    def __init__(self, *, fast_pubacks: bool = False, max_packet: int = MAX_PACKET) -> None:
        self._buffer = bytearray()
        self._fast = fast_pubacks
        self._max = max_packet
        self.pubacks: list[int] = []

    def feed(self, data: bytes) -> list[Packet]:
        buf = self._buffer
        buf += data
        out: list[Packet] = []
        pos, end = 0, len(buf)
        while pos < end:
            if self._fast:
                pos = self._pubacks(buf, pos, end)
                if pos >= end:
                    break
            header = _header(buf, pos, end, self._max)
            if header is None:
                break
            first, start, length = header
            if start + length > end:
                break
            out.append(_decode(first, bytes(buf[start : start + length])))
            pos = start + length
        del buf[:pos]
        if out and self._fast:
            # a PUBACK that came with other packets: counted like the others
            self.pubacks.extend(p.packet_id for p in out if isinstance(p, PubAck))
            return [p for p in out if not isinstance(p, PubAck)]
        return out

    def _pubacks(self, buf: bytearray, pos: int, end: int) -> int:
        ids = self.pubacks
        while end - pos >= 4 and buf[pos] == 0x40 and buf[pos + 1] == 2:
            ids.append(buf[pos + 2] << 8 | buf[pos + 3])
            pos += 4
        return pos


def _header(buf: bytearray, pos: int, end: int, limit: int) -> tuple[int, int, int] | None:
    """(first byte, where the body starts, its length), or None while incomplete."""
    length, shift, i = 0, 0, pos + 1
    while True:
        if i >= end:
            return None
        digit = buf[i]
        length |= (digit & 0x7F) << shift
        i += 1
        if not digit & 0x80:
            break
        shift += 7
        if shift > 21:
            msg = "remaining length longer than four bytes"
            raise MqttProtocolError(msg)
    if length > limit:
        msg = f"a packet of {length:,} bytes is over the {limit:,} accepted"
        raise MqttProtocolError(msg)
    return buf[pos], i, length


def _decode(first: int, body: bytes) -> Packet:
    kind, flags = first >> 4, first & 0x0F
    if kind == PUBLISH:
        return _decode_publish(flags, body)
    if kind == CONNACK and len(body) == 2 and not flags:
        if body[0] & 0xFE:
            msg = "CONNACK with reserved flags set"
            raise MqttProtocolError(msg)
        return ConnAck(session_present=bool(body[0] & 1), code=body[1])
    if kind == PUBACK and len(body) == 2 and not flags:
        return PubAck(int.from_bytes(body, "big"))
    if kind == SUBACK and len(body) >= 3 and not flags:
        codes = tuple(body[2:])
        if any(c not in {0, 1, 2, 0x80} for c in codes):
            msg = f"SUBACK with return codes {codes!r}"
            raise MqttProtocolError(msg)
        return SubAck(int.from_bytes(body[:2], "big"), codes)
    if kind == UNSUBACK and len(body) == 2 and not flags:
        return UnsubAck(int.from_bytes(body, "big"))
    if kind == PINGRESP and not body and not flags:
        return PingResp()
    msg = f"unexpected packet from the broker: type {kind}, flags {flags}, {len(body)} bytes"
    raise MqttProtocolError(msg)


def _decode_publish(flags: int, body: bytes) -> Publish:
    qos = flags >> 1 & 0x03
    if qos > 1:
        msg = f"PUBLISH at QoS {qos}: smsgw subscribes at QoS 1 at most"
        raise MqttProtocolError(msg)
    if len(body) < 2:
        msg = "PUBLISH without a topic"
        raise MqttProtocolError(msg)
    n = int.from_bytes(body[:2], "big")
    ident_end = 2 + n + (2 if qos else 0)
    if len(body) < ident_end:
        msg = "PUBLISH shorter than its topic and packet id"
        raise MqttProtocolError(msg)
    try:
        topic = body[2 : 2 + n].decode()
    except UnicodeDecodeError:
        msg = "PUBLISH topic is not UTF-8"
        raise MqttProtocolError(msg) from None
    packet_id = int.from_bytes(body[2 + n : ident_end], "big") if qos else 0
    if qos and packet_id == 0:
        msg = "QoS 1 PUBLISH with packet id 0"
        raise MqttProtocolError(msg)
    return Publish(
        topic=topic,
        payload=body[ident_end:],
        qos=qos,
        retain=bool(flags & 1),
        dup=bool(flags & 0x08),
        packet_id=packet_id,
    )

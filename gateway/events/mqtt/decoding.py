"""MQTT 3.1.1 frames into packets, checking every rule section 3 makes of their form.

Reserved flags (2.2.2), non-zero packet ids (2.3.1), UTF-8 strings without
U+0000 (1.5.3), topic names without wildcards (4.7), a SUBSCRIBE with at
least one filter (3.8.3), SUBACK return codes (3.9.3): a broken rule raises
:class:`MqttProtocolError` saying which.
"""

from __future__ import annotations

from collections.abc import Callable

from gateway.events.mqtt.errors import MqttProtocolError
from gateway.events.mqtt.packets import (
    PROTOCOL_LEVEL,
    PROTOCOL_NAME,
    SUBACK_FAILURE,
    Connack,
    Connect,
    Disconnect,
    Packet,
    PacketType,
    Pingreq,
    Pingresp,
    Puback,
    Pubcomp,
    Publish,
    Pubrec,
    Pubrel,
    Suback,
    Subscribe,
    Unsuback,
    Unsubscribe,
    Will,
)

__all__ = ["decode", "decode_publish"]


def _malformed(what: str) -> MqttProtocolError:
    return MqttProtocolError(f"malformed MQTT packet: {what}")


def _read_u16(body: bytes, at: int, what: str) -> int:
    if len(body) < at + 2:
        raise _malformed(f"{what} cut short")
    return (body[at] << 8) | body[at + 1]


def _read_binary(body: bytes, at: int, what: str) -> tuple[bytes, int]:
    size = _read_u16(body, at, what)
    end = at + 2 + size
    if len(body) < end:
        raise _malformed(f"{what} cut short")
    return body[at + 2 : end], end


def _read_string(body: bytes, at: int, what: str) -> tuple[str, int]:
    data, end = _read_binary(body, at, what)
    try:
        text = data.decode()
    except UnicodeDecodeError:
        raise _malformed(f"{what} is not UTF-8 (1.5.3)") from None
    if "\0" in text:
        raise _malformed(f"{what} holds U+0000 (1.5.3)")
    return text, end


def _read_id(body: bytes, at: int, what: str) -> int:
    packet_id = _read_u16(body, at, f"{what} packet id")
    if not packet_id:
        raise _malformed(f"{what} with packet id 0 (2.3.1)")
    return packet_id


def _only_id(body: bytes, what: str) -> int:
    if len(body) != 2:
        raise _malformed(f"{what} of {len(body)} bytes: 2 expected")
    return _read_id(body, 0, what)


def _empty(body: bytes, what: str) -> None:
    if body:
        raise _malformed(f"{what} of {len(body)} bytes: 0 expected")


def decode_publish(flags: int, body: bytes) -> Publish:
    qos = (flags >> 1) & 3
    if qos == 3:
        raise _malformed("PUBLISH with QoS 3 (3.3.1.2)")
    dup = bool(flags & 0x08)
    if dup and not qos:
        raise _malformed("QoS 0 PUBLISH with the DUP flag (3.3.1.1)")
    topic, at = _read_string(body, 0, "PUBLISH topic name")
    if not topic or "+" in topic or "#" in topic:
        raise _malformed(f"PUBLISH topic name {topic!r} (4.7.3)")
    packet_id = 0
    if qos:
        packet_id = _read_id(body, at, "PUBLISH")
        at += 2
    return Publish(
        topic=topic,
        payload=body[at:],
        qos=qos,
        retain=bool(flags & 1),
        dup=dup,
        packet_id=packet_id,
    )


def _decode_connect(body: bytes) -> Connect:
    if body[:6] != PROTOCOL_NAME:
        raise _malformed("CONNECT without the protocol name MQTT (3.1.2.1)")
    if len(body) < 10:
        raise _malformed("CONNECT header cut short")
    if body[6] != PROTOCOL_LEVEL:
        raise _malformed(f"CONNECT protocol level {body[6]}: 4 expected (3.1.2.2)")
    flags = body[7]
    if flags & 0x01:
        raise _malformed("CONNECT with the reserved flag set (3.1.2.3)")
    keepalive = _read_u16(body, 8, "CONNECT keepalive")
    client_id, at = _read_string(body, 10, "CONNECT client id")
    will, at = _read_will(body, at, flags)
    username, password, at = _read_credentials(body, at, flags)
    if at != len(body):
        raise _malformed("CONNECT with bytes after its payload")
    return Connect(
        client_id=client_id,
        keepalive=keepalive,
        clean_session=bool(flags & 0x02),
        username=username,
        password=password,
        will=will,
    )


def _read_will(body: bytes, at: int, flags: int) -> tuple[Will | None, int]:
    """CONNECT's will at ``at`` if its flags announce one."""
    if flags & 0x04:
        will_topic, at = _read_string(body, at, "CONNECT will topic")
        message, at = _read_binary(body, at, "CONNECT will message")
        will = Will(
            topic=will_topic, message=message, qos=(flags >> 3) & 3, retain=bool(flags & 0x20)
        )
        return will, at
    if flags & 0x38:
        raise _malformed("CONNECT with will QoS or retain but no will (3.1.2.6)")
    return None, at


def _read_credentials(body: bytes, at: int, flags: int) -> tuple[str | None, bytes | None, int]:
    """CONNECT's user name and password at ``at``, those its flags announce."""
    username = password = None
    if flags & 0x80:
        username, at = _read_string(body, at, "CONNECT user name")
    if flags & 0x40:
        if username is None:
            raise _malformed("CONNECT with a password but no user name (3.1.2.9)")
        password, at = _read_binary(body, at, "CONNECT password")
    return username, password, at


def _decode_connack(body: bytes) -> Connack:
    if len(body) != 2:
        raise _malformed(f"CONNACK of {len(body)} bytes: 2 expected")
    if body[0] & 0xFE:
        raise _malformed("CONNACK with reserved flags set (3.2.2.1)")
    session_present, code = bool(body[0] & 1), body[1]
    if session_present and code:
        raise _malformed("CONNACK refusing with session present set (3.2.2.2)")
    return Connack(session_present=session_present, return_code=code)


def _decode_subscribe(body: bytes) -> Subscribe:
    packet_id = _read_id(body, 0, "SUBSCRIBE")
    at, filters = 2, []
    while at < len(body):
        topic_filter, at = _read_string(body, at, "SUBSCRIBE topic filter")
        if at >= len(body) or body[at] > 2:
            raise _malformed("SUBSCRIBE requested QoS missing or not 0, 1, 2 (3.8.3.1)")
        filters.append((topic_filter, body[at]))
        at += 1
    if not filters:
        raise _malformed("SUBSCRIBE without a topic filter (3.8.3)")
    return Subscribe(packet_id=packet_id, filters=tuple(filters))


def _decode_suback(body: bytes) -> Suback:
    packet_id = _read_id(body, 0, "SUBACK")
    codes = tuple(body[2:])
    if not codes or any(c not in {0, 1, 2, SUBACK_FAILURE} for c in codes):
        raise _malformed(f"SUBACK return codes {codes}: each 0, 1, 2 or 0x80 (3.9.3)")
    return Suback(packet_id=packet_id, return_codes=codes)


def _decode_unsubscribe(body: bytes) -> Unsubscribe:
    packet_id = _read_id(body, 0, "UNSUBSCRIBE")
    at, filters = 2, []
    while at < len(body):
        topic_filter, at = _read_string(body, at, "UNSUBSCRIBE topic filter")
        filters.append(topic_filter)
    if not filters:
        raise _malformed("UNSUBSCRIBE without a topic filter (3.10.3)")
    return Unsubscribe(packet_id=packet_id, filters=tuple(filters))


def _decode_empty(make: Callable[[], Packet], what: str) -> Callable[[int, bytes], Packet]:
    def decoder(_flags: int, body: bytes) -> Packet:
        _empty(body, what)
        return make()

    return decoder


# per type: the flags its first byte must carry (None: PUBLISH's own), its decoder
_DECODERS: dict[int, tuple[int | None, Callable[[int, bytes], Packet]]] = {
    1: (0, lambda _f, b: _decode_connect(b)),
    2: (0, lambda _f, b: _decode_connack(b)),
    3: (None, decode_publish),
    4: (0, lambda _f, b: Puback(packet_id=_only_id(b, "PUBACK"))),
    5: (0, lambda _f, b: Pubrec(packet_id=_only_id(b, "PUBREC"))),
    6: (2, lambda _f, b: Pubrel(packet_id=_only_id(b, "PUBREL"))),
    7: (0, lambda _f, b: Pubcomp(packet_id=_only_id(b, "PUBCOMP"))),
    8: (2, lambda _f, b: _decode_subscribe(b)),
    9: (0, lambda _f, b: _decode_suback(b)),
    10: (2, lambda _f, b: _decode_unsubscribe(b)),
    11: (0, lambda _f, b: Unsuback(packet_id=_only_id(b, "UNSUBACK"))),
    12: (0, _decode_empty(Pingreq, "PINGREQ")),
    13: (0, _decode_empty(Pingresp, "PINGRESP")),
    14: (0, _decode_empty(Disconnect, "DISCONNECT")),
}


def decode(first: int, body: bytes) -> Packet:
    """The packet of one frame (first byte, body); raises MqttProtocolError."""
    entry = _DECODERS.get(first >> 4)
    if entry is None:
        raise _malformed(f"packet type {first >> 4} does not exist (first byte 0x{first:02x})")
    flags, decoder = entry
    if flags is not None and first & 0x0F != flags:
        name = PacketType(first >> 4).name
        raise _malformed(f"{name} with flags 0x{first & 0x0F:x}: 0x{flags:x} expected (2.2.2)")
    return decoder(first & 0x0F, body)

"""MQTT 3.1.1 packets into bytes, refusing what the protocol does not allow.

:func:`encode` takes any packet of :mod:`.packets` and raises
:class:`MqttUsageError` for one MQTT 3.1.1 forbids (a password without a
user name, a wildcard in a topic name, packet id 0...). :func:`encode_publish`
and :func:`encode_puback` are the hot paths: bytes in, bytes out, no packet
object, no check the caller did already.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from gateway.events.mqtt.errors import MqttUsageError
from gateway.events.mqtt.framing import encode_length
from gateway.events.mqtt.packets import (
    PROTOCOL_LEVEL,
    PROTOCOL_NAME,
    Connack,
    Connect,
    Disconnect,
    Packet,
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
)

__all__ = ["check_topic_name", "encode", "encode_puback", "encode_publish"]

_U16 = struct.Struct(">H")


def _string(text: str, what: str) -> bytes:
    """A UTF-8 string: two length bytes then the text (1.5.3)."""
    if "\0" in text:
        msg = f"MQTT {what} {text!r}: U+0000 is not allowed (1.5.3)"
        raise MqttUsageError(msg)
    data = text.encode()
    return _binary(data, what)


def _binary(data: bytes, what: str) -> bytes:
    if len(data) > 0xFFFF:
        msg = f"MQTT {what} of {len(data)} bytes: at most 65,535"
        raise MqttUsageError(msg)
    return _U16.pack(len(data)) + data


def _packet_id(packet_id: int) -> bytes:
    if not 0 < packet_id <= 0xFFFF:
        msg = f"MQTT packet id {packet_id}: between 1 and 65,535 (2.3.1)"
        raise MqttUsageError(msg)
    return _U16.pack(packet_id)


def _qos(qos: int, what: str) -> int:
    if qos not in {0, 1, 2}:
        msg = f"MQTT {what} QoS {qos}: 0, 1 or 2"
        raise MqttUsageError(msg)
    return qos


def _frame(first: int, *parts: bytes) -> bytes:
    body = b"".join(parts)
    return bytes((first,)) + encode_length(len(body)) + body


def check_topic_name(topic: bytes) -> None:
    """A topic one may publish to (4.7): not empty, no wildcard, no U+0000."""
    if not topic or b"+" in topic or b"#" in topic or b"\0" in topic or len(topic) > 0xFFFF:
        msg = f"MQTT topic name {topic!r}: not one a PUBLISH may carry (4.7.3)"
        raise MqttUsageError(msg)


def encode_publish(
    topic: bytes,
    payload: bytes,
    packet_id: int,
    *,
    qos: int = 1,
    retain: bool = False,
    dup: bool = False,
) -> bytes:
    """A PUBLISH (3.3) to ``topic`` (already UTF-8, checked by :func:`check_topic_name`)."""
    first = 0x30 | (qos << 1) | (0x08 if dup else 0) | (0x01 if retain else 0)
    if qos:
        remaining = 4 + len(topic) + len(payload)
        ident = _U16.pack(packet_id)
    else:
        remaining = 2 + len(topic) + len(payload)
        ident = b""
    if remaining < 128:
        header = bytes((first, remaining))
    else:
        header = bytes((first,)) + encode_length(remaining)
    return b"".join((header, _U16.pack(len(topic)), topic, ident, payload))


def encode_puback(packet_id: int) -> bytes:
    return b"\x40\x02" + _U16.pack(packet_id)


def _encode_connect(p: Connect) -> bytes:
    if not p.client_id and not p.clean_session:
        msg = "MQTT client id: required for a persistent session (3.1.3.1)"
        raise MqttUsageError(msg)
    if p.password is not None and p.username is None:
        msg = "MQTT password without a user name: MQTT 3.1.1 does not allow it (3.1.2.9)"
        raise MqttUsageError(msg)
    if not 0 <= p.keepalive <= 0xFFFF:
        msg = f"MQTT keepalive {p.keepalive}: 0 to 65,535 seconds"
        raise MqttUsageError(msg)
    flags = 0x02 if p.clean_session else 0
    payload = [_string(p.client_id, "client id")]
    if p.will is not None:
        flags |= 0x04 | (_qos(p.will.qos, "will") << 3) | (0x20 if p.will.retain else 0)
        payload += [_string(p.will.topic, "will topic"), _binary(p.will.message, "will message")]
    if p.username is not None:
        flags |= 0x80
        payload.append(_string(p.username, "user name"))
    if p.password is not None:
        flags |= 0x40
        payload.append(_binary(p.password, "password"))
    header = PROTOCOL_NAME + bytes((PROTOCOL_LEVEL, flags)) + _U16.pack(p.keepalive)
    return _frame(0x10, header, *payload)


def _encode_publish(p: Publish) -> bytes:
    topic = p.topic.encode()
    check_topic_name(topic)
    qos = _qos(p.qos, "PUBLISH")
    if qos == 0 and (p.dup or p.packet_id):
        msg = "MQTT QoS 0 PUBLISH: no DUP flag, no packet id (3.3.1.1)"
        raise MqttUsageError(msg)
    if qos:
        _packet_id(p.packet_id)
    return encode_publish(topic, p.payload, p.packet_id, qos=qos, retain=p.retain, dup=p.dup)


def _encode_connack(p: Connack) -> bytes:
    if p.session_present and p.return_code:
        msg = "MQTT CONNACK refusing a connection: session present must be 0 (3.2.2.2)"
        raise MqttUsageError(msg)
    return bytes((0x20, 2, int(p.session_present), p.return_code))


def _encode_subscribe(p: Subscribe) -> bytes:
    if not p.filters:
        msg = "MQTT SUBSCRIBE without a topic filter (3.8.3)"
        raise MqttUsageError(msg)
    parts = [_packet_id(p.packet_id)]
    for topic_filter, qos in p.filters:
        parts += [_string(topic_filter, "topic filter"), bytes((_qos(qos, "SUBSCRIBE"),))]
    return _frame(0x82, *parts)


def _encode_unsubscribe(p: Unsubscribe) -> bytes:
    if not p.filters:
        msg = "MQTT UNSUBSCRIBE without a topic filter (3.10.3)"
        raise MqttUsageError(msg)
    parts = [_packet_id(p.packet_id)]
    parts += [_string(f, "topic filter") for f in p.filters]
    return _frame(0xA2, *parts)


def _encode_suback(p: Suback) -> bytes:
    return _frame(0x90, _packet_id(p.packet_id), bytes(p.return_codes))


def _id_only(first_two: bytes) -> Callable[[Puback | Pubrec | Pubrel | Pubcomp | Unsuback], bytes]:
    """The encoder of a packet that is its fixed header and a packet id."""

    def encoder(p: Puback | Pubrec | Pubrel | Pubcomp | Unsuback) -> bytes:
        return first_two + _packet_id(p.packet_id)

    return encoder


def _fixed(data: bytes) -> Callable[[Pingreq | Pingresp | Disconnect], bytes]:
    """The encoder of a packet that is always the same two bytes."""
    return lambda _p: data


# per packet class, its encoder (which takes a packet of that class)
_ENCODERS: dict[type[Packet], Callable[[Any], bytes]] = {
    Publish: _encode_publish,
    Puback: _id_only(b"\x40\x02"),
    Connect: _encode_connect,
    Connack: _encode_connack,
    Pubrec: _id_only(b"\x50\x02"),
    Pubrel: _id_only(b"\x62\x02"),
    Pubcomp: _id_only(b"\x70\x02"),
    Subscribe: _encode_subscribe,
    Suback: _encode_suback,
    Unsubscribe: _encode_unsubscribe,
    Unsuback: _id_only(b"\xb0\x02"),
    Pingreq: _fixed(b"\xc0\x00"),
    Pingresp: _fixed(b"\xd0\x00"),
    Disconnect: _fixed(b"\xe0\x00"),
}


def encode(packet: Packet) -> bytes:
    """Any packet as bytes; raises MqttUsageError for one MQTT 3.1.1 does not allow."""
    return _ENCODERS[type(packet)](packet)

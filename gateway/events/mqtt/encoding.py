"""MQTT 3.1.1 packets into bytes, refusing what the protocol does not allow.

:func:`encode` takes any packet of :mod:`.packets` and raises
:class:`MqttUsageError` for one MQTT 3.1.1 forbids (a password without a
user name, a wildcard in a topic name, packet id 0...). :func:`encode_publish`
and :func:`encode_puback` are the hot paths: bytes in, bytes out, no packet
object, no check the caller did already.
"""

from __future__ import annotations

import struct

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


def encode(packet: Packet) -> bytes:
    """Any packet as bytes; raises MqttUsageError for one MQTT 3.1.1 does not allow."""
    match packet:
        case Publish():
            topic = packet.topic.encode()
            check_topic_name(topic)
            qos = _qos(packet.qos, "PUBLISH")
            if qos == 0 and (packet.dup or packet.packet_id):
                msg = "MQTT QoS 0 PUBLISH: no DUP flag, no packet id (3.3.1.1)"
                raise MqttUsageError(msg)
            if qos:
                _packet_id(packet.packet_id)
            return encode_publish(
                topic,
                packet.payload,
                packet.packet_id,
                qos=qos,
                retain=packet.retain,
                dup=packet.dup,
            )
        case Puback():
            return b"\x40\x02" + _packet_id(packet.packet_id)
        case Connect():
            return _encode_connect(packet)
        case Connack():
            if packet.session_present and packet.return_code:
                msg = "MQTT CONNACK refusing a connection: session present must be 0 (3.2.2.2)"
                raise MqttUsageError(msg)
            return bytes((0x20, 2, int(packet.session_present), packet.return_code))
        case Pubrec():
            return b"\x50\x02" + _packet_id(packet.packet_id)
        case Pubrel():
            return b"\x62\x02" + _packet_id(packet.packet_id)
        case Pubcomp():
            return b"\x70\x02" + _packet_id(packet.packet_id)
        case Subscribe():
            if not packet.filters:
                msg = "MQTT SUBSCRIBE without a topic filter (3.8.3)"
                raise MqttUsageError(msg)
            parts = [_packet_id(packet.packet_id)]
            for topic_filter, qos in packet.filters:
                parts += [_string(topic_filter, "topic filter"), bytes((_qos(qos, "SUBSCRIBE"),))]
            return _frame(0x82, *parts)
        case Suback():
            return _frame(0x90, _packet_id(packet.packet_id), bytes(packet.return_codes))
        case Unsubscribe():
            if not packet.filters:
                msg = "MQTT UNSUBSCRIBE without a topic filter (3.10.3)"
                raise MqttUsageError(msg)
            parts = [_packet_id(packet.packet_id)]
            parts += [_string(f, "topic filter") for f in packet.filters]
            return _frame(0xA2, *parts)
        case Unsuback():
            return b"\xb0\x02" + _packet_id(packet.packet_id)
        case Pingreq():
            return b"\xc0\x00"
        case Pingresp():
            return b"\xd0\x00"
        case Disconnect():
            return b"\xe0\x00"

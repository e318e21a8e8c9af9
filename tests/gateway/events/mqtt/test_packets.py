"""MQTT 3.1.1 packets: byte vectors per type, round trips, and every malformed form refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.events.mqtt.decoding import decode
from gateway.events.mqtt.encoding import encode, encode_puback, encode_publish
from gateway.events.mqtt.errors import MqttProtocolError, MqttUsageError
from gateway.events.mqtt.framing import FrameReader
from gateway.events.mqtt.packets import (
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
    Will,
)

VECTORS: list[tuple[Packet, bytes]] = [
    (
        Connect(client_id="gw", keepalive=30, clean_session=False, username="u", password=b"p"),
        bytes.fromhex("1014 00044d515454 04 c0 001e 00026777 000175 000170".replace(" ", "")),
    ),
    (
        Connect(client_id="", keepalive=0, clean_session=True),
        bytes.fromhex("100c00044d51545404020000 0000".replace(" ", "")),
    ),
    (
        Connect(
            client_id="c",
            keepalive=60,
            clean_session=True,
            will=Will(topic="w", message=b"gone", qos=1, retain=True),
        ),
        bytes.fromhex("101600044d51545404 2e 003c 000163 000177 0004676f6e65".replace(" ", "")),
    ),
    (Connack(session_present=True, return_code=0), b"\x20\x02\x01\x00"),
    (Connack(session_present=False, return_code=5), b"\x20\x02\x00\x05"),
    (
        Publish(topic="a/b", payload=b"hi", qos=1, packet_id=0x0102),
        b"\x32\x09\x00\x03a/b\x01\x02hi",
    ),
    (Publish(topic="a/b", payload=b"", qos=0, retain=True), b"\x31\x05\x00\x03a/b"),
    (
        Publish(topic="a/b", payload=b"x", qos=1, dup=True, retain=True, packet_id=7),
        b"\x3b\x08\x00\x03a/b\x00\x07x",
    ),
    (Publish(topic="é", payload=b"", qos=2, packet_id=1), b"\x34\x06\x00\x02\xc3\xa9\x00\x01"),
    (Puback(packet_id=7), b"\x40\x02\x00\x07"),
    (Pubrec(packet_id=7), b"\x50\x02\x00\x07"),
    (Pubrel(packet_id=7), b"\x62\x02\x00\x07"),
    (Pubcomp(packet_id=7), b"\x70\x02\x00\x07"),
    (Subscribe(packet_id=10, filters=(("a/b", 1),)), b"\x82\x08\x00\x0a\x00\x03a/b\x01"),
    (
        Subscribe(packet_id=10, filters=(("a/#", 0), ("$share/g/+/s", 2))),
        b"\x82\x17\x00\x0a\x00\x03a/#\x00\x00\x0c$share/g/+/s\x02",
    ),
    (Suback(packet_id=10, return_codes=(1, 0x80)), b"\x90\x04\x00\x0a\x01\x80"),
    (Unsubscribe(packet_id=11, filters=("a/b",)), b"\xa2\x07\x00\x0b\x00\x03a/b"),
    (Unsuback(packet_id=11), b"\xb0\x02\x00\x0b"),
    (Pingreq(), b"\xc0\x00"),
    (Pingresp(), b"\xd0\x00"),
    (Disconnect(), b"\xe0\x00"),
]


def frame_of(data: bytes) -> tuple[int, bytes]:
    [frame] = FrameReader(max_packet=1 << 20).feed(data)
    assert isinstance(frame, tuple)
    return frame


@pytest.mark.parametrize(("packet", "data"), VECTORS, ids=lambda v: type(v).__name__)
def test_every_packet_type_encodes_as_the_spec_lays_it_out(packet: Packet, data: bytes) -> None:
    assert encode(packet) == data


@pytest.mark.parametrize(("packet", "data"), VECTORS, ids=lambda v: type(v).__name__)
def test_every_packet_type_decodes_back(packet: Packet, data: bytes) -> None:
    assert decode(*frame_of(data)) == packet


def test_the_hot_path_encoders_match_the_general_one() -> None:
    assert encode_puback(0xFFFF) == encode(Puback(packet_id=0xFFFF))
    big = Publish(topic="a/b", payload=b"x" * 200, qos=1, packet_id=7)
    assert encode_publish(b"a/b", b"x" * 200, 7) == encode(big)
    assert encode(big)[:3] == b"\x32\xcf\x01"  # remaining length 207: two digits, low first


topics = st.text(
    alphabet=st.characters(exclude_characters="+#\0", exclude_categories=["Cs"]),
    min_size=1,
    max_size=40,
)


@given(
    topic=topics,
    payload=st.binary(max_size=500),
    qos=st.sampled_from([0, 1, 2]),
    flags=st.tuples(st.booleans(), st.booleans()),
    packet_id=st.integers(min_value=1, max_value=0xFFFF),
)
def test_any_publish_round_trips(
    *, topic: str, payload: bytes, qos: int, flags: tuple[bool, bool], packet_id: int
) -> None:
    retain, dup = flags
    packet = Publish(
        topic=topic,
        payload=payload,
        qos=qos,
        retain=retain,
        dup=dup and qos > 0,
        packet_id=packet_id if qos else 0,
    )
    assert decode(*frame_of(encode(packet))) == packet


def test_a_password_never_shows_in_a_connect_repr() -> None:
    packet = Connect(client_id="gw", keepalive=1, clean_session=False, username="u", password=b"s3")
    assert "s3" not in repr(packet)


MALFORMED = [
    (0x00, b"", "packet type 0 does not exist"),
    (0xF0, b"", "packet type 15 does not exist"),
    (0x41, b"\x00\x01", "PUBACK with flags 0x1: 0x0 expected"),
    (0x80, b"\x00\x01\x00\x01a\x00", "SUBSCRIBE with flags 0x0: 0x2 expected"),
    (0x36, b"\x00\x01a\x00\x01", "QoS 3"),
    (0x38, b"\x00\x01a", "QoS 0 PUBLISH with the DUP flag"),
    (0x32, b"\x00\x01a\x00\x00", "PUBLISH with packet id 0"),
    (0x32, b"\x00\x01a\x00", "PUBLISH packet id cut short"),
    (0x30, b"\x00\x05a", "PUBLISH topic name cut short"),
    (0x30, b"\x00", "PUBLISH topic name cut short"),
    (0x30, b"\x00\x02\xc3\x28", "not UTF-8"),
    (0x30, b"\x00\x03a\x00b", "U+0000"),
    (0x30, b"\x00\x03a/+", "topic name 'a/+'"),
    (0x30, b"\x00\x01#", "topic name '#'"),
    (0x30, b"\x00\x00", "topic name ''"),
    (0x40, b"\x00\x01\x00", "PUBACK of 3 bytes: 2 expected"),
    (0x40, b"\x00\x00", "PUBACK with packet id 0"),
    (0x20, b"\x00", "CONNACK of 1 bytes"),
    (0x20, b"\x02\x00", "reserved flags"),
    (0x20, b"\x01\x04", "session present set"),
    (0x90, b"\x00\x01", "SUBACK return codes ()"),
    (0x90, b"\x00\x01\x03", "SUBACK return codes (3,)"),
    (0x82, b"\x00\x01", "SUBSCRIBE without a topic filter"),
    (0x82, b"\x00\x01\x00\x01a\x03", "requested QoS"),
    (0x82, b"\x00\x01\x00\x01a", "requested QoS"),
    (0xA2, b"\x00\x01", "UNSUBSCRIBE without a topic filter"),
    (0xD0, b"\x00", "PINGRESP of 1 bytes: 0 expected"),
    (0xE0, b"\x00", "DISCONNECT of 1 bytes"),
    (0x10, b"\x00\x04MQTS\x04\x00\x00\x00\x00\x00", "protocol name"),
    (0x10, b"\x00\x04MQTT\x03\x00\x00\x00\x00\x00", "protocol level 3"),
    (0x10, b"\x00\x04MQTT\x04\x01\x00\x00\x00\x00", "reserved flag"),
    (0x10, b"\x00\x04MQTT\x04\x40\x00\x00\x00\x00\x00\x01p", "password but no user name"),
    (0x10, b"\x00\x04MQTT\x04\x08\x00\x00\x00\x00", "will QoS or retain but no will"),
    (0x10, b"\x00\x04MQTT\x04\x00\x00\x00\x00\x00!", "bytes after its payload"),
    (0x10, b"\x00\x04MQTT", "CONNECT header cut short"),
]


@pytest.mark.parametrize(("first", "body", "what"), MALFORMED)
def test_a_malformed_packet_is_a_protocol_error_saying_what(
    first: int, body: bytes, what: str
) -> None:
    with pytest.raises(MqttProtocolError, match="malformed MQTT packet") as caught:
        decode(first, body)
    assert what in str(caught.value)


REFUSED: list[tuple[Packet, str]] = [
    (Connect(client_id="", keepalive=1, clean_session=False), "client id: required"),
    (Connect(client_id="c", keepalive=1, clean_session=True, password=b"p"), "without a user"),
    (Connect(client_id="c", keepalive=70_000, clean_session=True), "keepalive 70000"),
    (Connect(client_id="c\0", keepalive=1, clean_session=True), r"U\+0000"),
    (Connect(client_id="c" * 70_000, keepalive=1, clean_session=True), "at most 65,535"),
    (Publish(topic="a/+", payload=b"", qos=1, packet_id=1), "topic name"),
    (Publish(topic="", payload=b""), "topic name"),
    (Publish(topic="a", payload=b"", qos=1, packet_id=0), "packet id 0"),
    (Publish(topic="a", payload=b"", qos=3, packet_id=1), "QoS 3"),
    (Publish(topic="a", payload=b"", qos=0, dup=True), "QoS 0 PUBLISH"),
    (Puback(packet_id=0x10000), "packet id 65536"),
    (Subscribe(packet_id=1, filters=()), "without a topic filter"),
    (Unsubscribe(packet_id=1, filters=()), "without a topic filter"),
    (Connack(session_present=True, return_code=4), "session present must be 0"),
]


@pytest.mark.parametrize(("packet", "what"), REFUSED, ids=lambda v: type(v).__name__)
def test_a_packet_mqtt_forbids_is_never_encoded(packet: Packet, what: str) -> None:
    with pytest.raises(MqttUsageError, match=what):
        encode(packet)

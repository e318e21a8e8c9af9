"""The sans-IO MQTT 3.1.1 client core: packets to bytes, bytes to packets, any split."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.events import mqtt_protocol as mp


def test_connect_is_mqtt_3_1_1_level_4() -> None:
    packet = mp.connect("gw", keepalive=30, clean_session=False)
    assert packet == b"\x10\x0e\x00\x04MQTT\x04\x00\x00\x1e\x00\x02gw"
    with_login = mp.connect("gw", keepalive=30, clean_session=True, username="u", password="p")
    assert with_login[9] == 0x80 | 0x40 | 0x02  # user name, password, clean session
    assert with_login.endswith(b"\x00\x01u\x00\x01p")


def test_subscribe_unsubscribe_and_small_packets() -> None:
    assert mp.subscribe(5, [("a/+", 1)]) == b"\x82\x08\x00\x05\x00\x03a/+\x01"
    assert mp.unsubscribe(6, ["a/+"]) == b"\xa2\x07\x00\x06\x00\x03a/+"
    assert mp.puback(0x0102) == b"\x40\x02\x01\x02"
    assert mp.pingreq() == b"\xc0\x00"
    assert mp.disconnect() == b"\xe0\x00"


def test_publish_packets() -> None:
    assert mp.publish(b"a/b", b"hi", qos=1, packet_id=0x0102) == b"\x32\x09\x00\x03a/b\x01\x02hi"
    assert mp.publish(b"a/b", b"", qos=1, packet_id=1, retain=True)[0] == 0x33
    assert mp.publish(b"a/b", b"hi", qos=0) == b"\x30\x07\x00\x03a/bhi"
    # remaining length 2 + 3 + 2 + 200 = 207: two base-128 digits, low first
    assert mp.publish(b"a/b", b"x" * 200, qos=1, packet_id=7)[:3] == b"\x32\xcf\x01"


BROKER_BYTES = b"".join(
    (
        b"\x20\x02\x01\x00",  # CONNACK, session present
        b"\x90\x04\x00\x05\x01\x80",  # SUBACK: granted QoS 1, then a failure
        b"\xb0\x02\x00\x06",  # UNSUBACK
        b"\x32\x0a\x00\x03a/b\x00\x09hi!",  # PUBLISH QoS 1, id 9
        b"\x39\x08\x00\x03a/b\x00\x0ax",  # PUBLISH QoS 0 DUP+retain... (QoS 0: no id)
        b"\x40\x02\x00\x07",  # PUBACK
        b"\xd0\x00",  # PINGRESP
    )
)
EXPECTED: list[object] = [
    mp.ConnAck(session_present=True, code=0),
    mp.SubAck(packet_id=5, codes=(1, 0x80)),
    mp.UnsubAck(packet_id=6),
    mp.Publish(topic="a/b", payload=b"hi!", qos=1, retain=False, dup=False, packet_id=9),
    mp.Publish(topic="a/b", payload=b"\x00\x0ax", qos=0, retain=True, dup=True, packet_id=0),
    mp.PubAck(packet_id=7),
    mp.PingResp(),
]


def test_every_packet_of_the_broker_is_read() -> None:
    assert mp.Reader().feed(BROKER_BYTES) == EXPECTED


@given(cuts=st.lists(st.integers(min_value=0, max_value=len(BROKER_BYTES)), max_size=12))
def test_packets_are_the_same_whatever_the_split(cuts: list[int]) -> None:
    reader = mp.Reader()
    got: list[object] = []
    at = 0
    for cut in [*sorted(cuts), len(BROKER_BYTES)]:
        got.extend(reader.feed(BROKER_BYTES[at:cut]))
        at = cut
    assert got == EXPECTED


def test_byte_by_byte() -> None:
    reader = mp.Reader()
    got = [p for i in range(len(BROKER_BYTES)) for p in reader.feed(BROKER_BYTES[i : i + 1])]
    assert got == EXPECTED


def test_fast_pubacks_are_counted_not_decoded_and_others_still_come() -> None:
    reader = mp.Reader(fast_pubacks=True)
    run = b"".join(mp.puback(i) for i in range(1, 301))
    assert reader.feed(run[:-1]) == []  # the last one waits for its last byte
    assert reader.feed(run[-1:] + b"\xd0\x00" + mp.puback(400)) == [mp.PingResp()]
    assert reader.pubacks == [*range(1, 301), 400]


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"\x30\xff\xff\xff\xff\x01", "longer than four bytes"),
        (b"\x30\xff\xff\xff\x7f", "over the"),
        (b"\x34\x05\x00\x01a\x00\x01", "QoS 2"),
        (b"\x32\x05\x00\x01a\x00\x00", "packet id 0"),
        (b"\x32\x03\x00\x05a", "shorter than its topic"),
        (b"\x30\x03\x00\x01\xff", "not UTF-8"),
        (b"\x20\x02\x02\x00", "reserved flags"),
        (b"\x90\x03\x00\x01\x03", "return codes"),
        (b"\x10\x00", "unexpected packet"),  # a CONNECT, from the broker
        (b"\x41\x02\x00\x01", "unexpected packet"),  # PUBACK with flags
    ],
)
def test_malformed_packets_are_protocol_errors(data: bytes, why: str) -> None:
    with pytest.raises(mp.MqttProtocolError, match=why):
        mp.Reader().feed(data)


def test_packet_ids_skip_those_in_flight_and_wrap() -> None:
    ids = mp.PacketIds()
    assert [ids.take() for _ in range(3)] == [1, 2, 3]
    assert ids.release(2)
    assert not ids.release(2)  # not in flight any more
    for _ in range(0xFFFF - 3):
        ids.take()
    assert ids.take() == 2  # wrapped past 65535, 1 and 3 still in flight
    with pytest.raises(mp.MqttProtocolError, match="in flight"):
        ids.take()

"""MQTT 3.1.1 framing: remaining-length digits (2.2.3), packets cut from any split of
the stream, the packet size limit."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.events.mqtt.errors import MqttProtocolError, MqttUsageError
from gateway.events.mqtt.framing import (
    HEAD,
    MAX_REMAINING,
    FrameReader,
    Oversized,
    encode_length,
)

# MQTT 3.1.1 table 2.4: the bounds of each number of digits
LENGTHS = [
    (0, b"\x00"),
    (127, b"\x7f"),
    (128, b"\x80\x01"),
    (16_383, b"\xff\x7f"),
    (16_384, b"\x80\x80\x01"),
    (2_097_151, b"\xff\xff\x7f"),
    (2_097_152, b"\x80\x80\x80\x01"),
    (268_435_455, b"\xff\xff\xff\x7f"),
]


@pytest.mark.parametrize(("n", "digits"), LENGTHS)
def test_remaining_length_digits_are_the_specs(n: int, digits: bytes) -> None:
    assert encode_length(n) == digits


@pytest.mark.parametrize("n", [-1, MAX_REMAINING + 1])
def test_a_length_mqtt_cannot_carry_is_refused(n: int) -> None:
    with pytest.raises(MqttUsageError):
        encode_length(n)


@pytest.mark.parametrize(("n", "digits"), LENGTHS)
def test_remaining_length_is_read_back(n: int, digits: bytes) -> None:
    # a PUBLISH header announcing n bytes, the reader limited below n: its size comes out
    if n == 0:
        assert FrameReader(max_packet=1).feed(b"\x30" + digits) == [(0x30, b"")]
        return
    reader = FrameReader(max_packet=n - 1 or 1)
    head = min(n, HEAD)
    [frame] = reader.feed(b"\x30" + digits + b"\x00\x01t" + b"x" * max(0, head - 3))
    assert isinstance(frame, Oversized)
    assert frame.size == n


def packets() -> st.SearchStrategy[list[tuple[int, bytes]]]:
    body = st.binary(max_size=300)
    first = st.sampled_from([0x20, 0x30, 0x32, 0x3B, 0x40, 0x90, 0xB0, 0xD0])
    return st.lists(st.tuples(first, body), min_size=1, max_size=8)


def stream(frames: list[tuple[int, bytes]]) -> bytes:
    return b"".join(bytes((f,)) + encode_length(len(b)) + b for f, b in frames)


@given(packets(), st.lists(st.integers(min_value=0), max_size=10))
def test_any_split_of_the_stream_gives_the_same_packets(
    frames: list[tuple[int, bytes]], cuts: list[int]
) -> None:
    data = stream(frames)
    points = sorted({c % (len(data) + 1) for c in cuts})
    reader = FrameReader(max_packet=1000)
    got: list[object] = []
    start = 0
    for point in [*points, len(data)]:
        got += reader.feed(data[start:point])
        start = point
    assert got == frames
    assert reader.buffered == 0


def test_a_stream_fed_a_byte_at_a_time_gives_every_packet() -> None:
    frames = [(0x20, b"\x00\x00"), (0x30, b"\x00\x01ab" * 100), (0x40, b"\x00\x07"), (0xD0, b"")]
    data = stream(frames)
    reader = FrameReader(max_packet=1000)
    got = [frame for i in range(len(data)) for frame in reader.feed(data[i : i + 1])]
    assert got == frames


def test_a_fifth_length_digit_is_a_protocol_error() -> None:
    with pytest.raises(MqttProtocolError, match="more than four bytes"):
        FrameReader(max_packet=1000).feed(b"\x30\xff\xff\xff\xff\x01")


def test_a_packet_over_the_limit_other_than_publish_is_a_protocol_error() -> None:
    with pytest.raises(MqttProtocolError, match="type 9 with 11 bytes: over the limit of 10"):
        FrameReader(max_packet=10).feed(b"\x90\x0b")


def test_an_oversized_publish_is_skipped_after_its_head() -> None:
    reader = FrameReader(max_packet=100)
    body = b"\x00\x03a/b\x00\x05" + b"p" * (HEAD + 500)
    data = b"\x32" + encode_length(len(body)) + body + b"\xd0\x00"
    got: list[object] = []
    for i in range(0, len(data), 999):  # in pieces: the rest is dropped as it comes
        got += reader.feed(data[i : i + 999])
        assert reader.buffered <= HEAD + 5
    big, pingresp = got
    assert isinstance(big, Oversized)
    assert (big.first, big.size, big.head) == (0x32, len(body), body[:HEAD])
    assert pingresp == (0xD0, b"")


def test_a_reader_limit_outside_the_protocol_is_refused() -> None:
    with pytest.raises(MqttUsageError):
        FrameReader(max_packet=0)

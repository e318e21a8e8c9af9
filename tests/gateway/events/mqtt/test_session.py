"""The client's session state: packet ids in use are never given twice; ids wrap."""

from __future__ import annotations

import pytest

from gateway.events.mqtt.errors import MqttUsageError
from gateway.events.mqtt.session import Session


def test_packet_ids_count_up_from_one() -> None:
    session = Session()
    assert [session.allocate() for _ in range(3)] == [1, 2, 3]


def test_packet_ids_wrap_after_65535_skipping_those_in_use() -> None:
    session = Session()
    session.inflight[1] = b"publish"
    session.control[2] = 1  # a SUBSCRIBE awaiting its SUBACK
    given = [session.allocate() for _ in range(0xFFFF - 2)]
    assert given == list(range(3, 0x10000))  # never 0, never 1 or 2
    assert session.allocate() == 3  # wrapped: 1 and 2 still in use


def test_the_in_flight_limit_is_a_count_of_ids_that_can_never_all_be_used() -> None:
    assert Session(max_inflight=10).room == 10
    with pytest.raises(MqttUsageError):
        Session(max_inflight=0xFFFF)

"""UDH build and parse (23.040 9.2.3.24)."""

from __future__ import annotations

import pytest

from gateway.codec import Concat, parse_udh, udh_build
from gateway.model.errors import DecodeError


def test_concat_8bit_header_bytes() -> None:
    assert udh_build(concat=(0x42, 3, 1)) == bytes.fromhex("050003420301")


def test_concat_16bit_header_bytes() -> None:
    assert udh_build(concat=(0x1234, 2, 2), concat_16bit=True) == bytes.fromhex("06080412340202")


def test_national_elements_follow_concat() -> None:
    udh = udh_build(concat=(1, 2, 1), single_shift=1, locking_shift=3)
    assert udh == bytes.fromhex("0b0003010201240101250103")


def test_no_element_gives_empty_header() -> None:
    assert udh_build() == b""


def test_parse_reads_concat_and_national_and_keeps_unknown() -> None:
    data = bytes.fromhex("100003aa03020a03010203240101250102") + b"payload"
    udh = parse_udh(data)
    assert udh.length == 17
    assert udh.concat == Concat(0xAA, 3, 2)
    assert udh.concat.reference == 0xAA
    assert not udh.concat_16bit
    assert (udh.single_shift, udh.locking_shift) == (1, 2)
    assert udh.national == (2, 1)
    assert [e.iei for e in udh.elements] == [0x00, 0x0A, 0x24, 0x25]
    assert data[udh.length :] == b"payload"


def test_parse_16bit_reference() -> None:
    udh = parse_udh(bytes.fromhex("060804beef0201"))
    assert udh.concat == (0xBEEF, 2, 1)
    assert udh.concat_16bit


def test_parse_ignores_concat_with_sequence_over_total() -> None:
    assert parse_udh(bytes.fromhex("050003010203")).concat is None
    assert parse_udh(bytes.fromhex("050003010200")).concat is None


@pytest.mark.parametrize("hexdata", ["", "09000301", "0300050102", "0100"])
def test_parse_malformed_raises_decode_error(hexdata: str) -> None:
    with pytest.raises(DecodeError):
        parse_udh(bytes.fromhex(hexdata))


def test_build_rejects_out_of_range_reference() -> None:
    with pytest.raises(ValueError, match="reference"):
        udh_build(concat=(256, 2, 1))

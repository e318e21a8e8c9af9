"""Septet packing: fixed vectors and round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.codec import pack_septets, unpack_septets
from gateway.codec.septets import fill_bits_after, septets_for_udh
from gateway.model.errors import DecodeError


def test_hellohello_packs_to_public_vector() -> None:
    assert pack_septets(b"hellohello").hex() == "e8329bfd4697d9ec37"


def test_eight_septets_fill_seven_octets() -> None:
    # 23.038 6.1.2.1.1: 8 septets of "1" bits use exactly 7 octets
    assert pack_septets(b"\x7f" * 8) == b"\xff" * 7


def test_fill_bit_after_concat_udh_shifts_first_septet() -> None:
    # a 6-octet UDH (48 bits) needs 1 fill bit: septet 'A' (0x41) starts at bit 1
    assert fill_bits_after(6) == 1
    assert septets_for_udh(6) == 7
    assert pack_septets(b"A", 1) == bytes([0x41 << 1])
    assert pack_septets(b"AB", 1) == (0x41 << 1 | 0x42 << 8).to_bytes(2, "little")


def test_fill_bits_for_other_header_lengths() -> None:
    assert fill_bits_after(7) == 0  # 56 bits = 8 septets
    assert fill_bits_after(4) == 3  # 32 bits -> 35
    assert septets_for_udh(4) == 5


def test_pack_matches_bitwise_reference_with_fill() -> None:
    septets = bytes(range(0, 128, 3))
    for fill in range(7):
        value = sum(s << (fill + 7 * i) for i, s in enumerate(septets))
        expected = value.to_bytes((7 * len(septets) + fill + 7) // 8, "little")
        assert pack_septets(septets, fill) == expected


def test_unpack_too_short_data_raises_decode_error() -> None:
    with pytest.raises(DecodeError):
        unpack_septets(b"\x00", 3)


def test_bad_fill_bits_rejected() -> None:
    with pytest.raises(ValueError, match="fill_bits"):
        pack_septets(b"a", 7)


def test_empty_packs_to_nothing() -> None:
    assert pack_septets(b"") == b""
    assert unpack_septets(b"", 0) == b""


@given(st.binary(max_size=400).map(lambda b: bytes(x & 0x7F for x in b)), st.integers(0, 6))
def test_unpack_inverts_pack(septets: bytes, fill: int) -> None:
    assert unpack_septets(pack_septets(septets, fill), len(septets), fill) == septets


@given(st.binary(min_size=1, max_size=200).map(lambda b: bytes(x & 0x7F for x in b)))
def test_pack_agrees_with_python_gsmmodem(septets: bytes) -> None:
    import gsmmodem.pdu

    assert pack_septets(septets) == bytes(gsmmodem.pdu.packSeptets(bytearray(septets)))

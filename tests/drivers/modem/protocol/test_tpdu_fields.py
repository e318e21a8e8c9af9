"""TPDU fields: validity periods, timestamps and septet packing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.modem.protocol.tpdu_fields import (
    decode_timestamp,
    encode_timestamp,
    pack_septets,
    relative_validity,
    unpack_septets,
    validity_seconds,
)

# --- validity -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "vp"),
    [
        (60, 0),
        (300, 0),
        (3600, 11),
        (12 * 3600, 143),
        (18 * 3600, 155),
        (86400, 167),
        (2 * 86400, 168),
        (30 * 86400, 196),
        (35 * 86400, 197),
        (10**9, 255),
    ],
)
def test_relative_validity_per_23040(seconds: int, vp: int) -> None:
    assert relative_validity(seconds) == vp


@given(st.integers(min_value=300, max_value=63 * 7 * 86400))
def test_relative_validity_never_exceeds_what_was_asked(seconds: int) -> None:
    assert validity_seconds(relative_validity(seconds)) <= seconds


# --- timestamps and septets ---------------------------------------------------------------


@given(
    st.integers(min_value=946_684_800, max_value=3_786_000_000),
    st.integers(min_value=-48, max_value=56),
)
def test_timestamp_round_trip(when: int, quarters: int) -> None:
    assert decode_timestamp(encode_timestamp(when, tz_quarters=quarters)) == when


@given(
    st.binary(max_size=160).map(lambda b: bytes(x & 0x7F for x in b)),
    st.integers(min_value=0, max_value=6),
)
def test_septets_round_trip(septets: bytes, fill: int) -> None:
    assert unpack_septets(pack_septets(septets, fill), len(septets), fill) == septets

"""The fast path of encode() against the general path (general.encode_planned).

encode() handles the common case (automatic choice, no national tables) with
its own C-level calls; encode_planned() goes through plan() for everything.
For every text and option both must return equal segments of the exact type
Segment, or raise the same exception with the same message.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.codec import Segment, encode, pack_septets
from gateway.codec.general import encode_planned
from gateway.codec.septets import pack
from gateway.model import MessageClass

GSM_BASE = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡AZÄÖÑÜ§¿azäöñüà"
GSM_EXT = "\f^{}\\[~]|€"
NOT_GSM = "`\x01\x1b\x7fçêóşıЖяё"  # noqa: RUF001 - '`', controls, Latin, Turkish, Cyrillic
ASTRAL = "😀🎉🚀"
BAD = "\x00\ud83d\udc00"  # NUL and lone surrogates: errors

# weighted so that most texts stay GSM-7 (the fast path) and cross cut points
texts = st.one_of(
    st.text(st.sampled_from(GSM_BASE), max_size=400),
    st.text(st.sampled_from(GSM_BASE + GSM_EXT), max_size=400),
    st.text(st.sampled_from("abc" + GSM_EXT + "é"), max_size=400),
    st.text(st.sampled_from("ab" + NOT_GSM + ASTRAL), max_size=300),
    st.text(st.sampled_from("яa" + ASTRAL), max_size=300),
    st.text(st.sampled_from("ab{€я😀" + BAD), max_size=60),
    st.text(st.sampled_from("aé€{" + BAD), min_size=30, max_size=200),  # errors past the start
    st.text(max_size=200),
)
concats = st.sampled_from(("udh8", "udh16", "sar", "payload", "udh32"))
references = st.one_of(st.integers(0, 255), st.integers(0, 0xFFFF), st.integers(-1, 0x10000))
classes = st.sampled_from((None, MessageClass.STANDARD, MessageClass.FLASH, 2, 5))


def outcome(call: object, *args: object) -> object:
    """Segments (checked to be exactly Segment) or (exception type, message)."""
    assert callable(call)
    try:
        segments = call(*args)
    except Exception as exc:  # noqa: BLE001 - compared, not swallowed
        return type(exc), str(exc)
    assert all(type(s) is Segment for s in segments)
    return segments


def fast(text: str, concat: str, reference: int, packed: bool,
         msg_class: MessageClass | int | None) -> list[Segment]:
    return encode(text, concat=concat, reference=reference, packed=packed, msg_class=msg_class)


@settings(max_examples=600, deadline=None)
@given(texts, concats, references, st.booleans(), classes)
def test_fast_path_equals_general_path(
    text: str, concat: str, reference: int, packed: bool, msg_class: MessageClass | int | None
) -> None:
    expected = outcome(encode_planned, text, concat, reference, packed, None, msg_class, ())
    assert outcome(fast, text, concat, reference, packed, msg_class) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "@",  # septet 0x00 (the charmap emits it as 0x1B)
        "@é",
        "a" * 160, "a" * 161, "é" * 160, "é" * 161,
        "a" * 152 + "{" + "b" * 20,  # ASCII extension character on the cut
        "é" * 152 + "€" + "b" * 20,  # non-ASCII extension character on the cut
        "a" * 153 + "~" * 200,
        "я" * 70, "я" * 71,
        "я" * 66 + "😀" + "я" * 10,  # surrogate pair on the cut
        "a" * 40 + "я",  # the first non-GSM character beyond the look-ahead
        "a" * 40 + "😀" * 40,
        "a" * 255 * 153, "a" * (255 * 153 + 1),  # the last count that fits, and one more
        "€" * 255 * 76 + "€",  # escape pairs: 255 segments of 76 pairs hold one pair too few
        "a`b", "a\x00b", "é\x00я", "я\ud800", "\x1b",
        "é" * 40 + "\x00",  # NUL beyond the look-ahead of a GSM-7 text
        "é" * 40 + "\ud800", "a" * 40 + "\x00",
    ],
)
@pytest.mark.parametrize("concat", ["udh8", "udh16", "sar", "payload"])
@pytest.mark.parametrize("packed", [False, True])
def test_fast_path_equals_general_path_on_edges(text: str, concat: str, packed: bool) -> None:
    expected = outcome(encode_planned, text, concat, 7, packed, None, None, ())
    assert outcome(fast, text, concat, 7, packed, None) == expected


def test_fast_path_segments_are_frozen_segments() -> None:
    (seg,) = encode("Code: 1234")
    assert type(seg) is Segment
    assert seg == Segment(data_coding=0, esm_class=0, udh=b"", payload=b"Code: 1234",
                          encoding="gsm7", packed=False, udl=10)
    with pytest.raises(dataclasses.FrozenInstanceError):
        seg.udl = 3  # type: ignore[misc]
    assert hash(seg) == hash(dataclasses.replace(seg))


def test_fast_path_builds_new_segments_every_call() -> None:
    first = encode("a" * 200, reference=1)
    second = encode("a" * 200, reference=2)
    assert first[0] is not second[0]
    assert [s.udh[3] for s in first] == [1, 1]
    assert [s.udh[3] for s in second] == [2, 2]


def reference_pack(septets: bytes, fill: int) -> bytes:
    """Bit by bit, as 23.038 6.1.2.1.1 describes it."""
    if not septets:
        return b""
    value = 0
    for i, septet in enumerate(septets):
        value |= (septet & 0x7F) << (fill + 7 * i)
    return value.to_bytes((7 * len(septets) + fill + 7) // 8, "little")


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=1, max_size=2048), st.integers(0, 6))
def test_fast_pack_equals_bitwise_packing(data: bytes, fill: int) -> None:
    septets = bytes(b & 0x7F for b in data)
    assert pack(septets, fill) == reference_pack(septets, fill)
    assert pack_septets(data, fill) == reference_pack(septets, fill)


@pytest.mark.parametrize("size", [2047, 2048, 2049, 4096, 5000])
@pytest.mark.parametrize("fill", [0, 1, 6])
def test_pack_septets_beyond_one_pass_equals_bitwise_packing(size: int, fill: int) -> None:
    septets = bytes((i * 37) & 0x7F for i in range(size))
    assert pack_septets(septets, fill) == reference_pack(septets, fill)


@pytest.mark.parametrize("size", range(1, 41))
def test_fast_pack_equals_bitwise_packing_for_every_short_length(size: int) -> None:
    # up to 32 septets pack() takes another route than beyond: both sides of it
    septets = bytes((i * 53 + 11) & 0x7F for i in range(size))
    for fill in range(7):
        assert pack(septets, fill) == reference_pack(septets, fill)

"""encode / analyze: sizes, headers, national tables, errors, properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.codec import (
    Segment,
    analyze,
    decode_payload,
    encode,
    parse_udh,
    unpack_septets,
)
from gateway.codec.septets import fill_bits_after
from gateway.model.errors import ConfigError, InvalidText, TextTooLong, UnencodableCharacter
from gateway.model.message import MessageClass

GSM_CHARS = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡AZÄÖÑÜ§¿azäöñüà"
EXT_CHARS = "\f^{}\\[~]|€"


def joined_text(segments: list[Segment]) -> str:
    """Reassemble as a receiver does: payloads in order, then decode."""
    first = segments[0]
    national = parse_udh(first.udh).national if first.udh else None
    if first.packed:
        parts = []
        for seg in segments:
            head = (len(seg.udh) * 8 + fill_bits_after(len(seg.udh))) // 7 if seg.udh else 0
            fill = fill_bits_after(len(seg.udh)) if seg.udh else 0
            parts.append(unpack_septets(seg.payload, seg.udl - head, fill))
        data = b"".join(parts)
    else:
        data = b"".join(seg.payload for seg in segments)
    return decode_payload(data, first.data_coding, national=national)


def test_160_gsm_characters_fit_one_segment() -> None:
    (seg,) = encode("a" * 160)
    assert (seg.udh, seg.esm_class, seg.udl, seg.data_coding) == (b"", 0, 160, 0)
    assert analyze("a" * 160).remaining == 0


def test_161_characters_make_two_udh8_segments() -> None:
    segs = encode("a" * 161, reference=0x42)
    assert [s.udh for s in segs] == [bytes.fromhex("050003420201"), bytes.fromhex("050003420202")]
    assert [len(s.payload) for s in segs] == [153, 8]
    assert segs[0].udl == 160
    assert segs[0].esm_class == 0x40
    assert segs[0].short_message == segs[0].udh + segs[0].payload


def test_udh16_segments_hold_152() -> None:
    segs = encode("a" * 305, concat="udh16", reference=0x1234)
    assert [len(s.payload) for s in segs] == [152, 152, 1]
    assert segs[0].udh == bytes.fromhex("06080412340301")
    assert analyze("a" * 305, concat="udh16").segments == 3


def test_ucs2_sizes_70_67_66() -> None:
    assert len(encode("я" * 70)) == 1
    assert [len(s.payload) for s in encode("я" * 71)] == [134, 8]
    assert [len(s.payload) for s in encode("я" * 133, concat="udh16")] == [132, 132, 2]
    assert encode("я")[0].data_coding == 0x08


def test_escape_is_never_split() -> None:
    segs = encode("a" * 152 + "€" + "b" * 10)
    assert segs[0].payload == b"a" * 152
    assert segs[1].payload.startswith(b"\x1b\x65")


def test_surrogate_pair_is_never_split() -> None:
    segs = encode("я" * 66 + "😀" + "я" * 10)
    assert len(segs[0].payload) == 132
    assert segs[1].payload.startswith("😀".encode("utf-16-be"))
    assert analyze("😀").units == 2


def test_sar_carries_reference_outside_text() -> None:
    segs = encode("a" * 200, concat="sar", reference=700)
    assert [s.sar for s in segs] == [(700, 2, 1), (700, 2, 2)]
    assert all(s.udh == b"" and s.esm_class == 0 for s in segs)
    assert len(segs[0].payload) == 153


def test_payload_mode_gives_one_segment_with_whole_text() -> None:
    (seg,) = encode("a" * 1000, concat="payload")
    assert seg.payload == b"a" * 1000
    assert seg.udh == b""
    assert seg.sar is None
    assert analyze("a" * 1000, concat="payload").segments == 7


def test_packed_single_segment_matches_vector() -> None:
    (seg,) = encode("hellohello", packed=True)
    assert seg.payload.hex() == "e8329bfd4697d9ec37"
    assert seg.udl == 10
    assert seg.packed


def test_packed_multi_segment_has_fill_bit_and_udl() -> None:
    segs = encode("a" * 161, packed=True)
    assert segs[0].udl == 160  # 7 septets of header + 153
    assert len(segs[0].payload) == 134  # 140 - 6 octets of header
    assert segs[0].payload[0] == (0x61 << 1) & 0xFF  # one fill bit first
    assert joined_text(segs) == "a" * 161


def test_message_class_sets_dcs() -> None:
    assert encode("hi", msg_class=MessageClass.FLASH)[0].data_coding == 0x10
    assert encode("я", msg_class=MessageClass.SIM)[0].data_coding == 0x1A
    assert encode("hi", msg_class=MessageClass.STANDARD)[0].data_coding == 0x00


def test_forced_encodings() -> None:
    assert encode("abc", encoding="ucs2")[0].payload == "abc".encode("utf-16-be")
    with pytest.raises(UnencodableCharacter) as info:
        encode("abcяd", encoding="gsm7")
    assert (info.value.char, info.value.position, info.value.encoding) == ("я", 3, "gsm7")


def test_forced_gsm7_with_national_names_first_character_no_table_has() -> None:
    with pytest.raises(UnencodableCharacter) as info:
        encode("şxя", encoding="gsm7", national=("tr",))
    assert (info.value.char, info.value.position) == ("я", 2)
    assert encode("şx", encoding="gsm7", national=("tr",))[0].encoding == "gsm7"


def test_analyze_counts_extension_double() -> None:
    info = analyze("€ x")
    assert (info.encoding, info.characters, info.units, info.segments) == ("gsm7", 3, 4, 1)
    assert info.remaining == 156


def test_national_single_shift_saves_segments() -> None:
    text = "Çok güzel şey ığ " * 10
    plain = analyze(text)
    turkish = analyze(text, national=("tr",))
    assert plain.encoding == "ucs2"
    assert plain.segments == 3
    assert turkish.encoding == "gsm7"
    assert turkish.segments == 2
    assert turkish.single_shift == "tr"
    segs = encode(text, national=["tr"])
    assert len(segs) == 2
    assert segs[0].udh == bytes.fromhex("080003000201240101")
    assert joined_text(segs) == text


def test_national_not_used_when_plain_gsm_fits() -> None:
    info = analyze("Hello", national=("tr", "es", "pt"))
    assert info.national == ()
    assert info.encoding == "gsm7"


def test_portuguese_locking_shift_when_it_saves_segments() -> None:
    text = "€^|" * 60  # 360 septets plain (3 segments), 180 with pt locking (2)
    info = analyze(text, national=("pt",))
    assert info.locking_shift == "pt"
    assert info.segments == 2
    segs = encode(text, national=("pt",), packed=True)
    assert joined_text(segs) == text


def test_unknown_national_language_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown national language"):
        analyze("x", national=("xx",))


def test_empty_text_is_one_empty_segment() -> None:
    (seg,) = encode("")
    assert seg.payload == b""
    assert seg.udl == 0
    info = analyze("")
    assert (info.characters, info.units, info.segments, info.remaining) == (0, 0, 1, 160)


@pytest.mark.parametrize("bad", [b"bytes", None, 42])
def test_non_str_is_invalid_text(bad: object) -> None:
    with pytest.raises(InvalidText, match="must be a str"):
        encode(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["a\x00b", "a\ud800b", "\udfff"])
def test_nul_and_lone_surrogates_are_invalid_text(text: str) -> None:
    with pytest.raises(InvalidText):
        encode(text)
    with pytest.raises(InvalidText):
        encode(text, encoding="gsm7")


def test_huge_text_is_too_long() -> None:
    with pytest.raises(TextTooLong) as info:
        encode("a" * 100_000)
    assert info.value.segments == 654
    assert len(encode("a" * 153 * 255)) == 255


def test_bad_reference_rejected() -> None:
    with pytest.raises(ValueError, match="reference"):
        encode("a" * 200, reference=256)


text_strategy = st.text(
    st.one_of(
        st.sampled_from(GSM_CHARS + EXT_CHARS),
        st.characters(exclude_categories=["Cs"], exclude_characters="\x00"),
    ),
    max_size=700,
)


@settings(max_examples=150, deadline=None)
@given(
    text_strategy,
    st.sampled_from(["udh8", "udh16", "sar"]),
    st.booleans(),
    st.sampled_from([(), ("tr",), ("es", "pt"), ("tr", "es", "pt")]),
)
def test_round_trip_limits_and_counts(
    text: str, concat: str, packed: bool, national: tuple[str, ...]
) -> None:
    segs = encode(text, concat=concat, packed=packed, reference=7, national=national)
    assert joined_text(segs) == text
    info = analyze(text, concat=concat, national=national)
    assert len(segs) == info.segments
    for seg in segs:
        if seg.encoding == "gsm7":
            assert seg.udl <= 160
            assert not (len(segs) > 1 and not seg.packed and seg.payload.endswith(b"\x1b")) or (
                seg is segs[-1]
            )
        else:
            assert len(seg.udh) + len(seg.payload) <= 140
            if seg is not segs[-1]:
                assert not 0xD8 <= seg.payload[-2] <= 0xDB
        if seg.packed:
            assert len(seg.udh) + len(seg.payload) <= 140


@settings(max_examples=100, deadline=None)
@given(text_strategy)
def test_payload_mode_round_trip(text: str) -> None:
    (seg,) = encode(text, concat="payload")
    assert decode_payload(seg.payload, seg.data_coding) == text


@settings(max_examples=100, deadline=None)
@given(st.text(st.sampled_from(GSM_CHARS + EXT_CHARS), max_size=400))
def test_gsm_text_agrees_with_smspdudecoder(text: str) -> None:
    from smspdudecoder.codecs import GSM

    segs = encode(text, packed=True)
    if len(segs) == 1 and segs[0].payload:
        decoded = GSM.decode(segs[0].payload.hex())
        # without TP-UDL a reader cannot tell 7 spare zero bits from a final '@'
        assert decoded == text or (segs[0].udl % 8 == 7 and decoded == text + "@")


def test_unknown_concat_and_encoding_rejected() -> None:
    with pytest.raises(ValueError, match="concat"):
        encode("x", concat="bogus")
    with pytest.raises(ValueError, match="encoding"):
        encode("x", encoding="latin1")


def test_segments_are_immutable_tuples_equal_to_constructed_ones() -> None:
    for seg in encode("a" * 200, reference=3) + encode("я", msg_class=2):
        rebuilt = Segment(**seg._asdict())
        assert type(seg) is Segment
        assert seg == rebuilt
        assert hash(seg) == hash(rebuilt)
        with pytest.raises(AttributeError):
            seg.udl = 0  # type: ignore[misc]

"""The compiled codec core (gateway/codec/_native.c) against the reference.

For every text and option, the compiled encode() and analyze() must return
equal values of the exact types Segment and Analysis as the pure-Python
reference (general.encode_python, analysis.analyze_python), or raise the same
exception with the same message. The compiled core is tested directly (also
when SMSGW_PURE_PYTHON=1 makes the package use the reference), and it must
be built wherever the suite runs: scripts/test builds it.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.codec import Analysis, Segment, pack_septets
from gateway.codec.alphabet import DEFAULT_ALPHABET, LOCKING_SHIFT, SINGLE_SHIFT
from gateway.codec.analysis import analyze_python
from gateway.codec.general import encode_python
from gateway.codec.native import load_compiled
from gateway.codec.septets import pack
from gateway.model.errors import CodecError, InvalidText, TextTooLong
from gateway.model.message import MessageClass


@pytest.fixture(scope="module")
def native() -> ModuleType:
    module = load_compiled()
    assert module is not None, "gateway.codec._native is not built (pip install -e . builds it)"
    return module


GSM_BASE = DEFAULT_ALPHABET.replace("\x1b", "")
GSM_EXT = "\f^{}\\[~]|€"
NATIONAL = "".join(
    sorted(
        set("".join(LOCKING_SHIFT.values())).union(*(t.values() for t in SINGLE_SHIFT.values()))
        - set(GSM_BASE + GSM_EXT)
        - {"\x1b"}
    )
)
NOT_GSM = "`\x01\x1b\x7fêóşıЖяё"  # noqa: RUF001 - '`', controls, Latin, Turkish, Cyrillic
ASTRAL = "😀🎉🚀"
BAD = "\x00\ud83d\udc00"  # NUL and lone surrogates: errors

# weighted so that texts cross cut points in every alphabet
texts = st.one_of(
    st.text(st.sampled_from(GSM_BASE), max_size=400),
    st.text(st.sampled_from(GSM_BASE + GSM_EXT), max_size=400),
    st.text(st.sampled_from("abc" + GSM_EXT + "é"), max_size=400),
    st.text(st.sampled_from("ab" + NATIONAL), max_size=400),
    st.text(st.sampled_from("a{€" + NATIONAL + GSM_BASE[:20]), max_size=400),
    st.text(st.sampled_from("ab" + NOT_GSM + ASTRAL), max_size=300),
    st.text(st.sampled_from("яa" + ASTRAL), max_size=300),
    st.text(st.sampled_from("ab{€я😀" + BAD), max_size=60),
    st.text(st.sampled_from("aé€{" + BAD), min_size=30, max_size=200),  # errors past the start
    st.text(max_size=200),
)
concats = st.sampled_from(("udh8", "udh16", "sar", "payload", "udh32"))
references = st.one_of(st.integers(0, 255), st.integers(0, 0xFFFF), st.integers(-1, 0x10000))
classes = st.sampled_from(
    (None, MessageClass.STANDARD, MessageClass.FLASH, MessageClass.SIM, 0, 2, 3, 5, True, "flash")
)
encodings = st.sampled_from((None, None, "gsm7", "ucs2", "latin1"))
nationals = st.one_of(
    st.just(()),
    st.lists(st.sampled_from(("tr", "es", "pt")), max_size=3, unique=True).map(tuple),
    st.lists(st.sampled_from(("tr", "es", "pt", "TR", " es", "xx")), max_size=3),
    st.just("tr,pt"),
)


def outcome(call: Callable[..., Any], *args: Any, **kwargs: Any) -> object:
    """The value (with the exact types of its items) or (exception type, message)."""
    try:
        value = call(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - compared, not swallowed
        return type(exc), str(exc)
    if isinstance(value, list):
        return [(type(s), s) for s in value]
    return type(value), value


@settings(max_examples=1500, deadline=None)
@given(texts, concats, references, st.booleans(), encodings, classes, nationals)
def test_compiled_encode_equals_reference(  # noqa: PLR0917 - hypothesis strategies
    native: ModuleType,
    text: str,
    concat: str,
    reference: int,
    packed: bool,
    encoding: str | None,
    msg_class: Any,
    national: Any,
) -> None:
    options = {
        "concat": concat,
        "reference": reference,
        "packed": packed,
        "encoding": encoding,
        "msg_class": msg_class,
        "national": national,
    }
    assert outcome(native.encode, text, **options) == outcome(encode_python, text, **options)


@settings(max_examples=1000, deadline=None)
@given(texts, concats, encodings, nationals)
def test_compiled_analyze_equals_reference(
    native: ModuleType, text: str, concat: str, encoding: str | None, national: Any
) -> None:
    options = {"concat": concat, "encoding": encoding, "national": national}
    assert outcome(native.analyze, text, **options) == outcome(analyze_python, text, **options)


EDGES = [
    "",
    "@",  # septet 0x00
    "@é",
    "a" * 160,
    "a" * 161,
    "é" * 160,
    "é" * 161,
    "a" * 152 + "{" + "b" * 20,  # extension character on the cut
    "é" * 152 + "€" + "b" * 20,
    "a" * 153 + "~" * 200,
    "я" * 70,
    "я" * 71,
    "я" * 66 + "😀" + "я" * 10,  # surrogate pair on the cut
    "a" * 40 + "😀" * 40,
    "a" * 255 * 153,
    "a" * (255 * 153 + 1),  # the last count that fits, and one more
    "€" * 255 * 76 + "€",  # 255 segments of 76 escape pairs hold one pair too few
    "ş" * 155,
    "ş" * 156,
    "ğüşıöç" * 40,  # Turkish: national tables with tr
    "ç" * 200 + "á",  # Spanish single shift
    "a`b",
    "a\x00b",
    "é\x00я",
    "я\ud800",
    "\x1b",
    "\ud800",
    "\udfff" * 3,
    "é" * 40 + "\x00",
    "é" * 40 + "\ud800",
    "a" * 40 + "\x00",
    "x" * 100_000,  # too long: TextTooLong from the reference
]


@pytest.mark.parametrize("text", EDGES, ids=range(len(EDGES)))
@pytest.mark.parametrize("concat", ["udh8", "udh16", "sar", "payload"])
@pytest.mark.parametrize("national", [(), ("tr", "es", "pt")])
def test_compiled_equals_reference_on_edges(
    native: ModuleType, text: str, concat: str, national: tuple[str, ...]
) -> None:
    for packed in (False, True):
        options = {"concat": concat, "reference": 7, "packed": packed, "national": national}
        assert outcome(native.encode, text, **options) == outcome(encode_python, text, **options)
    options = {"concat": concat, "national": national}
    assert outcome(native.analyze, text, **options) == outcome(analyze_python, text, **options)


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        (b"bytes", InvalidText),
        (None, InvalidText),
        ("a\x00", InvalidText),
        ("\ud800", InvalidText),
        ("x" * 100_000, TextTooLong),
    ],
)
def test_bad_input_raises_the_same_codec_error(
    native: ModuleType, bad: object, error: type[CodecError]
) -> None:
    pairs: list[tuple[Callable[..., Any], Callable[..., Any]]] = [
        (native.encode, encode_python),
        (native.analyze, analyze_python),
    ]
    for call, reference in pairs:
        with pytest.raises(error) as compiled:
            call(bad)
        with pytest.raises(error) as expected:
            reference(bad)
        assert str(compiled.value) == str(expected.value)


def test_wrong_call_raises_the_reference_type_error(native: ModuleType) -> None:
    with pytest.raises(TypeError, match="unexpected keyword"):
        native.encode("x", reference_number=3)
    with pytest.raises(TypeError, match="positional"):
        native.analyze("x", ())


def test_str_subclass_gives_the_same_segments(native: ModuleType) -> None:
    class Text(str):
        __slots__ = ()

    assert native.encode(Text("a" * 200)) == encode_python("a" * 200)


def test_results_are_new_tuples_of_the_public_types(native: ModuleType) -> None:
    first = native.encode("a" * 200, reference=1)
    second = native.encode("a" * 200, reference=2)
    assert first[0] is not second[0]
    assert [s.udh[3] for s in first] == [1, 1]
    assert [s.udh[3] for s in second] == [2, 2]
    assert all(type(s) is Segment for s in first)
    assert first[0].short_message == first[0].udh + first[0].payload
    assert type(native.analyze("ş", national=("tr",))) is Analysis


def reference_pack(septets: bytes, fill: int) -> bytes:
    """Bit by bit, as 23.038 6.1.2.1.1 describes it."""
    if not septets:
        return b""
    value = 0
    for i, septet in enumerate(septets):
        value |= (septet & 0x7F) << (fill + 7 * i)
    return value.to_bytes((7 * len(septets) + fill + 7) // 8, "little")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048), st.integers(0, 6))
def test_packing_equals_bitwise_packing(native: ModuleType, data: bytes, fill: int) -> None:
    septets = bytes(b & 0x7F for b in data)
    assert native.pack(data, fill) == reference_pack(septets, fill)
    assert pack_septets(data, fill) == reference_pack(septets, fill)
    if septets:
        assert pack(septets, fill) == reference_pack(septets, fill)


@pytest.mark.parametrize("size", [*range(1, 41), 2047, 2048, 2049, 5000])
def test_packing_every_short_length_and_beyond_one_pass(native: ModuleType, size: int) -> None:
    septets = bytes((i * 53 + 11) & 0x7F for i in range(size))
    for fill in range(7):
        assert native.pack(septets, fill) == reference_pack(septets, fill)
        assert pack_septets(septets, fill) == reference_pack(septets, fill)


def test_pack_refuses_bad_fill_bits(native: ModuleType) -> None:
    with pytest.raises(ValueError, match="fill_bits"):
        native.pack(b"a", 7)

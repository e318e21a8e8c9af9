"""Text to SMS segments (DESIGN.md section 3.5): :func:`encode`.

The common case (automatic choice, no national tables, a plain ``str``) runs
here as a handful of C-level calls: ASCII text is checked and mapped to
septets by one ``bytes.translate`` (a table that marks extension characters
and unencodable ones); other text goes through one regular-expression search
of its first characters (most UCS-2 texts show themselves there) and one
``codecs`` charmap encoding with errors ignored (the text was GSM-7 iff no
character went missing), or the UTF-16-BE codec. Segments are cut by slicing at
fixed steps, with the escape-aware or surrogate-aware cut only when the data
holds an escape or a surrogate pair; segments are built without the frozen
dataclass's ``__init__`` (see :class:`gateway.codec.general.Draft`).
Everything else, and every error, goes through
:func:`gateway.codec.general.encode_planned`, the reference this path is
tested against.
"""

from __future__ import annotations

import codecs
import re
from typing import Any

from gateway.codec.alphabet import DEFAULT_TABLES, ESCAPE, FROM_MAP
from gateway.codec.dcs import dcs_for
from gateway.codec.general import OCTET, UDHI, Draft, encode_planned
from gateway.codec.plan import CAPACITY, CONCAT_IE, CONCAT_MODES, MAX_SEGMENTS, cut
from gateway.codec.segment import Segment
from gateway.codec.septets import fill_bits_after, pack, pack_septets, septets_for_udh
from gateway.errors import TextTooLong
from gateway.model import MessageClass

_charmap_encode = codecs.charmap_encode
_utf_16_be_encode = codecs.utf_16_be_encode
_DEFAULT_MAP = DEFAULT_TABLES.encoding_map
_UNENCODABLE = 0xFF  # in _ASCII_SEPTETS: no septet (NUL, '`', most control characters)


def _ascii_septets() -> bytes:
    """ASCII octet -> septet, 0x80 | code for an extension character, else 0xFF."""
    table = bytearray([_UNENCODABLE]) * 256
    for septet, char in enumerate(DEFAULT_TABLES.decoding):
        if char.isascii() and septet != ESCAPE and char != "\x00":
            table[ord(char)] = septet
    for code, char in DEFAULT_TABLES.extension.items():
        if char.isascii() and table[ord(char)] == _UNENCODABLE:
            table[ord(char)] = 0x80 | code
    return bytes(table)


_ASCII_SEPTETS = _ascii_septets()
_SEPTET_VALUES = bytes(range(0x80))  # deleted, they leave the extension markers
_ESCAPE_PAIRS = [bytes((ESCAPE, marker & 0x7F)) for marker in range(256)]
# Non-ASCII text: one search of its first characters finds most UCS-2 texts
# (Cyrillic, Greek...) at once; the rest is decided by encoding with errors
# ignored (handled in C): every character was encodable iff no octet is missing.
# (Measured on the benchmark corpus: 32 is as fast as searching the whole text,
# and bounds the search on long GSM-7 texts.)
_LOOK_AHEAD = 32
_first_not_gsm = re.compile(
    "[^" + "".join(re.escape(c) for c in sorted(DEFAULT_TABLES.chars)) + "]"
).search

# per concat mode, for a multi-segment message: (GSM-7 septets per segment,
# UCS-2 octets per segment, header octets: udh8 6, udh16 7); sar and payload
# are sized like udh8 and carry no header.
_MULTI = {
    concat: (CAPACITY["gsm7", concat, 0][1], CAPACITY["ucs2", concat, 0][1],
             CONCAT_IE[concat] + 1 if concat in {"udh8", "udh16"} else 0)
    for concat in CONCAT_MODES
}
_GSM_SINGLE = CAPACITY["gsm7", "udh8", 0][0]  # 160: no header in one segment
_UCS2_SINGLE = CAPACITY["ucs2", "udh8", 0][0]  # 140 octets


def encode(
    text: str,
    *,
    concat: str = "udh8",
    reference: int = 0,
    packed: bool = False,
    encoding: str | None = None,
    msg_class: MessageClass | int | None = None,
    national: tuple[str, ...] | list[str] = (),
) -> list[Segment]:
    """Segments of ``text`` ready for SMPP (or, packed, for a modem PDU).

    ``concat``: "udh8" / "udh16" (concatenation element in a UDH), "sar"
    (no UDH: each segment's ``sar`` holds (reference, total, sequence) for the
    SAR TLVs; sized like udh8), "payload" (one Segment with the whole text,
    for message_payload). A one-segment message never has a concatenation
    element. ``packed`` packs GSM-7 septets with the fill bits that follow
    the UDH; UCS-2 is never packed. Errors: InvalidText, UnencodableCharacter
    (forced "gsm7"), TextTooLong (over 255 segments).
    """
    if encoding is not None or national or type(text) is not str:
        return encode_planned(text, concat, reference, packed, encoding, msg_class, national)
    if text.isascii():
        data = text.encode("ascii").translate(_ASCII_SEPTETS)
        if not data.isascii():
            if _UNENCODABLE in data:  # NUL, '`'...: UCS-2 or an error, decided there
                return encode_planned(text, concat, reference, packed, None, msg_class, ())
            for marker in set(data.translate(None, _SEPTET_VALUES)):
                data = data.replace(OCTET[marker], _ESCAPE_PAIRS[marker])
    elif _first_not_gsm(text, 0, _LOOK_AHEAD) is None and len(
        data := _charmap_encode(text, "ignore", _DEFAULT_MAP)[0]
    ) == len(text):
        if 0 in data:  # only NUL maps to 0x00 (septet 0x00, '@', comes out as 0x1B)
            return encode_planned(text, concat, reference, packed, None, msg_class, ())
        data = data.translate(FROM_MAP)
        if not data.isascii():  # extension characters (0x80 | code): escape pairs
            for marker in set(data.translate(None, _SEPTET_VALUES)):
                data = data.replace(OCTET[marker], _ESCAPE_PAIRS[marker])
    else:
        if "\x00" in text:
            return encode_planned(text, concat, reference, packed, None, msg_class, ())
        try:
            data = _utf_16_be_encode(text)[0]
        except UnicodeEncodeError:  # a lone surrogate: the error is built there
            return encode_planned(text, concat, reference, packed, None, msg_class, ())
        if len(data) > _UCS2_SINGLE or concat not in _MULTI:
            return _segments(text, data, True, concat, reference, False, msg_class)
        seg = Draft()
        seg.data_coding = 0x08 if msg_class is None else dcs_for("ucs2", msg_class)
        seg.esm_class = 0
        seg.udh = b""
        seg.payload = data
        seg.encoding = "ucs2"
        seg.packed = False
        seg.udl = len(data)
        seg.sar = None
        seg.__class__ = Segment  # type: ignore[assignment]
        return [seg]  # type: ignore[list-item]
    size = len(data)
    if size > _GSM_SINGLE or concat not in _MULTI:
        return _segments(text, data, False, concat, reference, packed, msg_class)
    seg = Draft()
    seg.data_coding = 0x00 if msg_class is None else dcs_for("gsm7", msg_class)
    seg.esm_class = 0
    seg.udh = b""
    if packed:
        seg.payload = pack(data, 0) if size else b""
        seg.packed = True
    else:
        seg.payload = data
        seg.packed = False
    seg.encoding = "gsm7"
    seg.udl = size
    seg.sar = None
    seg.__class__ = Segment  # type: ignore[assignment]
    return [seg]  # type: ignore[list-item]


def _segments(  # noqa: PLR0917 - private hot-path helper, positional on purpose
    text: str, data: bytes, ucs2: bool, concat: str, reference: int, packed: bool,
    msg_class: MessageClass | int | None,
) -> list[Segment]:
    """More than one segment, or one message_payload, or a bad ``concat``;
    errors in the general path's order (concat, class, count, reference)."""
    try:
        gsm_step, ucs2_step, udh_length = _MULTI[concat]
    except KeyError:
        raise ValueError(f"concat must be one of {CONCAT_MODES}, not {concat!r}") from None
    size = len(data)
    if ucs2:
        kind = "ucs2"
        dcs = 0x08 if msg_class is None else dcs_for(kind, msg_class)
        head = udh_length  # TP-UDL counts octets
        fill = 0
        packed = False
        # a surrogate pair is never split: the careful cut only when there is one
        step = ucs2_step
        careful = size != 2 * len(text)
    else:
        kind = "gsm7"
        dcs = 0x00 if msg_class is None else dcs_for(kind, msg_class)
        head = septets_for_udh(udh_length) if udh_length else 0  # fill bits included
        fill = fill_bits_after(udh_length)
        packed = bool(packed)
        # an escape pair is never split: the careful cut only when there is one
        step = gsm_step
        careful = ESCAPE in data
    ends = cut(data, step, ucs2) if careful else [*range(step, size, step), size]
    total = len(ends)
    if total > MAX_SEGMENTS:
        raise TextTooLong(total, MAX_SEGMENTS)
    if concat == "payload":
        seg = Draft()
        seg.data_coding = dcs
        seg.esm_class = 0
        seg.udh = b""
        seg.payload = pack_septets(data) if packed else data
        seg.encoding = kind
        seg.packed = packed
        seg.udl = len(data)
        seg.sar = None
        seg.__class__ = Segment  # type: ignore[assignment]
        return [seg]  # type: ignore[list-item]
    segments: list[Any] = []  # Drafts turned Segments
    append = segments.append
    start = 0
    if concat == "sar":  # no header: the reference travels in TLVs
        if not 0 <= reference <= 0xFFFF:
            raise ValueError(f"{concat} reference must be 0-65535, not {reference}")
        for seq, end in enumerate(ends, 1):
            seg = Draft()
            seg.data_coding = dcs
            seg.esm_class = 0
            seg.udh = b""
            seg.payload = pack(data[start:end], 0) if packed else data[start:end]
            seg.encoding = kind
            seg.packed = packed
            seg.udl = end - start
            seg.sar = (reference, total, seq)
            seg.__class__ = Segment  # type: ignore[assignment]
            append(seg)
            start = end
        return segments
    if concat == "udh8":
        if not 0 <= reference <= 0xFF:
            raise ValueError(f"udh8 reference must be 0-255, not {reference}")
        prefix = bytes((5, 0x00, 3, reference, total))
    else:
        if not 0 <= reference <= 0xFFFF:
            raise ValueError(f"{concat} reference must be 0-65535, not {reference}")
        prefix = bytes((6, 0x08, 4, reference >> 8, reference & 0xFF, total))
    for seq, end in enumerate(ends, 1):
        seg = Draft()
        seg.data_coding = dcs
        seg.esm_class = UDHI
        seg.udh = prefix + OCTET[seq]
        seg.payload = pack(data[start:end], fill) if packed else data[start:end]
        seg.encoding = kind
        seg.packed = packed
        seg.udl = head + end - start
        seg.sar = None
        seg.__class__ = Segment  # type: ignore[assignment]
        append(seg)
        start = end
    return segments

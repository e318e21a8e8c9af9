"""Text to SMS segments (DESIGN.md section 3.5): :func:`encode`.

The hot path does no per-character Python work: GSM-7 goes through a C-level
``codecs`` charmap, UCS-2 through the UTF-16-BE codec, segments are cut by
slicing at computed offsets (one step back where a cut would split an escape
pair or a surrogate pair) and packing works on big integers. The common case
(automatic choice, no national tables) is inlined in :func:`encode`; the rest
goes through :func:`gateway.codec.plan.plan`.
"""

from __future__ import annotations

from dataclasses import fields
from typing import cast

from gateway.codec.alphabet import (
    DEFAULT_TABLES,
    FROM_MAP,
    LANGUAGE_IDS,
    SHIFTED,
    escape_pair,
)
from gateway.codec.dcs import dcs_for
from gateway.codec.plan import (
    CAPACITY,
    CONCAT_MODES,
    DEFAULT_MAP,
    MAX_SEGMENTS,
    charmap_encode,
    cut,
    plan,
    surrogate_error,
)
from gateway.codec.segment import Segment
from gateway.codec.septets import fill_bits_after, pack_septets, septets_for_udh
from gateway.errors import TextTooLong
from gateway.model import MessageClass

_UDHI = 0x40
_OCTET = [bytes((i,)) for i in range(256)]


_FIELDS = ("data_coding", "esm_class", "udh", "payload", "encoding", "packed", "udl", "sar")


class _Draft:
    """Segment's slot layout without its frozen ``__setattr__``: filled with
    plain attribute stores, then turned into a Segment by ``__class__``
    assignment (allowed between classes with the same slots). A frozen
    dataclass's generic ``__init__`` costs 1.2 us, this 0.2 us: most of the
    time of encoding a short text."""

    __slots__ = _FIELDS
    data_coding: int
    esm_class: int
    udh: bytes
    payload: bytes
    encoding: str
    packed: bool
    udl: int
    sar: tuple[int, int, int] | None


_new = object.__new__
_SAME_LAYOUT = tuple(f.name for f in fields(Segment)) == _FIELDS == Segment.__slots__


def _segment(  # noqa: PLR0917 - private hot-path helper, positional on purpose
    dcs: int, udh: bytes, payload: bytes, encoding: str, packed: bool, udl: int,
    sar: tuple[int, int, int] | None,
) -> Segment:
    """Exactly ``Segment(data_coding=dcs, ...)``, built faster."""
    if not _SAME_LAYOUT:  # Segment changed: stay correct, if slower
        return Segment(
            data_coding=dcs, esm_class=_UDHI if udh else 0, udh=udh, payload=payload,
            encoding=encoding, packed=packed, udl=udl, sar=sar,
        )
    draft = _new(_Draft)
    draft.data_coding = dcs
    draft.esm_class = _UDHI if udh else 0
    draft.udh = udh
    draft.payload = payload
    draft.encoding = encoding
    draft.packed = packed
    draft.udl = udl
    draft.sar = sar
    draft.__class__ = Segment  # type: ignore[assignment]
    return cast("Segment", draft)


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
    if national or encoding is not None or type(text) is not str or "\x00" in text:
        kind, data, tables, ends, single, _ = plan(text, encoding, national, concat)
    else:
        # the common case, inlined: automatic choice, no national tables
        try:
            data = charmap_encode(text, "strict", DEFAULT_MAP)[0].translate(FROM_MAP)
        except UnicodeEncodeError:
            try:
                data = text.encode("utf-16-be")
            except UnicodeEncodeError as exc:
                raise surrogate_error(text, exc.start) from None
            kind = "ucs2"
            tables = None
        else:
            if not data.isascii():
                data = SHIFTED.sub(escape_pair, data)
            kind = "gsm7"
            tables = DEFAULT_TABLES
        try:
            limits = CAPACITY[kind, concat, 0]
        except KeyError:
            raise ValueError(f"concat must be one of {CONCAT_MODES}, not {concat!r}") from None
        if len(data) <= limits[0]:
            if msg_class is None:
                dcs = 0x00 if tables is not None else 0x08
            else:
                dcs = dcs_for(kind, msg_class)
            if packed and tables is not None:
                return [_segment(dcs, b"", pack_septets(data), kind, True, len(data), None)]
            return [_segment(dcs, b"", data, kind, False, len(data), None)]
        ends = cut(data, limits[1], tables is None)
        single = False
    gsm = kind == "gsm7"
    dcs = dcs_for(kind, msg_class) if msg_class is not None else (0x00 if gsm else 0x08)
    packed = packed and gsm
    if single and (tables is None or not tables.ie_count):  # the common case
        if packed:
            return [_segment(dcs, b"", pack_septets(data), kind, True, len(data), None)]
        return [_segment(dcs, b"", data, kind, False, len(data), None)]
    national_ies = b""
    if tables is not None and tables.ie_count:
        if tables.single is not None:
            national_ies += bytes((0x24, 1, LANGUAGE_IDS[tables.single]))
        if tables.locking is not None:
            national_ies += bytes((0x25, 1, LANGUAGE_IDS[tables.locking]))
    total = len(ends)
    if total > MAX_SEGMENTS:
        raise TextTooLong(total, MAX_SEGMENTS)
    national_udh = bytes((len(national_ies),)) + national_ies if national_ies else b""
    if concat == "payload" or single:
        return [_payload_segment(dcs, national_udh, data, kind, packed, None)]
    if concat == "udh8":
        if not 0 <= reference <= 0xFF:
            raise ValueError(f"udh8 reference must be 0-255, not {reference}")
        prefix = bytes((5 + len(national_ies), 0x00, 3, reference, total))
    elif not 0 <= reference <= 0xFFFF:
        raise ValueError(f"{concat} reference must be 0-65535, not {reference}")
    elif concat == "udh16":
        prefix = bytes((6 + len(national_ies), 0x08, 4, reference >> 8, reference & 0xFF, total))
    else:  # sar: no concatenation element, the reference travels in TLVs
        starts = [0, *ends[:-1]]
        return [
            _payload_segment(dcs, national_udh, data[start:end], kind, packed,
                             (reference, total, seq))
            for seq, (start, end) in enumerate(zip(starts, ends, strict=True), 1)
        ]
    segments = []
    start = 0
    if packed:
        for seq, end in enumerate(ends, 1):
            segments.append(_payload_segment(
                dcs, prefix + _OCTET[seq] + national_ies, data[start:end], kind, True, None
            ))
            start = end
        return segments
    # unpacked: every segment's header has the same length
    udh_length = len(prefix) + 1 + len(national_ies)
    head = septets_for_udh(udh_length) if gsm else udh_length
    for seq, end in enumerate(ends, 1):
        segments.append(_segment(
            dcs, prefix + _OCTET[seq] + national_ies, data[start:end], kind, False,
            head + end - start, None,
        ))
        start = end
    return segments


def _payload_segment(  # noqa: PLR0917 - private hot-path helper
    dcs: int, udh: bytes, chunk: bytes, encoding: str, packed: bool,
    sar: tuple[int, int, int] | None,
) -> Segment:
    if encoding == "gsm7":
        udh_septets = septets_for_udh(len(udh)) if udh else 0
        if packed:
            payload = pack_septets(chunk, fill_bits_after(len(udh)) if udh else 0)
            return _segment(dcs, udh, payload, encoding, True, udh_septets + len(chunk), sar)
        return _segment(dcs, udh, chunk, encoding, False, udh_septets + len(chunk), sar)
    return _segment(dcs, udh, chunk, encoding, False, len(udh) + len(chunk), sar)

"""The general encoding path: every option, through :func:`gateway.codec.plan.plan`.

:func:`gateway.codec.encode` handles the common case (automatic choice, no
national tables, a plain ``str``) with a few C-level calls of its own and
sends everything else here. This path is also the reference the fast one is
tested against (tests/codec/test_general.py): both must give equal segments
and equal errors for every input.
"""

from __future__ import annotations

from dataclasses import fields
from typing import cast

from gateway.codec.alphabet import LANGUAGE_IDS
from gateway.codec.dcs import dcs_for
from gateway.codec.plan import MAX_SEGMENTS, plan
from gateway.codec.segment import Segment
from gateway.codec.septets import fill_bits_after, pack_septets, septets_for_udh
from gateway.errors import TextTooLong
from gateway.model import MessageClass

UDHI = 0x40
OCTET = [bytes((i,)) for i in range(256)]
FIELDS = ("data_coding", "esm_class", "udh", "payload", "encoding", "packed", "udl", "sar")


class Draft:
    """Segment's slot layout without its frozen ``__setattr__``: filled with
    plain attribute stores, then turned into a Segment by ``__class__``
    assignment (allowed between classes with the same slots). A frozen
    dataclass's generated ``__init__`` costs 1.2 us, this 0.2 us: most of the
    time of encoding a short text."""

    __slots__ = FIELDS
    data_coding: int
    esm_class: int
    udh: bytes
    payload: bytes
    encoding: str
    packed: bool
    udl: int
    sar: tuple[int, int, int] | None


if not tuple(f.name for f in fields(Segment)) == FIELDS == Segment.__slots__:
    # a programming error, caught by the first test run: Draft must mirror Segment
    raise RuntimeError("gateway.codec: Segment's fields changed; update Draft.FIELDS")


def make_segment(  # noqa: PLR0917 - private hot-path helper, positional on purpose
    dcs: int, udh: bytes, payload: bytes, encoding: str, packed: bool, udl: int,
    sar: tuple[int, int, int] | None,
) -> Segment:
    """Exactly ``Segment(data_coding=dcs, ...)``, built faster."""
    draft = Draft()
    draft.data_coding = dcs
    draft.esm_class = UDHI if udh else 0
    draft.udh = udh
    draft.payload = payload
    draft.encoding = encoding
    draft.packed = packed
    draft.udl = udl
    draft.sar = sar
    draft.__class__ = Segment  # type: ignore[assignment]
    return cast("Segment", draft)


def encode_planned(  # noqa: PLR0917 - encode()'s options, positional for speed
    text: str, concat: str, reference: int, packed: bool, encoding: str | None,
    msg_class: MessageClass | int | None, national: tuple[str, ...] | list[str],
) -> list[Segment]:
    """:func:`gateway.codec.encode` for any options (same arguments, same result)."""
    kind, data, tables, ends, single, _ = plan(text, encoding, national, concat)
    gsm = kind == "gsm7"
    dcs = dcs_for(kind, msg_class) if msg_class is not None else (0x00 if gsm else 0x08)
    packed = bool(packed) and gsm
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
    for seq, end in enumerate(ends, 1):
        segments.append(_payload_segment(
            dcs, prefix + OCTET[seq] + national_ies, data[start:end], kind, packed, None
        ))
        start = end
    return segments


def _payload_segment(  # noqa: PLR0917 - private helper
    dcs: int, udh: bytes, chunk: bytes, encoding: str, packed: bool,
    sar: tuple[int, int, int] | None,
) -> Segment:
    if encoding == "gsm7":
        udh_septets = septets_for_udh(len(udh)) if udh else 0
        if packed:
            payload = pack_septets(chunk, fill_bits_after(len(udh)) if udh else 0)
            return make_segment(dcs, udh, payload, encoding, True, udh_septets + len(chunk), sar)
        return make_segment(dcs, udh, chunk, encoding, False, udh_septets + len(chunk), sar)
    return make_segment(dcs, udh, chunk, encoding, False, len(udh) + len(chunk), sar)

"""The reference encoder: every option, through :func:`gateway.codec.plan.plan`.

:func:`encode_python` is what :func:`gateway.codec.encode` is when the
compiled core (gateway/codec/_native.c) is not built or ``SMSGW_PURE_PYTHON=1``
is set, and the reference the compiled core is tested against
(tests/gateway/codec/test_native.py): both give equal segments and equal errors for
every input. The compiled core hands every input it does not answer itself
(and so every error) to this function.
"""

from __future__ import annotations

from gateway.codec.alphabet import LANGUAGE_IDS, Tables
from gateway.codec.dcs import dcs_for
from gateway.codec.plan import MAX_SEGMENTS, plan
from gateway.codec.segment import Segment
from gateway.codec.septets import fill_bits_after, pack_septets, septets_for_udh
from gateway.model.errors import TextTooLong
from gateway.model.message import MessageClass

UDHI = 0x40
OCTET = [bytes((i,)) for i in range(256)]


def encode_python(
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
    return encode_planned(text, concat, reference, packed, encoding, msg_class, national)


def encode_planned(  # noqa: PLR0917 - encode()'s options, positional
    text: str,
    concat: str,
    reference: int,
    packed: bool,
    encoding: str | None,
    msg_class: MessageClass | int | None,
    national: tuple[str, ...] | list[str],
) -> list[Segment]:
    """:func:`encode_python` with its options in order."""
    kind, data, tables, ends, single, _ = plan(text, encoding, national, concat)
    gsm = kind == "gsm7"
    dcs = dcs_for(kind, msg_class) if msg_class is not None else (0x00 if gsm else 0x08)
    packed = bool(packed) and gsm
    national_ies = national_elements(tables) if tables is not None and tables.ie_count else b""
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
            _payload_segment(
                dcs, national_udh, data[start:end], kind, packed, (reference, total, seq)
            )
            for seq, (start, end) in enumerate(zip(starts, ends, strict=True), 1)
        ]
    segments = []
    start = 0
    for seq, end in enumerate(ends, 1):
        segments.append(
            _payload_segment(
                dcs, prefix + OCTET[seq] + national_ies, data[start:end], kind, packed, None
            )
        )
        start = end
    return segments


def national_elements(tables: Tables) -> bytes:
    """The national language elements of every segment with these tables:
    single shift, then locking shift."""
    ies = b""
    if tables.single is not None:
        ies += bytes((0x24, 1, LANGUAGE_IDS[tables.single]))
    if tables.locking is not None:
        ies += bytes((0x25, 1, LANGUAGE_IDS[tables.locking]))
    return ies


def _payload_segment(  # noqa: PLR0917 - private helper
    dcs: int,
    udh: bytes,
    chunk: bytes,
    encoding: str,
    packed: bool,
    sar: tuple[int, int, int] | None,
) -> Segment:
    if encoding == "gsm7":
        udh_septets = septets_for_udh(len(udh)) if udh else 0
        if packed:
            payload = pack_septets(chunk, fill_bits_after(len(udh)) if udh else 0)
            return Segment(
                dcs, UDHI if udh else 0, udh, payload, encoding, True, udh_septets + len(chunk), sar
            )
        return Segment(
            dcs, UDHI if udh else 0, udh, chunk, encoding, False, udh_septets + len(chunk), sar
        )
    return Segment(dcs, UDHI if udh else 0, udh, chunk, encoding, False, len(udh) + len(chunk), sar)

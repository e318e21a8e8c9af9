"""Segments an ESME cut itself (:class:`~gateway.model.raw_body.RawBody`): sent as given.

:func:`raw_segment` makes the one :class:`Segment` of such a body, its header
kept as is: GSM 7-bit septets packed after the header with the fill bits of
TS 23.040 9.2.3.24 when the link wants them packed (a modem), else one septet
an octet (SMPP); 8-bit and UCS-2 octets as they are. :func:`check_raw` says
whether a body fits one segment; :func:`raw_analysis` counts it as one.
"""

from __future__ import annotations

from gateway.codec.analysis import Analysis
from gateway.codec.segment import Segment
from gateway.codec.septets import fill_bits_after, pack_septets, septets_for_udh
from gateway.codec.udh import parse_udh
from gateway.model.errors import CodecError, DecodeError
from gateway.model.raw_body import RawBody

UDHI = 0x40
OCTETS = 140  # TP-UD: octets of one segment
SEPTETS = 160  # TP-UD: septets of one segment (GSM 7-bit)


def raw_units(raw: RawBody) -> tuple[int, int]:
    """(units used, units a segment holds): septets for GSM 7-bit, else octets,
    the header included."""
    if raw.encoding == "gsm7":
        header = septets_for_udh(len(raw.udh)) if raw.udh else 0
        return header + len(raw.body), SEPTETS
    return len(raw.udh) + len(raw.body), OCTETS


def check_raw(raw: RawBody) -> None:
    """Refuse a body that is not one segment: CodecError past 140 octets (160
    septets), DecodeError for a header whose elements overrun it, a septet above
    0x7F or an odd number of UCS-2 octets."""
    if raw.udh:
        parse_udh(raw.udh)
        if len(raw.udh) != 1 + raw.udh[0]:
            msg = f"header length {raw.udh[0]} and {len(raw.udh) - 1} header octets differ"
            raise DecodeError(msg)
    if raw.encoding == "gsm7" and any(septet > 0x7F for septet in raw.body):
        msg = "GSM 7-bit data with an octet above 0x7F (one septet an octet expected)"
        raise DecodeError(msg)
    if raw.encoding == "ucs2" and len(raw.body) % 2:
        msg = f"UCS-2 data of {len(raw.body)} octets: two octets a character"
        raise DecodeError(msg)
    used, room = raw_units(raw)
    if used > room:
        unit = "septets" if raw.encoding == "gsm7" else "octets"
        msg = f"one segment holds {room} {unit}, its header included; this one has {used}"
        raise CodecError(msg)


def raw_segment(raw: RawBody, *, packed: bool = False) -> Segment:
    """The one segment of ``raw``, its header as given."""
    udh, body = raw.udh, raw.body
    esm_class = UDHI if udh else 0
    if raw.encoding == "gsm7":
        udl = (septets_for_udh(len(udh)) if udh else 0) + len(body)
        if packed:
            payload = pack_septets(body, fill_bits_after(len(udh)) if udh else 0)
            return Segment(raw.data_coding, esm_class, udh, payload, "gsm7", True, udl)
        return Segment(raw.data_coding, esm_class, udh, body, "gsm7", False, udl)
    return Segment(raw.data_coding, esm_class, udh, body, raw.encoding, False, len(udh) + len(body))


def raw_analysis(raw: RawBody, text: str) -> Analysis:
    """One segment: what the send pipeline prices (``text``: the body as read)."""
    used, room = raw_units(raw)
    return Analysis(raw.encoding, len(text), used, 1, max(room - used, 0), room)

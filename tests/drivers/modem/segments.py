"""Segments built by hand (ASCII letters, digits and spaces are GSM 03.38 as is)."""

from __future__ import annotations

from drivers.modem.protocol.tpdu_fields import pack_septets
from gateway.codec import Segment

_CLASS_BITS = {None: 0x00, 0: 0x10, 1: 0x11, 2: 0x12, 3: 0x13}


def gsm_segment(
    text: str,
    *,
    reference: int | None = None,
    total: int = 1,
    sequence: int = 1,
    msg_class: int | None = None,
    ref16: bool = False,
) -> Segment:
    """A packed GSM 7-bit segment of plain ASCII text, with a concat UDH if asked."""
    septets = text.encode("ascii")
    udh = b""
    if reference is not None:
        if ref16:
            udh = bytes([6, 0x08, 4, reference >> 8, reference & 0xFF, total, sequence])
        else:
            udh = bytes([5, 0x00, 3, reference, total, sequence])
    fill = (7 - len(udh) * 8 % 7) % 7
    header_septets = (len(udh) * 8 + fill) // 7
    return Segment(
        data_coding=_CLASS_BITS[msg_class],
        esm_class=0x40 if udh else 0x00,
        udh=udh,
        payload=pack_septets(septets, fill),
        encoding="gsm7",
        packed=True,
        udl=header_septets + len(septets),
    )


def ucs2_segment(
    text: str,
    *,
    reference: int | None = None,
    total: int = 1,
    sequence: int = 1,
    msg_class: int | None = None,
) -> Segment:
    """A UCS-2 segment, with a concat UDH if asked."""
    payload = text.encode("utf-16-be")
    udh = bytes([5, 0x00, 3, reference, total, sequence]) if reference is not None else b""
    dcs = 0x08 if msg_class is None else 0x18 | msg_class
    return Segment(
        data_coding=dcs,
        esm_class=0x40 if udh else 0x00,
        udh=udh,
        payload=payload,
        encoding="ucs2",
        packed=False,
        udl=len(udh) + len(payload),
    )

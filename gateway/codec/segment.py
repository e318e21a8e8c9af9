"""The unit the codec produces and the drivers send."""

from __future__ import annotations

from typing import NamedTuple


class Segment(NamedTuple):
    """One SMS (or, with concat="payload", one whole message in message_payload).

    ``data_coding`` is the 3GPP TS 23.038 DCS value, usable both as SMPP
    ``data_coding`` and as TP-DCS. ``payload`` is the encoded user data without
    the header: GSM 7-bit unpacked (one septet per octet) or packed with fill
    bits after the UDH, UCS-2 as UTF-16 big-endian octets, 8-bit as is.

    A NamedTuple: the codec builds millions of them (the compiled core
    builds them directly), and a tuple is immutable and cheap.
    """

    data_coding: int
    esm_class: int  # 0x40 (UDHI) when udh is present, else 0x00
    udh: bytes  # complete header including its length octet, or b""
    payload: bytes
    encoding: str  # "gsm7" | "ucs2" | "8bit"
    packed: bool  # payload holds packed septets
    udl: int  # TP-UDL: septets (header and fill bits included) for gsm7, else octets
    sar: tuple[int, int, int] | None = None  # (reference, total, sequence) for concat="sar"

    @property
    def short_message(self) -> bytes:
        """What goes in SMPP short_message (or the TP-UD of a modem PDU)."""
        return self.udh + self.payload

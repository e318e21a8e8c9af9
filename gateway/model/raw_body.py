"""A segment an ESME cut itself: its data coding, its user data header and its body.

A submit_sm with a user data header (esm_class UDHI), SAR TLVs or a binary
data_coding is sent as one segment exactly as given (the gateway only
turns SAR TLVs into a concatenation element). The store keeps it in one
column as :meth:`RawBody.pack` gives it: the data coding octet, the
encoding's octet (its index in ``_KINDS``), the header's length (0: no
header), the header (its length octet included), the body.
"""

from __future__ import annotations

from typing import NamedTuple

from gateway.model.errors import DecodeError

MAX_HEADER = 140  # a header fills at most the 140 octets of one segment


class RawBody(NamedTuple):
    """One segment as the ESME made it."""

    data_coding: int  # TP-DCS as sent to the SMSC (0x00 GSM, 0x04 8-bit, 0x08 UCS-2, classes)
    udh: bytes  # the complete header, its length octet first, or b""
    body: bytes  # GSM 7-bit: septets, one per octet (unpacked); else octets
    encoding: str  # "gsm7" | "8bit" | "ucs2"

    def pack(self) -> bytes:
        """The stored form (the message's ``raw`` column)."""
        kind = _KINDS.index(self.encoding)
        return bytes((self.data_coding, kind, len(self.udh))) + self.udh + self.body

    @classmethod
    def unpack(cls, data: bytes) -> RawBody:
        """The body :meth:`pack` stored; DecodeError for data it did not write."""
        if len(data) < 3 or data[1] >= len(_KINDS) or 3 + data[2] > len(data):
            msg = f"not a stored raw segment: {data[:8].hex()}"
            raise DecodeError(msg)
        end = 3 + data[2]
        return cls(
            data_coding=data[0],
            udh=bytes(data[3:end]),
            body=bytes(data[end:]),
            encoding=_KINDS[data[1]],
        )


_KINDS = ("gsm7", "8bit", "ucs2")

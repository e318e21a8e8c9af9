"""User data to text: the receiving side (MO reassembly, both drivers)."""

from __future__ import annotations

from gateway.codec.alphabet import decode_septets, tables_for
from gateway.codec.dcs import parse_dcs
from gateway.model.errors import DecodeError

# SMPP 3.4 section 5.2.19 data_coding values that differ from 23.038
_SMPP_CODECS = {0x01: "ascii", 0x03: "latin-1"}


def decode_payload(
    payload: bytes,
    data_coding: int,
    *,
    national: tuple[str | int | None, str | int | None] | None = None,
    smpp: bool = False,
) -> str:
    """Text of UNPACKED user data (the header already removed).

    GSM-7: one septet per octet, through the default alphabet or the
    ``national`` = (locking shift, single shift) tables, each a language code
    ("tr"), a 23.038 id (1) or None (``Udh.national`` gives this tuple);
    unknown ids fall back to the default tables. Lone or unknown escapes are
    read as 23.038 says (see ``decode_septets``). UCS-2: UTF-16-BE, a broken
    surrogate or an odd trailing octet becomes U+FFFD. 8-bit data (and
    compressed text, which is not decoded): latin-1, one character per octet.

    ``smpp=True`` reads SMPP 3.4 data_coding values 0x01 (IA5/ASCII) and 0x03
    (latin-1) as SMPP defines them instead of as TP-DCS.
    """
    if smpp and data_coding in _SMPP_CODECS:
        return payload.decode(_SMPP_CODECS[data_coding], errors="replace")
    try:
        encoding = parse_dcs(data_coding).encoding
    except ValueError as exc:
        raise DecodeError(str(exc)) from None
    if encoding == "gsm7":
        if national is None:
            return decode_septets(payload)
        return decode_septets(payload, tables_for(*national))
    if encoding == "ucs2":
        return payload.decode("utf-16-be", errors="replace")
    return payload.decode("latin-1")

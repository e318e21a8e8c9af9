"""A submit_sm's content: a whole text smsgw cuts itself, or one segment the ESME cut.

Pure functions. Choices made here:

- data_coding 0 is the GSM 03.38 default alphabet, one septet per octet
  (unpacked, as SMPP carries it), or Latin-1 for a credential with the
  ``latin1`` option; 1 is IA5 (ASCII), 3 Latin-1, 8 UCS-2; 2 and 4 are binary
  (8-bit). The 23.038 values with a message class (0x10-0x1B: GSM, 8-bit or
  UCS-2 with class 0-3; 0xF0-0xF7: GSM or 8-bit with class 0-3) are taken
  too; any other value (the SMPP national codings, compressed text, message
  waiting groups) is refused.
- A whole text is read into a :class:`str` and cut by smsgw; its class must be
  one smsgw sends texts with (0 flash, 2 SIM), classes 1 and 3 only come as
  raw segments. message_payload carries the whole text; a submit with both a
  short_message and a message_payload is refused, as SMPP 3.4 says.
- A raw segment (:class:`~gateway.model.raw_body.RawBody`) is what the ESME cut
  itself: a user data header (esm_class UDHI, 0x40: the data starts with the
  header, its length octet first), SAR TLVs, or a binary data_coding. It is one
  segment, billed as one, sent with its header as given. Its body stays in its
  alphabet: GSM septets as given, UCS-2 and 8-bit octets as given, ASCII and
  Latin-1 (and data_coding 0 with the ``latin1`` option) turned into GSM
  septets (a character GSM does not have is refused: send such text in
  UCS-2). The data coding sent on is the 23.038 one: 0x00 GSM, 0x04 8-bit
  (for SMPP's 2 and 4), 0x08 UCS-2, a class value as given.
- SAR TLVs (sar_msg_ref_num, sar_total_segments, sar_segment_seqnum, all three)
  become a concatenation element at the head of the header, so that the SMSC
  gets the parts with a header whatever it does with SAR. The element is the
  8-bit reference one (IEI 0x00, sar_msg_ref_num modulo 256): the 16-bit one
  (IEI 0x08) takes an octet more than ESMEs leave when they cut SAR parts
  for the usual six-octet header (153 septets, 134 octets), and choosing it
  part by part would give the parts of one message different elements.
  A total of 0, a sequence of 0 or above the total, a value of the wrong
  length, a missing one, or a header that already has a concatenation element
  is refused (:class:`~gateway.model.esme_ingress.BadSar`).
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.codec import check_raw, decode_payload, parse_udh
from gateway.codec.alphabet import decode_septets, tables_for, to_septets
from gateway.codec.udh import IEI_CONCAT_8, IEI_CONCAT_16
from gateway.model.errors import CodecError, DecodeError, EmptyText
from gateway.model.esme_ingress import (
    BadSar,
    EsmeSubmit,
    UnsupportedDataCoding,
    UnsupportedEsmClass,
    UnsupportedSubmit,
)
from gateway.model.message import MessageClass
from gateway.model.raw_body import MAX_HEADER, RawBody

UDHI = 0x40
MESSAGE_TYPE = 0x3C  # esm_class bits 2-5: 0 for a plain submit
_SMPP_TEXT = {1: "ascii", 3: "latin-1"}  # SMPP 3.4 5.2.19 values that are not 23.038's
_BINARY = (2, 4)  # SMPP's two "octet unspecified" values
_CLASSES = {0: MessageClass.FLASH, 2: MessageClass.SIM}  # classes smsgw sends texts with
_ALPHABETS = ("gsm7", "8bit", "ucs2")


@dataclass(frozen=True, slots=True, kw_only=True)
class Content:
    """What a submit asks to send: a text (shown for a raw segment: its body read,
    a binary one in hex) and, for a segment the ESME cut, that segment."""

    text: str
    msg_class: MessageClass = MessageClass.STANDARD
    raw: RawBody | None = None


@dataclass(frozen=True, slots=True)
class _Coding:
    """A data_coding read: its alphabet, its class, the TP-DCS sent on."""

    alphabet: str  # "gsm7" | "8bit" | "ucs2" | "ascii" | "latin-1"
    msg_class: int | None
    dcs: int


def coding_of(data_coding: int, *, latin1: bool = False) -> _Coding:
    """The alphabet and class of an SMPP data_coding; UnsupportedDataCoding for others."""
    if data_coding == 0:
        return _Coding("latin-1" if latin1 else "gsm7", None, 0x00)
    if data_coding in _SMPP_TEXT:
        return _Coding(_SMPP_TEXT[data_coding], None, 0x00)
    if data_coding in _BINARY:
        return _Coding("8bit", None, 0x04)
    if data_coding == 0x08:
        return _Coding("ucs2", None, 0x08)
    if 0x10 <= data_coding <= 0x1B or 0xF0 <= data_coding <= 0xF7:
        if data_coding >> 4 == 0xF:
            alphabet = "8bit" if data_coding & 0x04 else "gsm7"
        else:
            alphabet = _ALPHABETS[(data_coding >> 2) & 0b11]
        return _Coding(alphabet, data_coding & 0b11, data_coding)
    msg = (
        f"data_coding {data_coding} (0x{data_coding:02X}): smsgw takes 0 (GSM), 1 (ASCII), "
        "3 (Latin-1), 8 (UCS-2), 2 and 4 (binary) and the 23.038 values with a "
        "message class (0x10-0x1B, 0xF0-0xF7)"
    )
    raise UnsupportedDataCoding(msg)


def content_of(submit: EsmeSubmit, *, latin1: bool = False) -> Content:
    """The content of a submit, refused with the reason when smsgw cannot send it."""
    if submit.esm_class & MESSAGE_TYPE:
        msg = f"esm_class 0x{submit.esm_class:02X}: only a plain submit (message type 0)"
        raise UnsupportedEsmClass(msg)
    data = submit.short_message
    if submit.message_payload is not None:
        if data:
            msg = "both short_message and message_payload: SMPP 3.4 allows one"
            raise UnsupportedSubmit(msg)
        data = submit.message_payload
    coding = coding_of(submit.data_coding, latin1=latin1)
    udhi = bool(submit.esm_class & UDHI)
    if not udhi and submit.sar is None and coding.alphabet != "8bit":
        return _whole_text(data, coding, submit.data_coding)
    udh, body = _split_header(data) if udhi else (b"", data)
    if submit.sar is not None:
        udh = _with_concat(udh, _sar_of(submit.sar))
    return _raw(coding, udh, body)


def _whole_text(data: bytes, coding: _Coding, data_coding: int) -> Content:
    msg_class = MessageClass.STANDARD
    if coding.msg_class is not None:
        found = _CLASSES.get(coding.msg_class)
        if found is None:
            msg = (
                f"data_coding {data_coding} (0x{data_coding:02X}): message class "
                f"{coding.msg_class}; smsgw sends whole texts with class 0 (flash) or 2 "
                "(SIM), other classes only in segments the ESME cuts (esm_class UDHI)"
            )
            raise UnsupportedDataCoding(msg)
        msg_class = found
    if coding.alphabet == "gsm7":
        text = decode_payload(data, 0)
    elif coding.alphabet == "ucs2":
        text = data.decode("utf-16-be", errors="replace")
    else:
        text = data.decode(coding.alphabet, errors="replace")
    return Content(text=text, msg_class=msg_class)


def _split_header(data: bytes) -> tuple[bytes, bytes]:
    """(header with its length octet, body) of data that starts with a header."""
    if not data or 1 + data[0] > len(data):
        got = f"header length {data[0]}, {len(data) - 1} octets after it" if data else "none"
        msg = f"esm_class UDHI: the data must start with its user data header ({got})"
        raise DecodeError(msg)
    end = 1 + data[0]
    return data[:end], data[end:]


def _sar_of(values: tuple[bytes | None, bytes | None, bytes | None]) -> tuple[int, int, int]:
    """(reference, total, sequence) of the three SAR TLVs."""
    names = ("sar_msg_ref_num", "sar_total_segments", "sar_segment_seqnum")
    missing = [name for name, value in zip(names, values, strict=True) if value is None]
    if missing:
        msg = f"SAR TLVs without {', '.join(missing)}: give all three"
        raise BadSar(msg)
    ref, total, seq = (v or b"" for v in values)
    for name, value, size in zip(names, (ref, total, seq), (2, 1, 1), strict=True):
        if len(value) != size:
            msg = f"{name} of {len(value)} octets: {size} expected"
            raise BadSar(msg)
    reference, count, sequence = int.from_bytes(ref), total[0], seq[0]
    if count == 0:
        msg = "sar_total_segments 0: 1 to 255"
        raise BadSar(msg)
    if not 1 <= sequence <= count:
        msg = f"sar_segment_seqnum {sequence}: 1 to sar_total_segments ({count})"
        raise BadSar(msg)
    return reference, count, sequence


def _with_concat(udh: bytes, sar: tuple[int, int, int]) -> bytes:
    """The header with the concatenation element of ``sar`` first."""
    if udh and any(e.iei in {IEI_CONCAT_8, IEI_CONCAT_16} for e in parse_udh(udh).elements):
        msg = "SAR TLVs and a concatenation element in the header: give one of them"
        raise BadSar(msg)
    reference, total, sequence = sar
    element = bytes((IEI_CONCAT_8, 3, reference & 0xFF, total, sequence))
    rest = udh[1:]
    if len(element) + len(rest) >= MAX_HEADER:
        msg = f"a header of {len(rest)} octets and a concatenation element fill no segment"
        raise CodecError(msg)
    return bytes((len(element) + len(rest),)) + element + rest


def _raw(coding: _Coding, udh: bytes, body: bytes) -> Content:
    if not udh and not body:
        msg = "no data: a binary submit needs a short_message or a message_payload"
        raise EmptyText(msg)
    tables = None
    if udh:
        national = parse_udh(udh).national
        tables = tables_for(*national) if national is not None else None
    msg_class = MessageClass.STANDARD  # classes 1 and 3: in the data coding sent on
    if coding.msg_class is not None:
        msg_class = _CLASSES.get(coding.msg_class, MessageClass.STANDARD)
    if coding.alphabet in {"ascii", "latin-1"}:
        text = body.decode(coding.alphabet, errors="replace")
        try:
            body = to_septets(text)
        except UnicodeEncodeError as exc:
            msg = (
                f"character {text[exc.start]!r} has no GSM 7-bit septet: send this "
                "segment in UCS-2 (data_coding 8)"
            )
            raise DecodeError(msg) from None
        raw = RawBody(data_coding=coding.dcs, udh=udh, body=body, encoding="gsm7")
    else:
        raw = RawBody(data_coding=coding.dcs, udh=udh, body=body, encoding=coding.alphabet)
    check_raw(raw)
    if coding.alphabet == "gsm7":
        text = decode_septets(body, tables) if tables is not None else decode_septets(body)
    elif coding.alphabet == "ucs2":
        text = body.decode("utf-16-be", errors="replace")
    elif coding.alphabet == "8bit":
        text = body.hex()
    return Content(text=text, msg_class=msg_class, raw=raw)

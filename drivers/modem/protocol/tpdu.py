"""SMS transfer PDUs (3GPP TS 23.040): SMS-SUBMIT out, SMS-DELIVER and SMS-STATUS-REPORT in.

Sans-IO: bytes in, frozen dataclasses out. PDUs as a modem shows them in PDU
mode (AT+CMGF=0) start with the SMSC address (TS 27.005 3.1 <pdu>): decoders
take that form; :func:`build_submit` returns it together with the TPDU length
that AT+CMGS needs (the SMSC part excluded).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass

from gateway.link.interface import Concat
from gateway.model.errors import RemoteProtocolError

# TP-MTI (bits 1-0 of the first octet), as seen by the mobile
MTI_DELIVER = 0x00
MTI_SUBMIT = 0x01
MTI_STATUS_REPORT = 0x02

TOA_INTERNATIONAL = 0x91  # ext=1, TON=international, NPI=ISDN/E.164
TOA_UNKNOWN = 0x81  # ext=1, TON=unknown, NPI=ISDN/E.164
TOA_ALPHANUMERIC = 0xD0  # ext=1, TON=alphanumeric, NPI=unknown

_SEMI_OCTET_DIGITS = "0123456789*#abc"


class PduError(RemoteProtocolError):
    """A PDU that cannot be decoded (truncated, wrong type, bad field)."""


# --- septets (local so the modem driver does not depend on codec internals) ---


def unpack_septets(data: bytes, count: int, fill_bits: int = 0) -> bytes:
    """``count`` septets from packed ``data``, skipping ``fill_bits`` leading bits."""
    value = int.from_bytes(data, "little")
    value >>= fill_bits
    out = bytearray()
    for _ in range(count):
        out.append(value & 0x7F)
        value >>= 7
    return bytes(out)


def pack_septets(septets: bytes, fill_bits: int = 0) -> bytes:
    """Pack septets LSB first after ``fill_bits`` zero bits (TS 23.038 6.1.2.1)."""
    value = 0
    for i, septet in enumerate(septets):
        value |= (septet & 0x7F) << (fill_bits + 7 * i)
    nbits = fill_bits + 7 * len(septets)
    return value.to_bytes((nbits + 7) // 8, "little")


# --- addresses ----------------------------------------------------------------


def _semi_octets(digits: str) -> bytes:
    if len(digits) % 2:
        digits += "F"
    out = bytearray()
    for i in range(0, len(digits), 2):
        lo = _SEMI_OCTET_DIGITS.index(digits[i])
        hi = 0xF if digits[i + 1] == "F" else _SEMI_OCTET_DIGITS.index(digits[i + 1])
        out.append((hi << 4) | lo)
    return bytes(out)


def _digits(data: bytes, count: int) -> str:
    chars: list[str] = []
    for octet in data:
        for nibble in (octet & 0x0F, octet >> 4):
            if nibble == 0x0F:
                continue
            chars.append(_SEMI_OCTET_DIGITS[nibble])
    return "".join(chars[:count])


def _split_number(number: str) -> tuple[int, str]:
    digits = number.removeprefix("+")
    if not digits or not all(c in "0123456789*#" for c in digits) or len(digits) > 20:
        msg = f"not a phone number: {number!r}"
        raise ValueError(msg)
    return (TOA_INTERNATIONAL if number.startswith("+") else TOA_UNKNOWN), digits


def encode_address(number: str) -> bytes:
    """TP-DA/TP-OA: digit count, type of address, semi-octets (TS 23.040 9.1.2.5).

    ``+E164`` is international (0x91); digits without ``+`` are sent as TON
    unknown (0x81), which the network treats as national.
    """
    toa, digits = _split_number(number)
    return bytes([len(digits), toa]) + _semi_octets(digits)


def encode_smsc(number: str | None) -> bytes:
    """The SMSC address before the TPDU: ``00`` means "use the one on the SIM"."""
    if not number:
        return b"\x00"
    toa, digits = _split_number(number)
    body = bytes([toa]) + _semi_octets(digits)
    return bytes([len(body)]) + body


def _format_number(toa: int, digits: str) -> str:
    return ("+" + digits) if (toa & 0x70) == 0x10 else digits


def _decode_address(data: bytes, pos: int) -> tuple[str, int]:
    """An originator/recipient address at ``pos``; returns (text, next position)."""
    if pos + 2 > len(data):
        raise PduError("truncated address")
    ndigits, toa = data[pos], data[pos + 1]
    nbytes = (ndigits + 1) // 2
    raw = data[pos + 2 : pos + 2 + nbytes]
    if len(raw) != nbytes:
        raise PduError("truncated address")
    if (toa & 0x70) == 0x50:  # alphanumeric: GSM 7-bit packed, ndigits = semi-octets used
        septets = unpack_septets(raw, (ndigits * 4) // 7)
        return _gsm_basic_text(septets), pos + 2 + nbytes
    return _format_number(toa, _digits(raw, ndigits)), pos + 2 + nbytes


def _gsm_basic_text(septets: bytes) -> str:
    """Best effort for alphanumeric originators: the ASCII-compatible part of GSM 03.38."""
    table = {0x00: "@", 0x02: "$", 0x11: "_"}
    return "".join(table.get(s, chr(s) if 0x20 <= s < 0x7F else "?") for s in septets)


# --- validity period and timestamps --------------------------------------------


def relative_validity(seconds: int) -> int:
    """TP-VP (relative, TS 23.040 9.2.3.12.1) for at most ``seconds``.

    Rounds down to a representable period so a message never lives longer than
    asked; 5 minutes is the shortest and 63 weeks the longest the field holds.
    """
    minutes = seconds // 60
    days = seconds // 86400
    if minutes <= 12 * 60:
        return max(0, minutes // 5 - 1)
    if minutes <= 24 * 60:
        return 143 + (minutes - 12 * 60) // 30
    if days <= 30:
        return 166 + days
    return min(255, 192 + days // 7)


def validity_seconds(vp: int) -> int:
    """The period a relative TP-VP value stands for, in seconds."""
    if vp <= 143:
        return (vp + 1) * 300
    if vp <= 167:
        return 12 * 3600 + (vp - 143) * 1800
    if vp <= 196:
        return (vp - 166) * 86400
    return (vp - 192) * 7 * 86400


def decode_timestamp(data: bytes) -> float:
    """A 7-octet TP-SCTS / TP-DT (TS 23.040 9.2.3.11) as POSIX time."""
    if len(data) != 7:
        raise PduError("truncated timestamp")
    fields = [(o & 0x0F) * 10 + (o >> 4) for o in data[:6]]
    tz = data[6]
    quarters = (tz & 0x07) * 10 + (tz >> 4)
    if tz & 0x08:
        quarters = -quarters
    year, month, day, hour, minute, second = fields
    try:
        century = 1900 if year >= 90 else 2000  # two-digit years: 1990-2089
        base = calendar.timegm((century + year, month, day, hour, minute, second, 0, 0, 0))
    except (ValueError, OverflowError) as exc:
        raise PduError(f"bad timestamp: {exc}") from None
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 60):
        raise PduError("bad timestamp")
    return float(base - quarters * 900)


def encode_timestamp(when: float, *, tz_quarters: int = 0) -> bytes:
    """POSIX time as a 7-octet TP-SCTS in the zone ``tz_quarters`` (simulator use)."""
    import time  # noqa: PLC0415 - only the simulator needs it

    tm = time.gmtime(int(when) + tz_quarters * 900)
    out = bytearray()
    for value in (tm.tm_year % 100, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec):
        out.append(((value % 10) << 4) | (value // 10))
    q = abs(tz_quarters)
    out.append(((q % 10) << 4) | (q // 10) | (0x08 if tz_quarters < 0 else 0))
    return bytes(out)


# --- data coding ------------------------------------------------------------------


def alphabet(dcs: int) -> str:
    """``gsm7`` | ``8bit`` | ``ucs2`` from a TP-DCS value (TS 23.038 clause 4)."""
    group = dcs >> 4
    if group <= 0x0B:  # general data coding (00xx) and automatic deletion (01xx)
        if dcs & 0x20:
            return "8bit"  # compressed: treat as opaque octets
        return ("gsm7", "8bit", "ucs2", "8bit")[(dcs >> 2) & 0x03]
    if group in (0x0C, 0x0D):
        return "gsm7"
    if group == 0x0E:
        return "ucs2"
    return "8bit" if dcs & 0x04 else "gsm7"


def concat_from_udh(udh: bytes) -> Concat | None:
    """Concatenation IE 0x00 (8-bit reference) or 0x08 (16-bit) from a whole UDH."""
    pos = 1
    end = min(len(udh), 1 + (udh[0] if udh else 0))
    while pos + 2 <= end:
        iei, length = udh[pos], udh[pos + 1]
        value = udh[pos + 2 : pos + 2 + length]
        if iei == 0x00 and length == 3 and len(value) == 3:
            return Concat(reference=value[0], total=value[1], sequence=value[2])
        if iei == 0x08 and length == 4 and len(value) == 4:
            return Concat(
                reference=int.from_bytes(value[:2], "big"), total=value[2], sequence=value[3]
            )
        pos += 2 + length
    return None


# --- SMS-SUBMIT ------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitPdu:
    """An SMS-SUBMIT ready for AT+CMGS."""

    pdu: bytes  # SMSC address + TPDU
    tpdu_length: int  # what AT+CMGS=<length> takes

    @property
    def hex(self) -> str:
        return self.pdu.hex().upper()


def build_submit(
    *,
    destination: str,
    data_coding: int,
    udh: bytes,
    payload: bytes,
    udl: int,
    validity: int | None = None,
    want_receipt: bool = False,
    smsc: str | None = None,
    reference: int = 0,
) -> SubmitPdu:
    """SMS-SUBMIT (TS 23.040 9.2.2.2) for one encoded segment.

    ``payload`` is what the codec produced for a modem: packed septets with fill
    bits after the header for GSM 7-bit, octets otherwise; ``udl`` is TP-UDL.
    TP-MR is 0: the modem assigns the reference and returns it in +CMGS.
    """
    first = MTI_SUBMIT
    if validity is not None:
        first |= 0x10  # TP-VPF = 10: relative
    if want_receipt:
        first |= 0x20  # TP-SRR
    if udh:
        first |= 0x40  # TP-UDHI
    tpdu = bytearray([first, reference & 0xFF])
    tpdu += encode_address(destination)
    tpdu += bytes([0x00, data_coding & 0xFF])  # TP-PID 0: plain short message
    if validity is not None:
        tpdu.append(relative_validity(validity))
    user_data = udh + payload
    if len(user_data) > 140:
        msg = f"user data of {len(user_data)} octets does not fit in one SMS (140)"
        raise ValueError(msg)
    tpdu.append(udl & 0xFF)
    tpdu += user_data
    sca = encode_smsc(smsc)
    return SubmitPdu(pdu=sca + bytes(tpdu), tpdu_length=len(tpdu))


# --- SMS-DELIVER and SMS-STATUS-REPORT -------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Deliver:
    """A decoded SMS-DELIVER (an MO message as the modem receives it)."""

    smsc: str
    originator: str
    pid: int
    data_coding: int
    scts: float  # POSIX time
    udh: bytes
    payload: bytes  # gsm7: unpacked septets (one per octet); else octets
    concat: Concat | None


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusReport:
    """A decoded SMS-STATUS-REPORT (TS 23.040 9.2.2.3)."""

    reference: int  # TP-MR of the SMS-SUBMIT it reports on
    recipient: str
    scts: float
    discharge: float
    status: int  # TP-ST


Incoming = Deliver | StatusReport


def _skip_smsc(data: bytes) -> tuple[str, int]:
    if not data:
        raise PduError("empty PDU")
    length = data[0]
    if length == 0:
        return "", 1
    if 1 + length > len(data):
        raise PduError("truncated SMSC address")
    toa = data[1]
    return _format_number(toa, _digits(data[2 : 1 + length], 2 * (length - 1))), 1 + length


def decode_incoming(data: bytes) -> Incoming:
    """An SMS-DELIVER or SMS-STATUS-REPORT as +CMGR/+CMGL/+CMT/+CDS show it."""
    smsc, pos = _skip_smsc(data)
    if pos >= len(data):
        raise PduError("truncated PDU")
    mti = data[pos] & 0x03
    if mti == MTI_DELIVER:
        return _decode_deliver(data, pos, smsc)
    if mti == MTI_STATUS_REPORT:
        return _decode_status_report(data, pos)
    msg = f"unexpected TP-MTI {mti} in an incoming PDU"
    raise PduError(msg)


def _decode_deliver(data: bytes, pos: int, smsc: str) -> Deliver:
    first = data[pos]
    originator, pos = _decode_address(data, pos + 1)
    if pos + 10 > len(data):
        raise PduError("truncated SMS-DELIVER")
    pid, dcs = data[pos], data[pos + 1]
    scts = decode_timestamp(data[pos + 2 : pos + 9])
    udl = data[pos + 9]
    ud = data[pos + 10 :]
    kind = alphabet(dcs)
    udh = b""
    if first & 0x40:
        if not ud or 1 + ud[0] > len(ud):
            raise PduError("truncated user data header")
        udh = ud[: 1 + ud[0]]
    if kind == "gsm7":
        header_bits = len(udh) * 8
        fill = (7 - header_bits % 7) % 7
        septets_in_header = (header_bits + fill) // 7
        count = udl - septets_in_header
        if count < 0 or (udl * 7 + 7) // 8 > len(ud):
            raise PduError("user data shorter than TP-UDL")
        payload = unpack_septets(ud[len(udh) :], count, fill)
    else:
        if udl > len(ud):
            raise PduError("user data shorter than TP-UDL")
        payload = ud[len(udh) : udl]
    return Deliver(
        smsc=smsc,
        originator=originator,
        pid=pid,
        data_coding=dcs,
        scts=scts,
        udh=udh,
        payload=payload,
        concat=concat_from_udh(udh) if udh else None,
    )


def _decode_status_report(data: bytes, pos: int) -> StatusReport:
    if pos + 2 > len(data):
        raise PduError("truncated SMS-STATUS-REPORT")
    reference = data[pos + 1]
    recipient, pos = _decode_address(data, pos + 2)
    if pos + 15 > len(data):
        raise PduError("truncated SMS-STATUS-REPORT")
    return StatusReport(
        reference=reference,
        recipient=recipient,
        scts=decode_timestamp(data[pos : pos + 7]),
        discharge=decode_timestamp(data[pos + 7 : pos + 14]),
        status=data[pos + 14],
    )


# --- builders the simulator uses for what a network would send --------------------------


def build_deliver(
    *,
    originator: str,
    data_coding: int,
    user_data: bytes,
    udl: int,
    udhi: bool,
    scts: bytes,
    smsc: str | None = None,
) -> bytes:
    """An SMS-DELIVER with its SMSC address (what +CMGR returns)."""
    first = MTI_DELIVER | 0x04 | (0x40 if udhi else 0)  # TP-MMS: no more messages
    return (
        encode_smsc(smsc)
        + bytes([first])
        + encode_address(originator)
        + bytes([0x00, data_coding])
        + scts
        + bytes([udl])
        + user_data
    )


def build_status_report(
    *,
    reference: int,
    recipient: str,
    scts: bytes,
    discharge: bytes,
    status: int,
    smsc: str | None = None,
) -> bytes:
    """An SMS-STATUS-REPORT with its SMSC address (what +CDS carries)."""
    return (
        encode_smsc(smsc)
        + bytes([MTI_STATUS_REPORT, reference & 0xFF])
        + encode_address(recipient)
        + scts
        + discharge
        + bytes([status])
    )

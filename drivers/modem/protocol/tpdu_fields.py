"""The fields of SMS transfer PDUs (3GPP TS 23.040 9.1.2 and 9.2.3): addresses,
validity periods, timestamps, data coding, the concatenation header, septets.

Sans-IO, bytes in and values out; :mod:`drivers.modem.protocol.tpdu` builds
and reads whole PDUs from them.
"""

from __future__ import annotations

import calendar

from gateway.link.interface import Concat
from gateway.model.errors import RemoteProtocolError

__all__ = [
    "TOA_ALPHANUMERIC",
    "TOA_INTERNATIONAL",
    "TOA_UNKNOWN",
    "PduError",
    "alphabet",
    "concat_from_udh",
    "decode_address",
    "decode_timestamp",
    "encode_address",
    "encode_smsc",
    "encode_timestamp",
    "number_text",
    "pack_septets",
    "relative_validity",
    "semi_octet_digits",
    "semi_octets",
    "split_number",
    "unpack_septets",
    "validity_seconds",
]

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


def semi_octets(digits: str) -> bytes:
    if len(digits) % 2:
        digits += "F"
    out = bytearray()
    for i in range(0, len(digits), 2):
        lo = _SEMI_OCTET_DIGITS.index(digits[i])
        hi = 0xF if digits[i + 1] == "F" else _SEMI_OCTET_DIGITS.index(digits[i + 1])
        out.append((hi << 4) | lo)
    return bytes(out)


def semi_octet_digits(data: bytes, count: int) -> str:
    chars: list[str] = []
    for octet in data:
        for nibble in (octet & 0x0F, octet >> 4):
            if nibble == 0x0F:
                continue
            chars.append(_SEMI_OCTET_DIGITS[nibble])
    return "".join(chars[:count])


def split_number(number: str) -> tuple[int, str]:
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
    toa, digits = split_number(number)
    return bytes([len(digits), toa]) + semi_octets(digits)


def encode_smsc(number: str | None) -> bytes:
    """The SMSC address before the TPDU: ``00`` means "use the one on the SIM"."""
    if not number:
        return b"\x00"
    toa, digits = split_number(number)
    body = bytes([toa]) + semi_octets(digits)
    return bytes([len(body)]) + body


def number_text(toa: int, digits: str) -> str:
    return ("+" + digits) if (toa & 0x70) == 0x10 else digits


def decode_address(data: bytes, pos: int) -> tuple[str, int]:
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
    return number_text(toa, semi_octet_digits(raw, ndigits)), pos + 2 + nbytes


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

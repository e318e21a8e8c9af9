"""SMS transfer PDUs (3GPP TS 23.040): SMS-SUBMIT out, SMS-DELIVER and SMS-STATUS-REPORT in.

Sans-IO: bytes in, frozen dataclasses out. PDUs as a modem shows them in PDU
mode (AT+CMGF=0) start with the SMSC address (TS 27.005 3.1 <pdu>): decoders
take that form; :func:`build_submit` returns it together with the TPDU length
that AT+CMGS needs (the SMSC part excluded). Their fields are encoded and
decoded by :mod:`drivers.modem.protocol.tpdu_fields`.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.modem.protocol.tpdu_fields import (
    PduError,
    alphabet,
    concat_from_udh,
    decode_address,
    decode_timestamp,
    encode_address,
    encode_smsc,
    number_text,
    relative_validity,
    semi_octet_digits,
    unpack_septets,
)
from gateway.link.interface import Concat

__all__ = [
    "MTI_DELIVER",
    "MTI_STATUS_REPORT",
    "MTI_SUBMIT",
    "Deliver",
    "Incoming",
    "PduError",  # what decode_incoming raises
    "StatusReport",
    "SubmitPdu",
    "build_deliver",
    "build_status_report",
    "build_submit",
    "decode_incoming",
]

# TP-MTI (bits 1-0 of the first octet), as seen by the mobile
MTI_DELIVER = 0x00
MTI_SUBMIT = 0x01
MTI_STATUS_REPORT = 0x02


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
    return number_text(toa, semi_octet_digits(data[2 : 1 + length], 2 * (length - 1))), 1 + length


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
    originator, pos = decode_address(data, pos + 1)
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
    recipient, pos = decode_address(data, pos + 2)
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

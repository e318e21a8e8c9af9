"""What the simulated modem's network sends it: MO messages (split in
concatenated parts when long) and status reports for the messages it sent.

Pure functions, PDUs as a modem stores and shows them (with the SMSC address).
"""

from __future__ import annotations

from drivers.modem.protocol.tpdu import build_deliver, build_status_report
from drivers.modem.protocol.tpdu_fields import encode_timestamp, pack_septets

__all__ = ["SMSC", "describe_sent", "mo_parts", "recipient_of", "status_report"]

SMSC = "+15550009999"  # the network's service centre (AT+CSCA? answers it too)
_GSM_PLAIN = set(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,!?:;'\"()+-*/=<>%&#"
)


def mo_parts(*, originator: str, text: str, reference: int, when: float) -> list[bytes]:
    """``text`` from ``originator`` as SMS-DELIVERs: GSM 7-bit when every character
    is plain ASCII-like, else UCS-2; several parts with an 8-bit concatenation
    header when long. ``when``: the service centre's timestamp (POSIX time)."""
    gsm = all(c in _GSM_PLAIN for c in text)
    per_part, single = (153, 160) if gsm else (67, 70)
    chunks = (
        [text]
        if len(text) <= single
        else [text[i : i + per_part] for i in range(0, len(text), per_part)]
    )
    parts = []
    for seq, chunk in enumerate(chunks, start=1):
        udh = bytes([5, 0, 3, reference & 0xFF, len(chunks), seq]) if len(chunks) > 1 else b""
        if gsm:
            fill = (7 - len(udh) * 8 % 7) % 7
            user_data = udh + pack_septets(chunk.encode("ascii"), fill)
            udl = (len(udh) * 8 + fill) // 7 + len(chunk)
            dcs = 0x00
        else:
            user_data = udh + chunk.encode("utf-16-be")
            udl, dcs = len(user_data), 0x08
        parts.append(
            build_deliver(
                originator=originator,
                data_coding=dcs,
                user_data=user_data,
                udl=udl,
                udhi=bool(udh),
                scts=encode_timestamp(when),
                smsc=SMSC,
            )
        )
    return parts


def status_report(
    *, tpdu: bytes, reference: int, sent_at: float, delay: float, status: int
) -> bytes:
    """The SMS-STATUS-REPORT for the SMS-SUBMIT ``tpdu`` (TP-MR ``reference``),
    sent at ``sent_at`` and discharged ``delay`` seconds later with TP-ST ``status``."""
    return build_status_report(
        reference=reference,
        recipient=recipient_of(tpdu),
        scts=encode_timestamp(sent_at),
        discharge=encode_timestamp(sent_at + delay),
        status=status,
    )


def recipient_of(tpdu: bytes) -> str:
    """The TP-DA of an SMS-SUBMIT TPDU."""
    ndigits, toa = tpdu[2], tpdu[3]
    digits = ""
    for octet in tpdu[4 : 4 + (ndigits + 1) // 2]:
        digits += f"{octet & 0x0F:x}{octet >> 4:x}"
    digits = digits[:ndigits]
    return ("+" if toa == 0x91 else "") + digits


def describe_sent(tpdu: bytes) -> str:
    """One line about a sent TPDU for the simulator's console (no message text)."""
    return f"to {recipient_of(tpdu)} ({len(tpdu)} octets)"

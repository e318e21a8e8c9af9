"""TP-DCS / SMPP data_coding values (3GPP TS 23.038 section 4).

Message classes are numbers 0-3 as in the spec (0 = flash, 1 = ME, 2 = SIM,
3 = TE); :class:`gateway.model.message.MessageClass` maps STANDARD to no class,
FLASH to 0 and SIM to 2.
"""

from __future__ import annotations

from typing import NamedTuple

from gateway.model.message import MessageClass

ENCODINGS = ("gsm7", "8bit", "ucs2")
_ALPHABET_BITS = {"gsm7": 0b00, "8bit": 0b01, "ucs2": 0b10}
_CLASS_NUMBER = {MessageClass.STANDARD: None, MessageClass.FLASH: 0, MessageClass.SIM: 2}


class Dcs(NamedTuple):
    """What a data coding scheme octet says: (encoding, message class or None)."""

    encoding: str  # "gsm7" | "8bit" | "ucs2"
    msg_class: int | None  # 0-3, None = no class


def class_number(msg_class: MessageClass | int | None) -> int | None:
    """0-3 or None, from a MessageClass, a class number or None."""
    if msg_class is None:
        return None
    if isinstance(msg_class, MessageClass):
        return _CLASS_NUMBER[msg_class]
    if isinstance(msg_class, int) and not isinstance(msg_class, bool) and 0 <= msg_class <= 3:
        return msg_class
    raise ValueError(f"message class must be a MessageClass, 0-3 or None, not {msg_class!r}")


def dcs_for(encoding: str, msg_class: MessageClass | int | None = None) -> int:
    """The data coding octet for ``encoding`` ("gsm7", "ucs2", "8bit").

    Without a class: 0x00, 0x08, 0x04. With one, the general data coding
    group with bit 4 set: 0x10 | alphabet << 2 | class (flash GSM-7 = 0x10,
    SIM UCS-2 = 0x1A...).
    """
    try:
        alphabet = _ALPHABET_BITS[encoding]
    except KeyError:
        raise ValueError(f"encoding must be one of {ENCODINGS}, not {encoding!r}") from None
    number = class_number(msg_class)
    if number is None:
        return alphabet << 2
    return 0x10 | (alphabet << 2) | number


def parse_dcs(dcs: int) -> Dcs:
    """Read a TP-DCS octet by its coding group (bits 7..4).

    - 00xx and 01xx (general data coding; 01xx = marked for automatic
      deletion): bits 3..2 give the alphabet, bit 4 says whether bits 1..0
      are a class. Compressed text (bit 5) cannot be decoded: reported 8-bit.
    - 1100/1101 (message waiting, discard/store): GSM-7; 1110: UCS-2.
    - 1111: bit 2 gives GSM-7 or 8-bit, bits 1..0 the class.
    - Reserved values (alphabet 11, groups 1000..1011): 23.038 says a
      receiver assumes the GSM 7-bit default alphabet, so they read as GSM-7.
    """
    if not 0 <= dcs <= 0xFF:
        raise ValueError(f"data coding must be an octet, not {dcs}")
    group = dcs >> 4
    if group <= 0b0111:
        msg_class = dcs & 0b11 if dcs & 0x10 else None
        if dcs & 0x20:
            return Dcs("8bit", msg_class)
        alphabet = (dcs >> 2) & 0b11
        encoding = ("gsm7", "8bit", "ucs2", "gsm7")[alphabet]
        return Dcs(encoding, msg_class)
    if group in (0b1100, 0b1101):
        return Dcs("gsm7", None)
    if group == 0b1110:
        return Dcs("ucs2", None)
    if group == 0b1111:
        return Dcs("8bit" if dcs & 0x04 else "gsm7", dcs & 0b11)
    return Dcs("gsm7", None)

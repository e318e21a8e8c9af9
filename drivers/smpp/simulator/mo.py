"""MO (handset -> gateway) deliver_sm PDUs as the simulator injects them.

Text is written as GSM 7-bit (one septet per octet) when every character is in
the part of the default alphabet that matches ASCII, else as UCS-2. Parts carry
their concatenation info as asked: UDH with an 8- or 16-bit reference, SAR
TLVs, one message_payload, or none.
"""

from __future__ import annotations

import string
from collections.abc import Sequence

from drivers.smpp.protocol import tlv
from drivers.smpp.protocol.pdu import CommandId, ShortMessage

MO_CONCAT = ("udh8", "udh16", "sar", "payload")
_GSM_ASCII = frozenset(string.ascii_letters + string.digits + " !\"#%&'()*+,-./:;<=>?\n\r")


def _encode(text: str) -> tuple[int, bytes, int]:
    """(data_coding, octets, octets per character)."""
    if all(ch in _GSM_ASCII for ch in text):
        return 0x00, text.encode("ascii"), 1
    return 0x08, text.encode("utf-16-be"), 2


def _address(addr: str, ton: int | None = None) -> tuple[int, int, str]:
    """(TON, NPI, digits): from the address's form, or as an SMSC that writes numbers
    its own way does it (``ton`` given: the digits as written, a ``+`` dropped)."""
    if ton is not None:
        return ton, 1 if addr.lstrip("+").isdigit() else 0, addr.removeprefix("+")
    if addr.startswith("+"):
        return 1, 1, addr[1:]
    if addr.isdigit():
        return 0, 1, addr
    return 5, 0, addr


def mo_pdus(
    *,
    source: str,
    destination: str,
    text: str,
    concat: str = "udh8",
    parts: int | None = None,
    reference: int = 1,
    order: Sequence[int] | None = None,
    source_ton: int | None = None,
    dest_ton: int | None = None,
) -> list[ShortMessage]:
    """deliver_sm PDUs (sequence 0, filled in when sent) in the order asked (1-based;
    parts left out of ``order`` are not sent: a later call with the same
    ``reference`` sends them); ``source_ton``/``dest_ton`` force the TON an address
    is sent with."""
    if concat not in MO_CONCAT:
        msg = f"concat must be one of {', '.join(MO_CONCAT)}"
        raise ValueError(msg)
    dcs, data, width = _encode(text)
    src_ton, src_npi, src = _address(source, source_ton)
    dst_ton, dst_npi, dst = _address(destination, dest_ton)

    def make(short_message: bytes = b"", esm_class: int = 0, tlvs: tlv.Tlvs = ()) -> ShortMessage:
        return ShortMessage(
            command_id=CommandId.DELIVER_SM,
            sequence=0,
            source_addr_ton=src_ton,
            source_addr_npi=src_npi,
            source_addr=src,
            dest_addr_ton=dst_ton,
            dest_addr_npi=dst_npi,
            destination_addr=dst,
            data_coding=dcs,
            esm_class=esm_class,
            short_message=short_message,
            tlvs=tlvs,
        )

    if concat == "payload":
        return [make(tlvs=((tlv.MESSAGE_PAYLOAD, data),))]
    room = (
        {"udh8": 153, "udh16": 152, "sar": 160}[concat]
        if width == 1
        else {"udh8": 67, "udh16": 66, "sar": 70}[concat]
    )
    chars = len(text)
    count = parts if parts is not None else max(1, -(-chars // room))
    count = max(1, min(count, 255, max(chars, 1)))
    size = -(-chars // count) if chars else 0
    chunks = [data[i * size * width : (i + 1) * size * width] for i in range(count)]
    if count == 1 and parts is None:
        return [make(data)]
    pdus: list[ShortMessage] = []
    for number, chunk in enumerate(chunks, start=1):
        if concat == "udh8":
            udh = bytes((5, 0x00, 3, reference & 0xFF, count, number))
            pdu = make(udh + chunk, 0x40)
        elif concat == "udh16":
            udh = bytes((6, 0x08, 4, (reference >> 8) & 0xFF, reference & 0xFF, count, number))
            pdu = make(udh + chunk, 0x40)
        else:
            sar = (
                tlv.u16(tlv.SAR_MSG_REF_NUM, reference & 0xFFFF),
                tlv.u8(tlv.SAR_TOTAL_SEGMENTS, count),
                tlv.u8(tlv.SAR_SEGMENT_SEQNUM, number),
            )
            pdu = make(chunk, tlvs=sar)
        pdus.append(pdu)
    if order is not None:
        if not order or len(set(order)) != len(order) or not set(order) <= set(range(1, count + 1)):
            msg = f"order must name distinct parts of 1..{count}"
            raise ValueError(msg)
        pdus = [pdus[i - 1] for i in order]
    return pdus

"""MO (reply) parts from deliver_sm/data_sm: payload, addresses and concatenation info.

Concatenation comes from the UDH (IE 0x00, 8-bit reference; IE 0x08, 16-bit
reference), from the SAR TLVs, or is absent (a message_payload carries the
whole text). The payload handed on never includes the UDH. Reassembly is the
core's job (gateway/inbound/receiver.py, gateway/store/reassembly.py).
"""

from __future__ import annotations

from drivers.smpp.addresses import mo_address
from drivers.smpp.protocol import tlv
from drivers.smpp.protocol.pdu import DataSm, ShortMessage
from gateway.codec import parse_udh
from gateway.link.interface import Concat, InboundPart
from gateway.model.errors import DecodeError, RemoteProtocolError

UDHI = 0x40


def split_udh(short_message: bytes) -> tuple[Concat | None, bytes]:
    """``(concatenation info, payload after the header)``; the peer's error if it overruns."""
    try:
        udh = parse_udh(short_message)
    except DecodeError as exc:
        raise RemoteProtocolError(str(exc)) from None
    payload = short_message[udh.length :]
    if udh.concat is None:
        return None, payload
    ref, total, seq = udh.concat
    return Concat(reference=ref, total=total, sequence=seq), payload


def inbound_from_pdu(
    pdu: ShortMessage | DataSm, *, link: str, now: float, country: str | None = None
) -> InboundPart:
    """The :class:`InboundPart` of an MO deliver_sm/data_sm (not a receipt); its
    addresses as +E164 when they are numbers, however the SMSC wrote them
    (:func:`drivers.smpp.addresses.mo_address`; ``country``: the link's)."""
    tlvs = pdu.tlvs
    body = pdu.short_message if isinstance(pdu, ShortMessage) else b""
    if not body:
        body = tlv.find(tlvs, tlv.MESSAGE_PAYLOAD) or b""
    concat: Concat | None = None
    if pdu.esm_class & UDHI:
        concat, body = split_udh(body)
    if concat is None:
        ref = tlv.get_int(tlvs, tlv.SAR_MSG_REF_NUM)
        total = tlv.get_int(tlvs, tlv.SAR_TOTAL_SEGMENTS)
        seq = tlv.get_int(tlvs, tlv.SAR_SEGMENT_SEQNUM)
        if ref is not None and total and seq and 1 <= seq <= total:
            concat = Concat(reference=ref, total=total, sequence=seq)
    return InboundPart(
        link=link,
        source=mo_address(pdu.source_addr_ton, pdu.source_addr, country=country),
        destination=mo_address(pdu.dest_addr_ton, pdu.destination_addr, country=country),
        data_coding=pdu.data_coding,
        payload=bytes(body),
        concat=concat,
        received_at=now,
    )

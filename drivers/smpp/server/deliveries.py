"""An :class:`~gateway.model.esme.EsmeDelivery` as deliver_sm fields, sans-IO.

Receipts: the SMPP 3.4 appendix B text, esm_class 0x04, and the
receipted_message_id and message_state TLVs. Replies: the text in the GSM
default alphabet (data_coding 0, unpacked) when it fits, else UCS-2 (8); in
message_payload when longer than 254 octets.
"""

from __future__ import annotations

import time
from typing import Any

from drivers.smpp.protocol import tlv
from drivers.smpp.protocol.receipts import STATE_CODES, format_receipt_text
from gateway.codec.alphabet import to_septets
from gateway.model.esme import DeliveryKind, EsmeDelivery
from gateway.model.outcomes import ReceiptState

ESM_RECEIPT = 0x04
MAX_SHORT_MESSAGE = 254
TON_INTERNATIONAL, TON_NATIONAL, TON_ALPHANUMERIC = 1, 2, 5
NPI_E164 = 1


def address(value: str) -> tuple[int, int, str]:
    """(TON, NPI, digits) of an address as smsgw keeps it: '+E164', a short code, a name."""
    if value.startswith("+") and value[1:].isdigit():
        return TON_INTERNATIONAL, NPI_E164, value[1:]
    if value.isdigit():
        return 0, NPI_E164, value
    return TON_ALPHANUMERIC, 0, value


def smpp_date(at: float | None) -> str:
    """YYMMDDhhmm (UTC), as receipts write dates."""
    if at is None:
        return ""
    return time.strftime("%y%m%d%H%M", time.gmtime(at))


def deliver_fields(delivery: EsmeDelivery) -> dict[str, Any]:
    """The keyword fields of ``ServerSession.deliver`` for one delivery."""
    src_ton, src_npi, src = address(delivery.source)
    dst_ton, dst_npi, dst = address(delivery.destination)
    fields: dict[str, Any] = {
        "source_addr_ton": src_ton,
        "source_addr_npi": src_npi,
        "source_addr": src[:20],
        "dest_addr_ton": dst_ton,
        "dest_addr_npi": dst_npi,
        "destination_addr": dst[:20],
    }
    if delivery.kind is DeliveryKind.RECEIPT:
        fields.update(_receipt(delivery))
    else:
        fields.update(_reply(delivery.text))
    return fields


def _receipt(delivery: EsmeDelivery) -> dict[str, Any]:
    state = delivery.state or ReceiptState.UNKNOWN
    ident = delivery.message_id or ""
    text = format_receipt_text(
        ident=ident,
        state=state,
        err=delivery.error,
        submit_date=smpp_date(delivery.submitted_at),
        done_date=smpp_date(delivery.done_at),
        segments=max(1, delivery.segments),
    )
    tlvs = [
        tlv.cstring(tlv.RECEIPTED_MESSAGE_ID, ident),
        tlv.u8(tlv.MESSAGE_STATE, STATE_CODES[state]),
    ]
    return {
        "esm_class": ESM_RECEIPT,
        "short_message": text[:MAX_SHORT_MESSAGE],
        "tlvs": tlv.encode_tlvs(tlvs),
    }


def _reply(text: str) -> dict[str, Any]:
    try:
        data, coding = to_septets(text), 0
    except UnicodeEncodeError:
        data, coding = text.encode("utf-16-be"), 8
    if len(data) > MAX_SHORT_MESSAGE:
        return {
            "data_coding": coding,
            "tlvs": tlv.encode_tlvs([(tlv.MESSAGE_PAYLOAD, data)]),
        }
    return {"data_coding": coding, "short_message": data}

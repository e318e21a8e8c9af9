"""A submit_sm or data_sm as the gateway's :class:`~gateway.model.esme_ingress.EsmeSubmit`."""

from __future__ import annotations

from drivers.smpp.protocol import tlv
from drivers.smpp.protocol.pdu import DataSm, ShortMessage
from gateway.model.esme_ingress import EsmeSubmit

_SAR = (tlv.SAR_MSG_REF_NUM, tlv.SAR_TOTAL_SEGMENTS, tlv.SAR_SEGMENT_SEQNUM)


def esme_submit(pdu: ShortMessage | DataSm) -> EsmeSubmit:
    tlvs = pdu.tlvs
    values = (tlv.find(tlvs, _SAR[0]), tlv.find(tlvs, _SAR[1]), tlv.find(tlvs, _SAR[2]))
    sar = values if any(v is not None for v in values) else None
    payload = tlv.find(tlvs, tlv.MESSAGE_PAYLOAD)
    if isinstance(pdu, DataSm):
        return EsmeSubmit(
            source_ton=pdu.source_addr_ton,
            source_npi=pdu.source_addr_npi,
            source=pdu.source_addr,
            dest_ton=pdu.dest_addr_ton,
            dest_npi=pdu.dest_addr_npi,
            destination=pdu.destination_addr,
            esm_class=pdu.esm_class,
            data_coding=pdu.data_coding,
            message_payload=payload if payload is not None else b"",
            sar=sar,
            registered_delivery=pdu.registered_delivery,
        )
    return EsmeSubmit(
        source_ton=pdu.source_addr_ton,
        source_npi=pdu.source_addr_npi,
        source=pdu.source_addr,
        dest_ton=pdu.dest_addr_ton,
        dest_npi=pdu.dest_addr_npi,
        destination=pdu.destination_addr,
        esm_class=pdu.esm_class,
        data_coding=pdu.data_coding,
        short_message=pdu.short_message,
        message_payload=payload,
        sar=sar,
        schedule_delivery_time=pdu.schedule_delivery_time,
        validity_period=pdu.validity_period,
        priority_flag=pdu.priority_flag,
        registered_delivery=pdu.registered_delivery,
    )

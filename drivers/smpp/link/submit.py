"""From a :class:`SubmitRequest` to submit_sm fields, and from submit_sm_resp to an outcome."""

from __future__ import annotations

from typing import Any

from drivers.smpp.link.config import SmppLinkConfig
from drivers.smpp.protocol import tlv
from drivers.smpp.protocol.pdu import relative_time, submit_sm_body
from drivers.smpp.protocol.receipts import IdNormaliser
from drivers.smpp.protocol.status import Disposition, StatusTable, status_name
from gateway.link.interface import SubmitRequest
from gateway.model.message import SenderKind
from gateway.model.outcomes import Accepted, Outcome, Rejected, Retry

DEST_TON = 1  # international
DEST_NPI = 1  # E.164


class SubmitMapper:
    """Per-link translation between the core's requests/outcomes and SMPP fields."""

    __slots__ = ("_concat", "_ids", "_npi", "_service_type", "_table", "_ton")

    def __init__(self, config: SmppLinkConfig) -> None:
        self._ton = dict(config.source_ton)
        self._npi = dict(config.source_npi)
        self._concat = config.concat
        self._service_type = config.service_type
        self._table = StatusTable(overrides=config.status_map)
        self._ids = IdNormaliser(resp=config.receipt_id, text=config.receipt_id_text)

    @property
    def ids(self) -> IdNormaliser:
        return self._ids

    def fields(self, request: SubmitRequest) -> dict[str, Any]:
        """Keyword arguments for :func:`drivers.smpp.protocol.pdu.submit_sm_body`."""
        seg = request.segment
        kind = request.source_kind
        source = request.source
        if kind is SenderKind.NUMBER:
            source = source.lstrip("+")
        short_message = seg.short_message
        tlvs = b""
        if self._concat == "payload" or len(short_message) > 254:
            tlvs = tlv.encode_tlvs(((tlv.MESSAGE_PAYLOAD, short_message),))
            short_message = b""
        elif seg.sar is not None:
            ref, total, seq = seg.sar
            tlvs = tlv.encode_tlvs(
                (
                    tlv.u16(tlv.SAR_MSG_REF_NUM, ref),
                    tlv.u8(tlv.SAR_TOTAL_SEGMENTS, total),
                    tlv.u8(tlv.SAR_SEGMENT_SEQNUM, seq),
                )
            )
        return {
            "service_type": self._service_type,
            "source_addr_ton": self._ton[kind],
            "source_addr_npi": self._npi[kind],
            "source_addr": source,
            "dest_addr_ton": DEST_TON,
            "dest_addr_npi": DEST_NPI,
            "destination_addr": request.destination.lstrip("+"),
            "esm_class": seg.esm_class,
            "priority_flag": min(max(request.priority, 0), 3),
            "validity_period": relative_time(request.validity) if request.validity else "",
            "registered_delivery": 1 if request.want_receipt else 0,
            "data_coding": seg.data_coding,
            "short_message": short_message,
            "tlvs": tlvs,
        }

    def body(self, request: SubmitRequest) -> bytes:
        """The submit_sm body for ``request`` (the link's hot path: no dict in between)."""
        seg = request.segment
        kind = request.source_kind
        short_message = seg.short_message
        if self._concat != "payload" and seg.sar is None and len(short_message) <= 254:
            tlvs = b""
        else:
            return submit_sm_body(**self.fields(request))
        return submit_sm_body(
            service_type=self._service_type,
            source_addr_ton=self._ton[kind],
            source_addr_npi=self._npi[kind],
            source_addr=request.source.lstrip("+") if kind is SenderKind.NUMBER else request.source,
            dest_addr_ton=DEST_TON,
            dest_addr_npi=DEST_NPI,
            destination_addr=request.destination.lstrip("+"),
            esm_class=seg.esm_class,
            priority_flag=min(max(request.priority, 0), 3),
            validity_period=relative_time(request.validity) if request.validity else "",
            registered_delivery=1 if request.want_receipt else 0,
            data_coding=seg.data_coding,
            short_message=short_message,
            tlvs=tlvs,
        )

    def outcome(self, status: int, message_id: str, throttle_delay: float) -> Outcome:
        """The outcome a submit_sm_resp status means (the link's table decides)."""
        if status == 0:
            return Accepted(smsc_id=self._ids.from_resp(message_id))
        disposition = self._table.classify(status)
        name = status_name(status)
        if disposition is Disposition.THROTTLED:
            return Retry(reason=name, status=status, delay=throttle_delay, throttled=True)
        if disposition is Disposition.RETRY:
            return Retry(reason=name, status=status)
        return Rejected(reason=name, status=status)

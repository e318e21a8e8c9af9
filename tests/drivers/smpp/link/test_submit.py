"""SubmitRequest -> submit_sm fields, submit_sm_resp status -> outcome."""

from __future__ import annotations

from typing import Any

import pytest

from drivers.smpp.link.config import SmppLinkConfig
from drivers.smpp.link.submit import SubmitMapper
from drivers.smpp.protocol import status as st
from drivers.smpp.protocol import tlv
from drivers.smpp.protocol.decode import decode
from drivers.smpp.protocol.pdu import CommandId, ShortMessage, encode_submit_sm, submit_sm_body
from gateway.codec import Segment, encode, raw_segment
from gateway.link.interface import SubmitRequest
from gateway.model.message import SenderKind
from gateway.model.outcomes import Accepted, Rejected, Retry
from gateway.model.raw_body import RawBody


def mapper(**table: Any) -> SubmitMapper:
    return SubmitMapper(SmppLinkConfig.from_table({"name": "a", **table}))


def req(
    segment: Segment, kind: SenderKind = SenderKind.ALPHA, source: str = "Shop", **extra: Any
) -> SubmitRequest:
    return SubmitRequest(
        message_id="m",
        index=0,
        source=source,
        source_kind=kind,
        destination="+33612345678",
        segment=segment,
        **extra,
    )


def built(m: SubmitMapper, r: SubmitRequest) -> ShortMessage:
    pdu = decode(encode_submit_sm(1, **m.fields(r)))
    assert isinstance(pdu, ShortMessage)
    assert pdu.command_id is CommandId.SUBMIT_SM
    return pdu


@pytest.mark.parametrize(
    ("kind", "source", "ton", "npi", "addr"),
    [
        (SenderKind.ALPHA, "Shop", 5, 0, "Shop"),
        (SenderKind.SHORTCODE, "36111", 3, 0, "36111"),
        (SenderKind.NUMBER, "+33700000000", 1, 1, "33700000000"),
    ],
)
def test_source_ton_npi_by_sender_kind(
    kind: SenderKind, source: str, ton: int, npi: int, addr: str
) -> None:
    [seg] = encode("hi")
    pdu = built(mapper(), req(seg, kind, source))
    assert (pdu.source_addr_ton, pdu.source_addr_npi, pdu.source_addr) == (ton, npi, addr)
    assert (pdu.dest_addr_ton, pdu.dest_addr_npi, pdu.destination_addr) == (1, 1, "33612345678")


def test_shortcode_ton_is_configurable() -> None:
    [seg] = encode("hi")
    pdu = built(mapper(source_ton={"shortcode": 6}), req(seg, SenderKind.SHORTCODE, "3611"))
    assert pdu.source_addr_ton == 6


def test_receipt_validity_priority() -> None:
    [seg] = encode("hi")
    pdu = built(mapper(), req(seg, validity=7200, want_receipt=True, priority=2))
    assert (pdu.registered_delivery, pdu.validity_period, pdu.priority_flag) == (
        1,
        "000000020000000R",
        2,
    )
    pdu = built(mapper(), req(seg, want_receipt=False))
    assert (pdu.registered_delivery, pdu.validity_period) == (0, "")


def test_udh_segment_sets_udhi_and_carries_the_header() -> None:
    segs = encode("x" * 200, concat="udh8", reference=9)
    pdu = built(mapper(), req(segs[0]))
    assert pdu.esm_class & 0x40
    assert pdu.short_message == segs[0].udh + segs[0].payload
    assert pdu.short_message[:6] == bytes((5, 0, 3, 9, 2, 1))


def test_sar_segment_carries_sar_tlvs() -> None:
    segs = encode("x" * 200, concat="sar", reference=300)
    pdu = built(mapper(concat="sar"), req(segs[1]))
    assert pdu.esm_class & 0x40 == 0
    assert tlv.get_int(pdu.tlvs, tlv.SAR_MSG_REF_NUM) == 300
    assert tlv.get_int(pdu.tlvs, tlv.SAR_TOTAL_SEGMENTS) == 2
    assert tlv.get_int(pdu.tlvs, tlv.SAR_SEGMENT_SEQNUM) == 2


def test_payload_mode_sends_message_payload_with_empty_short_message() -> None:
    [seg] = encode("é€" * 300, concat="payload")
    pdu = built(mapper(concat="payload"), req(seg))
    assert pdu.short_message == b""
    assert tlv.find(pdu.tlvs, tlv.MESSAGE_PAYLOAD) == seg.short_message
    assert pdu.data_coding == seg.data_coding


def test_flash_class_travels_in_data_coding() -> None:
    from gateway.model.message import MessageClass

    [seg] = encode("hi", msg_class=MessageClass.FLASH)
    pdu = built(mapper(), req(seg))
    assert pdu.data_coding == seg.data_coding
    assert pdu.data_coding & 0x10  # a message class is present


def test_outcomes_follow_the_table() -> None:
    m = mapper(receipt_id="hex")
    assert m.outcome(0, "00FF", 1.0) == Accepted(smsc_id="255")
    assert m.outcome(st.ESME_RTHROTTLED, "", 2.0) == Retry(
        reason="ESME_RTHROTTLED", status=st.ESME_RTHROTTLED, delay=2.0, throttled=True
    )
    assert m.outcome(st.ESME_RMSGQFUL, "", 1.0).throttled  # type: ignore[union-attr]
    assert m.outcome(st.ESME_RSYSERR, "", 1.0) == Retry(
        reason="ESME_RSYSERR", status=st.ESME_RSYSERR
    )
    assert m.outcome(st.ESME_RINVDSTADR, "", 1.0) == Rejected(
        reason="ESME_RINVDSTADR", status=st.ESME_RINVDSTADR
    )
    assert m.outcome(0x4242, "", 1.0) == Rejected(reason="0x00004242", status=0x4242)


def test_status_map_overrides_the_table() -> None:
    m = mapper(status_map={"ESME_RX_P_APPN": "retry", "ESME_RSYSERR": "permanent"})
    assert isinstance(m.outcome(st.ESME_RX_P_APPN, "", 1.0), Retry)
    assert isinstance(m.outcome(st.ESME_RSYSERR, "", 1.0), Rejected)


@pytest.mark.parametrize("concat", ["udh8", "udh16", "sar", "payload"])
def test_fast_body_equals_the_general_encoding(concat: str) -> None:
    m = mapper(concat=concat)
    for seg in encode("Bonjour à tous " * 20, concat=concat, reference=5):
        for kind, source in ((SenderKind.NUMBER, "+33700000000"), (SenderKind.ALPHA, "Shop")):
            r = req(seg, kind, source, validity=60, priority=1)
            assert m.body(r) == submit_sm_body(**m.fields(r))


@pytest.mark.parametrize("concat", ["udh8", "udh16", "sar"])
@pytest.mark.parametrize(
    "raw",
    [
        RawBody(
            data_coding=0x00, udh=bytes((5, 0, 3, 7, 2, 1)), body=b"Hi\x1b\x65", encoding="gsm7"
        ),
        RawBody(
            data_coding=0xF5,
            udh=bytes((6, 5, 4, 0x0B, 0x84, 0x23, 0xF0)),
            body=b"\x00\xff",
            encoding="8bit",
        ),
        RawBody(data_coding=0x08, udh=b"", body="ж".encode("utf-16-be"), encoding="ucs2"),
    ],
    ids=["gsm7", "binary-class", "ucs2-no-header"],
)
def test_a_segment_an_esme_cut_goes_with_its_header_and_data_coding(
    raw: RawBody, concat: str
) -> None:
    seg = raw_segment(raw)
    m = mapper(concat=concat)
    pdu = built(m, req(seg))
    assert pdu.esm_class == (0x40 if raw.udh else 0)
    assert (pdu.data_coding, pdu.short_message) == (raw.data_coding, raw.udh + raw.body)
    assert tlv.find(pdu.tlvs, tlv.SAR_MSG_REF_NUM) is None  # whatever the link's concat mode
    assert m.body(req(seg)) == submit_sm_body(**m.fields(req(seg)))  # the hot path: the same

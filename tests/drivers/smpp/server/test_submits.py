"""esme_submit: a submit_sm or data_sm's fields, TLVs included, as the gateway reads them."""

from __future__ import annotations

from drivers.smpp.protocol import tlv
from drivers.smpp.protocol.pdu import CommandId, DataSm, ShortMessage
from drivers.smpp.server.submits import esme_submit


def short(*, short_message: bytes = b"hello", tlvs: tlv.Tlvs = ()) -> ShortMessage:
    return ShortMessage(
        command_id=CommandId.SUBMIT_SM,
        sequence=2,
        source_addr_ton=5,
        source_addr="BENCH",
        dest_addr_ton=1,
        dest_addr_npi=1,
        destination_addr="+447900000001",
        registered_delivery=1,
        short_message=short_message,
        tlvs=tlvs,
    )


def test_a_submit_without_tlvs_has_no_payload_nor_sar() -> None:
    submit = esme_submit(short())
    assert submit.message_payload is None
    assert submit.sar is None
    assert submit.short_message == b"hello"
    assert submit.destination == "+447900000001"
    assert submit.registered_delivery == 1


def test_the_sar_tlvs_values_are_kept_as_sent() -> None:
    tlvs = (
        tlv.u16(tlv.SAR_MSG_REF_NUM, 0x1234),
        tlv.u8(tlv.SAR_TOTAL_SEGMENTS, 3),
        tlv.u8(tlv.SAR_SEGMENT_SEQNUM, 2),
    )
    assert esme_submit(short(tlvs=tlvs)).sar == (b"\x12\x34", b"\x03", b"\x02")


def test_one_sar_tlv_alone_is_kept_with_the_others_missing() -> None:
    assert esme_submit(short(tlvs=(tlv.u8(tlv.SAR_TOTAL_SEGMENTS, 1),))).sar == (
        None,
        b"\x01",
        None,
    )
    assert esme_submit(short(tlvs=(tlv.u8(tlv.SOURCE_PORT, 1),))).sar is None


def test_message_payload_is_read_from_the_tlvs() -> None:
    submit = esme_submit(short(short_message=b"", tlvs=((tlv.MESSAGE_PAYLOAD, b"long text"),)))
    assert submit.message_payload == b"long text"
    assert submit.sar is None


def test_a_data_sm_without_payload_has_an_empty_one() -> None:
    submit = esme_submit(DataSm(sequence=3, dest_addr_ton=1, destination_addr="447900000002"))
    assert submit.message_payload == b""
    assert submit.sar is None
    with_payload = DataSm(sequence=4, tlvs=((tlv.MESSAGE_PAYLOAD, b"x"),))
    assert esme_submit(with_payload).message_payload == b"x"

"""The PDU codec: spec vectors, round trips, smpplib in both directions, length bounds."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as hs

from drivers.smpp.protocol import status as st
from drivers.smpp.protocol import tlv
from drivers.smpp.protocol.decode import CommandLengthError, FrameSplitter, MalformedPdu, decode
from drivers.smpp.protocol.pdu import (
    Bare,
    Bind,
    BindResp,
    CommandId,
    DataSm,
    MessageResp,
    ShortMessage,
    encode,
    relative_time,
)
from gateway.model.errors import LocalProtocolError


def smpplib_parse(data: bytes) -> Any:
    import smpplib.smpp

    return smpplib.smpp.parse_pdu(data, sequence=0, allow_unknown_opt_params=True)


def smpplib_make(command: str, **fields: Any) -> bytes:
    import smpplib.smpp

    sequence = fields.pop("sequence")
    pdu = smpplib.smpp.make_pdu(command, sequence=0, **fields)
    pdu.sequence = sequence
    return bytes(pdu.generate())


# --- vectors ---------------------------------------------------------------------


def test_enquire_link_vector() -> None:
    data = bytes.fromhex("00000010 00000015 00000000 00000007")
    assert decode(data) == Bare(command_id=CommandId.ENQUIRE_LINK, sequence=7)
    assert encode(Bare(command_id=CommandId.ENQUIRE_LINK, sequence=7)) == data


def test_bind_transceiver_vector() -> None:
    pdu = Bind(
        command_id=CommandId.BIND_TRANSCEIVER,
        sequence=1,
        system_id="gw",
        password="pw",
        system_type="",
        addr_ton=0,
        addr_npi=0,
    )
    data = encode(pdu)
    body = b"gw\x00" + b"pw\x00" + b"\x00" + b"\x34\x00\x00" + b"\x00"
    assert data == bytes.fromhex("0000001b 00000009 00000000 00000001") + body
    assert decode(data) == pdu


def test_submit_sm_resp_vector() -> None:
    data = bytes.fromhex("00000017 80000004 00000000 0000002a") + b"abc123\x00"
    assert decode(data) == MessageResp(
        command_id=CommandId.SUBMIT_SM_RESP, sequence=42, message_id="abc123"
    )


def test_error_response_without_body_is_read() -> None:
    data = bytes.fromhex("00000010 80000004 00000058 00000003")
    pdu = decode(data)
    assert isinstance(pdu, MessageResp)
    assert (pdu.status, pdu.message_id) == (st.ESME_RTHROTTLED, "")


def test_bind_repr_hides_password() -> None:
    pdu = Bind(command_id=CommandId.BIND_TRANSMITTER, sequence=1, system_id="gw", password="s3cret")
    assert "s3cret" not in repr(pdu)


def test_relative_validity_format() -> None:
    assert relative_time(3600) == "000000010000000R"
    assert relative_time(2 * 86400 + 61) == "000002000101000R"
    assert len(relative_time(10**9)) == 16


# --- round trips -----------------------------------------------------------------

ROUND_TRIP: list[Any] = [
    Bind(
        command_id=CommandId.BIND_RECEIVER,
        sequence=3,
        system_id="sys",
        password="p",
        system_type="VMA",
        addr_ton=1,
        addr_npi=1,
        address_range="^336",
    ),
    BindResp(
        command_id=CommandId.BIND_TRANSMITTER_RESP,
        sequence=3,
        system_id="smsc",
        tlvs=(tlv.u8(tlv.SC_INTERFACE_VERSION, 0x34),),
    ),
    Bare(command_id=CommandId.UNBIND, sequence=9),
    Bare(command_id=CommandId.GENERIC_NACK, sequence=9, status=st.ESME_RINVCMDID),
    MessageResp(command_id=CommandId.DELIVER_SM_RESP, sequence=5),
    MessageResp(
        command_id=CommandId.DATA_SM_RESP,
        sequence=5,
        message_id="x",
        tlvs=((tlv.ADDITIONAL_STATUS_INFO_TEXT, b"ok\x00"),),
    ),
    ShortMessage(
        command_id=CommandId.DELIVER_SM,
        sequence=11,
        source_addr="33600000000",
        esm_class=4,
        short_message=b"id:1 stat:DELIVRD",
        tlvs=((0x1400, b"\x01\x02"),),
    ),  # an unknown vendor TLV is kept raw
    DataSm(
        sequence=12,
        source_addr="336",
        destination_addr="1234",
        esm_class=0,
        tlvs=((tlv.MESSAGE_PAYLOAD, b"x" * 300),),
    ),
]


@pytest.mark.parametrize("pdu", ROUND_TRIP, ids=lambda p: type(p).__name__)
def test_round_trip(pdu: Any) -> None:
    assert decode(encode(pdu)) == pdu


def _submit_sm(**fields: Any) -> ShortMessage:
    return ShortMessage(command_id=CommandId.SUBMIT_SM, **fields)


SHORT_MESSAGES = hs.builds(
    _submit_sm,
    sequence=hs.integers(1, 0x7FFFFFFF),
    source_addr=hs.text(alphabet="0123456789", max_size=20),
    destination_addr=hs.text(alphabet="0123456789", max_size=20),
    esm_class=hs.integers(0, 255),
    data_coding=hs.integers(0, 255),
    short_message=hs.binary(max_size=254),
    tlvs=hs.lists(hs.tuples(hs.integers(0, 0xFFFF), hs.binary(max_size=40)), max_size=4).map(tuple),
)


@given(pdu=SHORT_MESSAGES)
def test_short_message_round_trip_property(pdu: ShortMessage) -> None:
    assert decode(encode(pdu)) == pdu


def test_encoding_refuses_overlong_fields() -> None:
    with pytest.raises(LocalProtocolError, match="destination_addr"):
        encode(ShortMessage(command_id=CommandId.SUBMIT_SM, sequence=1, destination_addr="1" * 21))
    with pytest.raises(LocalProtocolError, match="short_message"):
        encode(ShortMessage(command_id=CommandId.SUBMIT_SM, sequence=1, short_message=b"x" * 255))


# --- against smpplib -------------------------------------------------------------


def test_submit_sm_we_build_parses_identically_in_smpplib() -> None:
    pdu = ShortMessage(
        command_id=CommandId.SUBMIT_SM,
        sequence=77,
        source_addr_ton=5,
        source_addr="Shop",
        dest_addr_ton=1,
        dest_addr_npi=1,
        destination_addr="33612345678",
        esm_class=0x40,
        priority_flag=1,
        validity_period="000001000000000R",
        registered_delivery=1,
        data_coding=8,
        short_message=b"\x05\x00\x03\x2a\x02\x01\x00h\x00i",
        tlvs=(
            tlv.u16(tlv.SAR_MSG_REF_NUM, 300),
            tlv.u8(tlv.SAR_TOTAL_SEGMENTS, 2),
            tlv.u8(tlv.SAR_SEGMENT_SEQNUM, 1),
        ),
    )
    theirs = smpplib_parse(encode(pdu))
    assert theirs.command == "submit_sm"
    assert theirs.sequence == 77
    assert (theirs.source_addr_ton, theirs.source_addr) == (5, b"Shop")
    assert (theirs.dest_addr_ton, theirs.dest_addr_npi) == (1, 1)
    assert theirs.destination_addr == b"33612345678"
    assert (theirs.esm_class, theirs.priority_flag) == (0x40, 1)
    assert theirs.validity_period == b"000001000000000R"
    assert (theirs.registered_delivery, theirs.data_coding) == (1, 8)
    assert theirs.short_message == pdu.short_message
    assert (theirs.sar_msg_ref_num, theirs.sar_total_segments, theirs.sar_segment_seqnum) == (
        300,
        2,
        1,
    )


def test_message_payload_we_build_parses_in_smpplib() -> None:
    payload = "é€".encode("utf-16-be") * 100
    pdu = ShortMessage(
        command_id=CommandId.SUBMIT_SM,
        sequence=2,
        destination_addr="336",
        data_coding=8,
        tlvs=((tlv.MESSAGE_PAYLOAD, payload),),
    )
    theirs = smpplib_parse(encode(pdu))
    assert theirs.message_payload == payload
    assert theirs.short_message in (b"", None)


def test_bind_and_responses_we_build_parse_in_smpplib() -> None:
    bind = smpplib_parse(
        encode(
            Bind(
                command_id=CommandId.BIND_TRANSCEIVER,
                sequence=4,
                system_id="gw",
                password="pw",
                system_type="x",
            )
        )
    )
    assert (bind.command, bind.system_id, bind.password, bind.system_type) == (
        "bind_transceiver",
        b"gw",
        b"pw",
        b"x",
    )
    resp = smpplib_parse(
        encode(MessageResp(command_id=CommandId.SUBMIT_SM_RESP, sequence=4, message_id="5f3a"))
    )
    assert (resp.command, resp.message_id, resp.sequence) == ("submit_sm_resp", b"5f3a", 4)


def test_deliver_sm_receipt_smpplib_builds_parses_identically_with_ours() -> None:
    data = smpplib_make(
        "deliver_sm",
        sequence=9,
        source_addr_ton=1,
        source_addr_npi=1,
        source_addr="33612345678",
        destination_addr="Shop",
        esm_class=4,
        short_message=b"id:5f3a sub:001 dlvrd:001 submit date:2611220300 "
        b"done date:2611220301 stat:DELIVRD err:000 text:",
        receipted_message_id="5f3a",
        message_state=2,
    )
    ours = decode(data)
    assert isinstance(ours, ShortMessage)
    assert ours.command_id is CommandId.DELIVER_SM
    assert ours.sequence == 9
    assert (ours.source_addr_ton, ours.source_addr) == (1, "33612345678")
    assert ours.esm_class == 4
    assert ours.short_message.startswith(b"id:5f3a ")
    assert tlv.get_str(ours.tlvs, tlv.RECEIPTED_MESSAGE_ID) == "5f3a"
    assert tlv.get_int(ours.tlvs, tlv.MESSAGE_STATE) == 2
    assert encode(ours) == data  # same bytes back


def test_submit_sm_smpplib_builds_parses_identically_with_ours() -> None:
    data = smpplib_make(
        "submit_sm",
        sequence=3,
        source_addr_ton=1,
        source_addr_npi=1,
        source_addr="33600000000",
        dest_addr_ton=1,
        dest_addr_npi=1,
        destination_addr="33612345678",
        esm_class=0,
        registered_delivery=1,
        data_coding=0,
        short_message=b"Hello",
        user_message_reference=17,
    )
    ours = decode(data)
    assert isinstance(ours, ShortMessage)
    assert (ours.destination_addr, ours.registered_delivery) == ("33612345678", 1)
    assert ours.short_message == b"Hello"
    assert tlv.get_int(ours.tlvs, tlv.USER_MESSAGE_REFERENCE) == 17
    assert encode(ours) == data


@pytest.mark.parametrize(
    ("command", "fields"),
    [
        ("enquire_link", {}),
        ("unbind_resp", {}),
        ("bind_transmitter_resp", {"system_id": "smsc"}),
        ("deliver_sm_resp", {}),
        ("generic_nack", {"status": st.ESME_RINVCMDID}),
    ],
)
def test_small_pdus_from_smpplib_round_trip_through_ours(
    command: str, fields: dict[str, Any]
) -> None:
    data = smpplib_make(command, sequence=5, **fields)
    ours = decode(data)
    assert ours.command_id.name.lower() == command
    assert ours.sequence == 5
    assert encode(ours) == data


# --- malformed input and the length bound ----------------------------------------


def test_header_claiming_two_gigabytes_is_refused_before_allocation() -> None:
    splitter = FrameSplitter(max_pdu=70_000)
    header = bytes.fromhex("7fffffff 00000004 00000000 00000001")
    with pytest.raises(CommandLengthError) as info:
        splitter.feed(header)
    assert info.value.length == 0x7FFFFFFF
    assert splitter.buffered == 0  # nothing kept, nothing grown


def test_command_length_below_header_size_is_refused() -> None:
    with pytest.raises(CommandLengthError):
        FrameSplitter().feed(bytes.fromhex("00000008 00000015"))


def test_frames_split_at_any_byte_boundary() -> None:
    stream = b"".join(encode(p) for p in ROUND_TRIP)
    splitter = FrameSplitter()
    frames: list[bytes] = []
    for i in range(len(stream)):
        frames += splitter.feed(stream[i : i + 1])
    assert [decode(f) for f in frames] == ROUND_TRIP
    assert splitter.buffered == 0


def test_truncated_body_is_malformed_with_the_field_named() -> None:
    good = encode(ShortMessage(command_id=CommandId.DELIVER_SM, sequence=8, short_message=b"hello"))
    cut = good[:-3]
    cut = len(cut).to_bytes(4, "big") + cut[4:]
    with pytest.raises(MalformedPdu, match="short_message") as info:
        decode(cut)
    assert (info.value.sequence, info.value.status) == (8, st.ESME_RINVCMDLEN)


def test_unknown_command_id_asks_for_invalid_command_nack() -> None:
    data = bytes.fromhex("00000010 0000ffff 00000000 00000004")
    with pytest.raises(MalformedPdu) as info:
        decode(data)
    assert info.value.status == st.ESME_RINVCMDID


def test_truncated_tlv_is_malformed() -> None:
    good = encode(ShortMessage(command_id=CommandId.DELIVER_SM, sequence=8))
    bad_body = good[16:] + b"\x04\x24\x00\x10ab"  # claims 16 octets, has 2
    data = (16 + len(bad_body)).to_bytes(4, "big") + good[4:16] + bad_body
    with pytest.raises(MalformedPdu) as info:
        decode(data)
    assert info.value.status == st.ESME_RINVOPTPARSTREAM


def test_cstring_without_nul_is_malformed() -> None:
    body = b"A" * 30
    data = (16 + len(body)).to_bytes(4, "big") + bytes.fromhex("00000005 00000000 00000001")
    with pytest.raises(MalformedPdu, match="service_type"):
        decode(data + body)

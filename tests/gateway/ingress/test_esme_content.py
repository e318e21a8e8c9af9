"""A submit_sm's content: a whole text in each data_coding, or one segment the ESME cut."""

from __future__ import annotations

import pytest

from gateway.codec import pack_septets, parse_udh, raw_segment, unpack_septets
from gateway.codec.alphabet import to_septets
from gateway.ingress.esme_content import content_of
from gateway.model.errors import CodecError, DecodeError, EmptyText
from gateway.model.esme_ingress import (
    BadSar,
    EsmeSubmit,
    UnsupportedDataCoding,
    UnsupportedEsmClass,
    UnsupportedSubmit,
)
from gateway.model.message import MessageClass
from gateway.model.raw_body import RawBody

CONCAT = bytes((5, 0x00, 3, 0x2A, 2, 1))  # 8-bit reference 42, part 1 of 2
PORTS = bytes((6, 0x05, 4, 0x0B, 0x84, 0x23, 0xF0))  # application ports 2948 <- 9200 (WAP push)


def submit(**kw: object) -> EsmeSubmit:
    fields: dict[str, object] = {
        "source_ton": 5,
        "source_npi": 0,
        "source": "ACME",
        "dest_ton": 1,
        "dest_npi": 1,
        "destination": "33612345678",
    }
    fields.update(kw)
    return EsmeSubmit(**fields)  # type: ignore[arg-type]


def sar(ref: int, total: int, seq: int) -> tuple[bytes, bytes, bytes]:
    return ref.to_bytes(2), bytes((total,)), bytes((seq,))


@pytest.mark.parametrize(
    ("coding", "data", "text"),
    [
        (0, bytes([0x48, 0x00, 0x1B, 0x65]), "H@€"),  # unpacked septets, '@' is 0, escape
        (1, b"plain", "plain"),
        (3, "café".encode("latin-1"), "café"),
        (8, "привет".encode("utf-16-be"), "привет"),
    ],
)
def test_a_whole_text_in_each_data_coding(coding: int, data: bytes, text: str) -> None:
    content = content_of(submit(data_coding=coding, short_message=data))
    assert (content.text, content.raw, content.msg_class) == (text, None, MessageClass.STANDARD)


def test_latin1_option_reads_data_coding_0_as_latin1() -> None:
    data = "café".encode("latin-1")
    assert content_of(submit(short_message=data), latin1=True).text == "café"


def test_message_payload_is_the_whole_text() -> None:
    assert content_of(submit(message_payload=b"x" * 600)).text == "x" * 600
    with pytest.raises(UnsupportedSubmit, match="both short_message and message_payload"):
        content_of(submit(short_message=b"a", message_payload=b"b"))


@pytest.mark.parametrize(
    ("coding", "msg_class"),
    [(0x10, MessageClass.FLASH), (0xF0, MessageClass.FLASH), (0x12, MessageClass.SIM)],
)
def test_a_gsm_class_coding_gives_the_text_its_class(coding: int, msg_class: MessageClass) -> None:
    content = content_of(submit(data_coding=coding, short_message=b"Hi"))
    assert (content.text, content.msg_class, content.raw) == ("Hi", msg_class, None)


def test_a_ucs2_class_coding_is_read_as_ucs2() -> None:
    content = content_of(submit(data_coding=0x18, short_message="ж".encode("utf-16-be")))
    assert (content.text, content.msg_class) == ("ж", MessageClass.FLASH)


@pytest.mark.parametrize("coding", [0x11, 0xF3])
def test_class_1_or_3_is_refused_for_a_whole_text(coding: int) -> None:
    with pytest.raises(UnsupportedDataCoding, match="class"):
        content_of(submit(data_coding=coding, short_message=b"x"))


@pytest.mark.parametrize("coding", [5, 6, 9, 0x0E, 0x20, 0xC0, 0xE0, 0xF8])
def test_other_codings_are_refused(coding: int) -> None:
    with pytest.raises(UnsupportedDataCoding, match=f"data_coding {coding} "):
        content_of(submit(data_coding=coding, short_message=b"x"))


def test_a_message_type_in_esm_class_is_refused() -> None:
    with pytest.raises(UnsupportedEsmClass, match="0x08"):
        content_of(submit(esm_class=0x08, short_message=b"x"))


def test_a_udhi_gsm_segment_keeps_its_header_and_septets() -> None:
    body = to_septets("Hello world")
    content = content_of(submit(esm_class=0x40, short_message=CONCAT + body))
    assert content.raw == RawBody(data_coding=0, udh=CONCAT, body=body, encoding="gsm7")
    assert content.text == "Hello world"


def test_a_udhi_ucs2_segment_keeps_its_octets() -> None:
    body = "привет".encode("utf-16-be")
    content = content_of(submit(esm_class=0x40, data_coding=8, short_message=CONCAT + body))
    assert content.raw == RawBody(data_coding=8, udh=CONCAT, body=body, encoding="ucs2")
    assert content.text == "привет"


@pytest.mark.parametrize("coding", [1, 3])
def test_ascii_and_latin1_segments_become_gsm_septets(coding: int) -> None:
    data = "è[x]".encode("latin-1") if coding == 3 else b"[x]"
    content = content_of(submit(esm_class=0x40, data_coding=coding, short_message=CONCAT + data))
    assert content.raw is not None
    assert (content.raw.data_coding, content.raw.encoding) == (0, "gsm7")
    assert content.raw.body == to_septets(data.decode("latin-1"))


def test_a_latin1_segment_without_a_gsm_septet_is_refused() -> None:
    with pytest.raises(DecodeError, match="UCS-2"):
        content_of(submit(esm_class=0x40, data_coding=3, short_message=CONCAT + b"\xfe"))


@pytest.mark.parametrize("coding", [2, 4])
def test_binary_is_one_8bit_segment_even_without_a_header(coding: int) -> None:
    content = content_of(submit(data_coding=coding, short_message=b"\x00\xff\x10"))
    assert content.raw == RawBody(data_coding=4, udh=b"", body=b"\x00\xff\x10", encoding="8bit")
    assert content.text == "00ff10"


def test_binary_without_any_data_is_refused() -> None:
    with pytest.raises(EmptyText, match="no data"):
        content_of(submit(data_coding=4, short_message=b""))


def test_binary_with_a_port_header_and_a_class() -> None:
    content = content_of(submit(esm_class=0x40, data_coding=0xF5, short_message=PORTS + b"\x01"))
    assert content.raw == RawBody(data_coding=0xF5, udh=PORTS, body=b"\x01", encoding="8bit")


def test_a_binary_segment_over_140_octets_is_refused() -> None:
    assert content_of(submit(data_coding=4, short_message=b"x" * 140)).raw is not None
    with pytest.raises(CodecError, match="140 octets"):
        content_of(submit(esm_class=0x40, data_coding=4, short_message=PORTS + b"x" * 134))


def test_a_gsm_segment_over_160_septets_with_its_header_is_refused() -> None:
    assert content_of(submit(esm_class=0x40, short_message=CONCAT + b"a" * 153)).raw is not None
    with pytest.raises(CodecError, match="160 septets"):
        content_of(submit(esm_class=0x40, short_message=CONCAT + b"a" * 154))


@pytest.mark.parametrize(
    "data",
    [b"", bytes((9, 0, 3, 1)), bytes((3, 0x00, 5, 1)) + b"x", CONCAT + b"\x80"],
    ids=["empty", "header past the data", "element past the header", "octet above 0x7F"],
)
def test_malformed_udhi_data_is_refused(data: bytes) -> None:
    with pytest.raises(DecodeError):
        content_of(submit(esm_class=0x40, short_message=data))


def test_a_udhi_message_payload_is_one_segment_too() -> None:
    body = to_septets("from a data_sm")
    content = content_of(submit(esm_class=0x40, message_payload=CONCAT + body))
    assert content.raw == RawBody(data_coding=0, udh=CONCAT, body=body, encoding="gsm7")


def test_a_message_class_on_a_segment_stays_in_its_data_coding() -> None:
    content = content_of(submit(esm_class=0x40, data_coding=0x11, short_message=CONCAT + b"Hi"))
    assert content.raw == RawBody(data_coding=0x11, udh=CONCAT, body=b"Hi", encoding="gsm7")
    assert content.msg_class is MessageClass.STANDARD  # class 1 (ME): no smsgw class
    flash = content_of(submit(esm_class=0x40, data_coding=0x10, short_message=CONCAT + b"Hi"))
    assert flash.msg_class is MessageClass.FLASH


def test_an_odd_ucs2_segment_is_refused() -> None:
    with pytest.raises(DecodeError, match="UCS-2"):
        content_of(submit(esm_class=0x40, data_coding=8, short_message=CONCAT + b"\x04"))


def test_sar_tlvs_become_a_concatenation_element() -> None:
    body = to_septets("a" * 153)  # cut for the usual six-octet header
    content = content_of(submit(short_message=body, sar=sar(0x1234, 3, 2)))
    assert content.raw is not None
    assert content.raw.udh == bytes((5, 0x00, 3, 0x34, 3, 2))
    udh = parse_udh(content.raw.udh)
    assert (udh.concat.reference, udh.concat.total, udh.concat.sequence) == (0x34, 3, 2)  # type: ignore[union-attr]
    assert content.raw.body == body


def test_sar_tlvs_with_a_header_put_the_element_first() -> None:
    content = content_of(
        submit(esm_class=0x40, data_coding=4, short_message=PORTS + b"\x01", sar=sar(7, 2, 1))
    )
    assert content.raw is not None
    assert content.raw.udh == bytes((11, 0x00, 3, 7, 2, 1, 0x05, 4, 0x0B, 0x84, 0x23, 0xF0))


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ((b"\x00\x01", b"\x02", None), "without sar_segment_seqnum"),
        ((b"\x01", b"\x02", b"\x01"), "sar_msg_ref_num of 1 octets"),
        ((b"\x00\x01", b"\x00", b"\x01"), "sar_total_segments 0"),
        ((b"\x00\x01", b"\x02", b"\x00"), "sar_segment_seqnum 0"),
        ((b"\x00\x01", b"\x02", b"\x03"), "sar_segment_seqnum 3"),
    ],
)
def test_bad_sar_values_are_refused(
    values: tuple[bytes | None, bytes | None, bytes | None], match: str
) -> None:
    with pytest.raises(BadSar, match=match):
        content_of(submit(short_message=b"abc", sar=values))


def test_sar_tlvs_with_a_header_that_leaves_no_room_are_refused() -> None:
    header = bytes((251, 0x70, 249)) + bytes(249)  # one element of 249 octets
    with pytest.raises(CodecError, match="fill no segment"):
        content_of(submit(esm_class=0x40, data_coding=4, short_message=header, sar=sar(1, 2, 1)))


def test_sar_tlvs_and_a_concatenation_header_are_refused() -> None:
    with pytest.raises(BadSar, match="give one"):
        content_of(submit(esm_class=0x40, short_message=CONCAT + b"a", sar=sar(1, 2, 1)))


def test_a_raw_gsm_segment_packs_after_its_header_with_fill_bits() -> None:
    body = to_septets("Hello")
    raw = content_of(submit(esm_class=0x40, short_message=CONCAT + body)).raw
    assert raw is not None
    smpp = raw_segment(raw)
    assert (smpp.short_message, smpp.esm_class, smpp.udl) == (CONCAT + body, 0x40, 7 + 5)
    modem = raw_segment(raw, packed=True)
    # six header octets are 48 bits: one fill bit aligns the septets on 49 (TS 23.040 9.2.3.24)
    assert modem.payload == pack_septets(body, 1)
    assert unpack_septets(modem.payload, 5, 1) == body
    assert (modem.udh, modem.udl, modem.packed) == (CONCAT, 12, True)


def test_the_stored_form_reads_back() -> None:
    raw = RawBody(data_coding=0xF5, udh=PORTS, body=b"\x00\x01", encoding="8bit")
    assert RawBody.unpack(raw.pack()) == raw
    assert RawBody.unpack(RawBody(0, b"", b"", "gsm7").pack()) == RawBody(0, b"", b"", "gsm7")
    with pytest.raises(DecodeError):
        RawBody.unpack(b"\x00\x09\x00")

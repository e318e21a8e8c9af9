"""SMS-SUBMIT building and SMS-DELIVER / STATUS-REPORT decoding, checked independently."""

from __future__ import annotations

import calendar
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.modem.protocol.tpdu import (
    Deliver,
    PduError,
    StatusReport,
    build_deliver,
    build_status_report,
    build_submit,
    decode_incoming,
)
from drivers.modem.protocol.tpdu_fields import (
    encode_address,
    encode_timestamp,
    pack_septets,
    relative_validity,
    unpack_septets,
    validity_seconds,
)
from gateway.codec import Segment, raw_segment
from gateway.codec.alphabet import to_septets
from gateway.link.interface import Concat
from gateway.model.raw_body import RawBody
from tests.drivers.modem.segments import gsm_segment, ucs2_segment

GSM_SAFE = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,!?"


def submit_hex(destination: str, segment: Segment, **kw: Any) -> str:
    return build_submit(
        destination=destination,
        data_coding=segment.data_coding,
        udh=segment.udh,
        payload=segment.payload,
        udl=segment.udl,
        **kw,
    ).hex


def smspdudecoder_submit(pdu_hex: str) -> dict[str, Any]:
    from smspdudecoder.fields import SMSSubmit

    result: dict[str, Any] = SMSSubmit.decode(StringIO(pdu_hex))
    return result


def gsmmodem_decode(pdu_hex: str) -> dict[str, Any]:
    from gsmmodem.pdu import decodeSmsPdu

    result: dict[str, Any] = decodeSmsPdu(pdu_hex)
    return result


def smspdudecoder_misreads(seg: Segment) -> bool:
    """Where smspdudecoder gets GSM 7-bit text wrong, so the other decoder checks it.

    It turns the whole TP-UD, header included, into characters and slices them by
    septet counts: a header septet that reads as the escape 0x1B shifts the text by
    one, and an escaped character (two septets, one character) lets the 7 spare bits
    of the last octet through as one more "@".
    """
    if seg.encoding != "gsm7":
        return False
    header_septets = (len(seg.udh) * 8 + 6) // 7
    septets = unpack_septets(seg.udh + seg.payload, seg.udl)
    return 0x1B in septets[:header_septets] or (
        0x1B in septets[header_septets:] and seg.udl % 8 == 7
    )


def gsmmodem_misreads(seg: Segment) -> bool:
    """python-gsmmodem always skips one octet after a header as if it held fill bits:
    with a header that ends on a septet boundary (7 octets: 16-bit concat) it drops
    the first character."""
    return seg.encoding == "gsm7" and len(seg.udh) % 7 == 0 and bool(seg.udh)


# --- fixed vectors ---------------------------------------------------------------


def test_submit_matches_the_classic_hellohello_vector() -> None:
    # SMS-SUBMIT to +46708251358, "hellohello", VP 0xAA (4 days): the example of
    # the GSM 03.40 PDU tutorials, SMSC from the SIM
    pdu = submit_hex("+46708251358", gsm_segment("hellohello"), validity=4 * 86400)
    assert pdu == "0011000B916407281553F80000AA0AE8329BFD4697D9EC37"


def test_submit_tpdu_length_excludes_the_smsc_address() -> None:
    built = build_submit(
        destination="+46708251358",
        data_coding=0,
        udh=b"",
        payload=b"\x00",
        udl=1,
        smsc="+447785016005",
    )
    assert built.pdu[:8] == bytes.fromhex("0791447758100650")  # TOA + 6 octets of 12 digits
    assert built.tpdu_length == len(built.pdu) - 8


def test_submit_sets_srr_udhi_and_relative_vpf_bits() -> None:
    seg = gsm_segment("part one", reference=10, total=2, sequence=1)
    built = build_submit(
        destination="+33612345678",
        data_coding=seg.data_coding,
        udh=seg.udh,
        payload=seg.payload,
        udl=seg.udl,
        validity=3600,
        want_receipt=True,
    )
    first = built.pdu[1]
    assert first & 0x03 == 0x01  # SMS-SUBMIT
    assert first & 0x18 == 0x10  # relative VP
    assert first & 0x20  # status report requested
    assert first & 0x40  # UDH present
    assert first & 0x04 == 0  # TP-RD off


def test_national_destination_uses_ton_unknown() -> None:
    assert encode_address("0612345678") == bytes.fromhex("0A816021436587")
    assert encode_address("+33612345678") == bytes.fromhex("0B913316325476F8")


def test_deliver_vector_decodes() -> None:
    # SMS-DELIVER from 27838890001 via SMSC +27381000015, 99-03-29 15:16:59 +02:00
    data = bytes.fromhex("07917283010010F5040BC87238880900F10000993092516195800AE8329BFD4697D9EC37")
    got = decode_incoming(data)
    assert isinstance(got, Deliver)
    assert got.smsc == "+27381000015"
    assert got.originator == "27838890001"
    assert got.payload == b"hellohello"
    assert got.concat is None
    assert got.scts == calendar.timegm((1999, 3, 29, 13, 16, 59, 0, 0, 0))


def test_deliver_with_16bit_concat_and_ucs2() -> None:
    text = "\u041f\u0440\u0438\u0432\u0435\u0442"
    udh = bytes([6, 0x08, 4, 0x12, 0x34, 3, 2])
    payload = text.encode("utf-16-be")
    scts = encode_timestamp(1_700_000_000, tz_quarters=-20)
    data = build_deliver(
        originator="+4915112345678",
        data_coding=0x08,
        user_data=udh + payload,
        udl=len(udh) + len(payload),
        udhi=True,
        scts=scts,
        smsc="+491710760000",
    )
    got = decode_incoming(data)
    assert isinstance(got, Deliver)
    assert got.originator == "+4915112345678"
    assert got.payload.decode("utf-16-be") == text
    assert got.concat == Concat(reference=0x1234, total=3, sequence=2)
    assert got.scts == 1_700_000_000
    other = gsmmodem_decode(data.hex())
    assert other["text"] == text
    assert other["number"] == "+4915112345678"


def test_deliver_gsm7_with_udh_skips_fill_bits() -> None:
    seg = gsm_segment("reply part two", reference=7, total=2, sequence=2)
    data = build_deliver(
        originator="+33600000001",
        data_coding=0,
        user_data=seg.udh + seg.payload,
        udl=seg.udl,
        udhi=True,
        scts=encode_timestamp(0),
    )
    got = decode_incoming(data)
    assert isinstance(got, Deliver)
    assert got.payload == b"reply part two"
    assert got.concat == Concat(reference=7, total=2, sequence=2)
    assert gsmmodem_decode(data.hex())["text"] == "reply part two"


def test_status_report_decodes_and_agrees_with_gsmmodem() -> None:
    scts = encode_timestamp(1_700_000_000, tz_quarters=4)
    dt = encode_timestamp(1_700_000_060, tz_quarters=4)
    data = build_status_report(
        reference=0x2A,
        recipient="+33612345678",
        scts=scts,
        discharge=dt,
        status=0x00,
        smsc="+33609001390",
    )
    got = decode_incoming(data)
    assert got == StatusReport(
        reference=0x2A,
        recipient="+33612345678",
        scts=1_700_000_000.0,
        discharge=1_700_000_060.0,
        status=0,
    )
    other = gsmmodem_decode(data.hex())
    assert other["type"] == "SMS-STATUS-REPORT"
    assert other["reference"] == 0x2A
    assert other["number"] == "+33612345678"
    assert other["status"] == 0
    assert other["discharge"].timestamp() == 1_700_000_060


def test_status_report_hand_assembled_vector() -> None:
    # as a modem shows it in +CDS: no SMSC, first octet 06 (MTI 10 + MMS), MR 0x26,
    # recipient +46708251358, SCTS = DT = 2011-02-16 19:00:00 UTC, TP-ST 0
    pdu = "0006260B916407281553F8" + "11206191000000" * 2 + "00"
    got = decode_incoming(bytes.fromhex(pdu))
    assert isinstance(got, StatusReport)
    assert got.reference == 0x26
    assert got.recipient == "+46708251358"
    assert got.status == 0
    assert got.scts == calendar.timegm((2011, 2, 16, 19, 0, 0, 0, 0, 0))


@pytest.mark.parametrize(
    "hex_pdu",
    ["", "00", "0004", "00040B91", "0001000B916407281553F80000", "0006260B916407281553F8"],
)
def test_truncated_pdus_raise_pdu_error(hex_pdu: str) -> None:
    with pytest.raises(PduError):
        decode_incoming(bytes.fromhex(hex_pdu))


def test_alphanumeric_originator_decodes() -> None:
    # "InfoSMS": 7 septets = 49 bits = 13 useful semi-octets (TS 23.040 9.1.2.5)
    packed = pack_septets(b"InfoSMS")
    data = (
        b"\x00\x04"
        + bytes([13, 0xD0])
        + packed
        + b"\x00\x00"
        + encode_timestamp(0)
        + b"\x02"
        + pack_septets(b"hi")
    )
    got = decode_incoming(data)
    assert isinstance(got, Deliver)
    assert got.originator == "InfoSMS"
    assert got.payload == b"hi"


# --- every SMS-SUBMIT we build decodes the same elsewhere -------------------------------------

numbers = st.from_regex(r"\+[1-9][0-9]{6,14}", fullmatch=True)
texts = st.text(alphabet=GSM_SAFE, min_size=1, max_size=153)
classes = st.sampled_from([None, 0, 1, 2])


@settings(max_examples=150, deadline=None)
@given(
    number=numbers,
    text=texts,
    validity=st.none() | st.integers(300, 400 * 86400),
    msg_class=classes,
    receipt=st.booleans(),
    concat=st.none() | st.tuples(st.integers(0, 255), st.integers(2, 9), st.booleans()),
)
def test_gsm7_submit_decodes_identically_in_two_other_decoders(  # noqa: PLR0917 - hypothesis
    number: str,
    text: str,
    validity: int | None,
    msg_class: int | None,
    receipt: bool,
    concat: tuple[int, int, bool] | None,
) -> None:
    if concat:
        ref, total, ref16 = concat
        seg = gsm_segment(
            text,
            reference=ref * 257 if ref16 else ref,
            total=total,
            sequence=total,
            msg_class=msg_class,
            ref16=ref16,
        )
    else:
        seg = gsm_segment(text, msg_class=msg_class)
    pdu = submit_hex(number, seg, validity=validity, want_receipt=receipt)

    a = smspdudecoder_submit(pdu)
    assert "+" + a["recipient"]["number"] == number
    assert a["recipient"]["toa"]["ton"] == "international"
    if not smspdudecoder_misreads(seg):
        assert a["user_data"]["data"] == text
    assert a["header"]["srr"] is receipt
    assert a["dcs"]["encoding"] == "gsm"
    if validity is None:
        assert a["header"]["vpf"] == 0
    else:
        assert a["vp"] == relative_validity(validity)

    b = gsmmodem_decode(pdu)
    assert b["number"] == number
    if not gsmmodem_misreads(seg):
        assert b["text"] == text
    if validity is not None:
        assert b["validity"] == timedelta(seconds=validity_seconds(relative_validity(validity)))
    else:
        assert "validity" not in b

    dcs = bytes.fromhex(pdu)[6 + len(number) // 2]  # after SCA, first, MR, DA, PID
    assert dcs == seg.data_coding  # class bits (0x10 | class) as the codec set them

    if concat:
        ref, total, ref16 = concat
        elements = a["user_data"]["header"]["elements"]
        assert elements[0]["iei"] == (0x08 if ref16 else 0x00)
        assert elements[0]["data"] == {
            "reference": ref * 257 if ref16 else ref,
            "parts_count": total,
            "part_number": total,
        }
        (ie,) = b["udh"]
        assert (ie.reference, ie.parts, ie.number) == (ref * 257 if ref16 else ref, total, total)


@pytest.mark.parametrize("text", ["0", "hello world", "x" * 152])
def test_16bit_concat_text_decodes_in_smspdudecoder(text: str) -> None:
    seg = gsm_segment(text, reference=0x012C, total=2, sequence=2, ref16=True)
    assert seg.udl == 8 + len(text)  # 7 header octets = 8 septets, no fill bits
    a = smspdudecoder_submit(submit_hex("+33612345678", seg))
    assert a["user_data"]["data"] == text


@settings(max_examples=50, deadline=None)
@given(
    number=numbers,
    text=st.text(min_size=1, max_size=60).filter(
        lambda t: all(c <= "\uffff" and not ("\ud800" <= c <= "\udfff") for c in t)
    ),
)
def test_ucs2_submit_decodes_identically(number: str, text: str) -> None:
    seg = ucs2_segment(text, reference=3, total=2, sequence=1)
    pdu = submit_hex(number, seg)
    a = smspdudecoder_submit(pdu)
    assert a["user_data"]["data"] == text
    assert a["dcs"]["encoding"] == "ucs2"
    b = gsmmodem_decode(pdu)
    assert b["text"] == text
    assert b["number"] == number


@settings(max_examples=60, deadline=None)
@given(
    number=numbers,
    text=st.text(alphabet=GSM_SAFE, min_size=1, max_size=160),
    validity=st.none() | st.integers(300, 400 * 86400),
    flash=st.booleans(),
    receipt=st.booleans(),
)
def test_single_part_submit_equals_python_gsmmodem_encoder(
    number: str, text: str, validity: int | None, flash: bool, receipt: bool
) -> None:
    from gsmmodem.pdu import encodeSmsSubmitPdu

    (theirs,) = encodeSmsSubmitPdu(
        number,
        text,
        reference=0,
        validity=None if validity is None else timedelta(seconds=validity),
        requestStatusReport=receipt,
        sendFlash=flash,
    )
    ours = build_submit(
        destination=number,
        data_coding=0x10 if flash else 0x00,
        udh=b"",
        payload=pack_septets(text.encode("ascii")),
        udl=len(text),
        validity=validity,
        want_receipt=receipt,
    )
    assert ours.pdu == bytes(theirs.data)
    assert ours.tpdu_length == theirs.tpduLength


# --- through the real codec -----------------------------------------------------------------

CODEC_TEXT = st.text(
    alphabet="abcXYZ019 @$_!?\u00e9\u00e8\u00c5\u00df\u00c9\u00dc\u00f1\u00bf\u03a9\u20ac[]{}^~|\\",
    min_size=1,
    max_size=400,
) | st.text(alphabet="abc \u0416\u4e2d\u00e9\u20ac\U0001f600", min_size=1, max_size=200)


@settings(max_examples=80, deadline=None)
@given(text=CODEC_TEXT, reference=st.integers(0, 255), msg_class=classes, number=numbers)
def test_codec_segments_as_pdus_decode_to_the_original_text(
    text: str, reference: int, msg_class: int | None, number: str
) -> None:
    from gateway.codec import decode_payload, encode

    segments = encode(text, concat="udh8", reference=reference, packed=True, msg_class=msg_class)
    ours: list[str] = []
    theirs: list[str] = []
    for seg in segments:
        pdu = submit_hex(number, seg)
        assert bytes.fromhex(pdu)[6 + len(number) // 2] == seg.data_coding
        a = smspdudecoder_submit(pdu)
        assert "+" + a["recipient"]["number"] == number
        theirs.append(a["user_data"]["data"])
        misread = smspdudecoder_misreads(seg)
        if len(segments) > 1:
            (ie,) = a["user_data"]["header"]["elements"]
            assert ie["data"]["reference"] == reference
            assert ie["data"]["parts_count"] == len(segments)
        # the same user data received as an SMS-DELIVER goes through our decoder
        delivered = decode_incoming(
            build_deliver(
                originator=number,
                data_coding=seg.data_coding,
                user_data=seg.udh + seg.payload,
                udl=seg.udl,
                udhi=bool(seg.udh),
                scts=encode_timestamp(0),
            )
        )
        assert isinstance(delivered, Deliver)
        ours.append(decode_payload(delivered.payload, delivered.data_coding))
        if len(segments) > 1:
            assert delivered.concat is not None
            assert delivered.concat.total == len(segments)
        if misread:
            theirs[-1] = gsmmodem_decode(pdu)["text"]
        assert theirs[-1] == ours[-1]
    assert "".join(ours) == text


@pytest.mark.parametrize(
    "udh",
    [bytes((5, 0, 3, 0x2A, 3, 2)), bytes((6, 8, 4, 0x12, 0x34, 3, 3))],
    ids=["8-bit concat, one fill bit", "16-bit concat, no fill bit"],
)
def test_a_gsm_segment_an_esme_cut_packs_after_its_header(udh: bytes) -> None:
    text = "Part two of a message cut by an ESME"
    raw = RawBody(data_coding=0x00, udh=udh, body=to_septets(text), encoding="gsm7")
    seg = raw_segment(raw, packed=True)
    pdu = submit_hex("+33612345678", seg)
    first = bytes.fromhex(pdu)[1]  # after the empty SCA
    assert first & 0x40  # TP-UDHI
    decoded = smspdudecoder_submit(pdu)
    assert decoded["dcs"]["encoding"] == "gsm"
    concat = decoded["user_data"]["header"]["elements"][0]
    assert concat["iei"] == udh[1]
    if not gsmmodem_misreads(seg):
        assert gsmmodem_decode(pdu)["text"] == text
    assert unpack_septets(seg.payload, len(text), (7 - len(udh) * 8 % 7) % 7) == raw.body


def test_a_binary_segment_an_esme_cut_keeps_its_class_and_octets() -> None:
    ports = bytes((6, 0x05, 4, 0x0B, 0x84, 0x23, 0xF0))
    raw = RawBody(data_coding=0xF5, udh=ports, body=b"\x00\x01\xff", encoding="8bit")
    seg = raw_segment(raw, packed=True)
    data = bytes.fromhex(submit_hex("+33612345678", seg))
    assert data[-(len(ports) + 3 + 2) :] == bytes((0xF5, len(ports) + 3)) + ports + raw.body

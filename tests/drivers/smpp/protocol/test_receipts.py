"""Receipt text, TLVs and message id forms."""

from __future__ import annotations

import calendar

import pytest

from drivers.smpp.protocol import tlv
from drivers.smpp.protocol.pdu import CommandId, DataSm, ShortMessage
from drivers.smpp.protocol.receipts import (
    IdNormaliser,
    format_receipt_text,
    is_receipt,
    parse_receipt_text,
    parse_smpp_date,
    receipt_from_pdu,
)
from gateway.model.outcomes import ReceiptState

STANDARD = (
    b"id:0000AB12 sub:001 dlvrd:001 submit date:2611220300 done date:2611220305 "
    b"stat:DELIVRD err:000 text:Hello there"
)


def deliver(short_message: bytes = b"", *, esm: int = 4, tlvs: tlv.Tlvs = ()) -> ShortMessage:
    return ShortMessage(
        command_id=CommandId.DELIVER_SM,
        sequence=1,
        source_addr_ton=1,
        source_addr="33612345678",
        esm_class=esm,
        short_message=short_message,
        tlvs=tlvs,
    )


def test_standard_receipt_text_is_read() -> None:
    parsed = parse_receipt_text(STANDARD)
    assert parsed is not None
    assert (parsed.id, parsed.stat, parsed.err) == ("0000AB12", "DELIVRD", "000")
    assert (parsed.submit_date, parsed.done_date) == ("2611220300", "2611220305")
    assert parsed.text == "Hello there"


def test_receipt_text_in_another_order_and_case_is_read() -> None:
    parsed = parse_receipt_text("Stat:UNDELIV ID:77 err:012 Done Date:2611220305 Text:x")
    assert parsed is not None
    assert (parsed.id, parsed.stat, parsed.err, parsed.done_date) == (
        "77",
        "UNDELIV",
        "012",
        "2611220305",
    )


def test_text_without_id_is_not_a_receipt() -> None:
    assert parse_receipt_text(b"hello, how are you") is None


def test_smpp_date_reads_as_utc() -> None:
    assert parse_smpp_date("2611220305") == calendar.timegm((2026, 11, 22, 3, 5, 0, 0, 0, 0))
    assert parse_smpp_date("261122030512") == calendar.timegm((2026, 11, 22, 3, 5, 12, 0, 0, 0))
    assert parse_smpp_date("2613990000") is None
    assert parse_smpp_date("") is None


@pytest.mark.parametrize(
    ("resp", "text", "resp_id", "text_id"),
    [
        ("as-is", None, "abc", "abc"),
        ("hex", None, "0000AB12", "ab12"),
        ("decimal", None, "00042", "42"),
        ("hex", "decimal", "1A2B", str(0x1A2B)),
    ],
)
def test_ids_in_both_forms_normalise_equal(
    resp: str, text: str | None, resp_id: str, text_id: str
) -> None:
    ids = IdNormaliser(resp=resp, text=text)
    assert ids.from_resp(resp_id) == ids.from_text(text_id)


def test_unknown_id_form_is_refused() -> None:
    with pytest.raises(ValueError, match="octal"):
        IdNormaliser(resp="octal")


def test_non_numeric_id_in_a_numeric_form_is_kept() -> None:
    assert IdNormaliser(resp="hex").from_resp("not-hex!") == "not-hex!"


def test_receipt_from_text_only() -> None:
    receipt = receipt_from_pdu(deliver(STANDARD), link="a", ids=IdNormaliser(resp="hex"))
    assert receipt is not None
    assert receipt.smsc_id == str(0xAB12)
    assert receipt.state is ReceiptState.DELIVERED
    assert receipt.error is None
    assert receipt.done_at == calendar.timegm((2026, 11, 22, 3, 5, 0, 0, 0, 0))
    assert receipt.destination == "+33612345678"


def test_tlvs_win_over_the_text() -> None:
    pdu = deliver(
        STANDARD,
        tlvs=(
            tlv.cstring(tlv.RECEIPTED_MESSAGE_ID, "AB13"),
            tlv.u8(tlv.MESSAGE_STATE, 5),
            (tlv.NETWORK_ERROR_CODE, b"\x03\x00\x22"),
        ),
    )
    receipt = receipt_from_pdu(pdu, link="a", ids=IdNormaliser())
    assert receipt is not None
    assert (receipt.smsc_id, receipt.state, receipt.error) == (
        "AB13",
        ReceiptState.UNDELIVERABLE,
        "3:34",
    )


def test_receipt_from_data_sm_with_tlvs_only() -> None:
    pdu = DataSm(
        sequence=3,
        source_addr="336",
        esm_class=4,
        tlvs=(tlv.cstring(tlv.RECEIPTED_MESSAGE_ID, "9"), tlv.u8(tlv.MESSAGE_STATE, 3)),
    )
    receipt = receipt_from_pdu(pdu, link="a", ids=IdNormaliser())
    assert receipt is not None
    assert (receipt.smsc_id, receipt.state) == ("9", ReceiptState.EXPIRED)


def test_receipt_error_from_text_when_not_zero() -> None:
    text = STANDARD.replace(b"DELIVRD err:000", b"UNDELIV err:034")
    receipt = receipt_from_pdu(deliver(text), link="a", ids=IdNormaliser())
    assert receipt is not None
    assert (receipt.state, receipt.error) == (ReceiptState.UNDELIVERABLE, "034")


def test_unreadable_receipt_is_none() -> None:
    assert receipt_from_pdu(deliver(b"garbage"), link="a", ids=IdNormaliser()) is None


def test_receipt_bits() -> None:
    assert is_receipt(0x04)
    assert is_receipt(0x08)
    assert is_receipt(0x20)
    assert not is_receipt(0x00)
    assert not is_receipt(0x40)  # UDHI alone is an MO


def test_formatted_text_parses_back() -> None:
    raw = format_receipt_text(
        ident="ff",
        state=ReceiptState.EXPIRED,
        err=5,
        submit_date="2611220300",
        done_date="2611220301",
        text="abc",
    )
    parsed = parse_receipt_text(raw)
    assert parsed is not None
    assert (parsed.id, parsed.stat, parsed.err, parsed.text) == ("ff", "EXPIRED", "005", "abc")

"""EsmeDelivery -> deliver_sm fields: receipts (appendix B text, TLVs) and replies."""

from __future__ import annotations

from drivers.smpp.protocol import tlv
from drivers.smpp.protocol.decode import decode
from drivers.smpp.protocol.pdu import ShortMessage, encode_submit_sm
from drivers.smpp.protocol.receipts import parse_receipt_text
from drivers.smpp.server.deliveries import deliver_fields
from gateway.model.esme import DeliveryKind, EsmeDelivery
from gateway.model.outcomes import ReceiptState

DONE = 1_773_576_000.0  # 2026-03-15 12:00 UTC


def as_pdu(delivery: EsmeDelivery) -> ShortMessage:
    pdu = decode(encode_submit_sm(1, command_id=0x05, **deliver_fields(delivery)))
    assert isinstance(pdu, ShortMessage)
    return pdu


def reply(text: str) -> EsmeDelivery:
    return EsmeDelivery(
        id=1,
        system_id="acme1",
        kind=DeliveryKind.REPLY,
        source="+33612345678",
        destination="+33700000001",
        done_at=DONE,
        text=text,
    )


def test_receipt_text_and_tlvs() -> None:
    pdu = as_pdu(
        EsmeDelivery(
            id=7,
            system_id="acme1",
            kind=DeliveryKind.RECEIPT,
            source="+33612345678",
            destination="ACME",
            done_at=DONE,
            message_id="01HX",
            state=ReceiptState.UNDELIVERABLE,
            error=34,
            submitted_at=DONE - 60,
            segments=2,
        )
    )
    assert pdu.esm_class == 0x04
    assert (pdu.source_addr_ton, pdu.source_addr) == (1, "33612345678")
    assert (pdu.dest_addr_ton, pdu.destination_addr) == (5, "ACME")
    text = parse_receipt_text(pdu.short_message)
    assert text is not None
    assert (text.id, text.stat, text.err, text.sub, text.dlvrd) == (
        "01HX",
        "UNDELIV",
        "034",
        "002",
        "000",
    )
    assert (text.submit_date, text.done_date) == ("2603151159", "2603151200")
    assert tlv.get_str(pdu.tlvs, tlv.RECEIPTED_MESSAGE_ID) == "01HX"
    assert tlv.get_int(pdu.tlvs, tlv.MESSAGE_STATE) == 5


def test_reply_in_gsm_then_ucs2_then_payload() -> None:
    gsm = as_pdu(reply("Hello @ 10€"))
    assert (gsm.data_coding, gsm.short_message) == (0, b"Hello \x00 10\x1be")
    ucs2 = as_pdu(reply("привет"))
    assert ucs2.data_coding == 8
    assert ucs2.short_message.decode("utf-16-be") == "привет"
    long = as_pdu(reply("x" * 300))
    assert (long.data_coding, long.short_message) == (0, b"")
    assert tlv.find(long.tlvs, tlv.MESSAGE_PAYLOAD) == b"x" * 300

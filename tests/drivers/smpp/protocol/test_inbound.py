"""MO parts from deliver_sm: UDH 8/16-bit, SAR TLVs, message_payload."""

from __future__ import annotations

import pytest

from drivers.smpp.protocol import tlv
from drivers.smpp.protocol.inbound import inbound_from_pdu
from drivers.smpp.protocol.pdu import CommandId, ShortMessage
from drivers.smpp.simulator.mo import mo_pdus
from gateway.link.interface import Concat
from gateway.model.errors import RemoteProtocolError


def test_udh8_part_has_concat_and_payload_without_header() -> None:
    pdu = ShortMessage(
        command_id=CommandId.DELIVER_SM,
        sequence=1,
        source_addr_ton=1,
        source_addr="33612345678",
        destination_addr="12345",
        esm_class=0x40,
        short_message=bytes((5, 0, 3, 42, 3, 2)) + b"abc",
    )
    part = inbound_from_pdu(pdu, link="a", now=5.0)
    assert part.concat == Concat(reference=42, total=3, sequence=2)
    assert part.payload == b"abc"
    assert (part.source, part.destination, part.received_at) == ("+33612345678", "12345", 5.0)


def test_udh16_part_has_sixteen_bit_reference() -> None:
    [pdu] = mo_pdus(
        source="+336", destination="1", text="ab", concat="udh16", parts=1, reference=0x1234
    )
    part = inbound_from_pdu(pdu, link="a", now=0.0)
    assert part.concat == Concat(reference=0x1234, total=1, sequence=1)
    assert part.payload == b"ab"


def test_sar_tlvs_give_concat() -> None:
    pdus = mo_pdus(
        source="+336", destination="1", text="abcdef", concat="sar", parts=2, reference=300
    )
    parts = [inbound_from_pdu(p, link="a", now=0.0) for p in pdus]
    assert [p.concat for p in parts] == [
        Concat(reference=300, total=2, sequence=1),
        Concat(reference=300, total=2, sequence=2),
    ]
    assert b"".join(p.payload for p in parts) == b"abcdef"


def test_message_payload_is_one_whole_part() -> None:
    [pdu] = mo_pdus(source="+336", destination="1", text="é" * 200, concat="payload")
    part = inbound_from_pdu(pdu, link="a", now=0.0)
    assert part.concat is None
    assert part.data_coding == 8
    assert part.payload == ("é" * 200).encode("utf-16-be")


def test_udh_overrunning_the_data_is_the_peers_error() -> None:
    pdu = ShortMessage(
        command_id=CommandId.DELIVER_SM, sequence=1, esm_class=0x40, short_message=bytes((9, 0, 3))
    )
    with pytest.raises(RemoteProtocolError):
        inbound_from_pdu(pdu, link="a", now=0.0)


def test_plain_part_has_no_concat() -> None:
    pdu = ShortMessage(
        command_id=CommandId.DELIVER_SM,
        sequence=1,
        short_message=b"hi",
        tlvs=(tlv.u16(tlv.SAR_MSG_REF_NUM, 1),),
    )  # incomplete SAR: ignored
    part = inbound_from_pdu(pdu, link="a", now=0.0)
    assert part.concat is None
    assert part.payload == b"hi"


def test_simulated_mo_order_is_as_asked() -> None:
    pdus = mo_pdus(
        source="+336", destination="1", text="abcdefghi", concat="udh8", parts=3, order=[3, 1, 2]
    )
    seqs = [inbound_from_pdu(p, link="a", now=0.0).concat for p in pdus]
    assert [c.sequence for c in seqs if c is not None] == [3, 1, 2]


def test_simulated_mo_sends_only_the_parts_asked() -> None:
    pdus = mo_pdus(source="+336", destination="1", text="abcdef", parts=2, order=[2], reference=9)
    [part] = [inbound_from_pdu(p, link="a", now=0.0) for p in pdus]
    assert part.concat is not None
    assert (part.concat.reference, part.concat.total, part.concat.sequence) == (9, 2, 2)
    assert part.payload == b"def"
    for order in ([], [1, 1], [3]):
        with pytest.raises(ValueError, match="distinct parts"):
            mo_pdus(source="+336", destination="1", text="abcdef", parts=2, order=order)

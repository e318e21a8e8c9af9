"""MO (reply) parts as a handset's message reaches the links: for the reassembly
rules, the store's held parts and the receiver."""

from __future__ import annotations

from gateway.codec import encode
from gateway.link.interface import Concat, InboundPart

SOURCE = "+33612345678"
DESTINATION = "+33700000001"
LONG_GSM = "Bonjour {tout} le monde, ceci est un message long avec un euro €. " * 6
LONG_UCS2 = "Привет, это длинное сообщение 😀 " * 8


def parts_of(
    text: str,
    *,
    reference: int = 7,
    source: str = SOURCE,
    destination: str = DESTINATION,
    at: float = 0.0,
    link: str = "l1",
) -> list[InboundPart]:
    """Encode text as the handset would and turn the segments into MO parts."""
    segments = encode(text, concat="sar", reference=reference)
    out = []
    for seg in segments:
        concat = None
        if seg.sar is not None:
            ref, total, seq = seg.sar
            concat = Concat(reference=ref, total=total, sequence=seq)
        out.append(
            InboundPart(
                link=link,
                source=source,
                destination=destination,
                data_coding=seg.data_coding,
                payload=seg.payload,
                concat=concat,
                received_at=at,
            )
        )
    return out

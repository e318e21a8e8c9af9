"""Concatenated MO (reply) parts held in the store until their reply is whole: the
rules every backend calls.

A part is held under its key (source, destination, reference, total) and its
sequence number, in the ``inbound_parts`` table, from the moment its link
acknowledges it; the part that makes its key whole stores the reply in the same
transaction. So a daemon that dies loses nothing it acknowledged, and the parts
of one reply make one reply whichever daemons' binds they came on (PostgreSQL:
the key is locked, gateway/store/postgres/inbound.py).

Parts may come in any order, twice (a peer redelivering), or never: a key whose
newest part is older than the reassembly timeout is released incomplete, with
the numbers of the missing parts (:func:`release`), rather than held forever.
The parts of a completed reply stay, marked ``done``, until that timeout too,
so that a part the peer redelivers after completion is known for what it is
instead of starting a new reply that would be released as a bogus fragment; a
part of the same key that is no such copy starts a new reply (the 8-bit
reference came round again) and the done parts go.

Payloads are joined as bytes before decoding, so an escape sequence or a
surrogate pair that another sender split across two parts still decodes.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from gateway.codec import decode_payload
from gateway.link.interface import Concat, InboundPart
from gateway.model.records import InboundMessage, ReassembledReply

PART_COLUMNS = (
    "source, destination, reference, total, sequence, link, data_coding, payload, "
    "received_at, smsc_timestamp, account, done"
)


class PartKey(NamedTuple):
    """The parts of one reply share it."""

    source: str
    destination: str
    reference: int
    total: int


class HeldPart(NamedTuple):
    """A row of ``inbound_parts``: the part, the account that owned its destination
    when it came, and whether its reply was stored already."""

    part: InboundPart
    account: str | None
    done: bool


def key_of(part: InboundPart) -> PartKey:
    concat = part.concat
    if concat is None or concat.total <= 1:
        msg = "a part of one piece is stored as a whole reply (Store.add_inbound)"
        raise ValueError(msg)
    return PartKey(part.source, part.destination, concat.reference, concat.total)


def sequence_of(part: InboundPart) -> int:
    return part.concat.sequence if part.concat is not None else 1


def part_row(part: InboundPart, account: str | None, *, done: bool) -> tuple[object, ...]:
    """The values of :data:`PART_COLUMNS` for ``part``."""
    key = key_of(part)
    return (
        *key,
        sequence_of(part),
        part.link,
        part.data_coding,
        part.payload,
        float(part.received_at),
        None if part.smsc_timestamp is None else float(part.smsc_timestamp),
        account,
        done,
    )


def held_from(row: Sequence[Any]) -> HeldPart:
    """A :class:`HeldPart` from a row of :data:`PART_COLUMNS` (in that order)."""
    (
        source,
        destination,
        reference,
        total,
        sequence,
        link,
        coding,
        payload,
        at,
        ts,
        account,
        done,
    ) = row
    part = InboundPart(
        link=link,
        source=source,
        destination=destination,
        data_coding=coding,
        payload=bytes(payload),
        concat=Concat(reference=reference, total=total, sequence=sequence),
        received_at=float(at),
        smsc_timestamp=None if ts is None else float(ts),
    )
    return HeldPart(part, account, bool(done))


class Step(enum.Enum):
    """What adding a part to what its key holds does."""

    REDELIVERED = "redelivered"  # a copy of a part held, or of a stored reply's: nothing
    HOLD = "hold"  # held: its reply is not whole yet
    COMPLETE = "complete"  # held as done, and its reply stored


@dataclass(frozen=True, slots=True, kw_only=True)
class Placement:
    step: Step
    forget: bool = False  # delete the key's done parts first: a new reply reuses the key
    parts: tuple[InboundPart, ...] = ()  # COMPLETE: every part, in sequence order


def place(held: Sequence[HeldPart], part: InboundPart) -> Placement:
    """Where ``part`` goes, given the parts its key holds (all done, or none done)."""
    sequence = sequence_of(part)
    done = [h for h in held if h.done]
    if done:
        if any(sequence_of(h.part) == sequence and h.part.payload == part.payload for h in done):
            return Placement(step=Step.REDELIVERED)
        held = []  # a new reply under the key of a stored one
    if any(sequence_of(h.part) == sequence for h in held):
        return Placement(step=Step.REDELIVERED)  # the first copy wins
    parts = {sequence_of(h.part): h.part for h in held}
    parts[sequence] = part
    total = key_of(part).total
    if len(parts) >= total and all(seq in parts for seq in range(1, total + 1)):
        ordered = tuple(parts[seq] for seq in sorted(parts))
        return Placement(step=Step.COMPLETE, forget=bool(done), parts=ordered)
    return Placement(step=Step.HOLD, forget=bool(done))


def join_parts(parts: Sequence[InboundPart]) -> str:
    """Decode parts in order; consecutive parts with one data coding are joined first."""
    chunks: list[str] = []
    run: list[bytes] = []
    coding: int | None = None
    for part in parts:
        if coding is not None and part.data_coding != coding:
            chunks.append(decode_payload(b"".join(run), coding))
            run = []
        coding = part.data_coding
        run.append(part.payload)
    if coding is not None:
        chunks.append(decode_payload(b"".join(run), coding))
    return "".join(chunks)


def assemble(
    parts: Sequence[InboundPart], *, total: int, message_id: str, account: str | None
) -> ReassembledReply:
    """The reply made of ``parts`` (in sequence order, at least one) of ``total``; its
    link, source and destination are those of the part that came first."""
    present = {sequence_of(p) for p in parts} if total > 1 else {1}
    head = min(parts, key=lambda p: p.received_at)
    message = InboundMessage(
        id=message_id,
        account=account,
        link=head.link,
        source=head.source,
        destination=head.destination,
        text=join_parts(parts),
        received_at=head.received_at,
    )
    missing = tuple(seq for seq in range(1, total + 1) if seq not in present)
    return ReassembledReply(message=message, total=total, missing=missing)


def silent(held: Sequence[HeldPart], *, before: float) -> bool:
    """Whether a key holds parts and its newest came before ``before``."""
    return bool(held) and max(h.part.received_at for h in held) < before


def release(held: Sequence[HeldPart], *, message_id: str) -> ReassembledReply | None:
    """What a key silent for the timeout leaves: the incomplete reply of its parts
    (for the account that owned the destination when its newest part came), or None
    when they are a stored reply's (done: only forgotten)."""
    if not held or any(h.done for h in held):
        return None
    ordered = sorted(held, key=lambda h: sequence_of(h.part))
    newest = max(held, key=lambda h: h.part.received_at)
    return assemble(
        [h.part for h in ordered],
        total=key_of(newest.part).total,
        message_id=message_id,
        account=newest.account,
    )

"""Column lists and record -> model conversions shared by the PostgreSQL operations."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway.model.message import MessageClass, MessageState, SegmentState, SenderKind
from gateway.model.outcomes import ReceiptState
from gateway.model.records import Message, SegmentRecord

MESSAGE_COLUMNS = (
    "id, account, sender, sender_kind, destination, text, encoding, segments, price, credits, "
    "msg_class, send_at, validity, priority, client_ref, callback_url, state, attempts, "
    "next_attempt_at, created_at, updated_at, lease_owner, lease_until, error"
)
SEGMENT_COLUMNS = (
    "message_id, idx, state, smsc_id, link, submitted_at, receipt_state, error, updated_at"
)

# value -> member by plain dict lookup (Enum(value) is slow in bulk reads)
_KIND = {k.value: k for k in SenderKind}
_CLASS = {c.value: c for c in MessageClass}
_STATE = {s.value: s for s in MessageState}


def message_from(row: Sequence[Any]) -> Message:
    """A message from a record of MESSAGE_COLUMNS (in that order)."""
    values = list(row)
    values[3], values[10], values[16] = _KIND[row[3]], _CLASS[row[10]], _STATE[row[16]]
    return Message._make(values)


if tuple(c.strip() for c in MESSAGE_COLUMNS.split(",")) != Message._fields:
    msg = "MESSAGE_COLUMNS and Message's fields differ: message_from needs them in one order"
    raise RuntimeError(msg)


def segment_from(row: Sequence[Any]) -> SegmentRecord:
    return SegmentRecord(
        message_id=row[0],
        index=row[1],
        state=SegmentState(row[2]),
        smsc_id=row[3],
        link=row[4],
        submitted_at=row[5],
        receipt_state=None if row[6] is None else ReceiptState(row[6]),
        error=row[7],
        updated_at=row[8],
    )


def row_count(status: str) -> int:
    """The rows a statement changed, from its status ("UPDATE 3", "INSERT 0 1")."""
    return int(status.rsplit(" ", 1)[-1])

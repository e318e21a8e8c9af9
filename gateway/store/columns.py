"""The columns of the store's tables and their rows as records, for every backend.

A row here is a sequence in the order of its column list (a SQLite tuple, an
asyncpg Record): both backends select these lists and convert with these
functions, so a record is read one way whatever stores it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway.model.message import MessageClass, MessageState, SegmentState, SenderKind, SenderStatus
from gateway.model.outcomes import ReceiptState
from gateway.model.records import (
    Account,
    EntryKind,
    LedgerEntry,
    Message,
    SegmentRecord,
    Sender,
)

Row = Sequence[Any]

ACCOUNT_COLUMNS = (
    "name, balance, credit_limit, monthly_cap, alert_below, month, month_spent, created_at"
)
SENDER_COLUMNS = "account, value, kind, status, reason, created_at, updated_at, request_reason"
LEDGER_COLUMNS = "id, account, at, kind, amount, balance_after, reference, message_id, note"
MESSAGE_COLUMNS = (
    "id, account, sender, sender_kind, destination, text, encoding, segments, price, credits, "
    "msg_class, send_at, validity, priority, client_ref, callback_url, state, attempts, "
    "next_attempt_at, created_at, updated_at, lease_owner, lease_until, error, raw"
)
SEGMENT_COLUMNS = (
    "message_id, idx, state, smsc_id, link, submitted_at, receipt_state, error, updated_at"
)


def account_from(row: Row) -> Account:
    return Account(
        name=row[0],
        balance=row[1],
        credit_limit=row[2],
        monthly_cap=row[3],
        alert_below=row[4],
        month=row[5],
        month_spent=row[6],
        created_at=row[7],
    )


def sender_from(row: Row) -> Sender:
    return Sender(
        account=row[0],
        value=row[1],
        kind=SenderKind(row[2]),
        status=SenderStatus(row[3]),
        reason=row[4],
        created_at=row[5],
        updated_at=row[6],
        request_reason=row[7],
    )


def entry_from(row: Row) -> LedgerEntry:
    return LedgerEntry(
        id=row[0],
        account=row[1],
        at=row[2],
        kind=EntryKind(row[3]),
        amount=row[4],
        balance_after=row[5],
        reference=row[6],
        message_id=row[7],
        note=row[8],
    )


# value -> member by plain dict lookup (Enum(value) is slow in bulk reads)
_KIND = {k.value: k for k in SenderKind}
_CLASS = {c.value: c for c in MessageClass}
_STATE = {s.value: s for s in MessageState}


def message_from(row: Sequence[Any]) -> Message:
    values = list(row)
    values[3], values[10], values[16] = _KIND[row[3]], _CLASS[row[10]], _STATE[row[16]]
    return Message._make(values)


if tuple(c.strip() for c in MESSAGE_COLUMNS.split(",")) != Message._fields:
    msg = "MESSAGE_COLUMNS and Message's fields differ: message_from needs them in one order"
    raise RuntimeError(msg)


def segment_from(row: Row) -> SegmentRecord:
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

"""Receipts and replies for ESMEs: which rows a change adds, for every backend.

A message an ESME submitted carries its :class:`~gateway.model.esme.EsmeOrigin`
(columns ``esme_system_id`` and ``esme_registered_delivery`` of ``messages``).
When such a message reaches a final state, or an ``enroute`` receipt comes
for it, the rules (:class:`gateway.store.outcomes.Batch`) ask
:func:`receipt_row` for the row to add to ``esme_deliveries``, in the same
transaction: one when the origin's ``registered_delivery`` asked for it
(:meth:`EsmeOrigin.wants`), none otherwise. A reply stored for an account
adds one row per ESME credential of that account (:func:`reply_rows`), in
the transaction that stores the reply.

Each change happens once (a message reaches its final state once; a reply
is stored once), and the table's unique indexes (a receipt per message and
state, a reply per inbound id and credential) keep a row from being added
twice all the same: the backends insert with ``OR IGNORE`` / ``ON CONFLICT
DO NOTHING``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from gateway.model.esme import DeliveryKind, EsmeDelivery, EsmeOrigin
from gateway.model.message import FINAL_MESSAGE_STATES, MessageState
from gateway.model.outcomes import ReceiptState
from gateway.model.records import InboundMessage, NewMessage

__all__ = [
    "DELIVERY_COLUMNS",
    "INSERT_COLUMNS",
    "DeliveryRow",
    "delivery_from",
    "error_code",
    "origin_rows",
    "receipt_row",
    "reply_rows",
]

# what a receipt says of a message that ended in this state
FINAL_TO_RECEIPT: dict[str, ReceiptState] = {
    MessageState.DELIVERED.value: ReceiptState.DELIVERED,
    MessageState.UNDELIVERABLE.value: ReceiptState.UNDELIVERABLE,
    MessageState.EXPIRED.value: ReceiptState.EXPIRED,
    MessageState.REJECTED.value: ReceiptState.REJECTED,
    MessageState.CANCELLED.value: ReceiptState.DELETED,
    MessageState.FAILED.value: ReceiptState.UNDELIVERABLE,
}

if set(FINAL_TO_RECEIPT) != {s.value for s in FINAL_MESSAGE_STATES}:
    msg = "FINAL_TO_RECEIPT must name every final message state"
    raise RuntimeError(msg)

_MAX_ERROR = 999  # the err: field has three digits


class DeliveryRow(NamedTuple):
    """A new ``esme_deliveries`` row, in :data:`INSERT_COLUMNS` order."""

    system_id: str
    account: str
    kind: str
    source: str
    destination: str
    done_at: float
    message_id: str | None
    inbound_id: str | None
    state: str | None
    error: int
    submitted_at: float | None
    segments: int
    text: str
    created_at: float
    next_attempt_at: float


INSERT_COLUMNS = ", ".join(DeliveryRow._fields)
DELIVERY_COLUMNS = (
    "id, system_id, kind, source, destination, done_at, message_id, state, error, "
    "submitted_at, segments, text, attempts"
)


def error_code(text: str | None) -> int:
    """The err: value of a receipt: a segment's error when it is a number (as SMSCs
    give it, decimal or 0x hex), else 0."""
    if not text:
        return 0
    t = text.strip().lower()
    try:
        value = int(t, 16) if t.startswith("0x") else int(t, 10)
    except ValueError:
        return 0
    return value if 0 <= value <= _MAX_ERROR else 0


def receipt_row(
    *,
    system_id: str,
    registered_delivery: int,
    account: str,
    message_id: str,
    recipient: str,
    sender: str,
    state: ReceiptState,
    error: str | None,
    submitted_at: float,
    segments: int,
    now: float,
) -> DeliveryRow | None:
    """The receipt an ESME gets for its message reaching ``state`` (None: not asked)."""
    origin = EsmeOrigin(system_id=system_id, registered_delivery=registered_delivery)
    if not origin.wants(state):
        return None
    return DeliveryRow(
        system_id=system_id,
        account=account,
        kind=DeliveryKind.RECEIPT.value,
        source=recipient,
        destination=sender,
        done_at=now,
        message_id=message_id,
        inbound_id=None,
        state=state.value,
        error=0 if state is ReceiptState.DELIVERED else error_code(error),
        submitted_at=submitted_at,
        segments=segments,
        text="",
        created_at=now,
        next_attempt_at=now,
    )


def reply_rows(message: InboundMessage, system_ids: Sequence[str], now: float) -> list[DeliveryRow]:
    """One delivery of a stored reply per ESME credential of its account, whole."""
    if message.account is None:
        return []
    return [
        DeliveryRow(
            system_id=system_id,
            account=message.account,
            kind=DeliveryKind.REPLY.value,
            source=message.source,
            destination=message.destination,
            done_at=message.received_at,
            message_id=None,
            inbound_id=message.id,
            state=None,
            error=0,
            submitted_at=None,
            segments=0,
            text=message.text,
            created_at=now,
            next_attempt_at=now,
        )
        for system_id in dict.fromkeys(system_ids)
    ]


def origin_rows(stored: Iterable[tuple[NewMessage, str]]) -> list[tuple[str, int, str]]:
    """(system_id, registered_delivery, message_id) of the stored (request, id) pairs
    an ESME submitted: what the backend writes on their messages."""
    return [
        (o.system_id, o.registered_delivery, mid)
        for nm, mid in stored
        if (o := nm.origin) is not None
    ]


_KIND = {k.value: k for k in DeliveryKind}


def delivery_from(row: Sequence[Any]) -> EsmeDelivery:
    """A row selected as :data:`DELIVERY_COLUMNS`."""
    return EsmeDelivery(
        id=row[0],
        system_id=row[1],
        kind=_KIND[row[2]],
        source=row[3],
        destination=row[4],
        done_at=row[5],
        message_id=row[6],
        state=None if row[7] is None else ReceiptState(row[7]),
        error=row[8],
        submitted_at=row[9],
        segments=row[10],
        text=row[11],
        attempts=row[12],
    )

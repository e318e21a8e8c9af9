"""How submit outcomes and delivery receipts change messages: the store's rules,
backend-neutral.

A backend loads the messages and segments a round touches into
:class:`MessageRow` / :class:`SegmentRow`, hands them to a :class:`Batch`
with a :class:`BatchSource` (what the rules need to read meanwhile), applies
the round (:mod:`gateway.store.rounds`: its outcomes, then its receipts), then writes
what the rows say changed (their ``dirty``, ``placed`` and ``requeued``
marks), the account states it loaded, and the events the batch added. The
rules decide every outcome; the backend decides none.

How a message's state follows from its segments (:func:`aggregate`):

- a segment still ``pending`` (not accepted yet): no change from segments;
- else any segment ``accepted`` (waiting for its receipt): ``submitted``;
- else (every segment final): ``delivered`` when all are delivered, else
  the worst of them in this order: ``undeliverable``, ``rejected``,
  ``failed``, ``expired``.

A receipt applies to every segment with its (link, smsc_id): links in
``payload`` concatenation mode send one PDU for all segments of a message
and record its smsc_id on each. A receipt that came before its segment's
acceptance was kept by the backend; the acceptance takes it
(:meth:`BatchSource.take_kept`). Every state change that upstream sees
(:data:`REPORTED_STATES`: not ``dispatching`` nor a retry's way back to
``queued``) adds its status event. A message ending in a refunded state gets
back what its never-accepted segments cost, once. A message an ESME submitted
(``MessageRow.esme``) adds, with its final state or an ``enroute`` receipt,
the receipt its ``registered_delivery`` asked for (gateway.store.esme_deliveries).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from gateway.accounting.ledger import AccountState
from gateway.model.message import (
    FINAL_MESSAGE_STATES,
    MESSAGE_TRANSITIONS,
    REFUNDED_MESSAGE_STATES,
    SEGMENT_TRANSITIONS,
    MessageState,
    SegmentState,
)
from gateway.model.outcomes import ReceiptState
from gateway.model.records import LedgerEntry, QueueChanges, StateChange
from gateway.store.esme_deliveries import FINAL_TO_RECEIPT, DeliveryRow, receipt_row

_SEG = SegmentState
_MSG = MessageState

# states a change to which is reported; "queued" is reported once, at enqueue
# (dispatching, and a retry's or a lost lease's way back to queued, are internal)
REPORTED_STATES = frozenset(
    {"submitted", "delivered", "undeliverable", "expired", "rejected", "cancelled", "failed"}
)

RECEIPT_TO_SEGMENT: dict[ReceiptState, SegmentState | None] = {
    ReceiptState.ENROUTE: None,
    ReceiptState.ACCEPTED: _SEG.DELIVERED,
    ReceiptState.DELIVERED: _SEG.DELIVERED,
    ReceiptState.UNDELIVERABLE: _SEG.UNDELIVERABLE,
    ReceiptState.DELETED: _SEG.UNDELIVERABLE,
    ReceiptState.UNKNOWN: _SEG.UNDELIVERABLE,
    ReceiptState.EXPIRED: _SEG.EXPIRED,
    ReceiptState.REJECTED: _SEG.REJECTED,
}

# what a message's never-sent segments become when it ends in this state
_PENDING_SEGMENTS_TO: dict[MessageState, SegmentState] = {
    _MSG.REJECTED: _SEG.REJECTED,
    _MSG.FAILED: _SEG.FAILED,
    _MSG.EXPIRED: _SEG.EXPIRED,
}
_WORST = (_SEG.UNDELIVERABLE, _SEG.REJECTED, _SEG.FAILED, _SEG.EXPIRED)
_AS_MESSAGE = {
    _SEG.UNDELIVERABLE: _MSG.UNDELIVERABLE,
    _SEG.REJECTED: _MSG.REJECTED,
    _SEG.FAILED: _MSG.FAILED,
    _SEG.EXPIRED: _MSG.EXPIRED,
}

# Inside a batch, states are handled as their string values (the enums' tables
# above, turned into plain-string lookups: thousands of changes per batch).
_SEG_NEXT = {s.value: frozenset(t.value for t in ts) for s, ts in SEGMENT_TRANSITIONS.items()}
_MSG_NEXT = {s.value: frozenset(t.value for t in ts) for s, ts in MESSAGE_TRANSITIONS.items()}
_MSG_ENUM = {s.value: s for s in MessageState}
_FINAL = frozenset(s.value for s in FINAL_MESSAGE_STATES)
_REFUNDED = frozenset(s.value for s in REFUNDED_MESSAGE_STATES)
_PENDING_TO = {m.value: s.value for m, s in _PENDING_SEGMENTS_TO.items()}
_RECEIPT_TO = {r.value: (None if s is None else s.value) for r, s in RECEIPT_TO_SEGMENT.items()}
_WORST_V = tuple((s.value, _AS_MESSAGE[s].value) for s in _WORST)
_PENDING, _ACCEPTED, _DELIVERED = _SEG.PENDING.value, _SEG.ACCEPTED.value, _SEG.DELIVERED.value
_QUEUED = _MSG.QUEUED.value
_SUCCESS = frozenset({_MSG.SUBMITTED.value, _MSG.DELIVERED.value})
_FAILED_SEGMENTS = frozenset(s.value for s in _WORST)

ReceiptKey = tuple[str, str]  # (link, smsc_id)
KeptReceipt = tuple[str, str | None]  # (receipt state, error)


def aggregate(states: Iterable[SegmentState]) -> MessageState | None:
    """The message state its segments imply (None while one is still to be accepted)."""
    found = _aggregate({s.value for s in states})
    return None if found is None else MessageState(found)


def _aggregate(seen: set[str]) -> str | None:
    if _PENDING in seen:
        return None
    if _ACCEPTED in seen:
        return _MSG.SUBMITTED.value
    if seen <= {_DELIVERED}:
        return _MSG.DELIVERED.value
    for seg, msg in _WORST_V:
        if seg in seen:
            return msg
    return _MSG.EXPIRED.value  # not reached: every final segment state is listed


@dataclass(slots=True)
class SegmentRow:
    state: str
    smsc_id: str | None
    link: str | None
    submitted_at: float | None
    receipt_state: str | None
    error: str | None
    dirty: bool = False
    placed: bool = False  # accepted in this batch: smsc_id, link, submitted_at to write


@dataclass(slots=True)
class MessageRow:
    id: str
    account: str
    destination: str
    client_ref: str | None
    callback_url: str | None
    state: str
    price: int
    created_at: float
    segments: list[SegmentRow]
    attempts: int
    next_attempt_at: float
    error: str | None
    lease: bool = True  # keep lease columns
    dirty: bool = False
    requeued: bool = False  # attempts and next_attempt_at to write
    # submitted by an ESME (EsmeOrigin): its system_id and registered_delivery
    esme: str | None = None
    registered_delivery: int = 0
    sender: str = ""


class BatchSource(Protocol):
    """What a batch reads from its backend while it applies a round, in its transaction."""

    def take_kept(self, key: ReceiptKey) -> list[KeptReceipt]:
        """The receipts kept for (link, smsc_id), taken (gone once the batch is written)."""
        ...

    def account(self, name: str) -> AccountState:
        """The account's state, loaded once per batch and saved with it."""
        ...

    def refund(
        self, st: AccountState, *, message_id: str, amount: int, debited_at: float, note: str
    ) -> LedgerEntry | None:
        """Credit ``amount`` back for the message through ``st`` and journal it, unless the
        message was refunded already (then None: a message is refunded once)."""
        ...


class EventSink(Protocol):
    def add(
        self,
        *,
        message_id: str,
        account: str,
        to: str,
        state: str,
        previous: str,
        client_ref: str | None,
        error: str | None,
        callback_url: str | None,
    ) -> None:
        """A status event (and its webhook when ``callback_url``), in the batch's transaction."""
        ...

    def delivery(self, row: DeliveryRow) -> None:
        """A receipt for an ESME (gateway.store.esme_deliveries), in the same transaction."""
        ...


def _event_error(msg: MessageRow, error: str | None) -> str | None:
    """The reason a failure's status event gives: the one given, else a failed segment's."""
    if error is not None:
        return error
    return next(
        (g.error for g in msg.segments if g.state in _FAILED_SEGMENTS and g.error is not None), None
    )


class Batch:
    """The messages of one round, changed in memory by the rules."""

    def __init__(
        self,
        msgs: dict[str, MessageRow],
        now: float,
        *,
        source: BatchSource,
        events: EventSink,
    ) -> None:
        self.msgs = msgs
        self.now = now
        self.changes: list[StateChange] = []
        self.refunds: list[LedgerEntry] = []
        self.matched_late: list[tuple[str, str]] = []  # (link, state) of kept ones taken
        self._source = source
        self._events = events
        # (link, smsc_id) -> receipts taken from the kept ones in this batch
        self._taken: dict[ReceiptKey, list[KeptReceipt]] = {}
        # (link, smsc_id) -> receipts that came in this batch with the acceptance
        self._here: dict[ReceiptKey, list[KeptReceipt]] = {}

    def receipts_here(self, receipts: dict[ReceiptKey, list[KeptReceipt]]) -> None:
        """Receipts of this batch for segments it accepts: applied with the acceptance."""
        self._here = receipts

    def result(
        self, *, unmatched: Sequence[tuple[str, str]] = (), dropped: Sequence[tuple[str, str]] = ()
    ) -> QueueChanges:
        return QueueChanges(
            changes=tuple(self.changes),
            refunds=tuple(self.refunds),
            unmatched=tuple(unmatched),
            matched_late=tuple(self.matched_late),
            dropped=tuple(dropped),
        )

    # --- segments -------------------------------------------------------------
    def seg_to(self, seg: SegmentRow, target: str, *, error: str | None = None) -> bool:
        if target not in _SEG_NEXT[seg.state]:
            return False  # a duplicate or late answer: the first one stands
        seg.state = target
        if error is not None:
            seg.error = error
        seg.dirty = True
        return True

    def accept(self, msg: MessageRow, index: int, link: str, smsc_id: str) -> None:
        seg = msg.segments[index]
        if seg.submitted_at is None and self.seg_to(seg, _ACCEPTED):
            seg.smsc_id, seg.link, seg.submitted_at = smsc_id, link, self.now
            seg.placed = True
            for state, error in self._receipts_for(msg, seg, link, smsc_id):
                self.receipt(msg, index, state, error)

    def _receipts_for(
        self, msg: MessageRow, seg: SegmentRow, link: str, smsc_id: str
    ) -> list[KeptReceipt]:
        """Receipts already known for (link, smsc_id): overtaken ones, or a sibling's."""
        key = (link, smsc_id)
        taken = self._taken.get(key)
        if taken is None:
            taken = self._source.take_kept(key)
            if taken:
                self._taken[key] = taken
                self.matched_late.extend((link, state) for state, _ in taken)
        here = self._here.get(key)
        if here:
            return [*taken, *here] if taken else here
        if taken:
            return taken
        # payload mode: a sibling segment with the same smsc_id, accepted in an
        # earlier batch, may have had the receipt already
        for other in msg.segments:
            if (
                other is not seg
                and other.receipt_state is not None
                and other.smsc_id == smsc_id
                and other.link == link
            ):
                return [(other.receipt_state, other.error)]
        return []

    def receipt(self, msg: MessageRow, index: int, state: str, error: str | None) -> None:
        seg = msg.segments[index]
        seg.receipt_state = state
        seg.dirty = True
        target = _RECEIPT_TO[state]
        if target is not None:
            self.seg_to(seg, target, error=error)
        elif msg.esme is not None and msg.state not in _FINAL:
            self._esme_receipt(msg, msg.esme, ReceiptState.ENROUTE, error)

    def _esme_receipt(
        self, msg: MessageRow, system_id: str, state: ReceiptState, error: str | None
    ) -> None:
        """The receipt its ESME asked for (intermediate or final), if it asked."""
        row = receipt_row(
            system_id=system_id,
            registered_delivery=msg.registered_delivery,
            account=msg.account,
            message_id=msg.id,
            recipient=msg.destination,
            sender=msg.sender,
            state=state,
            error=error,
            submitted_at=msg.created_at,
            segments=len(msg.segments),
            now=self.now,
        )
        if row is not None:
            self._events.delivery(row)

    # --- messages -------------------------------------------------------------
    def msg_to(self, msg: MessageRow, target: str, *, error: str | None = None) -> bool:
        if target == msg.state:
            return False
        if target not in _MSG_NEXT[msg.state]:
            _MSG_ENUM[msg.state].check(_MSG_ENUM[target])  # raises IllegalTransition
        self.changes.append(
            StateChange(
                message_id=msg.id,
                account=msg.account,
                old=_MSG_ENUM[msg.state],
                new=_MSG_ENUM[target],
                at=self.now,
            )
        )
        if target in REPORTED_STATES:
            self._events.add(
                message_id=msg.id,
                account=msg.account,
                to=msg.destination,
                state=target,
                previous=msg.state,
                client_ref=msg.client_ref,
                error=None if target in _SUCCESS else _event_error(msg, error),
                callback_url=msg.callback_url,
            )
        msg.state = target
        msg.dirty = True
        if error is not None:
            msg.error = error
        final = target in _FINAL
        if final or target == _QUEUED:
            msg.lease = False
        if final:
            self._end(msg, target)
            if msg.esme is not None:
                state = FINAL_TO_RECEIPT[target]
                self._esme_receipt(msg, msg.esme, state, _event_error(msg, error))
        return True

    def derive(self, msg: MessageRow) -> None:
        """Move a message to the state its segments imply, when that move is legal."""
        target = _aggregate({s.state for s in msg.segments})
        if target is not None and target != msg.state and target in _MSG_NEXT[msg.state]:
            self.msg_to(msg, target)

    def _end(self, msg: MessageRow, state: str) -> None:
        to = _PENDING_TO.get(state)
        if to is not None:
            for seg in msg.segments:
                if seg.state == _PENDING:
                    self.seg_to(seg, to)
        if state in _REFUNDED:
            unsent = sum(1 for s in msg.segments if s.submitted_at is None)
            if unsent * msg.price <= 0:
                return
            entry = self._source.refund(
                self._source.account(msg.account),
                message_id=msg.id,
                amount=unsent * msg.price,
                debited_at=msg.created_at,
                note=f"{unsent} segment(s) never accepted; message {state}",
            )
            if entry is not None:
                self.refunds.append(entry)

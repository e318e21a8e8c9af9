"""Segment outcomes, receipts and final states on SQLite, batched.

A :class:`_Work` loads the messages and segments a batch touches, applies
changes in memory (checking the transition tables of :mod:`gateway.model.message`),
then writes what changed with a few ``executemany`` calls, inside the
writer's one transaction.

How a message's state follows from its segments (:func:`aggregate`):

- a segment still ``pending`` (not accepted yet): no change from segments;
- else any segment ``accepted`` (waiting for its receipt): ``submitted``;
- else (every segment final): ``delivered`` when all are delivered, else
  the worst of them in this order: ``undeliverable``, ``rejected``,
  ``failed``, ``expired``.

Outcomes and receipts are recorded together (:func:`record`): a receipt for a
segment accepted in the same batch is applied with the acceptance (the
message goes from ``dispatching`` to ``delivered`` in one change). A receipt
whose (link, smsc_id) matches no segment yet overtook its submit_sm_resp, or
names a message this store never sent: it is kept in ``pending_receipts``
(reported in ``QueueChanges.unmatched``, never as a delivery), applied when
the outcome recording that smsc_id arrives (``matched_late``), and dropped
(``dropped``) when older than the receipt timeout or beyond the newest
:data:`MAX_KEPT_RECEIPTS`. A receipt applies to every segment
with its (link, smsc_id): links in ``payload`` concatenation mode send one
PDU for all segments of a message and record its smsc_id on each.

Every message state change of a batch that upstream sees (:data:`REPORTED_STATES`:
not ``dispatching`` nor a retry's way back to ``queued``) writes its status
event, and its webhook row when the message has a ``callback_url``, in the
same transaction (:class:`~gateway.store.sqlite.events.StatusRows`).
"""

from __future__ import annotations

import dataclasses
import itertools
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from gateway.accounting.ledger import AccountState
from gateway.link.interface import Accepted, Receipt, ReceiptState, Rejected, Retry
from gateway.model.message import (
    FINAL_MESSAGE_STATES,
    MESSAGE_TRANSITIONS,
    REFUNDED_MESSAGE_STATES,
    SEGMENT_TRANSITIONS,
    MessageState,
    SegmentState,
)
from gateway.store.records import LedgerEntry, OutcomeRecord, QueueChanges, StateChange
from gateway.store.sqlite.events import REPORTED_STATES, StatusRows
from gateway.store.sqlite.fastpath import record_fast
from gateway.store.sqlite.ledger import load_state, refund, save_state
from gateway.store.sqlite.rows import chunks

_SEG = SegmentState
_MSG = MessageState

MAX_KEPT_RECEIPTS = 100_000  # unmatched receipts kept for a later match, every link together

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


def aggregate(states: Iterable[SegmentState]) -> MessageState | None:
    """The message state its segments imply (None while one is still to be accepted)."""
    found = _aggregate({s.value for s in states})
    return None if found is None else MessageState(found)


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
_QUEUED_V = _MSG.QUEUED.value
_DISPATCHING = _MSG.DISPATCHING.value
_SUCCESS = frozenset({_MSG.SUBMITTED.value, _MSG.DELIVERED.value})
_FAILED_SEGMENTS = frozenset(s.value for s in _WORST)


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
class _Seg:
    state: str
    smsc_id: str | None
    link: str | None
    submitted_at: float | None
    receipt_state: str | None
    error: str | None
    dirty: bool = False
    placed: bool = False  # accepted in this batch: smsc_id, link, submitted_at to write


@dataclass(slots=True)
class _Msg:
    id: str
    account: str
    destination: str
    client_ref: str | None
    callback_url: str | None
    state: str
    price: int
    created_at: float
    segments: list[_Seg]
    attempts: int
    next_attempt_at: float
    error: str | None
    lease: bool = True  # keep lease columns
    dirty: bool = False
    requeued: bool = False  # attempts and next_attempt_at to write


def _event_error(msg: _Msg, error: str | None) -> str | None:
    """The reason a failure's status event gives: the one given, else a failed segment's."""
    if error is not None:
        return error
    return next(
        (g.error for g in msg.segments if g.state in _FAILED_SEGMENTS and g.error is not None), None
    )


class _Work:
    """Messages and segments of one batch, changed in memory, then flushed."""

    def __init__(
        self, conn: sqlite3.Connection, ids: Iterable[str], now: float, *, outbox: bool
    ) -> None:
        self.conn = conn
        self.now = now
        self.msgs: dict[str, _Msg] = {}
        self.changes: list[StateChange] = []
        self.refunds: list[LedgerEntry] = []
        self.events = StatusRows(now, mqtt=outbox)
        self._accounts: dict[str, AccountState] = {}
        # (link, smsc_id) -> receipts taken from pending_receipts in this batch
        self._taken: dict[tuple[str, str], list[tuple[str, str | None]]] = {}
        # (link, smsc_id) -> receipts that came in this batch with the acceptance
        self._here: dict[tuple[str, str], list[tuple[str, str | None]]] = {}
        # (link, smsc_id) -> [(id, state, error)...] read by load_early_receipts (None: not
        # read, one query per accepted segment instead); ids taken are deleted at flush
        self._early: dict[tuple[str, str], list[tuple[int, str, str | None]]] | None = None
        self._early_taken: list[int] = []
        self.matched_late: list[tuple[str, str]] = []  # (link, state) of kept ones taken
        self._early_receipts = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM pending_receipts)"
        ).fetchone()[0]
        wanted = list(dict.fromkeys(ids))
        for chunk in chunks(wanted):
            marks = ",".join("?" * len(chunk))
            for row in conn.execute(
                "SELECT id, account, state, price, created_at, attempts, next_attempt_at, "  # noqa: S608 (placeholders only)
                "error, destination, client_ref, callback_url "
                f"FROM messages WHERE id IN ({marks})",
                chunk,
            ):
                self.msgs[row[0]] = _Msg(
                    id=row[0],
                    account=row[1],
                    state=row[2],
                    price=row[3],
                    created_at=row[4],
                    attempts=row[5],
                    next_attempt_at=row[6],
                    error=row[7],
                    destination=row[8],
                    client_ref=row[9],
                    callback_url=row[10],
                    segments=[],
                )
            for row in conn.execute(
                "SELECT message_id, state, smsc_id, link, submitted_at, receipt_state, error "  # noqa: S608 (placeholders only)
                f"FROM segments WHERE message_id IN ({marks}) ORDER BY message_id, idx",
                chunk,
            ):
                self.msgs[row[0]].segments.append(
                    _Seg(row[1], row[2], row[3], row[4], row[5], row[6])
                )

    def receipts_here(self, receipts: dict[tuple[str, str], list[tuple[str, str | None]]]) -> None:
        """Receipts of this batch for segments it accepts: applied with the acceptance."""
        self._here = receipts

    def load_early_receipts(self, keys: Iterable[tuple[str, str]]) -> None:
        """Read the overtaken receipts of these (link, smsc_id) in a few queries."""
        self._early = {}
        if not self._early_receipts:
            return
        by_link: dict[str, list[str]] = {}
        for link, smsc_id in keys:
            by_link.setdefault(link, []).append(smsc_id)
        for link, ids in by_link.items():
            for chunk in chunks(list(dict.fromkeys(ids))):
                marks = ",".join("?" * len(chunk))
                for rid, smsc_id, state, error in self.conn.execute(
                    "SELECT id, smsc_id, state, error FROM pending_receipts "  # noqa: S608 (placeholders only)
                    f"WHERE link = ? AND smsc_id IN ({marks}) ORDER BY id",
                    (link, *chunk),
                ):
                    self._early.setdefault((link, smsc_id), []).append((rid, state, error))

    # --- segments -------------------------------------------------------------
    def seg_to(self, seg: _Seg, target: str, *, error: str | None = None) -> bool:
        if target not in _SEG_NEXT[seg.state]:
            return False  # a duplicate or late answer: the first one stands
        seg.state = target
        if error is not None:
            seg.error = error
        seg.dirty = True
        return True

    def accept(self, msg: _Msg, index: int, link: str, smsc_id: str) -> None:
        seg = msg.segments[index]
        if seg.submitted_at is None and self.seg_to(seg, _ACCEPTED):
            seg.smsc_id, seg.link, seg.submitted_at = smsc_id, link, self.now
            seg.placed = True
            for state, error in self._receipts_for(msg, seg, link, smsc_id):
                self.receipt(msg, index, state, error)

    def _receipts_for(
        self, msg: _Msg, seg: _Seg, link: str, smsc_id: str
    ) -> list[tuple[str, str | None]]:
        """Receipts already known for (link, smsc_id): overtaken ones, or a sibling's."""
        key = (link, smsc_id)
        taken = self._taken.get(key)
        if taken is None and self._early is not None:
            early = self._early.pop(key, None)
            if early:
                self._early_taken.extend(rid for rid, _, _ in early)
                taken = self._taken[key] = [(state, error) for _, state, error in early]
                self.matched_late.extend((link, state) for state, _ in taken)
        elif taken is None and self._early_receipts:
            taken = self.conn.execute(
                "DELETE FROM pending_receipts WHERE link = ? AND smsc_id = ? "
                "RETURNING state, error",
                key,
            ).fetchall()
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

    def receipt(self, msg: _Msg, index: int, state: str, error: str | None) -> None:
        seg = msg.segments[index]
        seg.receipt_state = state
        seg.dirty = True
        target = _RECEIPT_TO[state]
        if target is not None:
            self.seg_to(seg, target, error=error)

    # --- messages -------------------------------------------------------------
    def msg_to(self, msg: _Msg, target: str, *, error: str | None = None) -> bool:
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
            self.events.add(
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
        if final or target == _QUEUED_V:
            msg.lease = False
        if final:
            self._end(msg, target)
        return True

    def derive(self, msg: _Msg) -> None:
        """Move a message to the state its segments imply, when that move is legal."""
        target = _aggregate({s.state for s in msg.segments})
        if target is not None and target != msg.state and target in _MSG_NEXT[msg.state]:
            self.msg_to(msg, target)

    def _end(self, msg: _Msg, state: str) -> None:
        to = _PENDING_TO.get(state)
        if to is not None:
            for seg in msg.segments:
                if seg.state == _PENDING:
                    self.seg_to(seg, to)
        if state in _REFUNDED:
            unsent = sum(1 for s in msg.segments if s.submitted_at is None)
            st = self._accounts.get(msg.account)
            if st is None:
                st = self._accounts[msg.account] = load_state(self.conn, msg.account)
            entry = refund(
                self.conn,
                st,
                message_id=msg.id,
                amount=unsent * msg.price,
                debited_at=msg.created_at,
                now=self.now,
                note=f"{unsent} segment(s) never accepted; message {state}",
            )
            if entry is not None:
                self.refunds.append(entry)

    def flush(
        self, *, unmatched: Sequence[tuple[str, str]] = (), dropped: Sequence[tuple[str, str]] = ()
    ) -> QueueChanges:
        # two statement shapes each: the common changes write fewer columns
        placed, segs, moved, requeued = [], [], [], []
        now = self.now
        for msg in self.msgs.values():
            for i, g in enumerate(msg.segments):
                if g.placed:
                    placed.append(
                        (
                            g.state,
                            g.smsc_id,
                            g.link,
                            g.submitted_at,
                            g.receipt_state,
                            g.error,
                            now,
                            msg.id,
                            i,
                        )
                    )
                elif g.dirty:
                    segs.append((g.state, g.receipt_state, g.error, now, msg.id, i))
            if msg.requeued:
                requeued.append(
                    (msg.state, msg.attempts, msg.next_attempt_at, msg.error, now, msg.id)
                )
            elif msg.dirty:
                moved.append((msg.state, msg.error, now, int(msg.lease), msg.id))
        self.conn.executemany(
            "UPDATE segments SET state = ?, smsc_id = ?, link = ?, submitted_at = ?, "
            "receipt_state = ?, error = ?, updated_at = ? WHERE message_id = ? AND idx = ?",
            placed,
        )
        self.conn.executemany(
            "UPDATE segments SET state = ?, receipt_state = ?, error = ?, updated_at = ? "
            "WHERE message_id = ? AND idx = ?",
            segs,
        )
        self.conn.executemany(
            "UPDATE messages SET state = ?1, error = ?2, updated_at = ?3, "
            "lease_owner = iif(?4, lease_owner, NULL), lease_until = iif(?4, lease_until, NULL) "
            "WHERE id = ?5",
            moved,
        )
        self.conn.executemany(
            "UPDATE messages SET state = ?, attempts = ?, next_attempt_at = ?, error = ?, "
            "updated_at = ?, lease_owner = NULL, lease_until = NULL WHERE id = ?",
            requeued,
        )
        self.conn.executemany(
            "DELETE FROM pending_receipts WHERE id = ?", [(rid,) for rid in self._early_taken]
        )
        for st in self._accounts.values():
            save_state(self.conn, st)
        self.events.write(self.conn)
        return QueueChanges(
            changes=tuple(self.changes),
            refunds=tuple(self.refunds),
            unmatched=tuple(unmatched),
            matched_late=tuple(self.matched_late),
            dropped=tuple(dropped),
        )


def record_outcomes(
    conn: sqlite3.Connection, batch: Sequence[OutcomeRecord], now: float, *, outbox: bool = True
) -> QueueChanges:
    return record(conn, batch, (), now, outbox=outbox)


def record(
    conn: sqlite3.Connection,
    outcomes: Sequence[OutcomeRecord],
    receipts: Sequence[Receipt],
    now: float,
    *,
    outbox: bool = True,
) -> QueueChanges:
    """Record submit outcomes, then delivery receipts, in one pass over their messages:
    the common cases (:mod:`gateway.store.sqlite.fastpath`), then the rest."""
    events = StatusRows(now, mqtt=outbox)
    fast = record_fast(conn, outcomes, receipts, now, events)
    events.write(conn)
    if not fast.outcomes and not fast.receipts:
        return QueueChanges(changes=tuple(fast.changes))
    rest = _record(conn, fast.outcomes, fast.receipts, now, outbox=outbox)
    if not fast.changes:
        return rest
    return dataclasses.replace(rest, changes=(*fast.changes, *rest.changes))


def _record(
    conn: sqlite3.Connection,
    outcomes: Sequence[OutcomeRecord],
    receipts: Sequence[Receipt],
    now: float,
    *,
    outbox: bool = True,
) -> QueueChanges:
    """The general path: every message of the round loaded, changed, written."""
    accepted_here: dict[tuple[str, str], list[tuple[str, int]]] = {}
    for o in outcomes:
        if isinstance(o.outcome, Accepted):
            accepted_here.setdefault((o.link, o.outcome.smsc_id), []).append(
                (o.message_id, o.index)
            )
    # receipts for segments accepted in this batch go with the acceptance; the
    # others are looked up, or kept for an acceptance still to come
    with_outcome: dict[tuple[str, str], list[tuple[str, str | None]]] = {}
    later = []
    for r in receipts:
        key = (r.link, r.smsc_id)
        if key in accepted_here:
            with_outcome.setdefault(key, []).append((r.state.value, r.error))
        else:
            later.append(r)
    where = _find_segments(conn, later) if later else {}
    found: list[tuple[str, int, Receipt]] = []
    early: list[tuple[str, str, str, str | None, float]] = []
    for r in later:
        hits = where.get((r.link, r.smsc_id))
        if hits is None:
            early.append((r.link, r.smsc_id, r.state.value, r.error, now))
        else:
            found.extend((mid, idx, r) for mid, idx in hits)
    work = _Work(
        conn,
        itertools.chain((o.message_id for o in outcomes), (f[0] for f in found)),
        now,
        outbox=outbox,
    )
    if outcomes:
        work.load_early_receipts(accepted_here)
        work.receipts_here(with_outcome)
        _apply_outcomes(work, outcomes, now)
    dropped: list[tuple[str, str]] = []
    if early:
        conn.executemany(
            "INSERT INTO pending_receipts (link, smsc_id, state, error, received_at) "
            "VALUES (?, ?, ?, ?, ?)",
            early,
        )
        # ids grow by one a row: only the newest MAX_KEPT_RECEIPTS stay (fewer, with gaps)
        dropped = [
            (link, "overflow")
            for (link,) in conn.execute(
                "DELETE FROM pending_receipts "
                "WHERE id <= (SELECT max(id) FROM pending_receipts) - ? RETURNING link",
                (MAX_KEPT_RECEIPTS,),
            )
        ]
    for mid, index, r in found:
        work.receipt(work.msgs[mid], index, r.state.value, r.error)
    for mid in dict.fromkeys(f[0] for f in found):
        work.derive(work.msgs[mid])
    return work.flush(unmatched=[(link, state) for link, _, state, _, _ in early], dropped=dropped)


def _apply_outcomes(work: _Work, batch: Sequence[OutcomeRecord], now: float) -> None:
    touched: dict[str, list[OutcomeRecord]] = {}
    for o in batch:
        if o.message_id in work.msgs:
            touched.setdefault(o.message_id, []).append(o)
    for mid, outcomes in touched.items():
        msg = work.msgs[mid]
        rejected: str | None = None
        retry: OutcomeRecord | None = None
        retry_reason = ""
        for o in outcomes:
            if not 0 <= o.index < len(msg.segments):
                continue
            match o.outcome:
                case Accepted(smsc_id=smsc_id):
                    work.accept(msg, o.index, o.link, smsc_id)
                case Rejected(reason=reason):
                    work.seg_to(msg.segments[o.index], _SEG.REJECTED.value, error=reason)
                    rejected = reason
                case Retry(reason=reason):
                    retry, retry_reason = o, reason
        if msg.state != _DISPATCHING:
            continue  # a late answer (lease ran out): segments recorded, state kept
        if rejected is not None:
            work.msg_to(msg, _MSG.REJECTED.value, error=rejected)
        elif retry is not None:
            msg.attempts += 1
            msg.next_attempt_at = retry.retry_at if retry.retry_at is not None else now
            msg.requeued = True
            work.msg_to(msg, _QUEUED_V, error=retry_reason)
        else:
            work.derive(msg)


def _find_segments(
    conn: sqlite3.Connection, batch: Sequence[Receipt]
) -> dict[tuple[str, str], list[tuple[str, int]]]:
    """(link, smsc_id) -> [(message_id, index)...] for the receipts' segments, a few queries."""
    by_link: dict[str, list[str]] = {}
    for r in batch:
        by_link.setdefault(r.link, []).append(r.smsc_id)
    found: dict[tuple[str, str], list[tuple[str, int]]] = {}
    for link, ids in by_link.items():
        for chunk in chunks(list(dict.fromkeys(ids))):
            marks = ",".join("?" * len(chunk))
            for smsc_id, mid, idx in conn.execute(
                "SELECT smsc_id, message_id, idx FROM segments "  # noqa: S608 (placeholders only)
                f"WHERE link = ? AND smsc_id IN ({marks})",
                (link, *chunk),
            ):
                found.setdefault((link, smsc_id), []).append((mid, idx))
    return found


def record_receipts(
    conn: sqlite3.Connection, batch: Sequence[Receipt], now: float, *, outbox: bool = True
) -> QueueChanges:
    return record(conn, (), batch, now, outbox=outbox)


def finish(
    conn: sqlite3.Connection,
    message_id: str,
    state: MessageState,
    reason: str | None,
    now: float,
    *,
    outbox: bool = True,
) -> QueueChanges:
    """End a message (expired, failed, rejected, cancelled...) and refund what was never sent."""
    work = _Work(conn, [message_id], now, outbox=outbox)
    msg = work.msgs[message_id]
    work.msg_to(msg, state.value, error=reason)
    return work.flush()


def expire_unconfirmed(
    conn: sqlite3.Connection, before: float, limit: int, now: float, *, outbox: bool = True
) -> QueueChanges:
    """End ``expired`` the messages submitted before ``before`` whose receipts never came.

    Their segments were accepted, so nothing is refunded; a receipt that still
    arrives later is recorded on the segment and leaves the message as it is.
    Receipts kept since before ``before`` for an acceptance that never came
    (an SMSC's receipt for something we did not send) are dropped.
    """
    dropped = [
        (link, "expired")
        for (link,) in conn.execute(
            "DELETE FROM pending_receipts WHERE received_at < ? RETURNING link", (before,)
        )
    ]
    ids = [
        row[0]
        for row in conn.execute(
            "SELECT id FROM messages INDEXED BY messages_submitted "
            "WHERE state = 'submitted' AND updated_at < ? LIMIT ?",
            (before, limit),
        )
    ]
    work = _Work(conn, ids, now, outbox=outbox)
    for message_id in ids:
        work.msg_to(
            work.msgs[message_id], MessageState.EXPIRED.value, error="no delivery receipt came"
        )
    return work.flush(dropped=dropped)

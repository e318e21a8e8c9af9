"""Segment outcomes, receipts and final states on SQLite, batched.

The rules are :mod:`gateway.store.outcomes`'s and :mod:`gateway.store.rounds`'s;
this module loads the messages and segments a round touches (:class:`_Work`),
serves what the rules read meanwhile (receipts kept for a later match,
account states, refunds), and writes what changed with a few ``executemany``
calls, inside the writer's one transaction, with the status events (and
webhook rows) the rules added
(:class:`~gateway.store.sqlite.events.StatusRows`).

Outcomes and receipts are recorded together (:func:`record`): the common
cases by :mod:`gateway.store.sqlite.fastpath`, the rest here. A receipt for a
segment accepted in the same round is applied with the acceptance (the
message goes from ``dispatching`` to ``delivered`` in one change). A receipt
whose (link, smsc_id) matches no segment yet overtook its submit_sm_resp, or
names a message this store never sent: it is kept in ``pending_receipts``
(reported in ``QueueChanges.unmatched``, never as a delivery), applied when
the outcome recording that smsc_id arrives (``matched_late``), and dropped
(``dropped``) when older than the receipt timeout or beyond the newest
:data:`MAX_KEPT_RECEIPTS`.
"""

from __future__ import annotations

import dataclasses
import itertools
import sqlite3
from collections.abc import Iterable, Sequence

from gateway.accounting.ledger import AccountState
from gateway.link.interface import Receipt
from gateway.model.message import MessageState
from gateway.model.records import LedgerEntry, OutcomeRecord, QueueChanges
from gateway.store.outcomes import Batch, KeptReceipt, MessageRow, ReceiptKey, SegmentRow
from gateway.store.rounds import accepted_in, apply_outcomes, apply_receipts, split_receipts
from gateway.store.sqlite.events import StatusRows
from gateway.store.sqlite.fastpath import record_fast
from gateway.store.sqlite.ledger import load_state, refund, save_state
from gateway.store.sqlite.rows import chunks

MAX_KEPT_RECEIPTS = 100_000  # unmatched receipts kept for a later match, every link together


class _Work:
    """One round's rows, loaded from SQLite; the rules' :class:`BatchSource`; written back."""

    def __init__(
        self, conn: sqlite3.Connection, ids: Iterable[str], now: float, *, outbox: bool
    ) -> None:
        self.conn = conn
        self.now = now
        self.events = StatusRows(now, mqtt=outbox)
        self._accounts: dict[str, AccountState] = {}
        # (link, smsc_id) -> [(id, state, error)...] read by load_early_receipts (None: not
        # read, one query per accepted segment instead); ids taken are deleted at flush
        self._early: dict[ReceiptKey, list[tuple[int, str, str | None]]] | None = None
        self._early_taken: list[int] = []
        self._early_receipts = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM pending_receipts)"
        ).fetchone()[0]
        self.batch = Batch(self._load(ids), now, source=self, events=self.events)

    def _load(self, ids: Iterable[str]) -> dict[str, MessageRow]:
        msgs: dict[str, MessageRow] = {}
        wanted = list(dict.fromkeys(ids))
        for chunk in chunks(wanted):
            marks = ",".join("?" * len(chunk))
            for row in self.conn.execute(
                "SELECT id, account, state, price, created_at, attempts, next_attempt_at, "  # noqa: S608 (placeholders only)
                "error, destination, client_ref, callback_url, sender, esme_system_id, "
                f"esme_registered_delivery FROM messages WHERE id IN ({marks})",
                chunk,
            ):
                msgs[row[0]] = MessageRow(
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
                    sender=row[11],
                    esme=row[12],
                    registered_delivery=row[13] or 0,
                )
            for row in self.conn.execute(
                "SELECT message_id, state, smsc_id, link, submitted_at, receipt_state, error "  # noqa: S608 (placeholders only)
                f"FROM segments WHERE message_id IN ({marks}) ORDER BY message_id, idx",
                chunk,
            ):
                msgs[row[0]].segments.append(
                    SegmentRow(row[1], row[2], row[3], row[4], row[5], row[6])
                )
        return msgs

    def load_early_receipts(self, keys: Iterable[ReceiptKey]) -> None:
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

    # --- the rules' BatchSource -------------------------------------------------------
    def take_kept(self, key: ReceiptKey) -> list[KeptReceipt]:
        if self._early is not None:
            early = self._early.pop(key, None)
            if not early:
                return []
            self._early_taken.extend(rid for rid, _, _ in early)
            return [(state, error) for _, state, error in early]
        if not self._early_receipts:
            return []
        return self.conn.execute(
            "DELETE FROM pending_receipts WHERE link = ? AND smsc_id = ? RETURNING state, error",
            key,
        ).fetchall()

    def account(self, name: str) -> AccountState:
        st = self._accounts.get(name)
        if st is None:
            st = self._accounts[name] = load_state(self.conn, name)
        return st

    def refund(
        self, st: AccountState, *, message_id: str, amount: int, debited_at: float, note: str
    ) -> LedgerEntry | None:
        return refund(
            self.conn,
            st,
            message_id=message_id,
            amount=amount,
            debited_at=debited_at,
            now=self.now,
            note=note,
        )

    # --- writing -----------------------------------------------------------------------
    def flush(
        self, *, unmatched: Sequence[tuple[str, str]] = (), dropped: Sequence[tuple[str, str]] = ()
    ) -> QueueChanges:
        # two statement shapes each: the common changes write fewer columns
        placed, segs, moved, requeued = [], [], [], []
        now = self.now
        for msg in self.batch.msgs.values():
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
        return self.batch.result(unmatched=unmatched, dropped=dropped)


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
    rest = record_general(conn, fast.outcomes, fast.receipts, now, outbox=outbox)
    if not fast.changes:
        return rest
    return dataclasses.replace(rest, changes=(*fast.changes, *rest.changes))


def record_general(
    conn: sqlite3.Connection,
    outcomes: Sequence[OutcomeRecord],
    receipts: Sequence[Receipt],
    now: float,
    *,
    outbox: bool = True,
) -> QueueChanges:
    """The general path: every message of the round loaded, changed, written.

    :func:`record` leaves it what the fast path does not take; it is also the
    reference that fast path is proved equal to (tests/gateway/store/sqlite/test_fastpath.py)."""
    accepted = accepted_in(outcomes)
    with_outcome, later = split_receipts(receipts, accepted)
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
        work.load_early_receipts(accepted)
        work.batch.receipts_here(with_outcome)
        apply_outcomes(work.batch, outcomes)
    dropped = _keep(conn, early) if early else []
    apply_receipts(work.batch, found)
    return work.flush(unmatched=[(link, state) for link, _, state, _, _ in early], dropped=dropped)


def _keep(
    conn: sqlite3.Connection, early: Sequence[tuple[str, str, str, str | None, float]]
) -> list[tuple[str, str]]:
    """Keep receipts that match no segment yet; (link, "overflow") of those dropped for room."""
    conn.executemany(
        "INSERT INTO pending_receipts (link, smsc_id, state, error, received_at) "
        "VALUES (?, ?, ?, ?, ?)",
        early,
    )
    # ids grow by one a row: only the newest MAX_KEPT_RECEIPTS stay (fewer, with gaps)
    return [
        (link, "overflow")
        for (link,) in conn.execute(
            "DELETE FROM pending_receipts "
            "WHERE id <= (SELECT max(id) FROM pending_receipts) - ? RETURNING link",
            (MAX_KEPT_RECEIPTS,),
        )
    ]


def _find_segments(
    conn: sqlite3.Connection, batch: Sequence[Receipt]
) -> dict[ReceiptKey, list[tuple[str, int]]]:
    """(link, smsc_id) -> [(message_id, index)...] for the receipts' segments, a few queries."""
    by_link: dict[str, list[str]] = {}
    for r in batch:
        by_link.setdefault(r.link, []).append(r.smsc_id)
    found: dict[ReceiptKey, list[tuple[str, int]]] = {}
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
    work.batch.msg_to(work.batch.msgs[message_id], state.value, error=reason)
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
        work.batch.msg_to(
            work.batch.msgs[message_id],
            MessageState.EXPIRED.value,
            error="no delivery receipt came",
        )
    return work.flush(dropped=dropped)

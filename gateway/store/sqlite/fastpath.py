"""The common rounds of ``Store.record`` without loading the messages they change.

Most of what the dispatcher and the links report is the happy path of a
one-segment message: its segment accepted (``dispatching`` -> ``submitted``),
then delivered (``submitted`` -> ``delivered``). The general path
(:func:`gateway.store.sqlite.dispatch.record`) loads every message and
segment a round touches into objects, works out each transition and writes
what changed. Here the same rows are written by a few statements whose
conditions are exactly the general path's for that case (the segment still
``pending`` and never submitted; the message ``dispatching`` with one
segment; the receipt a delivery), and the status events and state changes
are the ones it would have produced. Anything else (several segments,
refusals, retries, other receipt states, a receipt for a message an ESME
submitted (its receipt to the ESME is the rules'), a receipt with its own acceptance
in the round, receipts that overtook their acceptance) goes to the general
path, in the same transaction. When a statement changes fewer rows than
planned (a message changed between the read and the write), the fast part
is rolled back and the whole round takes the general path.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from gateway.link.interface import Receipt
from gateway.model.message import MessageState
from gateway.model.outcomes import Accepted, ReceiptState
from gateway.model.records import OutcomeRecord, StateChange
from gateway.store.sqlite.events import StatusRows
from gateway.store.sqlite.rows import chunks

_DISPATCHING, _SUBMITTED, _DELIVERED = (
    MessageState.DISPATCHING,
    MessageState.SUBMITTED,
    MessageState.DELIVERED,
)
_DELIVERIES = frozenset({ReceiptState.DELIVERED, ReceiptState.ACCEPTED})


class FastResult:
    __slots__ = ("changes", "outcomes", "receipts")

    def __init__(
        self, changes: list[StateChange], outcomes: list[OutcomeRecord], receipts: list[Receipt]
    ) -> None:
        self.changes = changes  # made here
        self.outcomes = outcomes  # left for the general path
        self.receipts = receipts


def record_fast(
    conn: sqlite3.Connection,
    outcomes: Sequence[OutcomeRecord],
    receipts: Sequence[Receipt],
    now: float,
    events: StatusRows,
) -> FastResult:
    """Apply the common cases of the round; what is left goes to the general path."""
    everything = FastResult([], list(outcomes), list(receipts))
    keys = {(o.link, o.outcome.smsc_id) for o in outcomes if isinstance(o.outcome, Accepted)}
    # acceptances with a receipt in this round, or one that came before them, are
    # paired with it by the general path
    paired = {k for k in ((r.link, r.smsc_id) for r in receipts) if k in keys}
    paired |= _overtaken(conn, keys)
    fast_out, left_out = _pick_outcomes(conn, outcomes, paired)
    # a message answered in this round (a late or duplicate answer included) has its
    # receipts applied after that answer, by the general path
    fast_rec, left_rec = _pick_receipts(conn, receipts, paired, {o.message_id for o in outcomes})
    if not fast_out and not fast_rec:
        return everything
    conn.execute("SAVEPOINT fast")
    seg_acc = [
        (o.outcome.smsc_id, o.link, now, now, o.message_id)  # type: ignore[union-attr]
        for o, _ in fast_out
    ]
    msg_sub = [(now, o.message_id) for o, _ in fast_out]
    seg_del = [(r.state.value, r.error, now, mid) for r, (mid, _) in fast_rec]
    msg_del = [(now, mid) for _, (mid, _) in fast_rec]
    done = (
        conn.executemany(
            "UPDATE segments SET state = 'accepted', smsc_id = ?, link = ?, submitted_at = ?, "
            "updated_at = ? WHERE message_id = ? AND idx = 0 AND state = 'pending' "
            "AND submitted_at IS NULL",
            seg_acc,
        ).rowcount
        == len(seg_acc)
        and conn.executemany(
            "UPDATE messages SET state = 'submitted', updated_at = ? "
            "WHERE id = ? AND state = 'dispatching' AND segments = 1",
            msg_sub,
        ).rowcount
        == len(msg_sub)
        and conn.executemany(
            "UPDATE segments SET state = 'delivered', receipt_state = ?, "
            "error = coalesce(?, error), updated_at = ? "
            "WHERE message_id = ? AND idx = 0 AND state = 'accepted'",
            seg_del,
        ).rowcount
        == len(seg_del)
        and conn.executemany(
            "UPDATE messages SET state = 'delivered', updated_at = ?, lease_owner = NULL, "
            "lease_until = NULL WHERE id = ? AND state = 'submitted' AND segments = 1",
            msg_del,
        ).rowcount
        == len(msg_del)
    )
    if not done:  # something changed under us: all of it the general way
        conn.execute("ROLLBACK TO fast")
        conn.execute("RELEASE fast")
        return everything
    conn.execute("RELEASE fast")
    changes: list[StateChange] = []
    for o, (account, to, client_ref, callback_url) in fast_out:
        changes.append(
            StateChange(
                message_id=o.message_id, account=account, old=_DISPATCHING, new=_SUBMITTED, at=now
            )
        )
        events.add(
            message_id=o.message_id,
            account=account,
            to=to,
            state="submitted",
            previous="dispatching",
            client_ref=client_ref,
            error=None,
            callback_url=callback_url,
        )
    for _, (mid, (account, to, client_ref, callback_url)) in fast_rec:
        changes.append(
            StateChange(message_id=mid, account=account, old=_SUBMITTED, new=_DELIVERED, at=now)
        )
        events.add(
            message_id=mid,
            account=account,
            to=to,
            state="delivered",
            previous="submitted",
            client_ref=client_ref,
            error=None,
            callback_url=callback_url,
        )
    return FastResult(changes, left_out, left_rec)


def _overtaken(conn: sqlite3.Connection, keys: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """The (link, smsc_id) of ``keys`` with a receipt waiting in pending_receipts."""
    by_link: dict[str, list[str]] = {}
    for link, smsc_id in keys:
        by_link.setdefault(link, []).append(smsc_id)
    found: set[tuple[str, str]] = set()
    for link, ids in by_link.items():
        for chunk in chunks(ids):
            marks = ",".join("?" * len(chunk))
            found.update(
                (link, smsc_id)
                for (smsc_id,) in conn.execute(
                    "SELECT smsc_id FROM pending_receipts "  # noqa: S608 (placeholders only)
                    f"WHERE link = ? AND smsc_id IN ({marks})",
                    (link, *chunk),
                )
            )
    return found


_Info = tuple[str, str, str | None, str | None]  # account, destination, client_ref, callback_url


def _pick_outcomes(
    conn: sqlite3.Connection,
    outcomes: Sequence[OutcomeRecord],
    paired: set[tuple[str, str]],
) -> tuple[list[tuple[OutcomeRecord, _Info]], list[OutcomeRecord]]:
    """Acceptances of one-segment messages still dispatching, and the rest."""
    once: dict[str, int] = {}
    for o in outcomes:
        once[o.message_id] = once.get(o.message_id, 0) + 1
    wanted = [
        o.message_id
        for o in outcomes
        if isinstance(o.outcome, Accepted)
        and o.index == 0
        and once[o.message_id] == 1
        and (o.link, o.outcome.smsc_id) not in paired
    ]
    info: dict[str, _Info] = {}
    for chunk in chunks(wanted):
        marks = ",".join("?" * len(chunk))
        for mid, account, to, client_ref, callback_url in conn.execute(
            "SELECT id, account, destination, client_ref, callback_url FROM messages "  # noqa: S608 (placeholders only)
            f"WHERE id IN ({marks}) AND state = 'dispatching' AND segments = 1",
            chunk,
        ):
            info[mid] = (account, to, client_ref, callback_url)
    fast, left = [], []
    for o in outcomes:
        found = info.get(o.message_id) if o.index == 0 else None
        if (
            found is not None
            and isinstance(o.outcome, Accepted)
            and once[o.message_id] == 1
            and (o.link, o.outcome.smsc_id) not in paired
        ):
            fast.append((o, found))
        else:
            left.append(o)
    return fast, left


def _pick_receipts(
    conn: sqlite3.Connection,
    receipts: Sequence[Receipt],
    paired: set[tuple[str, str]],
    answered: set[str],
) -> tuple[list[tuple[Receipt, tuple[str, _Info]]], list[Receipt]]:
    """Deliveries of one-segment messages submitted and not ``answered`` in this
    round (their only receipt of the round: several are applied in order, the
    general way), and the rest."""
    count: dict[tuple[str, str], int] = {}
    for r in receipts:
        key = (r.link, r.smsc_id)
        count[key] = count.get(key, 0) + 1
    by_link: dict[str, list[str]] = {}
    for r in receipts:
        key = (r.link, r.smsc_id)
        if r.state in _DELIVERIES and count[key] == 1 and key not in paired:
            by_link.setdefault(r.link, []).append(r.smsc_id)
    # (link, smsc_id) -> every (message, its info) with that id: one means fast
    found: dict[tuple[str, str], list[tuple[str, _Info] | None]] = {}
    for link, ids in by_link.items():
        for chunk in chunks(list(dict.fromkeys(ids))):
            marks = ",".join("?" * len(chunk))
            for (
                smsc_id,
                mid,
                seg_state,
                state,
                segments,
                account,
                to,
                ref,
                url,
                esme,
            ) in conn.execute(
                "SELECT s.smsc_id, s.message_id, s.state, m.state, m.segments, m.account, "  # noqa: S608 (placeholders only)
                "m.destination, m.client_ref, m.callback_url, m.esme_system_id FROM segments s "
                "JOIN messages m ON m.id = s.message_id "
                f"WHERE s.link = ? AND s.smsc_id IN ({marks})",
                (link, *chunk),
            ):
                ok = (
                    seg_state == "accepted"
                    and state == "submitted"
                    and segments == 1
                    and mid not in answered
                    and esme is None  # its ESME's receipt: the general path's rule
                )
                found.setdefault((link, smsc_id), []).append(
                    (mid, (account, to, ref, url)) if ok else None
                )
    fast: list[tuple[Receipt, tuple[str, _Info]]] = []
    left: list[Receipt] = []
    for r in receipts:
        hits = found.get((r.link, r.smsc_id)) if count[(r.link, r.smsc_id)] == 1 else None
        hit = hits[0] if hits is not None and len(hits) == 1 else None
        if hit is not None and r.state in _DELIVERIES:
            fast.append((r, hit))
        else:
            left.append(r)
    return fast, left

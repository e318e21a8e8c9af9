"""Segment outcomes, receipts and final states on PostgreSQL, batched.

The rules are :mod:`gateway.store.outcomes`'s and :mod:`gateway.store.rounds`'s,
as on SQLite (gateway/store/sqlite/dispatch.py, whose docstring tells how
receipts that overtook their submit_sm_resp are kept, matched and dropped);
this module loads what a round touches (:class:`_Work`), serves what the
rules read meanwhile, and writes what changed in one statement per round
(arrays through ``unnest``; refunds apart), with the status events (and
webhook rows) the rules added.

Several daemons share the database, so a round locks what it changes:

- the (link, smsc_id) of every segment it accepts and every receipt it
  looks up, first, with transaction-scoped advisory locks in one order: a
  receipt that arrives on one daemon's bind while another daemon records
  the acceptance it answers is either found on the segment (the acceptance
  committed first) or kept and then taken by the acceptance (the receipt
  committed first), never missed by both;
- then its messages (``FOR UPDATE``, in id order), and the kept receipts it
  takes (``FOR UPDATE``: each is applied once);
- last, when a message ends refunded, the accounts to refund (in name
  order), through :func:`gateway.store.postgres.ledger.refund` (once per
  message). The rules ask for the account while they decide and the refund
  is written when the round is: :meth:`_Work.account` hands them a stand-in
  that only names the account.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.accounting.ledger import AccountState
from gateway.link.interface import Receipt
from gateway.model.errors import NotFound
from gateway.model.message import MessageState
from gateway.model.records import LedgerEntry, OutcomeRecord, QueueChanges
from gateway.store.outcomes import Batch, KeptReceipt, MessageRow, ReceiptKey, SegmentRow
from gateway.store.payloads import StatusEvents
from gateway.store.postgres import ledger
from gateway.store.postgres.esme_deliveries import write_deliveries
from gateway.store.rounds import accepted_in, apply_outcomes, apply_receipts, split_receipts

MAX_KEPT_RECEIPTS = 100_000  # unmatched receipts kept for a later match, every link together

_LOAD_MESSAGES = (
    "SELECT id, account, state, price, created_at, attempts, next_attempt_at, error, "
    "destination, client_ref, callback_url, sender, esme_system_id, esme_registered_delivery "
    "FROM messages WHERE id = ANY($1::text[]) "
    "ORDER BY id FOR UPDATE"
)
_LOAD_SEGMENTS = (
    "SELECT message_id, state, smsc_id, link, submitted_at, receipt_state, error "
    "FROM segments WHERE message_id = ANY($1::text[]) ORDER BY message_id, idx"
)
_LOAD_KEPT = (
    "SELECT id, link, smsc_id, state, error FROM pending_receipts "
    "WHERE (link, smsc_id) IN (SELECT * FROM unnest($1::text[], $2::text[])) "
    "ORDER BY id FOR UPDATE"
)
# both, one round trip: the segments' rows (kept false), then the kept receipts'
_LOAD_SEGMENTS_AND_KEPT = (
    "WITH k AS (SELECT id, link, smsc_id, state, error FROM pending_receipts "
    "WHERE (link, smsc_id) IN (SELECT * FROM unnest($2::text[], $3::text[])) "
    "ORDER BY id FOR UPDATE) "
    "SELECT false AS kept, message_id, idx, state, smsc_id, link, submitted_at, "
    "receipt_state, error, NULL::bigint AS id FROM segments WHERE message_id = ANY($1::text[]) "
    "UNION ALL SELECT true, NULL, NULL, state, smsc_id, link, NULL, NULL, error, id FROM k "
    "ORDER BY 1, 2, 3, 10"
)
_FIND_SEGMENTS = (
    "SELECT link, smsc_id, message_id, idx FROM segments "
    "WHERE (link, smsc_id) IN (SELECT * FROM unnest($1::text[], $2::text[])) "
    "ORDER BY link, smsc_id, message_id, idx"
)
# the keys come sorted: the locks are taken in that order by every round
_LOCK_KEYS = "SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) AS k"

# everything a round writes but refunds, in one statement (one round trip): the
# segments placed (accepted, refused...), the other segments changed, the
# messages moved, those requeued, the kept receipts taken, the status events'
# outbox row and webhook rows; $32 is the round's time
_FLUSH = (
    "WITH placed AS (UPDATE segments AS s SET state = u.state, smsc_id = u.smsc_id, "
    "link = u.link, submitted_at = u.submitted_at, receipt_state = u.receipt_state, "
    "error = u.error, updated_at = $32 FROM unnest($1::text[], $2::text[], $3::text[], "
    "$4::float8[], $5::text[], $6::text[], $7::text[], $8::int[]) "
    "AS u(state, smsc_id, link, submitted_at, receipt_state, error, message_id, idx) "
    "WHERE s.message_id = u.message_id AND s.idx = u.idx), "
    "segs AS (UPDATE segments AS s SET state = u.state, receipt_state = u.receipt_state, "
    "error = u.error, updated_at = $32 FROM unnest($9::text[], $10::text[], $11::text[], "
    "$12::text[], $13::int[]) AS u(state, receipt_state, error, message_id, idx) "
    "WHERE s.message_id = u.message_id AND s.idx = u.idx), "
    "moved AS (UPDATE messages AS m SET state = u.state, error = u.error, updated_at = $32, "
    "lease_owner = CASE WHEN u.keep THEN m.lease_owner END, "
    "lease_until = CASE WHEN u.keep THEN m.lease_until END "
    "FROM unnest($14::text[], $15::text[], $16::bool[], $17::text[]) "
    "AS u(state, error, keep, id) WHERE m.id = u.id), "
    "requeued AS (UPDATE messages AS m SET state = u.state, attempts = u.attempts, "
    "next_attempt_at = u.next_attempt_at, error = u.error, updated_at = $32, "
    "lease_owner = NULL, lease_until = NULL "
    "FROM unnest($18::text[], $19::int[], $20::float8[], $21::text[], $22::text[]) "
    "AS u(state, attempts, next_attempt_at, error, id) WHERE m.id = u.id), "
    "taken AS (DELETE FROM pending_receipts WHERE id = ANY($23::bigint[])), "
    "events AS (INSERT INTO outbox (events, body, created_at) "
    "SELECT $24::int, $25::bytea, $26::float8 WHERE $24::int > 0) "
    "INSERT INTO webhooks (account, url, payload, attempts, next_at, state, created_at) "
    "SELECT account, url, payload, 0, next_at, 'pending', created_at FROM unnest("
    "$27::text[], $28::text[], $29::bytea[], $30::float8[], $31::float8[]) "
    "AS h(account, url, payload, next_at, created_at)"
)
# the columns of each part of _FLUSH, for the parts with no rows
_WIDTHS = (8, 5, 4, 5)


def lock_key(key: ReceiptKey) -> int:
    """The advisory lock (a signed 64-bit number) of a (link, smsc_id)."""
    link, smsc_id = key
    digest = hashlib.blake2b(f"{link}\x00{smsc_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def _lock_keys(conn: Any, keys: Iterable[ReceiptKey]) -> None:
    numbers = sorted({lock_key(k) for k in keys})
    if numbers:
        await conn.execute(_LOCK_KEYS, numbers)


@dataclass(frozen=True, slots=True)
class _Refund:
    account: str
    message_id: str
    amount: int
    debited_at: float
    note: str


class _Work:
    """One round's rows, loaded under their locks; the rules' :class:`BatchSource`;
    written back by :meth:`flush`."""

    def __init__(
        self,
        msgs: dict[str, MessageRow],
        kept: dict[ReceiptKey, list[tuple[int, str, str | None]]],
        now: float,
        *,
        outbox: bool,
    ) -> None:
        self.now = now
        self.events = StatusEvents(now, mqtt=outbox)
        # (link, smsc_id) -> [(id, state, error)...] kept for the round's acceptances;
        # ids taken are deleted at flush
        self._kept = kept
        self._kept_taken: list[int] = []
        self._stand_ins: dict[str, AccountState] = {}
        self._refunds: list[_Refund] = []
        self.batch = Batch(msgs, now, source=self, events=self.events)

    @classmethod
    async def load(
        cls,
        conn: Any,
        ids: Iterable[str],
        now: float,
        *,
        outbox: bool,
        accepted: Iterable[ReceiptKey] = (),
    ) -> _Work:
        wanted = list(dict.fromkeys(ids))
        msgs: dict[str, MessageRow] = {}
        if wanted:
            for r in await conn.fetch(_LOAD_MESSAGES, wanted):
                msgs[r["id"]] = MessageRow(
                    id=r["id"],
                    account=r["account"],
                    state=r["state"],
                    price=r["price"],
                    created_at=r["created_at"],
                    attempts=r["attempts"],
                    next_attempt_at=r["next_attempt_at"],
                    error=r["error"],
                    destination=r["destination"],
                    client_ref=r["client_ref"],
                    callback_url=r["callback_url"],
                    segments=[],
                    sender=r["sender"],
                    esme=r["esme_system_id"],
                    registered_delivery=r["esme_registered_delivery"] or 0,
                )
        kept: dict[ReceiptKey, list[tuple[int, str, str | None]]] = {}
        keys = list(accepted)
        links, smsc_ids = (list(c) for c in zip(*keys, strict=True)) if keys else ([], [])
        if msgs and keys:  # the segments and the kept receipts in one round trip
            for r in await conn.fetch(_LOAD_SEGMENTS_AND_KEPT, list(msgs), links, smsc_ids):
                if r["kept"]:
                    kept.setdefault((r["link"], r["smsc_id"]), []).append(
                        (r["id"], r["state"], r["error"])
                    )
                else:
                    msgs[r[1]].segments.append(SegmentRow(r[3], r[4], r[5], r[6], r[7], r[8]))
            return cls(msgs, kept, now, outbox=outbox)
        if msgs:
            for r in await conn.fetch(_LOAD_SEGMENTS, list(msgs)):
                msgs[r[0]].segments.append(SegmentRow(r[1], r[2], r[3], r[4], r[5], r[6]))
        if keys:
            for r in await conn.fetch(_LOAD_KEPT, links, smsc_ids):
                kept.setdefault((r["link"], r["smsc_id"]), []).append(
                    (r["id"], r["state"], r["error"])
                )
        return cls(msgs, kept, now, outbox=outbox)

    # --- the rules' BatchSource -------------------------------------------------------
    def take_kept(self, key: ReceiptKey) -> list[KeptReceipt]:
        kept = self._kept.pop(key, None)
        if not kept:
            return []
        self._kept_taken.extend(rid for rid, _, _ in kept)
        return [(state, error) for _, state, error in kept]

    def account(self, name: str) -> AccountState:
        """A stand-in that names the account (the rules pass it to :meth:`refund`);
        the account itself is loaded, under its lock, when the refunds are written."""
        st = self._stand_ins.get(name)
        if st is None:
            st = self._stand_ins[name] = AccountState(
                name=name,
                balance=0,
                credit_limit=0,
                monthly_cap=None,
                alert_below=None,
                alert_armed=True,
                month="",
                month_spent=0,
            )
        return st

    def refund(
        self, st: AccountState, *, message_id: str, amount: int, debited_at: float, note: str
    ) -> LedgerEntry | None:
        """Noted, written by :meth:`flush` (which reports the entries actually written)."""
        self._refunds.append(_Refund(st.name, message_id, amount, debited_at, note))
        return None

    # --- writing -----------------------------------------------------------------------
    async def flush(
        self,
        conn: Any,
        *,
        unmatched: Sequence[tuple[str, str]] = (),
        dropped: Sequence[tuple[str, str]] = (),
    ) -> QueueChanges:
        self.batch.refunds = await self._write_refunds(conn)
        columns: list[Sequence[Any]] = []
        for rows, width in zip(self._changed_rows(), _WIDTHS, strict=True):
            columns.extend(list(zip(*rows, strict=True)) if rows else [[]] * width)
        events = self.events
        hooks: list[Sequence[Any]] = list(zip(*events.hooks, strict=True)) if events.hooks else []
        if any(columns) or self._kept_taken or events.events or hooks:
            await conn.execute(
                _FLUSH,
                *columns,
                self._kept_taken,
                len(events.events),
                b"".join(events.events),
                events.now,
                *(hooks or [[]] * 5),
                self.now,
            )
        await write_deliveries(conn, events.deliveries)  # receipts for ESMEs: few rounds have any
        return self.batch.result(unmatched=unmatched, dropped=dropped)

    def _changed_rows(self) -> tuple[list[tuple[Any, ...]], ...]:
        """The rows of _FLUSH's parts: segments placed, segments changed, messages moved,
        messages requeued (two shapes each: the common changes write fewer columns)."""
        placed: list[tuple[Any, ...]] = []
        segs: list[tuple[Any, ...]] = []
        moved: list[tuple[Any, ...]] = []
        requeued: list[tuple[Any, ...]] = []
        for msg in self.batch.msgs.values():
            for i, g in enumerate(msg.segments):
                if g.placed:
                    row = (g.state, g.smsc_id, g.link, g.submitted_at, g.receipt_state, g.error)
                    placed.append((*row, msg.id, i))
                elif g.dirty:
                    segs.append((g.state, g.receipt_state, g.error, msg.id, i))
            if msg.requeued:
                requeued.append((msg.state, msg.attempts, msg.next_attempt_at, msg.error, msg.id))
            elif msg.dirty:
                moved.append((msg.state, msg.error, msg.lease, msg.id))
        return placed, segs, moved, requeued

    async def _write_refunds(self, conn: Any) -> list[LedgerEntry]:
        if not self._refunds:
            return []
        states = {}
        for name in sorted({r.account for r in self._refunds}):
            states[name] = await ledger.load_state(conn, name)  # FOR UPDATE
        entries = []
        for r in self._refunds:
            entry = await ledger.refund(
                conn,
                states[r.account],
                message_id=r.message_id,
                amount=r.amount,
                debited_at=r.debited_at,
                now=self.now,
                note=r.note,
            )
            if entry is not None:
                entries.append(entry)
        for st in states.values():
            await ledger.save_state(conn, st)
        return entries


async def record(
    conn: Any,
    outcomes: Sequence[OutcomeRecord],
    receipts: Sequence[Receipt],
    now: float,
    *,
    outbox: bool = True,
) -> QueueChanges:
    """Record submit outcomes, then delivery receipts, in one pass over their messages."""
    accepted = accepted_in(outcomes)
    with_outcome, later = split_receipts(receipts, accepted)
    await _lock_keys(conn, itertools.chain(accepted, ((r.link, r.smsc_id) for r in later)))
    where = await _find_segments(conn, later) if later else {}
    found: list[tuple[str, int, Receipt]] = []
    early: list[tuple[str, str, str, str | None, float]] = []
    for r in later:
        hits = where.get((r.link, r.smsc_id))
        if hits is None:
            early.append((r.link, r.smsc_id, r.state.value, r.error, now))
        else:
            found.extend((mid, idx, r) for mid, idx in hits)
    work = await _Work.load(
        conn,
        itertools.chain((o.message_id for o in outcomes), (f[0] for f in found)),
        now,
        outbox=outbox,
        accepted=accepted,
    )
    if outcomes:
        work.batch.receipts_here(with_outcome)
        apply_outcomes(work.batch, outcomes)
    dropped = await _keep(conn, early) if early else []
    apply_receipts(work.batch, found)
    unmatched = [(link, state) for link, _, state, _, _ in early]
    return await work.flush(conn, unmatched=unmatched, dropped=dropped)


async def _keep(
    conn: Any, early: Sequence[tuple[str, str, str, str | None, float]]
) -> list[tuple[str, str]]:
    """Keep receipts that match no segment yet; (link, "overflow") of those dropped for room."""
    await conn.execute(
        "INSERT INTO pending_receipts (link, smsc_id, state, error, received_at) "
        "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::float8[])",
        *(list(c) for c in zip(*early, strict=True)),
    )
    # ids grow with each row: only the newest MAX_KEPT_RECEIPTS stay (fewer, with gaps)
    rows = await conn.fetch(
        "DELETE FROM pending_receipts "
        "WHERE id <= (SELECT max(id) FROM pending_receipts) - $1 RETURNING link",
        MAX_KEPT_RECEIPTS,
    )
    return [(r["link"], "overflow") for r in rows]


async def _find_segments(
    conn: Any, batch: Sequence[Receipt]
) -> dict[ReceiptKey, list[tuple[str, int]]]:
    """(link, smsc_id) -> [(message_id, index)...] for the receipts' segments, one query
    (the segments_smsc index)."""
    keys = list(dict.fromkeys((r.link, r.smsc_id) for r in batch))
    links, smsc_ids = zip(*keys, strict=True)
    found: dict[ReceiptKey, list[tuple[str, int]]] = {}
    for r in await conn.fetch(_FIND_SEGMENTS, list(links), list(smsc_ids)):
        found.setdefault((r["link"], r["smsc_id"]), []).append((r["message_id"], r["idx"]))
    return found


async def finish(
    conn: Any,
    message_id: str,
    state: MessageState,
    reason: str | None,
    now: float,
    *,
    outbox: bool = True,
) -> QueueChanges:
    """End a message (expired, failed, rejected, cancelled...) and refund what was never sent."""
    work = await _Work.load(conn, [message_id], now, outbox=outbox)
    msg = work.batch.msgs.get(message_id)
    if msg is None:
        raise NotFound(f"no message {message_id!r}")
    work.batch.msg_to(msg, state.value, error=reason)
    return await work.flush(conn)


async def expire_unconfirmed(
    conn: Any, before: float, limit: int, now: float, *, outbox: bool = True
) -> QueueChanges:
    """End ``expired`` the messages submitted before ``before`` whose receipts never came
    (nothing refunded: their segments were accepted); drop the receipts kept since
    before ``before`` for an acceptance that never came. Messages another transaction
    holds are left for the next run."""
    dropped = [
        (r["link"], "expired")
        for r in await conn.fetch(
            "DELETE FROM pending_receipts WHERE received_at < $1 RETURNING link", before
        )
    ]
    rows = await conn.fetch(
        "SELECT id FROM messages WHERE state = 'submitted' AND updated_at < $1 "
        "ORDER BY updated_at, id LIMIT $2 FOR UPDATE SKIP LOCKED",
        before,
        limit,
    )
    ids = [r["id"] for r in rows]
    work = await _Work.load(conn, ids, now, outbox=outbox)
    for message_id in ids:
        work.batch.msg_to(
            work.batch.msgs[message_id],
            MessageState.EXPIRED.value,
            error="no delivery receipt came",
        )
    return await work.flush(conn, dropped=dropped)

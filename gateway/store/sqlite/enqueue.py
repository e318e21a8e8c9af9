"""Enqueue on SQLite: debit and insert, the rules being :mod:`gateway.store.admission`'s.

:func:`prepare_enqueue` makes ids, records, rows and status events before the
write lock is taken (the Engine runs it outside the transaction);
:func:`enqueue` then runs inside the writer's ``BEGIN IMMEDIATE``
transaction: each account's figures are read once, the batch is admitted in
memory, and the admitted messages, segments, debit rows and each new
message's ``queued`` status event (and webhook row) are inserted with
``executemany``, each account row updated once. Concurrent processes
serialise on the write lock, so none can spend credit another one already spent.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from gateway.accounting.ledger import AccountState
from gateway.model.errors import NotFound
from gateway.model.records import (
    CreditCrossing,
    Enqueued,
    EnqueueResult,
    Lease,
    NewMessage,
    Refused,
)
from gateway.store.admission import KnownRefs, Prepared, admit, prepare
from gateway.store.esme_deliveries import origin_rows
from gateway.store.sqlite.esme_deliveries import mark_origins
from gateway.store.sqlite.events import StatusRows
from gateway.store.sqlite.ledger import INSERT_ENTRY, load_state, save_state
from gateway.store.sqlite.queue import get_message
from gateway.store.sqlite.stoplist import stopped_numbers

_INSERT_MESSAGE = (
    "INSERT INTO messages (id, account, sender, sender_kind, destination, text, encoding, "
    "segments, price, credits, msg_class, send_at, validity, priority, client_ref, body_hash, "
    "callback_url, state, attempts, next_attempt_at, created_at, updated_at, lease_owner, "
    "lease_until, raw) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?)"
)
_INSERT_SEGMENT = "INSERT INTO segments (message_id, idx, state, updated_at) VALUES (?, ?, ?, ?)"


class _Prepared(Prepared):
    """A prepared message with its SQLite rows, made before the write lock."""

    __slots__ = ("msg_row", "seg_rows")

    def __init__(self, p: Prepared, now: float) -> None:
        super().__init__(new=p.new, message=p.message, event=p.event, hook=p.hook)
        nm, m = p.new, p.message
        self.msg_row = (
            m.id,
            nm.account,
            nm.sender,
            nm.sender_kind.value,
            nm.destination,
            nm.text,
            nm.encoding,
            nm.segments,
            nm.price,
            m.credits,
            nm.msg_class.value,
            m.send_at,
            nm.validity,
            nm.priority,
            nm.client_ref,
            nm.body_hash,
            nm.callback_url,
            m.state.value,
            m.next_attempt_at,
            now,
            now,
            m.lease_owner,
            m.lease_until,
            nm.raw,
        )
        self.seg_rows = [(m.id, i, "pending", now) for i in range(nm.segments)]


class PreparedEnqueue:
    """:func:`prepare_enqueue`'s result: what :func:`enqueue` writes."""

    __slots__ = ("events", "items", "now")

    def __init__(self, now: float, items: list[_Prepared], events: StatusRows) -> None:
        self.now = now
        self.items = items
        self.events = events


def prepare_enqueue(
    batch: Sequence[NewMessage],
    now: float,
    *,
    outbox: bool = True,
    lease: Lease | None = None,
) -> PreparedEnqueue:
    """Ids, records, rows and status events of ``batch``, made outside the transaction."""
    events = StatusRows(now, mqtt=outbox)
    items = [_Prepared(p, now) for p in prepare(batch, now, events, lease=lease)]
    return PreparedEnqueue(now, items, events)


class _Source:
    """What admission reads, from this transaction, shared by the calls of one
    :func:`enqueue_many` (an account's state chains from one call to the next)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.states: dict[str, AccountState] = {}
        self.refs: dict[tuple[str, str], KnownRefs] = {}
        self.stops: dict[str, set[str]] = {}  # account -> its stopped numbers of the calls

    def read_stops(self, works: Sequence[PreparedEnqueue]) -> None:
        """The stopped numbers of every call's destinations: one read per account."""
        numbers: dict[str, list[str]] = {}
        for work in works:
            for item in work.items:
                numbers.setdefault(item.new.account, []).append(item.new.destination)
        self.stops = {a: stopped_numbers(self.conn, a, n) for a, n in numbers.items()}

    def account(self, name: str) -> AccountState:
        st = self.states.get(name)
        if st is None:
            st = self.states[name] = load_state(self.conn, name)
        return st

    def known_refs(self, account: str, client_ref: str) -> KnownRefs:
        # one dict per client_ref for every call: a later call sees what an earlier
        # one admitted, not yet written
        seen = self.refs.get((account, client_ref))
        if seen is None:
            rows = self.conn.execute(
                "SELECT destination, id, body_hash FROM messages "
                "WHERE account = ? AND client_ref = ?",
                (account, client_ref),
            ).fetchall()
            seen = self.refs[(account, client_ref)] = {d: (i, h) for d, i, h in rows}
        return seen

    def stopped(self, account: str, numbers: Sequence[str]) -> set[str]:
        return self.stops.get(account, set()) & set(numbers)


def enqueue(
    conn: sqlite3.Connection,
    batch: Sequence[NewMessage] | PreparedEnqueue,
    now: float,
    *,
    outbox: bool = True,
    lease: Lease | None = None,
) -> EnqueueResult:
    """Debit and insert; with ``lease``, the messages due now are stored leased to
    that dispatcher (``dispatching``), to be handed to it without a claim.

    ``batch`` may come prepared (:func:`prepare_enqueue`, with its own ``now``,
    ``outbox`` and ``lease``); each message is refused or written whole."""
    work = (
        batch
        if isinstance(batch, PreparedEnqueue)
        else prepare_enqueue(batch, now, outbox=outbox, lease=lease)
    )
    [result] = enqueue_many(conn, [work])
    if isinstance(result, Exception):
        raise result
    return result


def enqueue_many(
    conn: sqlite3.Connection, works: Sequence[PreparedEnqueue]
) -> list[EnqueueResult | Exception]:
    """Debit and insert each of ``works`` in the caller's transaction, in order, as
    :func:`enqueue` would one after the other, with one write per table: per call
    its result, or the error that refused it whole (an unknown account: nothing of
    it written)."""
    source = _Source(conn)
    source.read_stops(works)
    msg_rows: list[tuple[object, ...]] = []
    seg_rows: list[tuple[object, ...]] = []
    led_rows: list[tuple[object, ...]] = []
    origins: list[tuple[NewMessage, str]] = []
    decided: list[list[Enqueued | Refused | str] | Exception] = []
    crossings: list[tuple[CreditCrossing, ...]] = []
    events = works[0].events if works else None
    for work in works:
        try:
            for name in dict.fromkeys(item.new.account for item in work.items):
                source.account(name)
        except NotFound as exc:
            decided.append(exc)
            crossings.append(())
            continue
        a = admit(((item.new, item.message) for item in work.items), source, work.now)
        for i, balance in zip(a.admitted, a.balances_after, strict=True):
            item = work.items[i]
            nm = item.new
            msg_rows.append(item.msg_row)
            seg_rows.extend(item.seg_rows)
            led_rows.append(
                (nm.account, work.now, "debit", -nm.credits, balance, None, item.message.id, None)
            )
            origins.append((nm, item.message.id))
            if events is not None:
                events.take(item.event, item.hook)
        decided.append(a.results)
        crossings.append(tuple(a.crossings))
    conn.executemany(_INSERT_MESSAGE, msg_rows)
    conn.executemany(_INSERT_SEGMENT, seg_rows)
    conn.executemany(INSERT_ENTRY, led_rows)
    mark_origins(conn, origin_rows(origins))
    if events is not None:
        events.write(conn)
    for st in source.states.values():
        save_state(conn, st)
    out: list[EnqueueResult | Exception] = []
    for results, crossed in zip(decided, crossings, strict=True):
        if isinstance(results, Exception):
            out.append(results)
            continue
        done = tuple(
            Enqueued(message=get_message(conn, r).message, duplicate=True)
            if isinstance(r, str)
            else r
            for r in results
        )
        out.append(EnqueueResult(results=done, crossings=crossed))
    return out

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
from gateway.model.records import Enqueued, EnqueueResult, Lease, NewMessage, Refused
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
    """What admission reads, from this transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.states: dict[str, AccountState] = {}

    def account(self, name: str) -> AccountState:
        st = self.states.get(name)
        if st is None:
            st = self.states[name] = load_state(self.conn, name)
        return st

    def known_refs(self, account: str, client_ref: str) -> KnownRefs:
        rows = self.conn.execute(
            "SELECT destination, id, body_hash FROM messages WHERE account = ? AND client_ref = ?",
            (account, client_ref),
        ).fetchall()
        return {d: (i, h) for d, i, h in rows}

    def stopped(self, account: str, numbers: Sequence[str]) -> set[str]:
        return stopped_numbers(self.conn, account, numbers)


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
    now = work.now
    source = _Source(conn)
    decided = admit(((item.new, item.message) for item in work.items), source, now)
    msg_rows: list[tuple[object, ...]] = []
    seg_rows: list[tuple[object, ...]] = []
    led_rows: list[tuple[object, ...]] = []
    events = work.events
    for i, balance in zip(decided.admitted, decided.balances_after, strict=True):
        item = work.items[i]
        nm = item.new
        msg_rows.append(item.msg_row)
        seg_rows.extend(item.seg_rows)
        led_rows.append(
            (nm.account, now, "debit", -nm.credits, balance, None, item.message.id, None)
        )
        events.take(item.event, item.hook)
    conn.executemany(_INSERT_MESSAGE, msg_rows)
    conn.executemany(_INSERT_SEGMENT, seg_rows)
    conn.executemany(INSERT_ENTRY, led_rows)
    mark_origins(
        conn, origin_rows((work.items[i].new, work.items[i].message.id) for i in decided.admitted)
    )
    events.write(conn)
    for st in source.states.values():
        save_state(conn, st)
    done: list[Enqueued | Refused] = []
    for r in decided.results:
        if isinstance(r, str):
            done.append(Enqueued(message=get_message(conn, r).message, duplicate=True))
        else:
            done.append(r)
    return EnqueueResult(results=tuple(done), crossings=tuple(decided.crossings))

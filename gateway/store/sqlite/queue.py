"""Enqueue (debit + insert), claim, cancel and read messages on SQLite.

``enqueue`` runs inside the writer's ``BEGIN IMMEDIATE`` transaction: each
account's figures are read once, every message is checked against them in
memory *before* anything of it is written (a refused message writes nothing),
then messages, segments, debit rows and each new message's ``queued`` status
event (and webhook row) are inserted with ``executemany`` and the account row
updated once. Concurrent processes serialise on the write
lock, so none can spend credit another one already spent.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from gateway.accounting.ledger import AccountState
from gateway.model.errors import ClientRefConflict, NotCancellable, NotFound, UserError
from gateway.model.ids import new_ids
from gateway.model.message import MessageState
from gateway.store.records import (
    CreditCrossing,
    Enqueued,
    EnqueueResult,
    Lease,
    Message,
    MessageView,
    NewMessage,
    QueueChanges,
    Refused,
)
from gateway.store.sqlite.dispatch import finish
from gateway.store.sqlite.events import StatusRows
from gateway.store.sqlite.ledger import INSERT_ENTRY, load_state, save_state
from gateway.store.sqlite.rows import (
    MESSAGE_COLUMNS,
    SEGMENT_COLUMNS,
    chunks,
    message_from,
    segment_from,
)

_INSERT_MESSAGE = (
    "INSERT INTO messages (id, account, sender, sender_kind, destination, text, encoding, "
    "segments, price, credits, msg_class, send_at, validity, priority, client_ref, body_hash, "
    "callback_url, state, attempts, next_attempt_at, created_at, updated_at, lease_owner, "
    "lease_until) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?)"
)
_INSERT_SEGMENT = "INSERT INTO segments (message_id, idx, state, updated_at) VALUES (?, ?, ?, ?)"
_QUEUED = MessageState.QUEUED
_DISPATCHING = MessageState.DISPATCHING


def _existing_refs(
    conn: sqlite3.Connection, account: str, client_ref: str
) -> dict[str, tuple[str, str | None]]:
    rows = conn.execute(
        "SELECT destination, id, body_hash FROM messages WHERE account = ? AND client_ref = ?",
        (account, client_ref),
    ).fetchall()
    return {d: (i, h) for d, i, h in rows}


class _Prepared:
    """One message to enqueue, with everything that needs no database done."""

    __slots__ = ("event", "hook", "message", "msg_row", "new", "seg_rows")

    def __init__(
        self,
        *,
        new: NewMessage,
        message: Message,
        msg_row: tuple[object, ...],
        seg_rows: list[tuple[object, ...]],
        event: bytes | None,
        hook: tuple[str, str, bytes, float, float] | None,
    ) -> None:
        self.new = new
        self.message = message
        self.msg_row = msg_row
        self.seg_rows = seg_rows
        self.event = event
        self.hook = hook


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
    """Ids, rows, status events and records of ``batch``, made before the write lock is
    taken (the Engine runs it outside the transaction): the transaction then only
    checks credit and writes."""
    owner, until = (lease.worker, now + lease.seconds) if lease is not None else (None, None)
    events = StatusRows(now, mqtt=outbox)
    items: list[_Prepared] = []
    for nm, mid in zip(batch, new_ids(now, len(batch)), strict=True):
        cost = nm.credits
        send_at = now if nm.send_at is None else nm.send_at
        leased = owner is not None and send_at <= now
        state = _DISPATCHING if leased else _QUEUED
        lease_owner, lease_until = (owner, until) if leased else (None, None)
        msg_row = (
            mid,
            nm.account,
            nm.sender,
            nm.sender_kind.value,
            nm.destination,
            nm.text,
            nm.encoding,
            nm.segments,
            nm.price,
            cost,
            nm.msg_class.value,
            send_at,
            nm.validity,
            nm.priority,
            nm.client_ref,
            nm.body_hash,
            nm.callback_url,
            state.value,
            send_at,
            now,
            now,
            lease_owner,
            lease_until,
        )
        event, hook = events.entry(
            message_id=mid,
            account=nm.account,
            to=nm.destination,
            state="queued",
            previous=None,
            client_ref=nm.client_ref,
            error=None,
            callback_url=nm.callback_url,
        )
        message = Message(
            id=mid,
            account=nm.account,
            sender=nm.sender,
            sender_kind=nm.sender_kind,
            destination=nm.destination,
            text=nm.text,
            encoding=nm.encoding,
            segments=nm.segments,
            price=nm.price,
            credits=cost,
            msg_class=nm.msg_class,
            send_at=send_at,
            validity=nm.validity,
            priority=nm.priority,
            client_ref=nm.client_ref,
            callback_url=nm.callback_url,
            state=state,
            attempts=0,
            next_attempt_at=send_at,
            created_at=now,
            updated_at=now,
            lease_owner=lease_owner,
            lease_until=lease_until,
            error=None,
        )
        items.append(
            _Prepared(
                new=nm,
                message=message,
                msg_row=msg_row,
                seg_rows=[(mid, i, "pending", now) for i in range(nm.segments)],
                event=event,
                hook=hook,
            )
        )
    return PreparedEnqueue(now, items, events)


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
    states: dict[str, AccountState] = {}
    refs: dict[tuple[str, str], dict[str, tuple[str, str | None]]] = {}
    results: list[Enqueued | Refused | str] = []  # str: id of an existing message
    crossings: list[CreditCrossing] = []
    msg_rows: list[tuple[object, ...]] = []
    seg_rows: list[tuple[object, ...]] = []
    led_rows: list[tuple[object, ...]] = []
    events = work.events
    for item in work.items:
        nm = item.new
        st = states.get(nm.account)
        if st is None:
            st = states[nm.account] = load_state(conn, nm.account)
        if nm.client_ref is not None:
            key = (nm.account, nm.client_ref)
            known = refs.get(key)
            if known is None:
                known = refs[key] = _existing_refs(conn, nm.account, nm.client_ref)
            if any(h != nm.body_hash for _, h in known.values()):
                err = ClientRefConflict(
                    f"client_ref {nm.client_ref!r} was already used with a different request"
                )
                results.append(Refused(destination=nm.destination, error=err))
                continue
            if nm.destination in known:
                results.append(known[nm.destination][0])
                continue
        cost = nm.credits
        try:
            crossing = st.debit(cost, now)
        except UserError as exc:
            results.append(Refused(destination=nm.destination, error=exc))
            continue
        if crossing is not None:
            crossings.append(crossing)
        mid = item.message.id
        if nm.client_ref is not None:
            refs[(nm.account, nm.client_ref)][nm.destination] = (mid, nm.body_hash)
        msg_rows.append(item.msg_row)
        seg_rows.extend(item.seg_rows)
        led_rows.append((nm.account, now, "debit", -cost, st.balance, None, mid, None))
        events.take(item.event, item.hook)
        results.append(Enqueued(message=item.message))
    conn.executemany(_INSERT_MESSAGE, msg_rows)
    conn.executemany(_INSERT_SEGMENT, seg_rows)
    conn.executemany(INSERT_ENTRY, led_rows)
    events.write(conn)
    for st in states.values():
        save_state(conn, st)
    done: list[Enqueued | Refused] = []
    for r in results:
        if isinstance(r, str):
            done.append(Enqueued(message=get_message(conn, r).message, duplicate=True))
        else:
            done.append(r)
    return EnqueueResult(results=tuple(done), crossings=tuple(crossings))


# Due messages in claim order (priority, then age), three ways:
# - _DUE_ALL: when no queued row waits for a later time (one index seek tells),
#   every queued row is due: walk messages_due (priority DESC, id) from its start;
# - _WALK: else, look at the first few queued rows in that order (the index
#   covers next_attempt_at) and take the due ones: cheap while most are due;
# - _RANGE: what _WALK did not fill, from the due rows only (messages_next,
#   then a sort): cheap when few are due and many wait for later.
# _WALK's rows all come before _RANGE's in claim order, and both read
# 'queued' rows only, so _RANGE never returns a row _WALK just claimed.
_FUTURE = (
    "SELECT EXISTS (SELECT 1 FROM messages INDEXED BY messages_next "
    "WHERE state = 'queued' AND next_attempt_at > :now)"
)
_DUE_ALL = (
    "SELECT id FROM messages INDEXED BY messages_due WHERE state = 'queued' "
    "ORDER BY priority DESC, id LIMIT :limit"
)
_WALK = (
    "SELECT id FROM (SELECT id, priority, next_attempt_at FROM messages "
    "WHERE state = 'queued' ORDER BY priority DESC, id LIMIT :walk) "
    "WHERE next_attempt_at <= :now ORDER BY priority DESC, id LIMIT :limit"
)
_RANGE = (
    "SELECT id FROM messages INDEXED BY messages_next "
    "WHERE state = 'queued' AND next_attempt_at <= :now ORDER BY priority DESC, id LIMIT :limit"
)
_CLAIM = (
    "UPDATE messages SET state = 'dispatching', lease_owner = :worker, lease_until = :until, "
    "updated_at = :now WHERE id IN ({pick}) RETURNING {columns}"
)
_CLAIM_ALL = _CLAIM.format(pick=_DUE_ALL, columns=MESSAGE_COLUMNS)
_CLAIM_WALK = _CLAIM.format(pick=_WALK, columns=MESSAGE_COLUMNS)
_CLAIM_RANGE = _CLAIM.format(pick=_RANGE, columns=MESSAGE_COLUMNS)
_WALK_FACTOR = 4  # _WALK looks at limit x this many queued rows


def claim_due(
    conn: sqlite3.Connection, worker: str, now: float, limit: int, lease_seconds: float
) -> list[Message]:
    """Take back expired leases, then lease up to ``limit`` due messages to ``worker``.

    A lease taken back counts as an attempt: the crashed worker may have sent
    some segments, so ``attempts > 0`` tells the next one to look at them.
    """
    MessageState.DISPATCHING.check(_QUEUED)
    conn.execute(
        "UPDATE messages SET state = 'queued', lease_owner = NULL, lease_until = NULL, "
        "attempts = attempts + 1, updated_at = ? "
        "WHERE state = 'dispatching' AND lease_until < ?",
        (now, now),
    )
    _QUEUED.check(MessageState.DISPATCHING)
    params = {
        "worker": worker,
        "until": now + lease_seconds,
        "now": now,
        "limit": limit,
        "walk": limit * _WALK_FACTOR,
    }
    if not conn.execute(_FUTURE, params).fetchone()[0]:
        rows = conn.execute(_CLAIM_ALL, params).fetchall()
    else:
        rows = conn.execute(_CLAIM_WALK, params).fetchall()
        if len(rows) < limit:
            params["limit"] = limit - len(rows)
            rows += conn.execute(_CLAIM_RANGE, params).fetchall()
    claimed = [message_from(r) for r in rows]
    claimed.sort(key=lambda m: (-m.priority, m.id))
    return claimed


def release_leases(conn: sqlite3.Connection, worker: str, now: float) -> int:
    """Take back every lease ``worker`` holds: it restarted, so what it was sending stopped.

    Counted as an attempt, like a lease that ran out (see :func:`claim_due`).
    """
    MessageState.DISPATCHING.check(_QUEUED)
    cursor = conn.execute(
        "UPDATE messages SET state = 'queued', lease_owner = NULL, lease_until = NULL, "
        "attempts = attempts + 1, updated_at = ? "
        "WHERE state = 'dispatching' AND lease_owner = ?",
        (now, worker),
    )
    return cursor.rowcount


_WAKE = (
    "UPDATE messages INDEXED BY messages_next SET next_attempt_at = max(send_at, ?) "
    "WHERE state = 'queued' AND next_attempt_at > ? AND next_attempt_at <= ? "
    "AND error IN ({marks})"
)


def wake_waiting(
    conn: sqlite3.Connection, reasons: Sequence[str], now: float, within: float
) -> int:
    """Retries for ``reasons`` due within ``within`` s become due now (send_at
    permitting), so that the next claims take them by priority, not by retry time.
    Only the next ``within`` seconds are read (messages_next): scheduled messages
    further out are not walked."""
    sql = _WAKE.format(marks=",".join("?" * len(reasons)))
    return conn.execute(sql, (now, now, now + within, *reasons)).rowcount


def release(conn: sqlite3.Connection, worker: str, ids: Sequence[str], now: float) -> int:
    """Messages leased to ``worker`` that it never sent go back to the queue as they
    were (not an attempt: nothing of them left)."""
    MessageState.DISPATCHING.check(_QUEUED)
    released = 0
    for chunk in chunks(ids):
        marks = ",".join("?" * len(chunk))
        released += conn.execute(
            "UPDATE messages SET state = 'queued', lease_owner = NULL, lease_until = NULL, "  # noqa: S608 (placeholders only)
            f"updated_at = ? WHERE id IN ({marks}) AND state = 'dispatching' "
            "AND lease_owner = ?",
            (now, *chunk, worker),
        ).rowcount
    return released


def leased_to(conn: sqlite3.Connection, worker: str) -> list[str]:
    """Ids of the messages ``worker`` holds a lease on."""
    return [
        row[0]
        for row in conn.execute(
            "SELECT id FROM messages INDEXED BY messages_leased "
            "WHERE state = 'dispatching' AND lease_owner = ?",
            (worker,),
        )
    ]


def get_messages(conn: sqlite3.Connection, ids: Sequence[str]) -> list[Message]:
    """The messages of ``ids`` that exist, in the order of ``ids``."""
    found: dict[str, Message] = {}
    for chunk in chunks(ids):
        marks = ",".join("?" * len(chunk))
        for row in conn.execute(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE id IN ({marks})",  # noqa: S608
            chunk,
        ):
            found[row[0]] = message_from(row)
    return [found[i] for i in ids if i in found]


def cancel(
    conn: sqlite3.Connection, message_id: str, now: float, *, outbox: bool = True
) -> QueueChanges:
    view = get_message(conn, message_id)
    if view.message.state is not _QUEUED:
        raise NotCancellable(message_id, view.message.state.value)
    return finish(conn, message_id, MessageState.CANCELLED, "cancelled", now, outbox=outbox)


def get_message(conn: sqlite3.Connection, message_id: str) -> MessageView:
    row = conn.execute(
        f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?",  # noqa: S608
        (message_id,),
    ).fetchone()
    if row is None:
        raise NotFound(f"no message {message_id!r}")
    segs = conn.execute(
        f"SELECT {SEGMENT_COLUMNS} FROM segments WHERE message_id = ? ORDER BY idx",  # noqa: S608
        (message_id,),
    ).fetchall()
    return MessageView(message=message_from(row), segments=tuple(segment_from(s) for s in segs))


def list_messages(
    conn: sqlite3.Connection,
    account: str | None,
    state: MessageState | None,
    since: float | None,
    limit: int,
) -> list[Message]:
    where: list[str] = []
    params: list[object] = []
    if account is not None:
        load_state(conn, account)  # NotFound for an unknown account
        where.append("account = ?")
        params.append(account)
    if state is not None:
        where.append("state = ?")
        params.append(state.value)
    if since is not None:
        where.append("created_at >= ?")
        params.append(since)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    rows = conn.execute(
        f"SELECT {MESSAGE_COLUMNS} FROM messages {clause} ORDER BY id DESC LIMIT ?",  # noqa: S608
        (*params, limit),
    ).fetchall()
    return [message_from(r) for r in rows]


def count_by_state(conn: sqlite3.Connection) -> dict[MessageState, int]:
    """Messages per state (the whole table: for tests and small stores)."""
    rows = conn.execute("SELECT state, count(*) FROM messages GROUP BY state").fetchall()
    return {MessageState(s): n for s, n in rows}


# each count reads its state's partial index only, never the whole table
_DEPTHS = (
    (
        MessageState.QUEUED,
        "SELECT count(*) FROM messages INDEXED BY messages_next WHERE state = 'queued'",
    ),
    (
        MessageState.DISPATCHING,
        "SELECT count(*) FROM messages INDEXED BY messages_leased WHERE state = 'dispatching'",
    ),
    (
        MessageState.SUBMITTED,
        "SELECT count(*) FROM messages INDEXED BY messages_submitted WHERE state = 'submitted'",
    ),
)


def queue_depths(conn: sqlite3.Connection) -> dict[MessageState, int]:
    """Messages not final yet, per state: queued, dispatching, submitted."""
    return {state: int(conn.execute(sql).fetchone()[0]) for state, sql in _DEPTHS}


def ping(conn: sqlite3.Connection) -> None:
    conn.execute("SELECT 1").fetchone()

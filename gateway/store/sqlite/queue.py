"""Claim, release, cancel and read messages on SQLite (enqueue: gateway.store.sqlite.enqueue)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from gateway.model.errors import NotCancellable, NotFound
from gateway.model.message import MessageState
from gateway.model.records import (
    Message,
    MessageView,
    QueueChanges,
)
from gateway.store.columns import MESSAGE_COLUMNS, SEGMENT_COLUMNS, message_from, segment_from
from gateway.store.spans import MessageSpan, Placeholders
from gateway.store.sqlite.dispatch import finish
from gateway.store.sqlite.ledger import load_state
from gateway.store.sqlite.rows import chunks

_QUEUED = MessageState.QUEUED


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
    span: MessageSpan,
    limit: int,
) -> list[Message]:
    mark = Placeholders(numbered=False)
    where: list[str] = []
    if account is not None:
        load_state(conn, account)  # NotFound for an unknown account
        where.append(f"account = {mark(account)}")
    if state is not None:
        where.append(f"state = {mark(state.value)}")
    where += span.conditions(mark)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    rows = conn.execute(
        f"SELECT {MESSAGE_COLUMNS} FROM messages {clause} "  # noqa: S608 (placeholders only)
        f"ORDER BY created_at DESC, id DESC LIMIT {mark(limit)}",
        mark.params,
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

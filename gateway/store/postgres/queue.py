"""Claim, release, cancel and read messages on PostgreSQL (enqueue: postgres/enqueue.py).

Claims lock the due messages they take with ``FOR UPDATE SKIP LOCKED``: two
dispatchers (of one daemon or of several) claiming at once each take other
messages, neither waiting for the other. The rules are the SQLite backend's
(gateway/store/sqlite/queue.py): priority, then age; an expired lease taken
back first, counting an attempt.

Statements that change several messages lock them in id order, as a round
of outcomes does (gateway/store/postgres/dispatch.py), so that two of them
never wait for each other in a circle; taking back expired leases and waking
retries skip the messages another transaction holds (it is changing them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway.model.errors import NotCancellable, NotFound
from gateway.model.message import MessageState
from gateway.model.records import Message, MessageView, QueueChanges
from gateway.store.columns import MESSAGE_COLUMNS, SEGMENT_COLUMNS, message_from, segment_from
from gateway.store.postgres.dispatch import finish
from gateway.store.postgres.ledger import load_state
from gateway.store.postgres.rows import row_count
from gateway.store.spans import MessageSpan, Placeholders

_QUEUED = MessageState.QUEUED

# leases run out: back to the queue, counted as an attempt (rows another
# transaction holds are its business: a late outcome being recorded)
_TAKE_BACK = (
    "UPDATE messages SET state = 'queued', lease_owner = NULL, lease_until = NULL, "
    "attempts = attempts + 1, updated_at = $1 WHERE id IN (SELECT id FROM messages "
    "WHERE state = 'dispatching' AND lease_until < $1 FOR UPDATE SKIP LOCKED)"
)
_CLAIM = (
    "UPDATE messages SET state = 'dispatching', lease_owner = $1, lease_until = $2, "  # noqa: S608 (a constant column list)
    "updated_at = $3 WHERE id IN (SELECT id FROM messages "
    "WHERE state = 'queued' AND next_attempt_at <= $3 ORDER BY priority DESC, id LIMIT $4 "
    f"FOR UPDATE SKIP LOCKED) RETURNING {MESSAGE_COLUMNS}"
)


async def claim_due(
    conn: Any, worker: str, now: float, limit: int, lease_seconds: float
) -> list[Message]:
    """Take back expired leases, then lease up to ``limit`` due messages to ``worker``.

    A lease taken back counts as an attempt: the crashed worker may have sent
    some segments, so ``attempts > 0`` tells the next one to look at them.
    """
    MessageState.DISPATCHING.check(_QUEUED)
    await conn.execute(_TAKE_BACK, now)
    _QUEUED.check(MessageState.DISPATCHING)
    rows = await conn.fetch(_CLAIM, worker, now + lease_seconds, now, limit)
    claimed = [message_from(r) for r in rows]
    claimed.sort(key=lambda m: (-m.priority, m.id))
    return claimed


async def release_leases(conn: Any, worker: str, now: float) -> int:
    """Take back every lease ``worker`` holds: it restarted, so what it was sending stopped.

    Counted as an attempt, like a lease that ran out (see :func:`claim_due`).
    """
    MessageState.DISPATCHING.check(_QUEUED)
    return row_count(
        await conn.execute(
            "UPDATE messages SET state = 'queued', lease_owner = NULL, lease_until = NULL, "
            "attempts = attempts + 1, updated_at = $1 WHERE id IN (SELECT id FROM messages "
            "WHERE state = 'dispatching' AND lease_owner = $2 ORDER BY id FOR UPDATE)",
            now,
            worker,
        )
    )


async def wake_waiting(conn: Any, reasons: Sequence[str], now: float, within: float) -> int:
    """Retries for ``reasons`` due within ``within`` s become due now (send_at
    permitting), so that the next claims take them by priority, not by retry time.
    Only the next ``within`` seconds are read (messages_next)."""
    return row_count(
        await conn.execute(
            "UPDATE messages SET next_attempt_at = greatest(send_at, $1) WHERE id IN ("
            "SELECT id FROM messages WHERE state = 'queued' AND next_attempt_at > $1 "
            "AND next_attempt_at <= $2 AND error = ANY($3::text[]) FOR UPDATE SKIP LOCKED)",
            now,
            now + within,
            list(reasons),
        )
    )


async def release(conn: Any, worker: str, ids: Sequence[str], now: float) -> int:
    """Messages leased to ``worker`` that it never sent go back to the queue as they
    were (not an attempt: nothing of them left)."""
    MessageState.DISPATCHING.check(_QUEUED)
    return row_count(
        await conn.execute(
            "UPDATE messages SET state = 'queued', lease_owner = NULL, lease_until = NULL, "
            "updated_at = $1 WHERE id IN (SELECT id FROM messages WHERE id = ANY($2::text[]) "
            "AND state = 'dispatching' AND lease_owner = $3 ORDER BY id FOR UPDATE)",
            now,
            list(ids),
            worker,
        )
    )


async def leased_to(conn: Any, worker: str) -> list[str]:
    """Ids of the messages ``worker`` holds a lease on."""
    rows = await conn.fetch(
        "SELECT id FROM messages WHERE state = 'dispatching' AND lease_owner = $1 "
        "ORDER BY lease_until, id",
        worker,
    )
    return [r["id"] for r in rows]


async def get_messages(conn: Any, ids: Sequence[str]) -> list[Message]:
    """The messages of ``ids`` that exist, in the order of ``ids``."""
    if not ids:
        return []
    rows = await conn.fetch(
        f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ANY($1::text[])",  # noqa: S608 (constant column list)
        list(ids),
    )
    found = {r["id"]: message_from(r) for r in rows}
    return [found[i] for i in ids if i in found]


async def get_message(conn: Any, message_id: str) -> MessageView:
    row = await conn.fetchrow(
        f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1",  # noqa: S608 (constant column list)
        message_id,
    )
    if row is None:
        raise NotFound(f"no message {message_id!r}")
    segs = await conn.fetch(
        f"SELECT {SEGMENT_COLUMNS} FROM segments WHERE message_id = $1 ORDER BY idx",  # noqa: S608
        message_id,
    )
    return MessageView(message=message_from(row), segments=tuple(segment_from(s) for s in segs))


async def cancel(conn: Any, message_id: str, now: float, *, outbox: bool = True) -> QueueChanges:
    """Cancel a queued message (refunded whole); its row locked while deciding."""
    state = await conn.fetchval("SELECT state FROM messages WHERE id = $1 FOR UPDATE", message_id)
    if state is None:
        raise NotFound(f"no message {message_id!r}")
    if state != _QUEUED.value:
        raise NotCancellable(message_id, state)
    return await finish(conn, message_id, MessageState.CANCELLED, "cancelled", now, outbox=outbox)


async def list_messages(
    conn: Any,
    account: str | None,
    state: MessageState | None,
    span: MessageSpan,
    limit: int,
) -> list[Message]:
    mark = Placeholders(numbered=True)
    where: list[str] = []
    if account is not None:
        await load_state(conn, account, lock=False)  # NotFound for an unknown account
        where.append(f"account = {mark(account)}")
    if state is not None:
        where.append(f"state = {mark(state.value)}")
    where += span.conditions(mark)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    rows = await conn.fetch(
        f"SELECT {MESSAGE_COLUMNS} FROM messages {clause} "  # noqa: S608 (placeholders only)
        f"ORDER BY created_at DESC, id DESC LIMIT {mark(limit)}",
        *mark.params,
    )
    return [message_from(r) for r in rows]


async def count_by_state(conn: Any) -> dict[MessageState, int]:
    """Messages per state (the whole table: for tests and small stores)."""
    rows = await conn.fetch("SELECT state, count(*) AS n FROM messages GROUP BY state")
    return {MessageState(r["state"]): r["n"] for r in rows}


# each count reads its state's partial index only, never the whole table
_DEPTHS = (
    "SELECT (SELECT count(*) FROM messages WHERE state = 'queued') AS queued, "
    "(SELECT count(*) FROM messages WHERE state = 'dispatching') AS dispatching, "
    "(SELECT count(*) FROM messages WHERE state = 'submitted') AS submitted"
)


async def queue_depths(conn: Any) -> dict[MessageState, int]:
    """Messages not final yet, per state: queued, dispatching, submitted."""
    row = await conn.fetchrow(_DEPTHS)
    return {
        MessageState.QUEUED: row["queued"],
        MessageState.DISPATCHING: row["dispatching"],
        MessageState.SUBMITTED: row["submitted"],
    }

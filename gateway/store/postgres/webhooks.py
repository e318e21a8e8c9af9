"""Status webhooks on PostgreSQL: the rows to deliver and their attempts.

``webhooks`` holds the status payloads of messages with a ``callback_url``,
one row each, written with the status event in the transaction of the
change (:func:`gateway.store.postgres.events.write_status`); a row is
deleted once delivered, kept as ``failed`` when given up, for operators to
see and retry. The same rules as gateway/store/sqlite/webhooks.py.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from gateway.model.records import WebhookEvent, WebhookRecord
from gateway.store.postgres.rows import row_count

# (account, url, payload, next_at, created_at) rows, as StatusEvents.hooks holds them
_INSERT_WEBHOOKS = (
    "INSERT INTO webhooks (account, url, payload, attempts, next_at, state, created_at) "
    "SELECT account, url, payload, 0, next_at, 'pending', created_at "
    "FROM unnest($1::text[], $2::text[], $3::bytea[], $4::float8[], $5::float8[]) "
    "AS h(account, url, payload, next_at, created_at)"
)


async def insert_webhooks(conn: Any, hooks: Sequence[tuple[str, str, bytes, float, float]]) -> None:
    """Webhook rows, in one statement (ids in the order of ``hooks``)."""
    columns = list(zip(*hooks, strict=True))
    await conn.execute(_INSERT_WEBHOOKS, *columns)


async def due_webhooks(conn: Any, now: float, limit: int, after: int) -> list[WebhookEvent]:
    rows = await conn.fetch(
        "SELECT id, account, url, payload, attempts FROM webhooks "
        "WHERE state = 'pending' AND next_at <= $1 AND id > $2 ORDER BY id LIMIT $3",
        now,
        after,
        limit,
    )
    return [
        WebhookEvent(
            id=r["id"],
            account=r["account"],
            url=r["url"],
            payload=bytes(r["payload"]),
            attempts=r["attempts"],
        )
        for r in rows
    ]


async def webhook_done(conn: Any, hook_id: int) -> None:
    await conn.execute("DELETE FROM webhooks WHERE id = $1", hook_id)


async def webhook_retry(conn: Any, hook_id: int, at: float, error: str) -> None:
    await conn.execute(
        "UPDATE webhooks SET attempts = attempts + 1, next_at = $1, last_error = $2 "
        "WHERE id = $3 AND state = 'pending'",
        at,
        error,
        hook_id,
    )


async def webhook_failed(conn: Any, hook_id: int, error: str) -> None:
    await conn.execute(
        "UPDATE webhooks SET attempts = attempts + 1, state = 'failed', last_error = $1 "
        "WHERE id = $2 AND state = 'pending'",
        error,
        hook_id,
    )


async def list_webhooks(
    conn: Any, account: str | None, state: str | None, limit: int
) -> list[WebhookRecord]:
    """Webhook rows, oldest first; ``state`` "pending" or "failed" (None: both)."""
    rows = await conn.fetch(
        "SELECT id, account, url, payload, state, attempts, next_at, last_error, created_at "
        "FROM webhooks WHERE ($1::text IS NULL OR account = $1) "
        "AND ($2::text IS NULL OR state = $2) ORDER BY id LIMIT $3",
        account,
        state,
        limit,
    )
    out = []
    for r in rows:
        try:
            body = json.loads(r["payload"])
        except ValueError:
            body = {}
        out.append(
            WebhookRecord(
                id=r["id"],
                account=r["account"],
                url=r["url"],
                message_id=body.get("id"),
                event_state=body.get("state"),
                state=r["state"],
                attempts=r["attempts"],
                next_at=r["next_at"],
                last_error=r["last_error"],
                created_at=r["created_at"],
            )
        )
    return out


async def retry_webhooks(conn: Any, ids: Sequence[int], account: str | None, now: float) -> int:
    """Failed webhooks back to ``pending``, due now, their back-off from the start:
    those of ``ids``, or with no ids every failed one (of ``account`` when given)."""
    if ids:
        status = await conn.execute(
            "UPDATE webhooks SET state = 'pending', attempts = 0, next_at = $1 "
            "WHERE id = ANY($2::bigint[]) AND state = 'failed'",
            now,
            list(ids),
        )
    else:
        status = await conn.execute(
            "UPDATE webhooks SET state = 'pending', attempts = 0, next_at = $1 "
            "WHERE state = 'failed' AND ($2::text IS NULL OR account = $2)",
            now,
            account,
        )
    return row_count(status)

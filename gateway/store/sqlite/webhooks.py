"""Status webhooks on SQLite: the rows to deliver, their attempts, and each
account's signing secret.

``webhooks`` holds the status payloads of messages with a ``callback_url``,
one row each, written with the status event in the transaction of the
change (:class:`gateway.store.sqlite.events.StatusRows`); a row is deleted
once delivered, kept as ``failed`` when given up, for operators to see and
retry.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from gateway.model.ids import new_webhook_secret
from gateway.model.records import WebhookEvent, WebhookRecord
from gateway.store.accounts import unknown_account

INSERT_WEBHOOK = (
    "INSERT INTO webhooks (account, url, payload, attempts, next_at, state, created_at) "
    "VALUES (?, ?, ?, 0, ?, 'pending', ?)"
)


def due_webhooks(
    conn: sqlite3.Connection,
    now: float,
    limit: int,
    after: int = 0,
) -> list[WebhookEvent]:
    rows = conn.execute(
        "SELECT id, account, url, payload, attempts FROM webhooks "
        "WHERE state = 'pending' AND next_at <= ? AND id > ? ORDER BY id LIMIT ?",
        (now, after, limit),
    ).fetchall()
    return [
        WebhookEvent(id=r[0], account=r[1], url=r[2], payload=bytes(r[3]), attempts=r[4])
        for r in rows
    ]


def webhook_done(conn: sqlite3.Connection, hook_id: int) -> None:
    conn.execute("DELETE FROM webhooks WHERE id = ?", (hook_id,))


def webhook_retry(conn: sqlite3.Connection, hook_id: int, at: float, error: str) -> None:
    conn.execute(
        "UPDATE webhooks SET attempts = attempts + 1, next_at = ?, last_error = ? "
        "WHERE id = ? AND state = 'pending'",
        (at, error, hook_id),
    )


def webhook_failed(conn: sqlite3.Connection, hook_id: int, error: str) -> None:
    conn.execute(
        "UPDATE webhooks SET attempts = attempts + 1, state = 'failed', last_error = ? "
        "WHERE id = ? AND state = 'pending'",
        (error, hook_id),
    )


def list_webhooks(
    conn: sqlite3.Connection,
    account: str | None,
    state: str | None,
    limit: int,
) -> list[WebhookRecord]:
    """Webhook rows, oldest first; ``state`` "pending" or "failed" (None: both)."""
    rows = conn.execute(
        "SELECT id, account, url, payload, state, attempts, next_at, last_error, created_at "
        "FROM webhooks WHERE (?1 IS NULL OR account = ?1) AND (?2 IS NULL OR state = ?2) "
        "ORDER BY id LIMIT ?3",
        (account, state, limit),
    ).fetchall()
    out = []
    for r in rows:
        try:
            body = json.loads(r[3])
        except ValueError:
            body = {}
        out.append(
            WebhookRecord(
                id=r[0],
                account=r[1],
                url=r[2],
                message_id=body.get("id"),
                event_state=body.get("state"),
                state=r[4],
                attempts=r[5],
                next_at=r[6],
                last_error=r[7],
                created_at=r[8],
            )
        )
    return out


def retry_webhooks(
    conn: sqlite3.Connection,
    ids: Sequence[int],
    account: str | None,
    now: float,
) -> int:
    """Failed webhooks back to ``pending``, due now, their back-off from the start:
    those of ``ids``, or with no ids every failed one (of ``account`` when given)."""
    if ids:
        return conn.executemany(
            "UPDATE webhooks SET state = 'pending', attempts = 0, next_at = ? "
            "WHERE id = ? AND state = 'failed'",
            [(now, i) for i in ids],
        ).rowcount
    return conn.execute(
        "UPDATE webhooks SET state = 'pending', attempts = 0, next_at = ? "
        "WHERE state = 'failed' AND (?2 IS NULL OR account = ?2)",
        (now, account),
    ).rowcount


def webhook_secret(conn: sqlite3.Connection, account: str) -> str:
    """The account's secret; '' for an account row written without one."""
    row = conn.execute("SELECT webhook_secret FROM accounts WHERE name = ?", (account,)).fetchone()
    if row is None:
        raise unknown_account(account)
    return str(row[0])


def ensure_webhook_secret(conn: sqlite3.Connection, account: str) -> str:
    """The account's secret, generated first when it has none."""
    secret = webhook_secret(conn, account)
    if not secret:
        secret = rotate_webhook_secret(conn, account)
    return secret


def rotate_webhook_secret(conn: sqlite3.Connection, account: str) -> str:
    secret = new_webhook_secret()
    cur = conn.execute("UPDATE accounts SET webhook_secret = ? WHERE name = ?", (secret, account))
    if cur.rowcount != 1:
        raise unknown_account(account)
    return secret

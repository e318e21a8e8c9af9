"""Each account's webhook signing secret on SQLite (the webhook rows are tested on every
backend in tests/gateway/store/contract/test_webhooks.py)."""

from __future__ import annotations

import sqlite3

from gateway.store.sqlite.store import SqliteStore


async def test_account_row_without_secret_gets_one_when_asked(store: SqliteStore) -> None:
    conn = sqlite3.connect(store.path)
    conn.execute("INSERT INTO accounts (name, month, created_at) VALUES ('raw', '', 0)")
    conn.commit()
    conn.close()
    secret = await store.webhook_secret("raw")
    assert len(secret) == 64
    assert await store.webhook_secret("raw") == secret

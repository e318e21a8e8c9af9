"""Each account's webhook signing secret on SQLite (the webhook rows are tested on every
backend in tests/gateway/store/contract/test_webhooks.py)."""

from __future__ import annotations

import sqlite3

import pytest

from gateway.model.errors import NotFound
from gateway.store.sqlite.store import SqliteStore
from tests.gateway.store.support import make_account


async def test_webhook_secret_per_account_and_rotation(store: SqliteStore) -> None:
    await make_account(store)
    await make_account(store, "beta")
    secret = await store.webhook_secret("acme")
    assert len(secret) == 64
    bytes.fromhex(secret.decode())
    assert secret != await store.webhook_secret("beta")
    new = await store.rotate_webhook_secret("acme")
    assert new.encode() == await store.webhook_secret("acme") != secret
    with pytest.raises(NotFound):
        await store.webhook_secret("ghost")
    with pytest.raises(NotFound):
        await store.rotate_webhook_secret("ghost")


async def test_account_row_without_secret_gets_one_when_asked(store: SqliteStore) -> None:
    conn = sqlite3.connect(store.path)
    conn.execute("INSERT INTO accounts (name, month, created_at) VALUES ('raw', '', 0)")
    conn.commit()
    conn.close()
    secret = await store.webhook_secret("raw")
    assert len(secret) == 64
    assert await store.webhook_secret("raw") == secret

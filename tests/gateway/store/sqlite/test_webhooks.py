"""Status webhooks in the store: due rows, attempts, failures kept and retried, secrets."""

from __future__ import annotations

import dataclasses
import sqlite3

from gateway.model.records import Enqueued, Message
from gateway.store.sqlite.store import SqliteStore
from tests.clock import FakeClock
from tests.gateway.store.support import make_account, new_message

HOOK = "https://app.example/hooks/sms"


async def _enqueue(store: SqliteStore, *, callback_url: str) -> Message:
    nm = dataclasses.replace(new_message(), callback_url=callback_url)
    [r] = (await store.enqueue([nm])).results
    assert isinstance(r, Enqueued)
    return r.message


async def test_webhook_retry_failed_and_done(store: SqliteStore, clock: FakeClock) -> None:
    await make_account(store)
    m = await _enqueue(store, callback_url=HOOK)
    await store.cancel(m.id)
    first, second = await store.due_webhooks(now=clock.now, limit=10)
    assert first.id < second.id  # oldest first
    await store.webhook_retry(first.id, at=clock.now + 30, error="HTTP 503")
    assert [h.id for h in await store.due_webhooks(now=clock.now, limit=10)] == [second.id]
    due = await store.due_webhooks(now=clock.now + 30, limit=10)
    assert [(h.id, h.attempts) for h in due] == [(first.id, 1), (second.id, 0)]
    await store.webhook_failed(first.id, error="HTTP 410")
    await store.webhook_done(second.id)
    assert await store.due_webhooks(now=clock.now + 10**6, limit=10) == []
    conn = sqlite3.connect(store.path)
    rows = conn.execute("SELECT id, state, attempts, last_error FROM webhooks").fetchall()
    conn.close()
    assert rows == [(first.id, "failed", 2, "HTTP 410")]  # kept for operators


async def test_failed_webhooks_are_listed_and_tried_again(
    store: SqliteStore,
    clock: FakeClock,
) -> None:
    await make_account(store)
    await make_account(store, "beta")
    m = await _enqueue(store, callback_url=HOOK)  # "queued"
    await store.cancel(m.id)  # "cancelled"
    queued, cancelled = await store.due_webhooks(now=clock.now, limit=10)
    await store.webhook_retry(queued.id, at=clock.now + 60, error="HTTP 503")
    await store.webhook_failed(queued.id, error="HTTP 410")
    listed = await store.list_webhooks()
    assert [
        (w.id, w.state, w.attempts, w.last_error, w.message_id, w.event_state) for w in listed
    ] == [
        (queued.id, "failed", 2, "HTTP 410", m.id, "queued"),
        (cancelled.id, "pending", 0, None, m.id, "cancelled"),
    ]
    assert [w.id for w in await store.list_webhooks(state="failed")] == [queued.id]
    assert await store.list_webhooks(account="beta") == []
    assert await store.retry_webhooks(account="beta") == 0
    assert await store.retry_webhooks([cancelled.id]) == 0  # not failed: left as it is
    clock.now += 5
    assert await store.retry_webhooks(account="acme") == 1
    again = {h.id: h.attempts for h in await store.due_webhooks(now=clock.now, limit=10)}
    assert again == {queued.id: 0, cancelled.id: 0}  # due now, back-off from the start
    assert await store.list_webhooks(state="failed") == []


async def test_account_row_without_secret_gets_one_when_asked(store: SqliteStore) -> None:
    conn = sqlite3.connect(store.path)
    conn.execute("INSERT INTO accounts (name, month, created_at) VALUES ('raw', '', 0)")
    conn.commit()
    conn.close()
    secret = await store.webhook_secret("raw")
    assert len(secret) == 64
    assert await store.webhook_secret("raw") == secret

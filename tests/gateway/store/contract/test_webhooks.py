"""Status webhooks in the store: due rows, attempts, failures kept and retried, on every
backend."""

from __future__ import annotations

import dataclasses

from gateway.model.records import Enqueued, Message
from gateway.store.base import Store
from tests.clock import FakeClock
from tests.gateway.store.contract.accounts import make_account
from tests.gateway.store.support import new_message

HOOK = "https://app.example/hooks/sms"


async def _enqueue(store: Store, *, callback_url: str) -> Message:
    nm = dataclasses.replace(new_message(), callback_url=callback_url)
    [r] = (await store.enqueue([nm])).results
    assert isinstance(r, Enqueued)
    return r.message


async def test_webhook_retry_failed_and_done(any_store: Store, clock: FakeClock) -> None:
    await make_account(any_store, clock)
    m = await _enqueue(any_store, callback_url=HOOK)
    await any_store.cancel(m.id)
    first, second = await any_store.due_webhooks(now=clock.now, limit=10)
    assert first.id < second.id  # oldest first
    await any_store.webhook_retry(first.id, at=clock.now + 30, error="HTTP 503")
    assert [h.id for h in await any_store.due_webhooks(now=clock.now, limit=10)] == [second.id]
    due = await any_store.due_webhooks(now=clock.now + 30, limit=10)
    assert [(h.id, h.attempts) for h in due] == [(first.id, 1), (second.id, 0)]
    await any_store.webhook_failed(first.id, error="HTTP 410")
    await any_store.webhook_done(second.id)
    assert await any_store.due_webhooks(now=clock.now + 10**6, limit=10) == []
    rows = [(w.id, w.state, w.attempts, w.last_error) for w in await any_store.list_webhooks()]
    assert rows == [(first.id, "failed", 2, "HTTP 410")]  # kept for operators


async def test_failed_webhooks_are_listed_and_tried_again(
    any_store: Store,
    clock: FakeClock,
) -> None:
    await make_account(any_store, clock)
    await make_account(any_store, clock, "beta")
    m = await _enqueue(any_store, callback_url=HOOK)  # "queued"
    await any_store.cancel(m.id)  # "cancelled"
    queued, cancelled = await any_store.due_webhooks(now=clock.now, limit=10)
    await any_store.webhook_retry(queued.id, at=clock.now + 60, error="HTTP 503")
    await any_store.webhook_failed(queued.id, error="HTTP 410")
    listed = await any_store.list_webhooks()
    assert [
        (w.id, w.state, w.attempts, w.last_error, w.message_id, w.event_state) for w in listed
    ] == [
        (queued.id, "failed", 2, "HTTP 410", m.id, "queued"),
        (cancelled.id, "pending", 0, None, m.id, "cancelled"),
    ]
    assert [w.id for w in await any_store.list_webhooks(state="failed")] == [queued.id]
    assert await any_store.list_webhooks(account="beta") == []
    assert await any_store.retry_webhooks(account="beta") == 0
    assert await any_store.retry_webhooks([cancelled.id]) == 0  # not failed: left as it is
    clock.now += 5
    assert await any_store.retry_webhooks(account="acme") == 1
    again = {h.id: h.attempts for h in await any_store.due_webhooks(now=clock.now, limit=10)}
    assert again == {queued.id: 0, cancelled.id: 0}  # due now, back-off from the start
    assert await any_store.list_webhooks(state="failed") == []


async def test_due_webhooks_are_read_in_turns_after_an_id(
    any_store: Store, clock: FakeClock
) -> None:
    await make_account(any_store, clock)
    for _ in range(5):
        await _enqueue(any_store, callback_url=HOOK)
    ids = [h.id for h in await any_store.due_webhooks(now=clock.now, limit=10)]
    assert len(ids) == 5
    assert ids == sorted(ids)
    first = await any_store.due_webhooks(now=clock.now, limit=2)
    rest = await any_store.due_webhooks(now=clock.now, limit=10, after=first[-1].id)
    assert [h.id for h in first + rest] == ids
    assert await any_store.due_webhooks(now=clock.now - 1, limit=10) == []  # not due yet
    assert [w.id for w in await any_store.list_webhooks(account="acme", limit=3)] == ids[:3]


async def test_attempts_on_a_webhook_that_is_gone_change_nothing(
    any_store: Store, clock: FakeClock
) -> None:
    await make_account(any_store, clock)
    await _enqueue(any_store, callback_url=HOOK)
    [hook] = await any_store.due_webhooks(now=clock.now, limit=10)
    await any_store.webhook_done(hook.id)
    await any_store.webhook_done(hook.id)  # delivered twice (two publishers): still fine
    await any_store.webhook_retry(hook.id, at=clock.now + 5, error="HTTP 503")
    await any_store.webhook_failed(hook.id, error="HTTP 410")
    assert await any_store.list_webhooks() == []
    assert await any_store.retry_webhooks([hook.id]) == 0

"""``PostgresStore``: the :class:`~gateway.store.base.Store` interface on PostgreSQL.

Several daemons share one database: every write is a transaction of its
own on a pooled connection (asyncpg), rows that concurrent writers could
both change are locked first (``SELECT ... FOR UPDATE``: an account before
its debit, so that two daemons never overdraw it nor pass its monthly cap),
claims take due messages with ``FOR UPDATE SKIP LOCKED`` (two dispatchers
never claim the same message), and every status event is written in the
transaction of its change (the outbox, gateway.store.payloads). The
business rules are the backend-neutral ones every backend calls
(gateway.store.admission, gateway.store.outcomes,
gateway.accounting.ledger.AccountState); this module loads and saves.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import asyncpg

from gateway.link.interface import Receipt
from gateway.model.clock import SYSTEM_CLOCK, Clock
from gateway.model.message import MessageState
from gateway.model.records import (
    EnqueueResult,
    InboundMessage,
    Lease,
    Message,
    MessageView,
    NewMessage,
    OutboxBatch,
    OutcomeRecord,
    QueueChanges,
    WebhookEvent,
    WebhookRecord,
    WriterStats,
)
from gateway.model.secrets import Secret
from gateway.store.postgres import dispatch, events, webhooks
from gateway.store.postgres import enqueue as enq
from gateway.store.postgres import queue as mq
from gateway.store.postgres.connect import POOL_MAX, POOL_MIN, open_pool


class PostgresStore:
    """Every method is a coroutine on the pool; nothing blocks the event loop.

    ``mqtt_outbox``: write MQTT outbox rows (status, inbound events), as on SQLite.
    """

    def __init__(
        self, *, pool: asyncpg.Pool, where: str, clock: Clock, mqtt_outbox: bool = True
    ) -> None:
        self._pool = pool
        self.where = where  # the database, as errors and logs name it (no password)
        self._clock = clock
        self.mqtt_outbox = mqtt_outbox
        self._stats = WriterStats()

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        password: Secret | None = None,
        clock: Clock = SYSTEM_CLOCK,
        mqtt_outbox: bool = True,
        min_size: int = POOL_MIN,
        max_size: int = POOL_MAX,
    ) -> PostgresStore:
        pool, where = await open_pool(url, password=password, min_size=min_size, max_size=max_size)
        return cls(pool=pool, where=where, clock=clock, mqtt_outbox=mqtt_outbox)

    @contextlib.asynccontextmanager
    async def _write(self) -> AsyncIterator[Any]:
        """A connection in a transaction: committed when the block ends, rolled back
        when it raises; counted in :meth:`writer_stats`."""
        started = time.perf_counter()
        async with self._pool.acquire() as conn, conn.transaction():
            yield conn
        s = self._stats
        self._stats = WriterStats(
            transactions=s.transactions + 1,
            busy_seconds=s.busy_seconds + time.perf_counter() - started,
        )

    @contextlib.asynccontextmanager
    async def _read(self) -> AsyncIterator[Any]:
        """A connection for reads (each statement sees committed data)."""
        async with self._pool.acquire() as conn:
            yield conn

    # --- accounts and tokens (admin.py) ------------------------------------------

    # --- senders, prices, phonebooks (admin.py) --------------------------------

    # --- ledger (ledger.py) ----------------------------------------------------

    # --- counters for the daemon's metrics (admin.py) ---------------------------

    # --- messages: enqueue, reads, claims, leases (enqueue.py, queue.py) ---------
    async def enqueue(
        self, batch: Sequence[NewMessage], *, lease: Lease | None = None
    ) -> EnqueueResult:
        work = enq.prepare_enqueue(batch, self._clock(), outbox=self.mqtt_outbox, lease=lease)
        async with self._write() as conn:
            return await enq.enqueue(conn, work)

    async def get_messages(self, ids: Sequence[str]) -> list[Message]:
        async with self._read() as conn:
            return await mq.get_messages(conn, list(ids))

    async def release(self, worker: str, ids: Sequence[str]) -> int:
        if not ids:
            return 0
        async with self._write() as conn:
            return await mq.release(conn, worker, list(ids), self._clock())

    async def leased_to(self, worker: str) -> list[str]:
        async with self._read() as conn:
            return await mq.leased_to(conn, worker)

    async def get_message(self, message_id: str) -> MessageView:
        async with (
            self._read() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            # one snapshot: the message and its segments as one change left them
            return await mq.get_message(conn, message_id)

    async def list_messages(
        self,
        *,
        account: str | None = None,
        state: MessageState | None = None,
        since: float | None = None,
        limit: int = 100,
    ) -> list[Message]:
        async with self._read() as conn:
            return await mq.list_messages(conn, account, state, since, limit)

    async def count_by_state(self) -> dict[MessageState, int]:
        async with self._read() as conn:
            return await mq.count_by_state(conn)

    async def queue_depths(self) -> dict[MessageState, int]:
        async with self._read() as conn:
            return await mq.queue_depths(conn)

    async def cancel(self, message_id: str) -> QueueChanges:
        async with self._write() as conn:
            return await mq.cancel(conn, message_id, self._clock(), outbox=self.mqtt_outbox)

    async def finish(
        self, message_id: str, state: MessageState, *, reason: str | None = None
    ) -> QueueChanges:
        async with self._write() as conn:
            return await dispatch.finish(
                conn, message_id, state, reason, self._clock(), outbox=self.mqtt_outbox
            )

    async def claim_due(
        self, worker: str, *, now: float, limit: int, lease_seconds: float
    ) -> list[Message]:
        async with self._write() as conn:
            return await mq.claim_due(conn, worker, now, limit, lease_seconds)

    async def release_leases(self, worker: str) -> int:
        async with self._write() as conn:
            return await mq.release_leases(conn, worker, self._clock())

    async def wake_waiting(self, *, reasons: Sequence[str], now: float, within: float) -> int:
        if not reasons:
            return 0
        async with self._write() as conn:
            return await mq.wake_waiting(conn, list(reasons), now, within)

    async def expire_unconfirmed(self, *, before: float, limit: int = 1000) -> QueueChanges:
        async with self._write() as conn:
            return await dispatch.expire_unconfirmed(
                conn, before, limit, self._clock(), outbox=self.mqtt_outbox
            )

    # --- outcomes and receipts (dispatch.py) ------------------------------------
    async def record_outcomes(self, batch: Sequence[OutcomeRecord], *, now: float) -> QueueChanges:
        return await self.record(batch, (), now=now)

    async def record_receipts(self, batch: Sequence[Receipt], *, now: float) -> QueueChanges:
        return await self.record((), batch, now=now)

    async def record(
        self, outcomes: Sequence[OutcomeRecord], receipts: Sequence[Receipt], *, now: float
    ) -> QueueChanges:
        async with self._write() as conn:
            return await dispatch.record(conn, outcomes, receipts, now, outbox=self.mqtt_outbox)

    # --- inbound, the event outbox, webhooks (events.py, webhooks.py) -------------
    async def add_inbound(self, message: InboundMessage) -> None:
        async with self._write() as conn:
            await events.add_inbound(conn, message, outbox=self.mqtt_outbox)

    async def add_event(self, *, account: str, kind: str, payload: Mapping[str, Any]) -> int:
        async with self._write() as conn:
            return await events.add_event(conn, account, kind, payload, self._clock())

    async def pending_mqtt_events(self, *, limit: int) -> list[OutboxBatch]:
        async with self._read() as conn:
            return await events.pending_mqtt_events(conn, limit)

    async def ack_mqtt_events(self, batches: Sequence[int]) -> None:
        if batches:
            async with self._write() as conn:
                await events.ack_mqtt_events(conn, list(batches))

    async def due_webhooks(
        self,
        *,
        now: float,
        limit: int,
        after: int = 0,
    ) -> list[WebhookEvent]:
        async with self._read() as conn:
            return await webhooks.due_webhooks(conn, now, limit, after)

    async def webhook_done(self, id: int) -> None:  # noqa: A002 (the API's name)
        async with self._write() as conn:
            await webhooks.webhook_done(conn, id)

    async def webhook_retry(self, id: int, *, at: float, error: str) -> None:  # noqa: A002
        async with self._write() as conn:
            await webhooks.webhook_retry(conn, id, at, error)

    async def webhook_failed(self, id: int, *, error: str) -> None:  # noqa: A002
        async with self._write() as conn:
            await webhooks.webhook_failed(conn, id, error)

    async def list_webhooks(
        self,
        *,
        account: str | None = None,
        state: str | None = None,
        limit: int = 100,
    ) -> list[WebhookRecord]:
        async with self._read() as conn:
            return await webhooks.list_webhooks(conn, account, state, limit)

    async def retry_webhooks(
        self,
        ids: Sequence[int] = (),
        *,
        account: str | None = None,
    ) -> int:
        async with self._write() as conn:
            return await webhooks.retry_webhooks(conn, ids, account, self._clock())

    # --- the pool -------------------------------------------------------------------

    def writer_stats(self) -> WriterStats:
        """Write transactions of this process so far and their time (metrics)."""
        return self._stats

    async def ping(self) -> None:
        async with self._read() as conn:
            await conn.fetchval("SELECT 1")

    async def close(self) -> None:
        await self._pool.close()

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
from collections.abc import AsyncIterator
from typing import Any

import asyncpg

from gateway.model.clock import SYSTEM_CLOCK, Clock
from gateway.model.records import WriterStats
from gateway.model.secrets import Secret
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

    # --- outcomes and receipts (dispatch.py) ------------------------------------

    # --- inbound, the event outbox, webhooks (events.py, webhooks.py) -------------

    # --- the pool -------------------------------------------------------------------

    def writer_stats(self) -> WriterStats:
        """Write transactions of this process so far and their time (metrics)."""
        return self._stats

    async def ping(self) -> None:
        async with self._read() as conn:
            await conn.fetchval("SELECT 1")

    async def close(self) -> None:
        await self._pool.close()

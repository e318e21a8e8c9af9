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
import math
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg

from gateway.model.clock import SYSTEM_CLOCK, Clock
from gateway.model.errors import StoreInUse
from gateway.model.records import WriterStats
from gateway.model.secrets import Secret
from gateway.store.postgres.connect import POOL_MAX, POOL_MIN, open_pool

# the first key of the worker-name advisory locks (the second: the name's hash)
WORKER_LOCKS = 0x534D5357  # "SMSW"
ROLE_LOCKS = 0x534D534C  # "SMSL": the roles one daemon leads (Store.lead)
LEAD_RECHECK = 1.0  # seconds a role's answer is kept before asking the server again


class PostgresStore:
    """Every method is a coroutine on the pool; nothing blocks the event loop.

    ``mqtt_outbox``: write MQTT outbox rows (status, inbound events), as on SQLite.
    """

    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        where: str,
        clock: Clock,
        mqtt_outbox: bool = True,
        lead_recheck: float = LEAD_RECHECK,
    ) -> None:
        self._pool = pool
        self._lead_recheck = lead_recheck
        self.where = where  # the database, as errors and logs name it (no password)
        self._clock = clock
        self.mqtt_outbox = mqtt_outbox
        self._stats = WriterStats()
        self._worker: Any = None  # the connection holding this daemon's worker name
        self._leading: dict[str, Any] = {}  # role -> the connection holding its lock
        self._asked: dict[str, float] = {}  # role -> monotonic time of the last answer

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
        lead_recheck: float = LEAD_RECHECK,
    ) -> PostgresStore:
        pool, where = await open_pool(url, password=password, min_size=min_size, max_size=max_size)
        return cls(
            pool=pool,
            where=where,
            clock=clock,
            mqtt_outbox=mqtt_outbox,
            lead_recheck=lead_recheck,
        )

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

    async def lead(self, role: str) -> bool:
        """A session advisory lock per role, on a connection of its own: the daemon
        holding it leads until that connection ends (the daemon's end frees it), and
        the others try again every ``lead_recheck`` seconds (:data:`LEAD_RECHECK`)."""
        now = time.monotonic()
        if now - self._asked.get(role, -math.inf) < self._lead_recheck:
            return role in self._leading
        self._asked[role] = now
        conn = self._leading.get(role)
        if conn is not None:
            try:
                await conn.fetchval("SELECT 1")  # the session (and its lock) is alive
            except (asyncpg.PostgresError, OSError):
                del self._leading[role]
                await self._pool.release(conn)
                return False
            return True
        conn = await self._pool.acquire()
        try:
            held = await conn.fetchval(
                "SELECT pg_try_advisory_lock($1::int, hashtext($2))", ROLE_LOCKS, role
            )
        except BaseException:
            await self._pool.release(conn)
            raise
        if not held:
            await self._pool.release(conn)
            return False
        self._leading[role] = conn
        return True

    async def hold_worker(self, worker: str) -> None:
        """A session advisory lock on the worker name, on a connection of its own kept
        until :meth:`close`; PostgreSQL frees it when the daemon's connection ends,
        however the daemon ends."""
        conn = await self._pool.acquire()
        held = await conn.fetchval(
            "SELECT pg_try_advisory_lock($1::int, hashtext($2))", WORKER_LOCKS, worker
        )
        if not held:
            await self._pool.release(conn)
            msg = (
                f"{self.where}: another smsgw run uses [dispatcher] worker = {worker!r}; "
                "give each daemon a name of its own"
            )
            raise StoreInUse(msg)
        self._worker = conn

    async def close(self) -> None:
        for conn in self._leading.values():
            await self._pool.release(conn)
        self._leading.clear()
        if self._worker is not None:
            conn, self._worker = self._worker, None
            await self._pool.release(conn)  # the lock goes with the session on close
        await self._pool.close()

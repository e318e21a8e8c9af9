"""What several daemons on one PostgreSQL database settle between them: the one
that leads a role (``Store.lead``: the events publisher) and one daemon per
worker name (``Store.hold_worker``).

Both are session advisory locks, each on a pooled connection kept out of the
pool for as long as it is held: PostgreSQL frees them when that connection
ends, however the daemon ends (a clean stop, SIGKILL, a lost machine), and
another daemon takes them.
"""

from __future__ import annotations

import math
import time
from typing import Any

import asyncpg

from gateway.model.errors import StoreInUse
from gateway.store.postgres.connect import SERVER_GONE

# the first key of the worker-name advisory locks (the second: the name's hash)
WORKER_LOCKS = 0x534D5357  # "SMSW"
ROLE_LOCKS = 0x534D534C  # "SMSL": the roles one daemon leads (Store.lead)
LEAD_RECHECK = 1.0  # seconds a role's answer is kept before asking the server again
# a leader's connection that fails its liveness check: its session and lock are gone
LIVENESS_FAILED: tuple[type[BaseException], ...] = (asyncpg.PostgresError, *SERVER_GONE)


class Daemons:
    def __init__(self, pool: asyncpg.Pool, *, where: str, lead_recheck: float) -> None:
        self._pool = pool
        self._where = where
        self._lead_recheck = lead_recheck
        self._worker: Any = None  # the connection holding this daemon's worker name
        self._leading: dict[str, Any] = {}  # role -> the connection holding its lock
        self._asked: dict[str, float] = {}  # role -> monotonic time of the last answer

    async def lead(self, role: str) -> bool:
        """A session advisory lock per role, on a connection of its own: the daemon
        holding it leads until that connection ends (the daemon's end frees it), and
        the others try again every ``lead_recheck`` seconds (:data:`LEAD_RECHECK`)."""
        now = time.monotonic()
        if now - self._asked.get(role, -math.inf) < self._lead_recheck:
            return role in self._leading
        self._asked[role] = now
        try:
            return await self._try_lead(role)
        except SERVER_GONE:
            return False  # no server, no leader: asked again after the recheck time

    async def _try_lead(self, role: str) -> bool:
        conn = self._leading.get(role)
        if conn is not None:
            try:
                await conn.fetchval("SELECT 1")  # the session (and its lock) is alive
            except LIVENESS_FAILED:
                del self._leading[role]
                conn.terminate()  # its session, and the lock with it, are gone
                await self._pool.release(conn)
                return False
            return True
        conn = await self._pool.acquire()
        try:
            held = await conn.fetchval(
                "SELECT pg_try_advisory_lock($1::int, hashtext($2))", ROLE_LOCKS, role
            )
        except BaseException:
            conn.terminate()  # a lock it may have taken ends with its session
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
                f"{self._where}: another smsgw run uses [dispatcher] worker = {worker!r}; "
                "give each daemon a name of its own"
            )
            raise StoreInUse(msg)
        self._worker = conn

    async def close(self) -> None:
        """Give the locks back, then their connections to the pool (which does not
        reset sessions: gateway/store/postgres/connect.py ``keep_session``)."""
        for conn in self._leading.values():
            await self._give_back(conn)
        self._leading.clear()
        if self._worker is not None:
            conn, self._worker = self._worker, None
            await self._give_back(conn)

    async def _give_back(self, conn: Any) -> None:
        try:
            await conn.execute("SELECT pg_advisory_unlock_all()")
        except LIVENESS_FAILED:
            conn.terminate()  # its session, and its locks with it, end here
        await self._pool.release(conn)

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
from collections.abc import AsyncIterator, Sequence
from typing import Any

import asyncpg

from gateway.model.clock import SYSTEM_CLOCK, Clock
from gateway.model.message import SenderKind, SenderStatus
from gateway.model.records import (
    Account,
    ApiToken,
    Balance,
    InboundMessage,
    LedgerEntry,
    LedgerResult,
    MetricCount,
    Phonebook,
    PhonebookContact,
    Price,
    SendContext,
    Sender,
    WriterStats,
)
from gateway.model.secrets import Secret
from gateway.store.base import KEEP, Keep
from gateway.store.postgres import admin, ledger
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
    async def create_account(self, name: str) -> Account:
        async with self._write() as conn:
            return await admin.create_account(conn, name, self._clock())

    async def get_account(self, name: str) -> Account:
        async with self._read() as conn:
            return await admin.require_account(conn, name)

    async def list_accounts(self) -> list[Account]:
        async with self._read() as conn:
            return await admin.list_accounts(conn)

    async def set_account(
        self,
        name: str,
        *,
        credit_limit: int | Keep = KEEP,
        monthly_cap: int | Keep | None = KEEP,
        alert_below: int | Keep | None = KEEP,
    ) -> Account:
        async with self._write() as conn:
            return await admin.set_account(conn, name, credit_limit, monthly_cap, alert_below)

    async def create_token(self, account: str) -> tuple[ApiToken, str]:
        async with self._write() as conn:
            return await admin.create_token(conn, account, self._clock())

    async def account_for_token(self, token: str) -> str | None:
        async with self._read() as conn:
            return await admin.account_for_token(conn, token)

    async def list_tokens(self, account: str | None = None) -> list[ApiToken]:
        async with self._read() as conn:
            return await admin.list_tokens(conn, account)

    async def revoke_token(self, token_id: int, *, account: str | None = None) -> ApiToken:
        async with self._write() as conn:
            return await admin.revoke_token(conn, token_id, account)

    # the account's webhook signing secret (admin.py)
    async def webhook_secret(self, account: str) -> bytes:
        async with self._read() as conn:
            secret = await admin.webhook_secret(conn, account)
        if not secret:  # an account row written without one: make it now
            async with self._write() as conn:
                secret = await admin.ensure_webhook_secret(conn, account)
        return secret.encode()

    async def rotate_webhook_secret(self, account: str) -> str:
        async with self._write() as conn:
            return await admin.rotate_webhook_secret(conn, account)

    # --- senders, prices, phonebooks (admin.py) --------------------------------
    async def add_sender(self, account: str, value: str, kind: SenderKind) -> Sender:
        async with self._write() as conn:
            return await admin.add_sender(conn, account, value, kind, self._clock())

    async def set_sender_status(
        self, account: str, value: str, status: SenderStatus, *, reason: str | None = None
    ) -> Sender:
        async with self._write() as conn:
            return await admin.set_sender_status(
                conn, account, value, status, reason=reason, now=self._clock()
            )

    async def get_sender(self, account: str, value: str) -> Sender | None:
        async with self._read() as conn:
            return await admin.get_sender(conn, account, value)

    async def list_senders(self, account: str) -> list[Sender]:
        async with self._read() as conn:
            return await admin.list_senders(conn, account)

    async def sender_owners(self, value: str) -> list[str]:
        async with self._read() as conn:
            return await admin.sender_owners(conn, value)

    async def set_price(
        self, prefix: str, per_segment: int, *, account: str | None = None
    ) -> Price:
        async with self._write() as conn:
            return await admin.set_price(conn, prefix, per_segment, account)

    async def list_prices(self, *, account: str | None = None) -> list[Price]:
        async with self._read() as conn:
            return await admin.list_prices(conn, account)

    async def send_context(self, account: str, sender: str) -> SendContext:
        async with self._read() as conn:
            return await admin.send_context(conn, account, sender)

    async def create_phonebook(self, account: str, name: str) -> Phonebook:
        async with self._write() as conn:
            return await admin.create_phonebook(conn, account, name, self._clock())

    async def import_contacts(
        self, account: str, name: str, contacts: Sequence[PhonebookContact]
    ) -> tuple[int, int]:
        async with self._write() as conn:
            return await admin.import_contacts(conn, account, name, contacts)

    async def list_phonebooks(self, account: str) -> list[Phonebook]:
        async with self._read() as conn:
            return await admin.list_phonebooks(conn, account)

    async def phonebook_contacts(self, account: str, name: str) -> list[PhonebookContact]:
        async with self._read() as conn:
            return await admin.phonebook_contacts(conn, account, name)

    # inbound messages as read (admin.py; they are stored with the message operations)
    async def list_inbound(
        self, *, account: str | None = None, limit: int = 100
    ) -> list[InboundMessage]:
        async with self._read() as conn:
            return await admin.list_inbound(conn, account, limit)

    # --- ledger (ledger.py) ----------------------------------------------------
    async def topup(
        self, account: str, amount: int, *, reference: str, note: str | None = None
    ) -> LedgerResult:
        async with self._write() as conn:
            return await ledger.topup(
                conn, account, amount, reference=reference, note=note, now=self._clock()
            )

    async def adjust(self, account: str, amount: int, *, note: str) -> LedgerResult:
        async with self._write() as conn:
            return await ledger.adjust(conn, account, amount, note, self._clock())

    async def balance(self, account: str) -> Balance:
        async with self._read() as conn:
            return await ledger.balance(conn, account, self._clock())

    async def history(self, account: str, *, limit: int | None = None) -> list[LedgerEntry]:
        async with self._read() as conn:
            return await ledger.history(conn, account, limit)

    async def verify_ledger(self) -> dict[str, tuple[int, int]]:
        async with self._read() as conn:
            return await ledger.verify(conn)

    # --- counters for the daemon's metrics (admin.py) ---------------------------
    async def add_metric_counts(self, counts: Sequence[MetricCount]) -> None:
        if counts:
            async with self._write() as conn:
                await admin.add_metric_counts(conn, counts)

    async def take_metric_counts(self) -> list[MetricCount]:
        async with self._write() as conn:
            return await admin.take_metric_counts(conn)

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

"""``PostgresStore``: the :class:`~gateway.store.base.Store` interface on PostgreSQL.

Several daemons share one database: every write is a transaction of its
own on a pooled connection (asyncpg; the enqueue calls of this process
several per transaction, gateway/store/postgres/grouping.py), rows that
concurrent writers could both change are locked first (``SELECT ... FOR
UPDATE``: an account before its debit, or the ``UPDATE`` of the simple
enqueue's one statement, gateway/store/postgres/enqueue_fast.py, so that two
daemons never overdraw it nor pass its monthly cap),
claims take due messages with ``FOR UPDATE SKIP LOCKED`` (two dispatchers
never claim the same message), the parts of one reply are added under the
reply's advisory lock (gateway/store/postgres/inbound.py: stored once,
whichever daemons' binds they came on), and every status event is written in the
transaction of its change (the outbox, gateway.store.payloads). The
business rules are the backend-neutral ones every backend calls
(gateway.store.admission, gateway.store.outcomes,
gateway.accounting.ledger.AccountState); this module loads and saves.

It is past ~400 lines on purpose: one short method per Store operation,
each a transaction (or a read) around the function of the module that does
it (admin, senders, ledger, enqueue, queue, dispatch, events, webhooks;
the daemons' locks in daemons.py), and nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import asyncpg

from gateway.link.interface import InboundPart, Receipt
from gateway.model.clock import SYSTEM_CLOCK, Clock
from gateway.model.errors import StoreUnavailable
from gateway.model.esme import EsmeCredential, EsmeDelivery
from gateway.model.ids import new_id
from gateway.model.logins import ConsoleSession, Login, LoginRole
from gateway.model.message import MessageState, SenderKind, SenderStatus
from gateway.model.orders import Order, OrderPayment, OrderStatus, StopEntry, StopSource
from gateway.model.records import (
    Account,
    ApiToken,
    Balance,
    EnqueueResult,
    EsmeDeliveryCount,
    InboundMessage,
    Lease,
    LedgerEntry,
    LedgerResult,
    Message,
    MessageView,
    MetricCount,
    NewMessage,
    OperatorToken,
    OutboxBatch,
    OutcomeRecord,
    Phonebook,
    PhonebookContact,
    Price,
    QueueChanges,
    ReassembledReply,
    SendContext,
    Sender,
    WebhookEvent,
    WebhookRecord,
    WriterStats,
)
from gateway.model.secrets import Secret
from gateway.store.base import KEEP, Keep
from gateway.store.esme_credentials import check_bind_row, new_credential
from gateway.store.postgres import (
    admin,
    console,
    dispatch,
    enqueue_fast,
    esme,
    events,
    inbound,
    ledger,
    operator_tokens,
    orders,
    senders,
    stoplist,
    webhooks,
)
from gateway.store.postgres import enqueue as enq
from gateway.store.postgres import esme_deliveries as to_esmes
from gateway.store.postgres import queue as mq
from gateway.store.postgres.connect import POOL_MAX, POOL_MIN, SERVER_GONE, open_pool
from gateway.store.postgres.daemons import LEAD_RECHECK, Daemons
from gateway.store.postgres.grouping import GroupCommit
from gateway.store.spans import InboundSpan, JournalSpan, MessageSpan


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
        self._daemons = Daemons(pool, where=where, lead_recheck=lead_recheck)
        self.where = where  # the database, as errors and logs name it (no password)
        self._clock = clock
        self.mqtt_outbox = mqtt_outbox
        self._stats = WriterStats()
        self._enqueues: GroupCommit[enq.PreparedEnqueue, EnqueueResult] = GroupCommit(
            self._enqueue_many
        )

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
    async def _write(self, *, transaction: bool = True) -> AsyncIterator[Any]:
        """A connection in a transaction: committed when the block ends, rolled back
        when it raises; counted in :meth:`writer_stats`. A server gone away (down,
        restarting) is :class:`StoreUnavailable`: the work was not done.
        ``transaction=False``: each statement commits alone (work that needs no more)."""
        started = time.perf_counter()
        try:
            async with self._pool.acquire() as conn:
                if transaction:
                    async with conn.transaction():
                        yield conn
                else:
                    yield conn
        except SERVER_GONE as exc:
            raise self._unavailable(exc) from None
        s = self._stats
        self._stats = WriterStats(
            transactions=s.transactions + 1,
            busy_seconds=s.busy_seconds + time.perf_counter() - started,
        )

    @contextlib.asynccontextmanager
    async def _read(self) -> AsyncIterator[Any]:
        """A connection for reads (each statement sees committed data)."""
        try:
            async with self._pool.acquire() as conn:
                yield conn
        except SERVER_GONE as exc:
            raise self._unavailable(exc) from None

    def _unavailable(self, exc: BaseException) -> StoreUnavailable:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        return StoreUnavailable(f"{self.where}: the server is unreachable ({reason})")

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

    async def create_token(self, account: str, *, name: str | None = None) -> tuple[ApiToken, str]:
        async with self._write() as conn:
            return await admin.create_token(conn, account, name, self._clock())

    async def account_for_token(self, token: str) -> str | None:
        async with self._read() as conn:
            return await admin.account_for_token(conn, token)

    async def list_tokens(self, account: str | None = None) -> list[ApiToken]:
        async with self._read() as conn:
            return await admin.list_tokens(conn, account)

    async def revoke_token(self, token_id: int, *, account: str | None = None) -> ApiToken:
        async with self._write() as conn:
            return await admin.revoke_token(conn, token_id, account)

    async def create_operator_token(self, name: str) -> tuple[OperatorToken, str]:
        async with self._write() as conn:
            return await operator_tokens.create(conn, name, self._clock())

    async def operator_for_token(self, token: str) -> OperatorToken | None:
        async with self._read() as conn:
            return await operator_tokens.for_token(conn, token)

    async def list_operator_tokens(self) -> list[OperatorToken]:
        async with self._read() as conn:
            return await operator_tokens.list_all(conn)

    async def revoke_operator_token(self, token_id: int) -> OperatorToken:
        async with self._write() as conn:
            return await operator_tokens.revoke(conn, token_id, self._clock())

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
    async def add_sender(
        self, account: str, value: str, kind: SenderKind, *, reason: str | None = None
    ) -> Sender:
        async with self._write() as conn:
            return await senders.add_sender(
                conn, account, value, kind, self._clock(), reason=reason
            )

    async def set_sender_status(
        self, account: str, value: str, status: SenderStatus, *, reason: str | None = None
    ) -> Sender:
        async with self._write() as conn:
            return await senders.set_sender_status(
                conn, account, value, status, reason=reason, now=self._clock()
            )

    async def get_sender(self, account: str, value: str) -> Sender | None:
        async with self._read() as conn:
            return await senders.get_sender(conn, account, value)

    async def list_senders(self, account: str) -> list[Sender]:
        async with self._read() as conn:
            return await senders.list_senders(conn, account)

    async def sender_owners(self, value: str) -> list[str]:
        async with self._read() as conn:
            return await senders.sender_owners(conn, value)

    async def set_price(
        self, prefix: str, per_segment: int, *, account: str | None = None
    ) -> Price:
        async with self._write() as conn:
            return await senders.set_price(conn, prefix, per_segment, account)

    async def list_prices(self, *, account: str | None = None) -> list[Price]:
        async with self._read() as conn:
            return await senders.list_prices(conn, account)

    async def send_context(self, account: str, sender: str) -> SendContext:
        async with self._read() as conn:
            return await senders.send_context(conn, account, sender)

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
        self,
        *,
        account: str | None = None,
        limit: int = 100,
        since: float | None = None,
        until: float | None = None,
        before: str | None = None,
    ) -> list[InboundMessage]:
        span = InboundSpan(since=since, until=until, before=before)
        async with self._read() as conn:
            return await admin.list_inbound(conn, account, limit, span)

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

    async def history(
        self,
        account: str,
        *,
        limit: int | None = None,
        since: float | None = None,
        until: float | None = None,
        before: int | None = None,
    ) -> list[LedgerEntry]:
        span = JournalSpan(since=since, until=until, before=before)
        async with self._read() as conn:
            return await ledger.history(conn, account, limit, span)

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
    async def enqueue(
        self, batch: Sequence[NewMessage], *, lease: Lease | None = None
    ) -> EnqueueResult:
        work = enq.prepare_enqueue(batch, self._clock(), outbox=self.mqtt_outbox, lease=lease)
        return await self._enqueues.submit(work)  # grouping.py: with the calls queued meanwhile

    async def _enqueue_many(
        self, works: Sequence[enq.PreparedEnqueue]
    ) -> list[EnqueueResult | Exception]:
        if enqueue_fast.simple(works):  # one statement, committed alone (enqueue_fast.py)
            async with self._write(transaction=False) as conn:
                done = await enqueue_fast.enqueue_simple(conn, works)
            if done is not None:
                return done
        async with self._write() as conn:
            return await enq.enqueue_many(conn, works)

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
        until: float | None = None,
        before: tuple[float, str] | None = None,
        limit: int = 100,
    ) -> list[Message]:
        span = MessageSpan(since=since, until=until, before=before)
        async with self._read() as conn:
            return await mq.list_messages(conn, account, state, span, limit)

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
        # two statements, each its own transaction (no BEGIN and COMMIT round trips):
        # leases taken back need not wait for the claim, nor the claim for them
        async with self._write(transaction=False) as conn:
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
    async def add_inbound(self, message: InboundMessage, *, stop: bool = False) -> None:
        add = stoplist.add_stopping_reply if stop else events.add_inbound
        async with self._write() as conn:
            await add(conn, message, outbox=self.mqtt_outbox)

    async def add_inbound_part(
        self, part: InboundPart, *, account: str | None, now: float
    ) -> ReassembledReply | None:
        async with self._write() as conn:
            return await inbound.add_inbound_part(
                conn, part, account, new_id(now), outbox=self.mqtt_outbox
            )

    async def expire_inbound_parts(
        self, *, before: float, now: float, limit: int = 100
    ) -> list[ReassembledReply]:
        async with self._read() as conn:
            keys = await inbound.silent_keys(conn, before, limit)
        if not keys:
            return []  # nothing to release: no write transaction
        async with self._write() as conn:
            return await inbound.expire_inbound_parts(
                conn, keys, before, now, outbox=self.mqtt_outbox
            )

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

    # --- receipts and replies for ESMEs ---------------------------------------------
    async def take_deliveries(
        self, system_id: str, *, owner: str, limit: int, now: float, lease: float
    ) -> list[EsmeDelivery]:
        async with self._write() as conn:
            return await to_esmes.take_deliveries(
                conn, system_id, owner=owner, limit=limit, now=now, lease=lease
            )

    async def deliveries_done(self, ids: Sequence[int]) -> None:
        if ids:
            async with self._write() as conn:
                await to_esmes.deliveries_done(conn, list(ids), self._clock())

    async def delivery_retry(self, id: int, *, at: float) -> None:  # noqa: A002
        async with self._write() as conn:
            await to_esmes.delivery_retry(conn, id, at)

    async def release_deliveries(self, owner: str, ids: Sequence[int] = ()) -> int:
        async with self._write() as conn:
            return await to_esmes.release_deliveries(conn, owner, list(ids))

    async def expire_deliveries(
        self, *, before: float, delivered_before: float | None = None
    ) -> list[EsmeDeliveryCount]:
        async with self._write() as conn:
            return await to_esmes.expire_deliveries(conn, before, delivered_before)

    async def pending_deliveries(self) -> list[EsmeDeliveryCount]:
        async with self._read() as conn:
            return await to_esmes.pending_deliveries(conn)

    # --- credit orders and the stoplist (orders.py, stoplist.py) -------------------
    async def create_order(self, account: str, amount: int) -> Order:
        async with self._write() as conn:
            return await orders.create_order(conn, account, amount, self._clock())

    async def get_order(self, order_id: int) -> Order:
        async with self._read() as conn:
            return await orders.get_order(conn, order_id)

    async def list_orders(
        self,
        *,
        account: str | None = None,
        status: OrderStatus | None = None,
        limit: int = 100,
    ) -> list[Order]:
        async with self._read() as conn:
            return await orders.list_orders(conn, account, status, limit)

    async def pay_order(self, order_id: int, *, payment_ref: str | None = None) -> OrderPayment:
        async with self._write() as conn:
            return await orders.pay_order(conn, order_id, payment_ref, self._clock())

    async def cancel_order(self, order_id: int) -> Order:
        async with self._write() as conn:
            return await orders.cancel_order(conn, order_id, self._clock())

    async def add_stop(
        self, account: str, number: str, *, source: StopSource = StopSource.OPERATOR
    ) -> tuple[StopEntry, bool]:
        async with self._write() as conn:
            return await stoplist.add_stop(conn, account, number, source, self._clock())

    async def remove_stop(self, account: str, number: str) -> StopEntry:
        async with self._write() as conn:
            return await stoplist.remove_stop(conn, account, number)

    async def list_stops(self, account: str) -> list[StopEntry]:
        async with self._read() as conn:
            return await stoplist.list_stops(conn, account)

    async def stopped_numbers(self, account: str, numbers: Sequence[str]) -> set[str]:
        if not numbers:
            return set()
        async with self._read() as conn:
            return await stoplist.stopped_numbers(conn, account, numbers)

    # --- the pool -------------------------------------------------------------------

    def writer_stats(self) -> WriterStats:
        """Write transactions of this process so far and their time (metrics)."""
        return self._stats

    async def ping(self) -> None:
        async with self._read() as conn:
            await conn.fetchval("SELECT 1")

    async def lead(self, role: str) -> bool:
        return await self._daemons.lead(role)

    async def hold_worker(self, worker: str) -> None:
        await self._daemons.hold_worker(worker)

    # --- ESME credentials (esme.py) -------------------------------------------------
    async def create_esme_credential(
        self,
        account: str,
        system_id: str,
        *,
        max_binds: int = 1,
        throughput: int | None = None,
        allow: Sequence[str] = (),
        options: Sequence[str] = (),
    ) -> tuple[EsmeCredential, str]:
        made = await asyncio.to_thread(
            new_credential,
            account=account,
            system_id=system_id,
            max_binds=max_binds,
            throughput=throughput,
            allow=allow,
            options=options,
            now=self._clock(),
        )
        async with self._write() as conn:
            stored = await esme.create(conn, made.credential, made.password_hash)
        return stored, made.password

    async def list_esme_credentials(self, account: str | None = None) -> list[EsmeCredential]:
        async with self._read() as conn:
            return await esme.list_all(conn, account)

    async def remove_esme_credential(self, account: str, system_id: str) -> EsmeCredential:
        async with self._write() as conn:
            return await esme.remove(conn, account, system_id)

    async def set_esme_password(self, account: str, system_id: str) -> str:
        async with self._write() as conn:
            return await esme.set_password(conn, account, system_id)

    async def esme_credential_for_bind(self, system_id: str, password: str) -> EsmeCredential:
        async with self._read() as conn:
            row = await esme.bind_row(conn, system_id)
        # scrypt takes tens of milliseconds: in a thread, the connection back in the pool
        return await asyncio.to_thread(check_bind_row, system_id, password, row)

    # --- web console: logins and sessions (console.py) --------------------------
    async def create_login(
        self, account: str, email: str, role: LoginRole, password_hash: str
    ) -> Login:
        async with self._write() as conn:
            return await console.create_login(
                conn, account, email, role, password_hash, self._clock()
            )

    async def get_login(self, email: str) -> Login | None:
        async with self._read() as conn:
            return await console.get_login(conn, email)

    async def list_logins(self, account: str | None = None) -> list[Login]:
        async with self._read() as conn:
            return await console.list_logins(conn, account)

    async def disable_login(self, email: str) -> Login:
        async with self._write() as conn:
            return await console.disable_login(conn, email)

    async def set_login_password(
        self, email: str, password_hash: str, *, must_change: bool = False
    ) -> Login:
        async with self._write() as conn:
            return await console.set_login_password(conn, email, password_hash, must_change)

    async def login_failed(self, email: str, *, max_failures: int, lock_seconds: float) -> Login:
        async with self._write() as conn:
            return await console.login_failed(
                conn, email, max_failures, lock_seconds, self._clock()
            )

    async def create_session(self, email: str, *, ttl: float) -> tuple[ConsoleSession, str]:
        async with self._write() as conn:
            return await console.create_session(conn, email, ttl, self._clock())

    async def get_session(self, token: str) -> ConsoleSession | None:
        async with self._read() as conn:
            return await console.get_session(conn, token, self._clock())

    async def end_session(self, token: str) -> None:
        async with self._write() as conn:
            await console.end_session(conn, token)

    async def remove_contact(self, account: str, name: str, number: str) -> None:
        async with self._write() as conn:
            await console.remove_contact(conn, account, name, number)

    async def close(self) -> None:
        await self._enqueues.close()
        await self._daemons.close()
        await self._pool.close()

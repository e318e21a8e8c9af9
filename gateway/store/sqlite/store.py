"""``SqliteStore``: the :class:`~gateway.store.base.Store` interface on SQLite."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping, Sequence
from typing import Any

from gateway.link.interface import InboundPart, Receipt
from gateway.model.clock import Clock
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
from gateway.store.base import KEEP, Keep
from gateway.store.esme_credentials import check_bind_row, new_credential
from gateway.store.spans import InboundSpan, JournalSpan, MessageSpan
from gateway.store.sqlite import (
    admin,
    console,
    dispatch,
    esme,
    events,
    inbound,
    ledger,
    metric_counts,
    operator_tokens,
    orders,
    stoplist,
    webhooks,
)
from gateway.store.sqlite import enqueue as enq
from gateway.store.sqlite import esme_deliveries as to_esmes
from gateway.store.sqlite import queue as mq
from gateway.store.sqlite.engine import Engine


def _enqueue_prepared(conn: Any, work: enq.PreparedEnqueue) -> EnqueueResult:
    return enq.enqueue(conn, work, work.now)


def _enqueues_merged(conn: Any, calls: list[tuple[Any, ...]]) -> list[tuple[bool, Any]]:
    """The enqueues of one transaction as one (the Engine's ``merge``)."""
    results = enq.enqueue_many(conn, [work for (work,) in calls])
    return [(not isinstance(r, Exception), r) for r in results]


class SqliteStore:
    """Every method is a coroutine; writes are group-committed by :class:`Engine`.

    ``mqtt_outbox``: write MQTT outbox rows (status, inbound events). The
    daemon turns it off when it has no ``[mqtt]``: nothing would publish them.
    """

    def __init__(self, *, engine: Engine, clock: Clock, mqtt_outbox: bool = True) -> None:
        self._engine = engine
        self._clock = clock
        self.mqtt_outbox = mqtt_outbox

    @property
    def path(self) -> str:
        return self._engine.path

    def writer_stats(self) -> WriterStats:
        """What this process's writer did so far (metrics)."""
        return self._engine.stats()

    # --- accounts and tokens ---------------------------------------------------
    async def create_account(self, name: str) -> Account:
        return await self._engine.write(admin.create_account, name, self._clock())

    async def get_account(self, name: str) -> Account:
        return await self._engine.read(admin.get_account, name)

    async def list_accounts(self) -> list[Account]:
        return await self._engine.read(admin.list_accounts)

    async def set_account(
        self,
        name: str,
        *,
        credit_limit: int | Keep = KEEP,
        monthly_cap: int | Keep | None = KEEP,
        alert_below: int | Keep | None = KEEP,
    ) -> Account:
        return await self._engine.write(
            admin.set_account, name, credit_limit, monthly_cap, alert_below
        )

    async def create_token(self, account: str, *, name: str | None = None) -> tuple[ApiToken, str]:
        return await self._engine.write(admin.create_token, account, name, self._clock())

    async def account_for_token(self, token: str) -> str | None:
        return await self._engine.read(admin.account_for_token, token)

    async def list_tokens(self, account: str | None = None) -> list[ApiToken]:
        return await self._engine.read(admin.list_tokens, account)

    async def revoke_token(self, token_id: int, *, account: str | None = None) -> ApiToken:
        return await self._engine.write(admin.revoke_token, token_id, account)

    async def create_operator_token(self, name: str) -> tuple[OperatorToken, str]:
        return await self._engine.write(operator_tokens.create, name, self._clock())

    async def operator_for_token(self, token: str) -> OperatorToken | None:
        return await self._engine.read(operator_tokens.for_token, token)

    async def list_operator_tokens(self) -> list[OperatorToken]:
        return await self._engine.read(operator_tokens.list_all)

    async def revoke_operator_token(self, token_id: int) -> OperatorToken:
        return await self._engine.write(operator_tokens.revoke, token_id, self._clock())

    # --- senders, prices, phonebooks -------------------------------------------
    async def add_sender(
        self, account: str, value: str, kind: SenderKind, *, reason: str | None = None
    ) -> Sender:
        return await self._engine.write(
            admin.add_sender, account, value, kind, self._clock(), reason=reason
        )

    async def set_sender_status(
        self, account: str, value: str, status: SenderStatus, *, reason: str | None = None
    ) -> Sender:
        return await self._engine.write(
            admin.set_sender_status, account, value, status, reason=reason, now=self._clock()
        )

    async def get_sender(self, account: str, value: str) -> Sender | None:
        return await self._engine.read(admin.get_sender, account, value)

    async def list_senders(self, account: str) -> list[Sender]:
        return await self._engine.read(admin.list_senders, account)

    async def sender_owners(self, value: str) -> list[str]:
        return await self._engine.read(admin.sender_owners, value)

    async def set_price(
        self, prefix: str, per_segment: int, *, account: str | None = None
    ) -> Price:
        return await self._engine.write(admin.set_price, prefix, per_segment, account)

    async def list_prices(self, *, account: str | None = None) -> list[Price]:
        return await self._engine.read(admin.list_prices, account)

    async def send_context(self, account: str, sender: str) -> SendContext:
        return await self._engine.read(admin.send_context, account, sender)

    async def create_phonebook(self, account: str, name: str) -> Phonebook:
        return await self._engine.write(admin.create_phonebook, account, name, self._clock())

    async def import_contacts(
        self, account: str, name: str, contacts: Sequence[PhonebookContact]
    ) -> tuple[int, int]:
        return await self._engine.write(admin.import_contacts, account, name, contacts)

    async def list_phonebooks(self, account: str) -> list[Phonebook]:
        return await self._engine.read(admin.list_phonebooks, account)

    async def phonebook_contacts(self, account: str, name: str) -> list[PhonebookContact]:
        return await self._engine.read(admin.phonebook_contacts, account, name)

    # --- ledger ----------------------------------------------------------------
    async def topup(
        self, account: str, amount: int, *, reference: str, note: str | None = None
    ) -> LedgerResult:
        return await self._engine.write(
            ledger.topup, account, amount, reference=reference, note=note, now=self._clock()
        )

    async def adjust(self, account: str, amount: int, *, note: str) -> LedgerResult:
        return await self._engine.write(ledger.adjust, account, amount, note, self._clock())

    async def balance(self, account: str) -> Balance:
        return await self._engine.read(ledger.balance, account, self._clock())

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
        return await self._engine.read(ledger.history, account, limit, span)

    async def verify_ledger(self) -> dict[str, tuple[int, int]]:
        return await self._engine.read(ledger.verify)

    # --- messages ----------------------------------------------------------------
    async def enqueue(
        self, batch: Sequence[NewMessage], *, lease: Lease | None = None
    ) -> EnqueueResult:
        prepare = functools.partial(
            enq.prepare_enqueue, batch, self._clock(), outbox=self.mqtt_outbox, lease=lease
        )
        return await self._engine.write(
            _enqueue_prepared, prepare=prepare, bulk=len(batch), merge=_enqueues_merged
        )

    async def get_messages(self, ids: Sequence[str]) -> list[Message]:
        return await self._engine.read(mq.get_messages, list(ids))

    async def release(self, worker: str, ids: Sequence[str]) -> int:
        if not ids:
            return 0
        return await self._engine.write(mq.release, worker, list(ids), self._clock())

    async def leased_to(self, worker: str) -> list[str]:
        return await self._engine.read(mq.leased_to, worker)

    async def get_message(self, message_id: str) -> MessageView:
        return await self._engine.read(mq.get_message, message_id)

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
        return await self._engine.read(mq.list_messages, account, state, span, limit)

    async def count_by_state(self) -> dict[MessageState, int]:
        return await self._engine.read(mq.count_by_state)

    async def queue_depths(self) -> dict[MessageState, int]:
        return await self._engine.read(mq.queue_depths)

    async def ping(self) -> None:
        await self._engine.read(mq.ping)

    async def cancel(self, message_id: str) -> QueueChanges:
        return await self._engine.write(
            mq.cancel, message_id, self._clock(), outbox=self.mqtt_outbox
        )

    async def finish(
        self, message_id: str, state: MessageState, *, reason: str | None = None
    ) -> QueueChanges:
        await self.get_message(message_id)  # NotFound before taking the write lock
        return await self._engine.write(
            dispatch.finish, message_id, state, reason, self._clock(), outbox=self.mqtt_outbox
        )

    async def claim_due(
        self, worker: str, *, now: float, limit: int, lease_seconds: float
    ) -> list[Message]:
        return await self._engine.write(mq.claim_due, worker, now, limit, lease_seconds)

    async def release_leases(self, worker: str) -> int:
        return await self._engine.write(mq.release_leases, worker, self._clock())

    async def wake_waiting(self, *, reasons: Sequence[str], now: float, within: float) -> int:
        if not reasons:
            return 0
        return await self._engine.write(mq.wake_waiting, list(reasons), now, within, urgent=True)

    async def expire_unconfirmed(self, *, before: float, limit: int = 1000) -> QueueChanges:
        return await self._engine.write(
            dispatch.expire_unconfirmed, before, limit, self._clock(), outbox=self.mqtt_outbox
        )

    async def record_outcomes(self, batch: Sequence[OutcomeRecord], *, now: float) -> QueueChanges:
        # urgent: a link's next segments wait for these to be recorded
        return await self._engine.write(
            dispatch.record_outcomes, batch, now, outbox=self.mqtt_outbox, urgent=True
        )

    async def record_receipts(self, batch: Sequence[Receipt], *, now: float) -> QueueChanges:
        return await self._engine.write(
            dispatch.record_receipts, batch, now, outbox=self.mqtt_outbox
        )

    async def record(
        self, outcomes: Sequence[OutcomeRecord], receipts: Sequence[Receipt], *, now: float
    ) -> QueueChanges:
        # urgent when it carries outcomes: a link's next segments may wait for them
        return await self._engine.write(
            dispatch.record, outcomes, receipts, now, outbox=self.mqtt_outbox, urgent=bool(outcomes)
        )

    # --- inbound -----------------------------------------------------------------
    async def add_inbound(self, message: InboundMessage, *, stop: bool = False) -> None:
        add = stoplist.add_stopping_reply if stop else events.add_inbound
        await self._engine.write(add, message, outbox=self.mqtt_outbox)

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
        return await self._engine.read(admin.list_inbound, account, limit, span)

    async def add_inbound_part(
        self, part: InboundPart, *, account: str | None, now: float
    ) -> ReassembledReply | None:
        return await self._engine.write(
            inbound.add_inbound_part, part, account, new_id(now), outbox=self.mqtt_outbox
        )

    async def expire_inbound_parts(
        self, *, before: float, now: float, limit: int = 100
    ) -> list[ReassembledReply]:
        keys = await self._engine.read(inbound.silent_keys, before, limit)
        if not keys:
            return []  # nothing to release: no write transaction
        return await self._engine.write(
            inbound.expire_inbound_parts, keys, before, now, outbox=self.mqtt_outbox
        )

    # --- credit orders and the stoplist (orders.py, stoplist.py) -------------------
    async def create_order(self, account: str, amount: int) -> Order:
        return await self._engine.write(orders.create_order, account, amount, self._clock())

    async def get_order(self, order_id: int) -> Order:
        return await self._engine.read(orders.get_order, order_id)

    async def list_orders(
        self,
        *,
        account: str | None = None,
        status: OrderStatus | None = None,
        limit: int = 100,
    ) -> list[Order]:
        return await self._engine.read(orders.list_orders, account, status, limit)

    async def pay_order(self, order_id: int, *, payment_ref: str | None = None) -> OrderPayment:
        return await self._engine.write(orders.pay_order, order_id, payment_ref, self._clock())

    async def cancel_order(self, order_id: int) -> Order:
        return await self._engine.write(orders.cancel_order, order_id, self._clock())

    async def add_stop(
        self, account: str, number: str, *, source: StopSource = StopSource.OPERATOR
    ) -> tuple[StopEntry, bool]:
        return await self._engine.write(stoplist.add_stop, account, number, source, self._clock())

    async def remove_stop(self, account: str, number: str) -> StopEntry:
        return await self._engine.write(stoplist.remove_stop, account, number)

    async def list_stops(self, account: str) -> list[StopEntry]:
        return await self._engine.read(stoplist.list_stops, account)

    async def stopped_numbers(self, account: str, numbers: Sequence[str]) -> set[str]:
        if not numbers:
            return set()
        return await self._engine.read(stoplist.stopped_numbers, account, list(numbers))

    # --- event outbox -------------------------------------------------------------
    async def add_event(self, *, account: str, kind: str, payload: Mapping[str, Any]) -> int:
        return await self._engine.write(events.add_event, account, kind, payload, self._clock())

    async def pending_mqtt_events(self, *, limit: int) -> list[OutboxBatch]:
        return await self._engine.read(events.pending_mqtt_events, limit)

    async def ack_mqtt_events(self, batches: Sequence[int]) -> None:
        if batches:
            await self._engine.write(events.ack_mqtt_events, list(batches))

    async def due_webhooks(
        self,
        *,
        now: float,
        limit: int,
        after: int = 0,
    ) -> list[WebhookEvent]:
        return await self._engine.read(webhooks.due_webhooks, now, limit, after)

    async def webhook_done(self, id: int) -> None:  # noqa: A002 (the API's name)
        await self._engine.write(webhooks.webhook_done, id)

    async def webhook_retry(self, id: int, *, at: float, error: str) -> None:  # noqa: A002
        await self._engine.write(webhooks.webhook_retry, id, at, error)

    async def webhook_failed(self, id: int, *, error: str) -> None:  # noqa: A002
        await self._engine.write(webhooks.webhook_failed, id, error)

    async def list_webhooks(
        self,
        *,
        account: str | None = None,
        state: str | None = None,
        limit: int = 100,
    ) -> list[WebhookRecord]:
        return await self._engine.read(webhooks.list_webhooks, account, state, limit)

    async def retry_webhooks(
        self,
        ids: Sequence[int] = (),
        *,
        account: str | None = None,
    ) -> int:
        return await self._engine.write(webhooks.retry_webhooks, ids, account, self._clock())

    async def webhook_secret(self, account: str) -> bytes:
        secret = await self._engine.read(webhooks.webhook_secret, account)
        if not secret:  # an account row written without one: make it now
            secret = await self._engine.write(webhooks.ensure_webhook_secret, account)
        return secret.encode()

    async def rotate_webhook_secret(self, account: str) -> str:
        return await self._engine.write(webhooks.rotate_webhook_secret, account)

    # --- counters for the daemon's metrics ---------------------------------------
    async def add_metric_counts(self, counts: Sequence[MetricCount]) -> None:
        if counts:
            await self._engine.write(metric_counts.add_metric_counts, list(counts))

    async def take_metric_counts(self) -> list[MetricCount]:
        return await self._engine.write(metric_counts.take_metric_counts)

    # --- receipts and replies for ESMEs ---------------------------------------------
    async def take_deliveries(
        self, system_id: str, *, owner: str, limit: int, now: float, lease: float
    ) -> list[EsmeDelivery]:
        return await self._engine.write(
            to_esmes.take_deliveries, system_id, owner=owner, limit=limit, now=now, lease=lease
        )

    async def deliveries_done(self, ids: Sequence[int]) -> None:
        if ids:
            await self._engine.write(to_esmes.deliveries_done, list(ids), self._clock())

    async def delivery_retry(self, id: int, *, at: float) -> None:  # noqa: A002
        await self._engine.write(to_esmes.delivery_retry, id, at)

    async def release_deliveries(self, owner: str, ids: Sequence[int] = ()) -> int:
        return await self._engine.write(to_esmes.release_deliveries, owner, list(ids))

    async def expire_deliveries(
        self, *, before: float, delivered_before: float | None = None
    ) -> list[EsmeDeliveryCount]:
        return await self._engine.write(to_esmes.expire_deliveries, before, delivered_before)

    async def pending_deliveries(self) -> list[EsmeDeliveryCount]:
        return await self._engine.read(to_esmes.pending_deliveries)

    async def lead(self, role: str) -> bool:
        """One daemon per SQLite store: it leads everything."""
        return True

    async def hold_worker(self, worker: str) -> None:
        """One daemon per SQLite store already (gateway.store.runlock): nothing to add."""

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
        stored = await self._engine.write(esme.create, made.credential, made.password_hash)
        return stored, made.password

    async def list_esme_credentials(self, account: str | None = None) -> list[EsmeCredential]:
        return await self._engine.read(esme.list_all, account)

    async def remove_esme_credential(self, account: str, system_id: str) -> EsmeCredential:
        return await self._engine.write(esme.remove, account, system_id)

    async def set_esme_password(self, account: str, system_id: str) -> str:
        return await self._engine.write(esme.set_password, account, system_id)

    async def esme_credential_for_bind(self, system_id: str, password: str) -> EsmeCredential:
        row = await self._engine.read(esme.bind_row, system_id)
        # scrypt takes tens of milliseconds: in a thread of its own, not a reader's
        return await asyncio.to_thread(check_bind_row, system_id, password, row)

    # --- web console: logins and sessions (console.py) --------------------------
    async def create_login(
        self, account: str, email: str, role: LoginRole, password_hash: str
    ) -> Login:
        return await self._engine.write(
            console.create_login, account, email, role, password_hash, self._clock()
        )

    async def get_login(self, email: str) -> Login | None:
        return await self._engine.read(console.get_login, email)

    async def list_logins(self, account: str | None = None) -> list[Login]:
        return await self._engine.read(console.list_logins, account)

    async def disable_login(self, email: str) -> Login:
        return await self._engine.write(console.disable_login, email)

    async def set_login_password(
        self, email: str, password_hash: str, *, must_change: bool = False
    ) -> Login:
        return await self._engine.write(
            console.set_login_password, email, password_hash, must_change
        )

    async def login_failed(self, email: str, *, max_failures: int, lock_seconds: float) -> Login:
        return await self._engine.write(
            console.login_failed, email, max_failures, lock_seconds, self._clock()
        )

    async def create_session(self, email: str, *, ttl: float) -> tuple[ConsoleSession, str]:
        return await self._engine.write(console.create_session, email, ttl, self._clock())

    async def get_session(self, token: str) -> ConsoleSession | None:
        return await self._engine.read(console.get_session, token, self._clock())

    async def end_session(self, token: str) -> None:
        await self._engine.write(console.end_session, token)

    async def remove_contact(self, account: str, name: str, number: str) -> None:
        await self._engine.write(console.remove_contact, account, name, number)

    async def close(self) -> None:
        await self._engine.close()

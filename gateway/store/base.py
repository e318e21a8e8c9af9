"""The store interface: what every backend (SQLite now, PostgreSQL later) implements.

Every method is a coroutine and never blocks the event loop. Every state
change is one transaction; batch methods (``enqueue``, ``record_outcomes``,
``record_receipts``) apply many changes in one transaction, each message's
part of it atomic. Money rules live in :class:`gateway.accounting.ledger.AccountState`,
applied inside the backend's write transaction.

Queue operations and what a PostgreSQL backend does for them:

- ``claim_due``: ``UPDATE messages SET state='dispatching', lease_owner=...
  WHERE id IN (SELECT id FROM messages WHERE state='queued' AND
  next_attempt_at <= now ORDER BY priority DESC, id LIMIT n
  FOR UPDATE SKIP LOCKED) RETURNING ...``; expired leases go back to queued
  first, so a crashed worker's claims come back.
- debits: ``SELECT ... FROM accounts WHERE name=$1 FOR UPDATE`` then the
  same :class:`~gateway.accounting.ledger.AccountState` rules.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from gateway.link.interface import InboundPart, Receipt
from gateway.model.esme import EsmeCredential, EsmeDelivery
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


class Keep(enum.Enum):
    """``KEEP``: leave a setting as it is (``None`` clears it)."""

    KEEP = "keep"


KEEP = Keep.KEEP


class Store(Protocol):
    # write MQTT outbox rows (status and inbound events) with the changes they
    # report; off when nothing publishes them (a daemon without [mqtt])
    mqtt_outbox: bool

    # --- accounts and tokens ---------------------------------------------------
    async def create_account(self, name: str) -> Account: ...
    async def get_account(self, name: str) -> Account: ...
    async def list_accounts(self) -> list[Account]: ...
    async def set_account(
        self,
        name: str,
        *,
        credit_limit: int | Keep = KEEP,
        monthly_cap: int | Keep | None = KEEP,
        alert_below: int | Keep | None = KEEP,
    ) -> Account: ...
    async def create_token(self, account: str, *, name: str | None = None) -> tuple[ApiToken, str]:
        """A new API token: the record and the token itself (shown once, stored hashed).
        ``name`` labels it in listings (the rules: gateway.store.accounts.check_token_name;
        not unique); UserError when it breaks them."""
        ...

    async def account_for_token(self, token: str) -> str | None: ...
    async def list_tokens(self, account: str | None = None) -> list[ApiToken]:
        """The tokens of ``account`` (None: of every account), oldest first."""
        ...

    async def revoke_token(self, token_id: int, *, account: str | None = None) -> ApiToken:
        """Delete a token (of ``account`` only, when given): requests with it are refused
        from then on. NotFound when there is none."""
        ...

    # --- operators' API tokens (gateway/store/operator_tokens.py) ----------------
    async def create_operator_token(self, name: str) -> tuple[OperatorToken, str]:
        """A new operator token named ``name`` (unique among those in force): the record
        and the token itself (shown once, stored hashed)."""
        ...

    async def operator_for_token(self, token: str) -> OperatorToken | None:
        """The operator token ``token`` is, in force; None when unknown or revoked."""
        ...

    async def list_operator_tokens(self) -> list[OperatorToken]:
        """Every operator token, revoked ones too, oldest first."""
        ...

    async def revoke_operator_token(self, token_id: int) -> OperatorToken:
        """Revoke an operator token (its row stays, marked): requests with it are refused
        from then on. NotFound when there is none in force with that id."""
        ...

    # --- senders, prices, phonebooks -------------------------------------------
    async def add_sender(
        self, account: str, value: str, kind: SenderKind, *, reason: str | None = None
    ) -> Sender:
        """Request a sender (pending until approved); ``reason``: why, kept for the operator."""
        ...

    async def set_sender_status(
        self, account: str, value: str, status: SenderStatus, *, reason: str | None = None
    ) -> Sender: ...
    async def get_sender(self, account: str, value: str) -> Sender | None: ...
    async def list_senders(self, account: str) -> list[Sender]: ...
    async def sender_owners(self, value: str) -> list[str]: ...
    async def set_price(
        self, prefix: str, per_segment: int, *, account: str | None = None
    ) -> Price: ...
    async def list_prices(self, *, account: str | None = None) -> list[Price]:
        """The default list (``account=None``) or one account's own list."""
        ...

    async def send_context(self, account: str, sender: str) -> SendContext:
        """The account (NotFound if none), its sender ``sender`` and both price lists,
        in one read."""
        ...

    async def create_phonebook(self, account: str, name: str) -> Phonebook: ...
    async def import_contacts(
        self, account: str, name: str, contacts: Sequence[PhonebookContact]
    ) -> tuple[int, int]:
        """Add or rename contacts; returns (added, updated)."""
        ...

    async def list_phonebooks(self, account: str) -> list[Phonebook]: ...
    async def phonebook_contacts(self, account: str, name: str) -> list[PhonebookContact]: ...

    # --- ledger ----------------------------------------------------------------
    async def topup(
        self, account: str, amount: int, *, reference: str, note: str | None = None
    ) -> LedgerResult: ...
    async def adjust(self, account: str, amount: int, *, note: str) -> LedgerResult: ...
    async def balance(self, account: str) -> Balance: ...
    async def history(
        self,
        account: str,
        *,
        limit: int | None = None,
        since: float | None = None,
        until: float | None = None,
        before: int | None = None,
    ) -> list[LedgerEntry]:
        """The account's entries, oldest first: the last ``limit`` (None: all) of those
        with ``since <= at < until`` and an id below ``before`` (a page's cursor)."""
        ...

    async def verify_ledger(self) -> dict[str, tuple[int, int]]: ...

    # --- messages ----------------------------------------------------------------
    async def enqueue(
        self, batch: Sequence[NewMessage], *, lease: Lease | None = None
    ) -> EnqueueResult:
        """Debit and insert each message (all or nothing per message), one transaction.

        With ``lease``, messages due now are stored ``dispatching``, leased to
        that dispatcher, which is then handed them (no claim)."""
        ...

    async def get_messages(self, ids: Sequence[str]) -> list[Message]:
        """The messages of ``ids`` that exist, in that order."""
        ...

    async def release(self, worker: str, ids: Sequence[str]) -> int:
        """Give back leases ``worker`` holds on messages it never sent: they are
        ``queued`` again, with no attempt counted; how many."""
        ...

    async def leased_to(self, worker: str) -> list[str]:
        """Ids of the messages leased to ``worker``."""
        ...

    async def get_message(self, message_id: str) -> MessageView: ...
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
        """Newest first by (created_at, id): those with ``since <= created_at < until``
        and a key (created_at, id) below ``before`` (a page's cursor). NotFound for an
        unknown account."""
        ...

    async def count_by_state(self) -> dict[MessageState, int]:
        """Messages per state, final ones too (reads every message)."""
        ...

    async def queue_depths(self) -> dict[MessageState, int]:
        """Messages not final yet, per state (queued, dispatching, submitted): cheap."""
        ...

    async def ping(self) -> None:
        """Raises when the store cannot be read."""
        ...

    async def cancel(self, message_id: str) -> QueueChanges: ...
    async def finish(
        self, message_id: str, state: MessageState, *, reason: str | None = None
    ) -> QueueChanges: ...
    async def claim_due(
        self, worker: str, *, now: float, limit: int, lease_seconds: float
    ) -> list[Message]: ...
    async def release_leases(self, worker: str) -> int:
        """Take back the leases ``worker`` holds (called when that worker starts)."""
        ...

    async def wake_waiting(self, *, reasons: Sequence[str], now: float, within: float) -> int:
        """Queued messages waiting out a retry for one of ``reasons`` (their ``error``),
        due in the next ``within`` seconds, become due now (or at their send_at):
        a link came back. How many."""
        ...

    async def expire_unconfirmed(self, *, before: float, limit: int = 1000) -> QueueChanges:
        """``submitted`` messages with no receipt since ``before`` end ``expired``."""
        ...

    async def record_outcomes(
        self, batch: Sequence[OutcomeRecord], *, now: float
    ) -> QueueChanges: ...
    async def record_receipts(self, batch: Sequence[Receipt], *, now: float) -> QueueChanges: ...
    async def record(
        self, outcomes: Sequence[OutcomeRecord], receipts: Sequence[Receipt], *, now: float
    ) -> QueueChanges:
        """Outcomes then receipts in one transaction; a receipt for a segment accepted
        in the same call is applied with the acceptance."""
        ...

    # --- inbound -----------------------------------------------------------------
    async def add_inbound(self, message: InboundMessage, *, stop: bool = False) -> None:
        """Store a reply; ``stop`` (its text is a stop keyword: gateway.store.stoplist)
        also puts its source on its account's stoplist, in the same transaction."""
        ...

    async def add_inbound_part(
        self, part: InboundPart, *, account: str | None, now: float
    ) -> ReassembledReply | None:
        """Hold one part of a concatenated reply (``part.concat.total`` > 1), in one
        transaction: a copy of a part held (or of a reply stored within the
        reassembly timeout) changes nothing; the part that makes its reply whole
        stores it (for ``account``, with its inbound event, as :meth:`add_inbound`;
        its id made at ``now``) and returns it. None while the reply is not whole.
        Whichever process of the store adds the parts, each reply is stored once
        (gateway.store.reassembly)."""
        ...

    async def expire_inbound_parts(
        self, *, before: float, now: float, limit: int = 100
    ) -> list[ReassembledReply]:
        """Keys whose newest part came before ``before`` (now minus the reassembly
        timeout): their parts stored as incomplete replies (ids made at ``now``),
        which are returned, or forgotten when their reply was stored already. Up
        to ``limit`` keys; each released once, whichever processes sweep at once."""
        ...

    async def list_inbound(
        self,
        *,
        account: str | None = None,
        limit: int = 100,
        since: float | None = None,
        until: float | None = None,
        before: str | None = None,
    ) -> list[InboundMessage]:
        """Replies, newest first (by id): those with ``since <= received_at < until``
        and an id below ``before`` (a page's cursor)."""
        ...

    # --- credit orders (rules: gateway.accounting.orders) --------------------------
    async def create_order(self, account: str, amount: int) -> Order:
        """A pending order of ``credits`` (the minimum pack is the caller's rule)."""
        ...

    async def get_order(self, order_id: int) -> Order: ...
    async def list_orders(
        self,
        *,
        account: str | None = None,
        status: OrderStatus | None = None,
        limit: int = 100,
    ) -> list[Order]:
        """Newest first."""
        ...

    async def pay_order(self, order_id: int, *, payment_ref: str | None = None) -> OrderPayment:
        """Mark a pending order paid and credit its account, in one transaction; an order
        paid already changes nothing (``duplicate``), however many calls come at once."""
        ...

    async def cancel_order(self, order_id: int) -> Order:
        """Cancel a pending order (OrderConflict when paid or cancelled already)."""
        ...

    # --- the stoplist (rules: gateway.store.stoplist) -------------------------------
    async def add_stop(
        self, account: str, number: str, *, source: StopSource = StopSource.OPERATOR
    ) -> tuple[StopEntry, bool]:
        """Put ``number`` on the account's stoplist: the entry, and whether it is new."""
        ...

    async def remove_stop(self, account: str, number: str) -> StopEntry:
        """Take ``number`` off the account's stoplist (NotFound when it is not on it)."""
        ...

    async def list_stops(self, account: str) -> list[StopEntry]: ...
    async def stopped_numbers(self, account: str, numbers: Sequence[str]) -> set[str]:
        """Which of ``numbers`` are on the account's stoplist (one read)."""
        ...

    # --- event outbox (written in the transaction of the change they report) -------
    async def add_event(self, *, account: str, kind: str, payload: Mapping[str, Any]) -> int:
        """Store an event (kind "status", "inbound" or "rejected") for MQTT; its batch id."""
        ...

    async def pending_mqtt_events(self, *, limit: int) -> list[OutboxBatch]:
        """Events not yet published, oldest first, in whole batches: about ``limit``
        events (at least one batch)."""
        ...

    async def ack_mqtt_events(self, batches: Sequence[int]) -> None:
        """Every event of these batches is published: delete them."""
        ...

    async def due_webhooks(
        self,
        *,
        now: float,
        limit: int,
        after: int = 0,
    ) -> list[WebhookEvent]:
        """Pending webhooks whose next attempt is due, oldest first, with ids above
        ``after`` (a reader goes through a long list of due ones in turns)."""
        ...

    async def webhook_done(self, id: int) -> None:  # noqa: A002 (the API's name)
        """Delivered: delete it."""
        ...

    async def webhook_retry(self, id: int, *, at: float, error: str) -> None:  # noqa: A002
        """One more attempt failed; try again at ``at``."""
        ...

    async def webhook_failed(self, id: int, *, error: str) -> None:  # noqa: A002
        """Given up: kept as ``failed`` for operators."""
        ...

    async def list_webhooks(
        self,
        *,
        account: str | None = None,
        state: str | None = None,
        limit: int = 100,
    ) -> list[WebhookRecord]:
        """Webhook rows, oldest first; ``state`` "pending" or "failed" (None: both)."""
        ...

    async def retry_webhooks(
        self,
        ids: Sequence[int] = (),
        *,
        account: str | None = None,
    ) -> int:
        """Failed webhooks tried again from now (``ids``, else every failed one of
        ``account``, else every failed one); how many."""
        ...

    async def webhook_secret(self, account: str) -> bytes:
        """The HMAC key of the account's webhook signatures (the hex string's bytes)."""
        ...

    async def rotate_webhook_secret(self, account: str) -> str:
        """Replace the account's webhook secret; the new one."""
        ...

    # --- receipts and replies for ESMEs (gateway.store.esme_deliveries) --------------
    async def take_deliveries(
        self, system_id: str, *, owner: str, limit: int, now: float, lease: float
    ) -> list[EsmeDelivery]:
        """Up to ``limit`` deliveries due for ``system_id``, oldest first, leased to
        ``owner`` for ``lease`` seconds: no other taker gets them meanwhile."""
        ...

    async def deliveries_done(self, ids: Sequence[int]) -> None:
        """The ESMEs answered them: delivered, never handed out again."""
        ...

    async def delivery_retry(self, id: int, *, at: float) -> None:  # noqa: A002
        """The ESME refused it: one more attempt counted, due again at ``at``."""
        ...

    async def release_deliveries(self, owner: str, ids: Sequence[int] = ()) -> int:
        """Give back ``owner``'s leases (of ``ids``; none given: all of them) without
        an attempt counted: due again now, for any taker. How many."""
        ...

    async def expire_deliveries(
        self, *, before: float, delivered_before: float | None = None
    ) -> list[EsmeDeliveryCount]:
        """Delete the deliveries stored before ``before`` (those never delivered are
        counted per credential and kind, and returned) and, with ``delivered_before``,
        the delivered ones delivered before it."""
        ...

    async def pending_deliveries(self) -> list[EsmeDeliveryCount]:
        """Deliveries not delivered yet, per credential and kind."""
        ...

    def writer_stats(self) -> WriterStats:
        """What this process's writes cost so far (metrics: lock held, waited for)."""
        ...

    # --- counters for the daemon's metrics (work done by other processes) -----------
    async def add_metric_counts(self, counts: Sequence[MetricCount]) -> None:
        """Add to the counters left for the daemon (a CLI's sends, cancellations...)."""
        ...

    async def take_metric_counts(self) -> list[MetricCount]:
        """The counters left so far, removed in the same transaction (the daemon adds
        them to its metrics: each is counted once)."""
        ...

    async def lead(self, role: str) -> bool:
        """Whether this process does ``role`` now, the one among all daemons on this
        store that does it (``"events"``: publishing the outbox and the webhooks,
        so that each is sent once). When the one that does it ends, another takes
        over within about a second. SQLite: one daemon, always True."""
        ...

    async def hold_worker(self, worker: str) -> None:
        """Refuse (:class:`~gateway.model.errors.StoreInUse`) when another daemon runs
        as ``worker`` on this store, else keep the name until :meth:`close` (its
        leases are this daemon's to release and take back)."""
        ...

    # --- ESME credentials of the SMPP server (gateway/store/esme_credentials.py) -------
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
        """A new credential and its password, which is not kept (only its hash)."""
        ...

    async def list_esme_credentials(self, account: str | None = None) -> list[EsmeCredential]: ...

    async def remove_esme_credential(self, account: str, system_id: str) -> EsmeCredential: ...

    async def set_esme_password(self, account: str, system_id: str) -> str:
        """A new password for the credential (binds already open stay); returned once."""
        ...

    async def esme_credential_for_bind(self, system_id: str, password: str) -> EsmeCredential:
        """The credential a bind names, or UnknownSystemId / WrongPassword."""

    # --- web console: logins and sessions (gateway/store/logins.py) -------------
    async def create_login(
        self, account: str, email: str, role: LoginRole, password_hash: str
    ) -> Login:
        """A login of ``account`` whose password must be changed at first use."""
        ...

    async def get_login(self, email: str) -> Login | None: ...
    async def list_logins(self, account: str | None = None) -> list[Login]: ...
    async def disable_login(self, email: str) -> Login:
        """Refused from now on; its sessions end. NotFound when there is none."""
        ...

    async def set_login_password(
        self, email: str, password_hash: str, *, must_change: bool = False
    ) -> Login:
        """A new password (unlocks the login); every session of the login ends."""
        ...

    async def login_failed(self, email: str, *, max_failures: int, lock_seconds: float) -> Login:
        """One more wrong password: locked for ``lock_seconds`` at ``max_failures``."""
        ...

    async def create_session(self, email: str, *, ttl: float) -> tuple[ConsoleSession, str]:
        """A session (the wrong-password count starts again) and its token, stored
        hashed: given once, for the cookie."""
        ...

    async def get_session(self, token: str) -> ConsoleSession | None:
        """The session of ``token``; None when unknown, expired or its login disabled."""
        ...

    async def end_session(self, token: str) -> None: ...
    async def remove_contact(self, account: str, name: str, number: str) -> None:
        """Delete one contact of a phonebook; NotFound when there is none."""
        ...

    async def close(self) -> None: ...

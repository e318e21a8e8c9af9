"""What the store hands out and takes in: small frozen records.

Times are POSIX seconds (float, UTC). Amounts are whole credits (int).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import NamedTuple

from gateway.model.errors import UserError
from gateway.model.esme import DeliveryKind, EsmeOrigin
from gateway.model.message import MessageClass, MessageState, SegmentState, SenderKind, SenderStatus
from gateway.model.outcomes import Outcome, ReceiptState


class EntryKind(enum.Enum):
    """Kinds of ledger journal rows."""

    TOPUP = "topup"
    DEBIT = "debit"
    REFUND = "refund"
    ADJUSTMENT = "adjustment"


@dataclass(frozen=True, slots=True, kw_only=True)
class Account:
    name: str
    balance: int
    credit_limit: int  # how far below zero the balance may go (postpaid)
    monthly_cap: int | None  # credits per calendar month (UTC); None = no cap
    alert_below: int | None  # low-balance alert threshold; None = no alert
    month: str  # "YYYY-MM" the month_spent figure is for
    month_spent: int
    created_at: float

    @property
    def available(self) -> int:
        """Credits that can still be spent (balance plus the credit limit)."""
        return self.balance + self.credit_limit


@dataclass(frozen=True, slots=True, kw_only=True)
class Balance:
    account: str
    balance: int
    credit_limit: int
    available: int
    monthly_cap: int | None
    month_spent: int  # this calendar month (UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiToken:
    """A token's public part: the hash and the token itself are never handed out."""

    id: int
    account: str
    name: str | None  # a label for people (gateway.store.accounts.check_token_name)
    prefix: str  # first characters, to tell tokens apart in listings
    created_at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class OperatorToken:
    """An operator's API token, public part (gateway/store/operator_tokens.py): it acts on
    every account through the operator routes; ``name`` says whose it is in the logs."""

    id: int
    name: str
    prefix: str  # first characters, to tell tokens apart in listings
    created_at: float
    revoked_at: float | None  # None: in force


@dataclass(frozen=True, slots=True, kw_only=True)
class Sender:
    account: str
    value: str
    kind: SenderKind
    status: SenderStatus
    reason: str | None  # why it was refused
    created_at: float
    updated_at: float
    request_reason: str | None = None  # why the account asked for it


@dataclass(frozen=True, slots=True, kw_only=True)
class Price:
    account: str | None  # None: the default list
    prefix: str  # "+33", "+3361"; "+" matches every destination
    credits: int  # per segment


@dataclass(frozen=True, slots=True, kw_only=True)
class SendContext:
    """What a send is checked and priced with, read at once: the account, its sender
    (None: not registered for it), its own prices and the default list."""

    account: Account
    sender: Sender | None
    own_prices: list[Price]
    default_prices: list[Price]


@dataclass(frozen=True, slots=True, kw_only=True)
class Phonebook:
    account: str
    name: str
    contacts: int
    created_at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class PhonebookContact:
    name: str
    number: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LedgerEntry:
    id: int
    account: str
    at: float
    kind: EntryKind
    amount: int  # signed: + credits the account, - debits it
    balance_after: int
    reference: str | None  # order reference of a top-up
    message_id: str | None  # the message a debit/refund is for
    note: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class CreditCrossing:
    """The balance went below the account's alert threshold (once per crossing)."""

    account: str
    balance: int
    alert_below: int
    at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class LedgerResult:
    entry: LedgerEntry
    duplicate: bool = False  # the same top-up reference was already credited
    crossing: CreditCrossing | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class NewMessage:
    """A validated, priced message to enqueue (one recipient)."""

    account: str
    sender: str
    sender_kind: SenderKind
    destination: str  # +E164
    text: str
    encoding: str  # "gsm7" | "ucs2"; "8bit" for a binary segment an ESME cut
    segments: int
    price: int  # credits per segment
    msg_class: MessageClass = MessageClass.STANDARD
    send_at: float | None = None  # None: now
    validity: int | None = None  # seconds
    priority: int = 0
    client_ref: str | None = None
    body_hash: str | None = None  # with client_ref: detects a reuse with another body
    callback_url: str | None = None
    origin: EsmeOrigin | None = None  # submitted by an ESME (the SMPP server)
    raw: bytes | None = None  # one segment as the ESME cut it (RawBody.pack), sent as is

    @property
    def credits(self) -> int:
        return self.segments * self.price


@dataclass(frozen=True, slots=True, kw_only=True)
class Lease:
    """Enqueue straight to a dispatcher: messages due now are stored leased to
    ``worker`` for ``seconds`` and handed to it, without a claim."""

    worker: str
    seconds: float


class Message(NamedTuple):
    """A stored message.

    A NamedTuple rather than a frozen dataclass (like SMPP's ShortMessage):
    it is built up to three times per message sent (stored, handed over,
    claimed), and a frozen dataclass of 24 fields costs 4.0 us to build
    against 0.3 us for a NamedTuple from a row (``Message._make``) on the
    target machine. Build it with keywords outside the store.
    """

    id: str
    account: str
    sender: str
    sender_kind: SenderKind
    destination: str
    text: str
    encoding: str
    segments: int
    price: int
    credits: int
    msg_class: MessageClass
    send_at: float
    validity: int | None
    priority: int
    client_ref: str | None
    callback_url: str | None
    state: MessageState
    attempts: int
    next_attempt_at: float
    created_at: float
    updated_at: float
    lease_owner: str | None
    lease_until: float | None
    error: str | None
    raw: bytes | None = None  # one segment as the ESME cut it (gateway.model.raw_body)


@dataclass(frozen=True, slots=True, kw_only=True)
class SegmentRecord:
    message_id: str
    index: int
    state: SegmentState
    smsc_id: str | None
    link: str | None
    submitted_at: float | None  # when the SMSC accepted it
    receipt_state: ReceiptState | None
    error: str | None
    updated_at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageView:
    message: Message
    segments: tuple[SegmentRecord, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Enqueued:
    message: Message
    duplicate: bool = False  # same client_ref and body: the existing message


@dataclass(frozen=True, slots=True, kw_only=True)
class Refused:
    destination: str
    error: UserError


@dataclass(frozen=True, slots=True, kw_only=True)
class EnqueueResult:
    results: tuple[Enqueued | Refused, ...]  # in the order of the request
    crossings: tuple[CreditCrossing, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class OutcomeRecord:
    """What a link answered for one segment (see :mod:`gateway.link.interface`)."""

    message_id: str
    index: int
    link: str
    outcome: Outcome
    retry_at: float | None = None  # for Retry: when the message is due again


@dataclass(frozen=True, slots=True, kw_only=True)
class StateChange:
    message_id: str
    account: str
    old: MessageState
    new: MessageState
    at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueChanges:
    """What a batch of queue operations changed, for events and metrics."""

    changes: tuple[StateChange, ...] = ()
    refunds: tuple[LedgerEntry, ...] = ()
    # receipts (link, state) naming no segment the store knows: kept, as they may have
    # overtaken their submit_sm_resp, until one is recorded with their id
    unmatched: tuple[tuple[str, str], ...] = ()
    # kept receipts (link, state) that an acceptance of this batch matched at last
    matched_late: tuple[tuple[str, str], ...] = ()
    # kept receipts (link, why) dropped without a match: "expired" (older than the
    # receipt timeout) or "overflow" (beyond the most that are kept)
    dropped: tuple[tuple[str, str], ...] = ()

    @property
    def unmatched_receipts(self) -> int:
        """How many receipts of the batch were kept unmatched."""
        return len(self.unmatched)


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundMessage:
    id: str
    account: str | None
    link: str
    source: str
    destination: str
    text: str
    received_at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ReassembledReply:
    """A reply the store took, whole or as much of it as came before the timeout."""

    message: InboundMessage  # as stored
    total: int  # parts announced
    missing: tuple[int, ...] = ()  # 1-based sequence numbers that never came

    @property
    def received(self) -> int:
        """Parts that came."""
        return self.total - len(self.missing)

    @property
    def complete(self) -> bool:
        return not self.missing


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxBatch:
    """MQTT events waiting in the outbox, stored together (one transaction's events).

    Each event is (kind, account, payload): published on
    ``{prefix}/{account}/{kind}``, kind "status" | "inbound" | "rejected",
    payload UTF-8 JSON. The batch leaves the outbox once all are published.
    """

    id: int
    events: tuple[tuple[str, str, bytes], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookRecord:
    """A webhook row as operators see it (``smsgw webhook list``)."""

    id: int
    account: str
    url: str
    message_id: str | None  # from the event body
    event_state: str | None  # the message state the event reports
    state: str  # "pending" (being tried) | "failed" (given up)
    attempts: int
    next_at: float
    last_error: str | None
    created_at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookEvent:
    """A status event to POST to a message's callback_url."""

    id: int
    account: str
    url: str
    payload: bytes  # UTF-8 JSON, the body signed with the account's webhook secret
    attempts: int  # attempts made so far


@dataclass(frozen=True, slots=True, kw_only=True)
class WriterStats:
    """What a process's store writer did since it started (cumulative; metrics)."""

    transactions: int = 0
    busy_seconds: float = 0.0  # holding the write lock: transactions with their commits
    lock_wait_seconds: float = 0.0  # waiting for another process's writer to finish
    commit_seconds: float = 0.0  # in COMMIT (the WAL write and, synchronous=full, fsync)
    # the writer thread's CPU time while holding the lock: busy - cpu - commit is
    # time it waited for the interpreter lock (other threads' Python) or the disk
    cpu_seconds: float = 0.0


class MetricCount(NamedTuple):
    """A counter another process left for the daemon's metrics: the Metrics method,
    its label arguments (sorted pairs) and how much to add."""

    name: str
    labels: tuple[tuple[str, str], ...]
    amount: int


@dataclass(frozen=True, slots=True, kw_only=True)
class EsmeDeliveryCount:
    """How many deliveries to ESMEs of one credential and kind (pending, expired)."""

    system_id: str
    kind: DeliveryKind
    count: int

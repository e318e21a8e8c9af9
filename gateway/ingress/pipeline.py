"""The send service: validate -> analyze -> price -> debit and insert.

docs/architecture.md follows one message from here to its receipt.

Every ingress (``smsgw send``, HTTP, MQTT) goes through :meth:`SendService.send`.
In the daemon and its workers, messages due now are stored leased to the
daemon's dispatcher (``lease``) and handed to it (``on_stored``) as soon as
each batch is committed: no claim, no poll between ingest and sending.
Request-wide problems (unknown account, sender not approved, an empty or
blank text, text too long, bad priority...) raise a
:class:`~gateway.model.errors.UserError`; per-recipient problems (no price; in
the store's transaction: on the account's stoplist, insufficient credit,
monthly cap) refuse that recipient only and are listed in the result; a
refused one is not charged.
Messages are stored in batches of ``batch_size``: each message's debit and
insert are atomic, a batch is one transaction, and only committed messages
are returned.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.accounting.pricing import PriceList
from gateway.codec import Analysis, analyze, raw_analysis
from gateway.events.callbacks import CallbackPolicy
from gateway.ingress.accept_log import AcceptLog
from gateway.ingress.recipients import merge_recipients
from gateway.ingress.senders import parse_sender
from gateway.model.clock import SYSTEM_CLOCK, Clock
from gateway.model.errors import (
    ClientRefConflict,
    EmptyText,
    InvalidRecipient,
    NotFound,
    OutOfRange,
    SenderNotAllowed,
    UserError,
)
from gateway.model.esme import EsmeOrigin
from gateway.model.isotime import iso_utc
from gateway.model.message import MessageClass, SenderStatus
from gateway.model.raw_body import RawBody
from gateway.model.records import Enqueued, Lease, Message, NewMessage, Refused, Sender
from gateway.store.base import Store
from gateway.store.stoplist import stopped

_E164 = re.compile(r"^\+[1-9]\d{5,14}$")
MAX_PRIORITY = 3
MAX_CLIENT_REF = 100
MAX_VALIDITY = 441 * 86_400  # the longest TP-VP relative validity (3GPP TS 23.040 9.2.3.12.1)
# send_at: at most this far ahead (a year), and at most this far in the past (a
# time already past is sent at once; a week late is a wrong date, or a send the
# broker kept through a long outage, not something to send now)
MAX_AHEAD = 365 * 86_400
MAX_LATE = 7 * 86_400
# seconds an approved sender and its account's prices are used as read: a sender
# refused or a price changed applies to sends within this time
CONTEXT_TTL = 1.0
CONTEXT_CACHE = 10_000  # (account, sender) pairs remembered
EMPTY_TEXT = "the text is empty: give the message to send"


@dataclass(frozen=True, slots=True, kw_only=True)
class SendRequest:
    account: str
    sender: str
    recipients: Sequence[str]  # E.164, already normalized (gateway.ingress.recipients)
    text: str
    msg_class: MessageClass = MessageClass.STANDARD
    send_at: float | None = None
    validity: int | None = None
    priority: int = 0
    client_ref: str | None = None
    callback_url: str | None = None
    origin: EsmeOrigin | None = None  # set by the SMPP server: receipts go back to the ESME
    phonebook: str | None = None  # every contact of this phonebook of the account, too
    # one segment as an ESME cut it (the SMPP server): sent as is, billed as one
    # (``text`` is its body as read, for the lists and the API)
    raw: RawBody | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class QuotedRecipient:
    destination: str
    credits: int  # segments x the destination's price


@dataclass(frozen=True, slots=True, kw_only=True)
class Quote:
    """What a send would cost (:meth:`SendService.quote`): nothing is stored."""

    encoding: str
    characters: int
    segments: int  # per recipient
    recipients: tuple[QuotedRecipient, ...]
    refused: tuple[Refused, ...]  # recipients a send would refuse (no price)

    @property
    def credits(self) -> int:
        return sum(r.credits for r in self.recipients)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Prepared:
    """A request checked, its sender approved, its text counted, its recipients priced."""

    request: SendRequest  # with the phonebook's numbers among its recipients
    sender: str
    kind: Any
    info: Analysis
    priced: tuple[tuple[str, int], ...]  # (destination, credits per segment)
    refused: tuple[Refused, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class SendResult:
    accepted: tuple[Enqueued, ...]
    refused: tuple[Refused, ...]
    encoding: str
    segments: int


def body_hash(request: SendRequest) -> str:
    """What makes two requests with the same client_ref the same request."""
    body = {
        "from": request.sender,
        "to": sorted(request.recipients),
        "text": request.text,
        "class": request.msg_class.value,
        "send_at": request.send_at,
        "validity": request.validity,
        "priority": request.priority,
        "callback_url": request.callback_url,
    }
    if request.phonebook is not None:
        body["phonebook"] = request.phonebook
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


class SendService:
    def __init__(
        self,
        *,
        store: Store,
        log: Any,
        national: Sequence[str] = (),
        batch_size: int = 500,
        on_crossing: Callable[[str], None] | None = None,
        lease: Callable[[], Lease | None] | None = None,
        on_stored: Callable[[Sequence[Message]], None] | None = None,
        context_ttl: float = CONTEXT_TTL,
        callbacks: CallbackPolicy | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._store = store
        # the receivers a callback_url may name (gateway.events.callbacks: public ones by default)
        self._callbacks = callbacks if callbacks is not None else CallbackPolicy()
        self._log = log
        self._accepted = AcceptLog(log)  # messages_enqueued, one line per commit
        self._national = tuple(national)
        self._batch_size = batch_size
        self._on_crossing = on_crossing  # an account's balance fell below its alert threshold
        # the lease to store messages due now with, asked per batch (None: queued,
        # the dispatcher holds enough already)
        self._lease = lease
        self._on_stored = on_stored  # the new messages of each committed batch
        self._context_ttl = context_ttl
        self._clock = clock  # wall time: what send_at is checked against
        # (account, sender) -> (good until, sender, kind, prices)
        self._contexts: dict[tuple[str, str], tuple[float, str, Any, PriceList]] = {}

    async def _approved(self, account: str, value: str, sender: Sender | None) -> tuple[str, Any]:
        """The approved sender (value, kind) of ``account``, or SenderNotAllowed with why."""
        if sender is None:
            owners = await self._store.sender_owners(value)
            if owners:
                msg = f"sender {value!r} belongs to another account, not {account!r}"
            else:
                msg = (
                    f"sender {value!r} is not registered for account {account!r}: "
                    f"add it with `smsgw sender add {account} {value}`"
                )
            raise SenderNotAllowed(msg)
        if sender.status is SenderStatus.PENDING:
            raise SenderNotAllowed(
                f"sender {sender.value!r} of account {account!r} is waiting for approval"
            )
        if sender.status is SenderStatus.REFUSED:
            reason = f": {sender.reason}" if sender.reason else ""
            raise SenderNotAllowed(
                f"sender {sender.value!r} of account {account!r} was refused{reason}"
            )
        return sender.value, sender.kind

    def _check(self, request: SendRequest) -> None:
        """The rules of a request as a whole, the same for every front door."""
        if request.raw is None and not request.text.strip():
            raise EmptyText(EMPTY_TEXT)
        if not 0 <= request.priority <= MAX_PRIORITY:
            raise OutOfRange(
                f"priority {request.priority}: 0 (default) to {MAX_PRIORITY} (highest)"
            )
        if request.validity is not None and not 0 < request.validity <= MAX_VALIDITY:
            raise OutOfRange(
                f"validity {request.validity} seconds: 1 to {MAX_VALIDITY} "
                f"({MAX_VALIDITY // 86_400} days)"
            )
        if request.send_at is not None:
            self._check_send_at(request.send_at)
        if request.client_ref is not None and not 0 < len(request.client_ref) <= MAX_CLIENT_REF:
            raise OutOfRange(
                f"client_ref of {len(request.client_ref)} characters: 1 to "
                f"{MAX_CLIENT_REF} characters"
            )
        if not request.recipients:
            raise InvalidRecipient("no recipient: give --to, --to-file or --phonebook")
        for number in request.recipients:
            if not _E164.match(number):
                raise InvalidRecipient(f"bad recipient {number!r}: +E164 expected")

    def _check_send_at(self, send_at: float) -> None:
        now = self._clock()
        if not send_at <= now + MAX_AHEAD:  # NaN too
            raise OutOfRange(
                f"send_at is more than {MAX_AHEAD // 86_400} days ahead: "
                f"{iso_utc(now + MAX_AHEAD)} at the latest"
            )
        if not send_at >= now - MAX_LATE:
            raise OutOfRange(
                f"send_at is more than {MAX_LATE // 86_400} days in the past: "
                f"{iso_utc(now - MAX_LATE)} at the earliest (a time already "
                "past is sent at once)"
            )

    async def _context(self, account: str, raw_sender: str) -> tuple[str, Any, PriceList]:
        """The approved sender (value, kind) and the account's prices: from the store, or
        as read less than ``CONTEXT_TTL`` ago (only approved senders are remembered: a
        refusal is always read again, so it ends as soon as the sender is approved)."""
        address = parse_sender(raw_sender)
        key = (account, address.value)
        now = self._clock.monotonic()
        known = self._contexts.get(key)
        if known is not None and known[0] > now:
            return known[1], known[2], known[3]
        # one read: the account (NotFound with a hint), the sender, the prices
        context = await self._store.send_context(account, address.value)
        sender, kind = await self._approved(account, address.value, context.sender)
        prices = PriceList(own=context.own_prices, default=context.default_prices)
        if self._context_ttl > 0:
            if len(self._contexts) >= CONTEXT_CACHE:
                self._contexts.clear()
            self._contexts[key] = (now + self._context_ttl, sender, kind, prices)
        return sender, kind, prices

    async def _store_batch(
        self, batch: list[NewMessage], accepted: list[Enqueued], refused: list[Refused]
    ) -> None:
        """Store one batch (one transaction), hand its new messages over, report the
        accounts whose balance it took below their alert threshold."""
        lease = self._lease() if self._lease is not None else None
        result = await self._store.enqueue(batch, lease=lease)
        stored: list[Message] = []
        for r in result.results:
            if isinstance(r, Enqueued):
                accepted.append(r)
                if not r.duplicate:
                    stored.append(r.message)
            else:
                refused.append(r)
        if stored and self._on_stored is not None:
            self._on_stored(stored)
        for c in result.crossings:
            self._log.warning(
                "credit_low_crossed",
                account=c.account,
                balance=c.balance,
                alert_below=c.alert_below,
            )
            if self._on_crossing is not None:
                self._on_crossing(c.account)

    async def _with_phonebook(self, request: SendRequest) -> SendRequest:
        """The request with its phonebook's numbers after its own (each number once)."""
        if request.phonebook is None:
            return request
        try:
            contacts = await self._store.phonebook_contacts(request.account, request.phonebook)
        except NotFound as exc:
            raise InvalidRecipient(str(exc)) from None
        numbers = merge_recipients(request.recipients, (c.number for c in contacts))
        return dataclasses.replace(request, recipients=numbers)

    async def _prepare(self, request: SendRequest) -> _Prepared:
        """The rules of a send up to its price, shared by :meth:`send` and :meth:`quote`."""
        request = await self._with_phonebook(request)
        self._check(request)
        if request.callback_url is not None:
            self._callbacks.check_url(request.callback_url)
        sender, kind, prices = await self._context(request.account, request.sender)
        if request.raw is None:
            info = analyze(request.text, national=self._national)
        else:
            info = raw_analysis(request.raw, request.text)
        refused: list[Refused] = []
        priced: list[tuple[str, int]] = []
        for number in dict.fromkeys(request.recipients):
            try:
                priced.append((number, prices.price(number)))
            except UserError as exc:
                refused.append(Refused(destination=number, error=exc))
        return _Prepared(
            request=request,
            sender=sender,
            kind=kind,
            info=info,
            priced=tuple(priced),
            refused=tuple(refused),
        )

    async def quote(self, request: SendRequest) -> Quote:
        """What :meth:`send` would take and refuse, and the credits; stores nothing
        (the balance is not checked: credit is debited, and may run out, at the send)."""
        ready = await self._prepare(request)
        account = ready.request.account
        # a send reads the stoplist in its own transaction (gateway.store.admission)
        on_stoplist = await self._store.stopped_numbers(account, [n for n, _ in ready.priced])
        return Quote(
            encoding=ready.info.encoding,
            characters=ready.info.characters,
            segments=ready.info.segments,
            recipients=tuple(
                QuotedRecipient(destination=number, credits=price * ready.info.segments)
                for number, price in ready.priced
                if number not in on_stoplist
            ),
            refused=(
                *ready.refused,
                *(
                    Refused(destination=number, error=stopped(account, number))
                    for number, _ in ready.priced
                    if number in on_stoplist
                ),
            ),
        )

    async def send(self, request: SendRequest) -> SendResult:
        digest = body_hash(request) if request.client_ref is not None else None
        ready = await self._prepare(request)
        request, sender, kind, info = ready.request, ready.sender, ready.kind, ready.info
        refused = list(ready.refused)
        batch: list[NewMessage] = []
        raw = request.raw.pack() if request.raw is not None else None
        for number, price in ready.priced:
            batch.append(
                NewMessage(
                    account=request.account,
                    sender=sender,
                    sender_kind=kind,
                    destination=number,
                    text=request.text,
                    encoding=info.encoding,
                    segments=info.segments,
                    price=price,
                    msg_class=request.msg_class,
                    send_at=request.send_at,
                    validity=request.validity,
                    priority=request.priority,
                    client_ref=request.client_ref,
                    body_hash=digest,
                    callback_url=request.callback_url,
                    origin=request.origin,
                    raw=raw,
                )
            )
        accepted: list[Enqueued] = []
        for start in range(0, len(batch), self._batch_size):
            await self._store_batch(batch[start : start + self._batch_size], accepted, refused)
        conflict = next((r.error for r in refused if isinstance(r.error, ClientRefConflict)), None)
        if conflict is not None and not accepted:
            raise conflict
        fresh = [a.message for a in accepted if not a.duplicate]
        if fresh:
            self._accepted.add(request.account, fresh)
        return SendResult(
            accepted=tuple(accepted),
            refused=tuple(refused),
            encoding=info.encoding,
            segments=info.segments,
        )

"""Which new messages a store takes: the enqueue rules, backend-neutral.

A backend builds each new message's record and its ``queued`` event
(:func:`prepare`, before its transaction), then, in its write transaction,
:func:`admit` goes through the batch in order with what the backend reads
(:class:`AdmissionSource`): a ``client_ref`` used before with another body
is refused (:class:`ClientRefConflict`), one used before with the same body
for the same destination gives the message stored then (a retried request
is not charged twice), a destination on the account's stoplist is refused
(``stopped``: read in the same transaction, so a STOP committed before the
send's commit applies to it), and each other message is debited from its
account's state (credit limit and monthly cap checked by
:class:`~gateway.accounting.ledger.AccountState`) before anything of it is
written: a refused message writes nothing. The backend writes the admitted
messages, their debits and the account states it loaded.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from gateway.accounting.ledger import AccountState
from gateway.model.errors import ClientRefConflict, UserError
from gateway.model.ids import new_ids
from gateway.model.message import MessageState
from gateway.model.records import CreditCrossing, Enqueued, Lease, Message, NewMessage, Refused
from gateway.store.payloads import StatusEvents
from gateway.store.stoplist import stopped

KnownRefs = dict[str, tuple[str, str | None]]  # destination -> (message id, body hash)


class Prepared:
    """One new message with everything that needs no database done: its record, its
    ``queued`` event's outbox entry and webhook row (None where nothing takes them)."""

    __slots__ = ("event", "hook", "message", "new")

    def __init__(
        self,
        *,
        new: NewMessage,
        message: Message,
        event: bytes | None,
        hook: tuple[str, str, bytes, float, float] | None,
    ) -> None:
        self.new = new
        self.message = message
        self.event = event
        self.hook = hook


def prepare(
    batch: Sequence[NewMessage], now: float, events: StatusEvents, *, lease: Lease | None
) -> list[Prepared]:
    """Ids, records and ``queued`` events of ``batch`` (the events kept in ``events``
    only for the messages admitted: :meth:`StatusEvents.take`)."""
    out: list[Prepared] = []
    for nm, mid in zip(batch, new_ids(now, len(batch)), strict=True):
        event, hook = events.entry(
            message_id=mid,
            account=nm.account,
            to=nm.destination,
            state="queued",
            previous=None,
            client_ref=nm.client_ref,
            error=None,
            callback_url=nm.callback_url,
        )
        out.append(
            Prepared(new=nm, message=new_message(nm, mid, now, lease), event=event, hook=hook)
        )
    return out


def new_message(nm: NewMessage, mid: str, now: float, lease: Lease | None) -> Message:
    """The record of a new message: due now and ``lease`` given, stored leased to that
    dispatcher (``dispatching``, handed to it without a claim), else ``queued``."""
    send_at = now if nm.send_at is None else nm.send_at
    held = lease if lease is not None and send_at <= now else None
    return Message(
        id=mid,
        account=nm.account,
        sender=nm.sender,
        sender_kind=nm.sender_kind,
        destination=nm.destination,
        text=nm.text,
        encoding=nm.encoding,
        segments=nm.segments,
        price=nm.price,
        credits=nm.credits,
        msg_class=nm.msg_class,
        send_at=send_at,
        validity=nm.validity,
        priority=nm.priority,
        client_ref=nm.client_ref,
        callback_url=nm.callback_url,
        state=MessageState.DISPATCHING if held is not None else MessageState.QUEUED,
        attempts=0,
        next_attempt_at=send_at,
        created_at=now,
        updated_at=now,
        lease_owner=held.worker if held is not None else None,
        lease_until=now + held.seconds if held is not None else None,
        error=None,
        raw=nm.raw,
    )


class AdmissionSource(Protocol):
    """What admission reads from the backend, in its write transaction."""

    def account(self, name: str) -> AccountState:
        """The account's state, loaded once per batch and saved with it."""
        ...

    def known_refs(self, account: str, client_ref: str) -> KnownRefs:
        """The messages stored with this client_ref, by destination."""
        ...

    def stopped(self, account: str, numbers: Sequence[str]) -> set[str]:
        """Which of ``numbers`` are on the account's stoplist."""
        ...


@dataclass(slots=True)
class Admission:
    """Per message in batch order: Enqueued (admitted now), Refused, or the id of
    the message a retried request stored before."""

    results: list[Enqueued | Refused | str] = field(default_factory=list)
    admitted: list[int] = field(default_factory=list)  # indexes into the batch
    balances_after: list[int] = field(default_factory=list)  # of each admitted debit
    crossings: list[CreditCrossing] = field(default_factory=list)


def _repeated(
    nm: NewMessage, known: dict[tuple[str, str], KnownRefs], source: AdmissionSource
) -> tuple[Refused | str | None, KnownRefs | None]:
    """A message with a ``client_ref``: refused (used before with another body), the
    id stored for it before, or None to decide; with what that client_ref holds."""
    ref = nm.client_ref
    if ref is None:
        return None, None
    seen = known.get((nm.account, ref))
    if seen is None:
        seen = known[(nm.account, ref)] = source.known_refs(nm.account, ref)
    if any(h != nm.body_hash for _, h in seen.values()):
        err = ClientRefConflict(f"client_ref {ref!r} was already used with a different request")
        return Refused(destination=nm.destination, error=err), seen
    if nm.destination in seen:
        return seen[nm.destination][0], seen
    return None, seen


def admit(
    batch: Iterable[tuple[NewMessage, Message]], source: AdmissionSource, now: float
) -> Admission:
    """Decide each (request, record) of a batch, in order (see the module's docstring)."""
    out = Admission()
    items = list(batch)
    known: dict[tuple[str, str], KnownRefs] = {}
    destinations: dict[str, list[str]] = {}
    for nm, _ in items:
        destinations.setdefault(nm.account, []).append(nm.destination)
    # one read per account of the batch, before any of its messages is decided
    on_stoplist = {name: source.stopped(name, numbers) for name, numbers in destinations.items()}
    for i, (nm, message) in enumerate(items):
        st = source.account(nm.account)
        decided, seen = _repeated(nm, known, source)
        if decided is not None:
            out.results.append(decided)
            continue
        if nm.destination in on_stoplist[nm.account]:
            out.results.append(
                Refused(destination=nm.destination, error=stopped(nm.account, nm.destination))
            )
            continue
        try:
            crossing = st.debit(nm.credits, now)
        except UserError as exc:
            out.results.append(Refused(destination=nm.destination, error=exc))
            continue
        if crossing is not None:
            out.crossings.append(crossing)
        if seen is not None:
            seen[nm.destination] = (message.id, nm.body_hash)
        out.admitted.append(i)
        out.balances_after.append(st.balance)
        out.results.append(Enqueued(message=message))
    return out

"""The one small interface every link driver implements (SMPP, modem).

The dispatcher hands a link one :class:`SubmitRequest` per segment
(:meth:`Link.send`) and is called back with its
:data:`~gateway.model.outcomes.Outcome`. Receipts
and inbound (MO) parts flow the other way through a :class:`LinkHandler`
that the driver waits on (a receipt's ``done`` callback, an MO part's
coroutine) *before* it acknowledges them to the peer (deliver_sm_resp,
AT+CMGD, AT+CNMA): whatever the handler has stored is safe, whatever it has
not is redelivered by the peer.

Drivers import only :mod:`gateway.link` (this module and
:mod:`gateway.link.submit_tasks`), :mod:`gateway.model` (messages, outcomes,
errors, secrets) and :mod:`gateway.codec` (docs/architecture.md, imports).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from gateway.codec import Segment
from gateway.model.message import MessageClass, SenderKind
from gateway.model.outcomes import Outcome, ReceiptState

# --- what goes out ------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitRequest:
    """One segment of one message to one recipient."""

    message_id: str  # the store's message id
    index: int  # 0-based segment index within the message
    source: str  # sender as approved: alphanumeric, short code digits or +E164
    source_kind: SenderKind
    destination: str  # +E164
    segment: Segment  # encoded for this link's concat/packed profile
    msg_class: MessageClass = MessageClass.STANDARD
    validity: int | None = None  # seconds; None = SMSC default
    want_receipt: bool = True
    priority: int = 0  # 0 (normal) .. 3 (highest)


OutcomeCallback = Callable[[Outcome], None]


# --- what comes back ----------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Receipt:
    """A delivery receipt / status report for one accepted segment."""

    link: str
    smsc_id: str  # equal to the Accepted.smsc_id it reports on (normalised by the driver)
    state: ReceiptState
    error: str | None = None  # network error code as text, when given
    done_at: float | None = None  # POSIX time the SMSC gives, when it gives one
    destination: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Concat:
    """Concatenation info of one part (from UDH IE 0x00/0x08 or SAR TLVs)."""

    reference: int
    total: int
    sequence: int  # 1-based


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundPart:
    """One MO (reply) PDU as received; reassembly happens in the core.

    ``payload`` is the user data without its header, GSM 7-bit as one septet
    per octet (unpacked), UCS-2 as big-endian octets, 8-bit as is.
    """

    link: str
    source: str
    destination: str
    data_coding: int
    payload: bytes
    concat: Concat | None = None
    received_at: float  # POSIX time
    smsc_timestamp: float | None = None


# --- the interface ------------------------------------------------------------


ReceiptDone = Callable[[BaseException | None], None]  # a receipt stored (None) or not


class LinkHandler(Protocol):
    """What a link calls with what it receives; a refusal makes the peer redeliver.

    Receipts, the bulk of it, come without a coroutine each: the link calls
    :meth:`store_receipt` and acknowledges the receipt to the peer when
    ``done`` is called: ``done(None)`` once stored, ``done(error)`` if it
    failed. ``done`` is called once, from the loop, never from within
    ``store_receipt``. A link that awaits instead uses :func:`stored`.
    """

    def store_receipt(self, receipt: Receipt, done: ReceiptDone) -> None: ...

    async def on_inbound(self, part: InboundPart) -> None:
        """Store one MO part; raise to refuse it."""
        ...


def settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    """Finish ``future`` with ``error``, or with None when there is none (a
    :data:`ReceiptDone` for a coroutine that awaits the future); a future already
    done is left as it is."""
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


async def stored(handler: LinkHandler, receipt: Receipt) -> None:
    """Hand ``receipt`` to ``handler`` and wait until it is stored (raises if refused)."""
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    handler.store_receipt(receipt, functools.partial(settle, done))
    await done


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkHealth:
    """A snapshot for /readyz, ``smsgw link list`` and metrics."""

    name: str
    driver: str  # "smpp" | "modem"
    up: bool  # connected / port open
    bound: bool  # can submit now
    in_flight: int = 0
    window: int = 1
    throttled: bool = False  # backing off after a throttling answer
    detail: str = ""  # one human line: last error, operator name...
    counters: dict[str, int] = field(default_factory=dict)  # submitted, accepted, ...
    gauges: dict[str, float] = field(default_factory=dict)  # signal_dbm, registered...


class Link(Protocol):
    """A running link to an SMSC or a modem.

    One send path: the dispatcher calls :meth:`send` while :meth:`room` is
    above 0 and awaits :meth:`wait_room` otherwise; ``done`` is called once
    per segment with its outcome, from the link's own callbacks (or at once
    when the segment cannot go, e.g. ``Retry("link_down")``), and must not
    raise. A driver that streams (SMPP) has no task nor future per segment;
    one that sends by awaiting (a modem) keeps a
    :class:`gateway.link.submit_tasks.SubmitTasks`. :func:`submit` is that
    path for one segment, awaited.
    """

    @property
    def name(self) -> str: ...

    @property
    def concat(self) -> str:
        """How this link wants concatenation: udh8 | udh16 | sar | payload."""
        ...

    @property
    def packed(self) -> bool:
        """Whether GSM 7-bit segments must be packed septets."""
        ...

    async def run(self) -> None:
        """Connect, bind and keep the link up (reconnecting) until :meth:`stop`."""
        ...

    def room(self) -> int:
        """Segments :meth:`send` takes now; a link that is down has room (to fail fast)."""
        ...

    async def wait_room(self) -> None:
        """Until :meth:`room` is above 0."""
        ...

    def send(self, request: SubmitRequest, done: OutcomeCallback) -> None:
        """Send one segment now; ``done(outcome)`` once, later or at once."""
        ...

    async def stop(self, *, timeout: float = 10.0) -> None:
        """Stop taking submits, wait (bounded) for in-flight answers, unbind, close."""
        ...

    def health(self) -> LinkHealth: ...


def _resolve(future: asyncio.Future[Outcome], outcome: Outcome) -> None:
    if not future.done():  # not cancelled by the caller meanwhile
        future.set_result(outcome)


async def submit(link: Link, request: SubmitRequest) -> Outcome:
    """Send one segment through ``link``'s :meth:`~Link.send` and await its outcome:
    room first, then the answer (for tests and callers with one segment at a time)."""
    while link.room() <= 0:
        await link.wait_room()
    outcome: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
    link.send(request, functools.partial(_resolve, outcome))
    return await outcome

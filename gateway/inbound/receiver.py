"""What links receive, made durable: receipts and replies (the LinkHandler).

A link acknowledges a PDU to its peer only once the store committed it: a
receipt once ``store_receipt`` called it back (no coroutine per receipt), an
MO part once ``on_inbound`` returned, which is once the store holds it. Receipts from every
link go to ``record_receipt`` (the dispatcher's outcome writer, which commits them with
the submit outcomes of the same round: under load, thousands of deliver_sm
become a few transactions). Replies are stored for the account that owns the
destination (short code or virtual number); a reply to a number nobody owns
is kept with no account. A reply of one part is stored at once; the parts of a
concatenated one are held in the store (``Store.add_inbound_part``: any order,
duplicates, the parts of one reply on any daemon's binds), which stores the
reply when its last part comes, and :meth:`LinkEvents.run_expiry` releases
those whose parts stopped coming (gateway.store.reassembly). Nothing is held
in memory: a daemon that dies loses no part it acknowledged. A reply that is
a stop keyword (``[stoplist] keywords``: gateway.store.stoplist) puts its
source on the owning account's stoplist in the reply's own transaction (a
long reply, of several parts, just after it is stored).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from gateway.link.interface import InboundPart, Receipt, ReceiptDone
from gateway.model.clock import SYSTEM_CLOCK, Clock
from gateway.model.ids import new_id
from gateway.model.orders import StopSource
from gateway.model.records import InboundMessage, ReassembledReply
from gateway.ops.metrics import Metrics
from gateway.ops.retrying import keep_going
from gateway.store.base import Store
from gateway.store.reassembly import assemble
from gateway.store.stoplist import DEFAULT_STOP_WORDS, stops

OWNER_TTL = 60.0  # seconds a destination's owning account is remembered
EXPIRY_INTERVAL = 1.0  # seconds between sweeps of the parts whose reply stopped coming
EXPIRY_BATCH = 100  # keys released per store transaction
InboundSink = Callable[[InboundMessage], Awaitable[None]]


class LinkEvents:
    """The :class:`gateway.link.interface.LinkHandler` every link of the daemon reports to."""

    def __init__(
        self,
        *,
        store: Store,
        on_inbound: InboundSink,
        record_receipt: Callable[[Receipt, ReceiptDone], None],
        logger: Any,  # a structlog bound logger
        reassembly_timeout: float = 300.0,
        clock: Clock = SYSTEM_CLOCK,
        metrics: Metrics | None = None,
        stop_words: frozenset[str] = DEFAULT_STOP_WORDS,
    ) -> None:
        self._store = store
        self._stop_words = stop_words  # replies that stop their source (gateway.store.stoplist)
        self._on_inbound = on_inbound
        self._log = logger.bind(component="link_events")
        self._clock = clock
        if reassembly_timeout <= 0:
            msg = "reassembly_timeout must be positive"
            raise ValueError(msg)
        self._reassembly_timeout = reassembly_timeout
        self._record_receipt = record_receipt
        self._metrics = metrics
        # destination -> (looked up at, owning account); senders approved or
        # moved later are seen after OWNER_TTL seconds (or at once on SIGHUP)
        self._owners: dict[str, tuple[float, str | None]] = {}

    def store_receipt(self, receipt: Receipt, done: ReceiptDone) -> None:
        """The receipt goes to the writer with the dispatcher's outcomes (which counts
        it in the metrics once stored); ``done`` once it is, or is not."""
        self._record_receipt(receipt, done)

    async def on_inbound(self, part: InboundPart) -> None:
        account = await self._owner(part.destination)
        now = self._clock()
        concat = part.concat
        reply: ReassembledReply | None
        if concat is None or concat.total <= 1:
            reply = assemble([part], total=1, message_id=new_id(now), account=account)
            stop = stops(reply.message, self._stop_words)
            await self._store.add_inbound(reply.message, stop=stop)  # one transaction
        else:
            reply = await self._store.add_inbound_part(part, account=account, now=now)
            stop = reply is not None and stops(reply.message, self._stop_words)
            if reply is not None and stop and account is not None:  # a long one: rare
                await self._store.add_stop(account, reply.message.source, source=StopSource.REPLY)
        if reply is not None:
            if stop:
                self._log.info("number_stopped", account=account, number=reply.message.source)
            await self._stored(reply)

    async def expire(self) -> int:
        """Release, incomplete, the replies whose newest part is older than the
        reassembly timeout (whichever daemon held them); how many."""
        released = 0
        while True:
            now = self._clock()
            batch = await self._store.expire_inbound_parts(
                before=now - self._reassembly_timeout, now=now, limit=EXPIRY_BATCH
            )
            for reply in batch:
                self._log.warning(
                    "reply_incomplete",
                    source=reply.message.source,
                    missing=list(reply.missing),
                )
                await self._stored(reply)
            released += len(batch)
            if len(batch) < EXPIRY_BATCH:
                return released

    async def run_expiry(self) -> None:
        """:meth:`expire` every :data:`EXPIRY_INTERVAL` seconds (a long-running task)."""

        async def sweep() -> float:
            await self.expire()
            return EXPIRY_INTERVAL

        await keep_going(sweep, what="reply_expiry", logger=self._log)

    async def _owner(self, destination: str) -> str | None:
        now = self._clock()
        cached = self._owners.get(destination)
        if cached is not None and now - cached[0] < OWNER_TTL:
            return cached[1]
        owners = await self._store.sender_owners(destination)
        if len(owners) > 1:
            self._log.warning("reply_owner_ambiguous", destination=destination, accounts=owners)
        owner = owners[0] if owners else None
        self._owners[destination] = (now, owner)
        return owner

    def forget_owners(self) -> None:
        """Senders changed (SIGHUP): look owners up again."""
        self._owners.clear()

    async def _stored(self, reply: ReassembledReply) -> None:
        record = reply.message
        if self._metrics is not None:
            self._metrics.inbound_received(link=record.link, account=record.account or "")
        self._log.info(
            "reply_received",
            link=record.link,
            account=record.account,
            parts=reply.received,
            complete=reply.complete,
        )
        await self._on_inbound(record)

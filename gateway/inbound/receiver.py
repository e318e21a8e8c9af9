"""What links receive, made durable: receipts and replies (the LinkHandler).

A link acknowledges a PDU to its peer only once the store committed it: a
receipt once ``store_receipt`` called it back (no coroutine per receipt), an
MO part once ``on_inbound`` returned. Receipts from every
link go to ``record_receipt`` (the dispatcher's outcome writer, which commits them with
the submit outcomes of the same round: under load, thousands of deliver_sm
become a few transactions). Replies are reassembled (any order, duplicates, timeouts) and
stored for the account that owns the destination (short code or virtual
number); a reply to a number nobody owns is kept with no account.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from gateway.inbound.reassembly import InboundMessage as Reassembled
from gateway.inbound.reassembly import Reassembler
from gateway.link.interface import InboundPart, Receipt, ReceiptDone
from gateway.model.clock import SYSTEM_CLOCK, Clock
from gateway.model.ids import new_id
from gateway.model.records import InboundMessage
from gateway.ops.metrics import Metrics
from gateway.store.base import Store

OWNER_TTL = 60.0  # seconds a destination's owning account is remembered
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
    ) -> None:
        self._store = store
        self._on_inbound = on_inbound
        self._log = logger.bind(component="link_events")
        self._clock = clock
        self._reassembler = Reassembler(timeout=reassembly_timeout)
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
        message = self._reassembler.add(part, self._clock())
        for early in self._reassembler.take_evicted():
            await self._store_reply(early)
        if message is not None:
            await self._store_reply(message)

    async def run_expiry(self) -> None:
        """Release replies whose parts stopped coming (a long-running task)."""
        while True:
            deadline = self._reassembler.next_deadline()
            now = self._clock()
            await asyncio.sleep(1.0 if deadline is None else min(max(deadline - now, 0.05), 1.0))
            for message in self._reassembler.expire(self._clock()):
                self._log.warning(
                    "reply_incomplete", source=message.source, missing=list(message.missing)
                )
                await self._store_reply(message)

    async def close(self) -> None:
        # what is still waiting for parts is stored as it is rather than lost
        for message in self._reassembler.expire(float("inf")):
            with contextlib.suppress(Exception):
                await self._store_reply(message)

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

    async def _store_reply(self, message: Reassembled) -> None:
        now = self._clock()
        record = InboundMessage(
            id=new_id(now),
            account=await self._owner(message.destination),
            link=message.link,
            source=message.source,
            destination=message.destination,
            text=message.text,
            received_at=message.received_at,
        )
        await self._store.add_inbound(record)
        if self._metrics is not None:
            self._metrics.inbound_received(link=message.link, account=record.account or "")
        self._log.info(
            "reply_received",
            link=message.link,
            account=record.account,
            parts=message.received,
            complete=message.complete,
        )
        await self._on_inbound(record)

"""What the SMSC delivers to a link: receipts and MO messages, each answered only
once its handler has it.

A receipt goes to the handler's ``store_receipt`` (no task nor future per
receipt: the daemon group-commits them); at most ``DELIVER_CONCURRENCY`` are
being stored at once, the others wait in order. An MO message is a task that
awaits ``on_inbound``, at most ``DELIVER_CONCURRENCY`` at once. Each
deliver_sm_resp leaves when its own handler call is done (SMPP allows
answers in any order): ESME_ROK once stored, ESME_RX_T_APPN when the handler
refused (the SMSC delivers it again), ESME_ROK for a receipt that cannot be
read (a redelivery would not make it readable), ESME_RX_P_APPN for an MO that
cannot.

Inbound work is bounded per connection: once ``INBOUND_HIGH`` deliver_sm are
unanswered the connection stops reading until they are down to
``INBOUND_LOW`` (a flood waits in the SMSC, not in memory here). A peer that
does not read its deliver_sm_resp while it floods is cut off once
``WRITE_BACKLOG_LIMIT`` octets wait to be sent to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections import deque
from collections.abc import Callable
from typing import Any

from drivers.smpp.link.config import SmppLinkConfig
from drivers.smpp.link.connection import SmppProtocol
from drivers.smpp.protocol import status as st
from drivers.smpp.protocol.inbound import inbound_from_pdu
from drivers.smpp.protocol.pdu import DataSm, ShortMessage
from drivers.smpp.protocol.receipts import IdNormaliser, is_receipt, receipt_from_pdu
from gateway.link.interface import LinkHandler, Receipt
from gateway.model.errors import RemoteProtocolError

DELIVER_CONCURRENCY = 256  # receipts/MO handed to the handler at once, per link
INBOUND_HIGH = 2 * DELIVER_CONCURRENCY  # unanswered deliver_sm: reading stops here...
INBOUND_LOW = DELIVER_CONCURRENCY  # ...and starts again at this many
WRITE_BACKLOG_LIMIT = 4 << 20  # octets unsent to a flooding peer that does not read

Pdu = ShortMessage | DataSm


class Deliveries:
    """The receipts and MO of one link, handed over and answered (module docstring).

    ``current()`` is the link's connection now: an answer for a connection
    that is gone is not sent (the SMSC delivers again on the next one).
    """

    def __init__(
        self,
        *,
        config: SmppLinkConfig,
        handler: LinkHandler,
        ids: IdNormaliser,
        current: Callable[[], SmppProtocol | None],
        counters: dict[str, int],
        log: Any,
        wall_clock: Callable[[], float],
    ) -> None:
        self._config = config
        self._handler = handler
        self._ids = ids
        self._current = current
        self._counters = counters
        self._log = log
        self._wall_clock = wall_clock
        self._storing = 0  # receipts given to the handler, not yet stored
        self._waiting: deque[tuple[Pdu, SmppProtocol]] = deque()
        self._tasks: set[asyncio.Task[None]] = set()  # MO being handed over
        self._slots = asyncio.Semaphore(DELIVER_CONCURRENCY)
        self._drained: asyncio.Event | None = None
        self.detail: str | None = None  # why a connection was cut off, when one was

    @property
    def waiting(self) -> int:
        """Receipts waiting for a place among those being stored."""
        return len(self._waiting)

    @property
    def handing_over(self) -> int:
        """MO messages with the handler (or waiting for a place there)."""
        return len(self._tasks)

    def take(self, pdu: Pdu, conn: SmppProtocol) -> None:
        """A deliver_sm/data_sm of ``conn``'s connection."""
        conn.inbound += 1
        if conn.inbound >= INBOUND_HIGH and not conn.reading_paused:
            conn.pause_inbound()
            self._counters["reading_paused"] += 1
            self._log.debug("smpp_reading_paused", unanswered=conn.inbound)
        if is_receipt(pdu.esm_class):
            if self._storing >= DELIVER_CONCURRENCY:
                self._waiting.append((pdu, conn))
            else:
                self._store_receipt(pdu, conn)
            return
        task = asyncio.get_running_loop().create_task(self._inbound(pdu, conn))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self, timeout: float) -> None:
        """Wait (bounded) for what is with the handler."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)
        if self._storing or self._waiting:
            self._drained = asyncio.Event()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._drained.wait()

    # --- receipts -----------------------------------------------------------------------
    def _store_receipt(self, pdu: Pdu, conn: SmppProtocol) -> None:
        receipt = receipt_from_pdu(pdu, link=self._config.name, ids=self._ids)
        if receipt is None:
            self._log.warning("smpp_receipt_unreadable", seq=pdu.sequence)
            self._respond(pdu, conn, st.ESME_ROK)  # redelivery would not make it readable
            return
        self._storing += 1
        self._handler.store_receipt(receipt, functools.partial(self._stored, pdu, conn, receipt))

    def _stored(
        self, pdu: Pdu, conn: SmppProtocol, receipt: Receipt, error: BaseException | None
    ) -> None:
        self._storing -= 1
        if error is None:
            self._counters["receipts"] += 1
            self._respond(pdu, conn, st.ESME_ROK)
        else:
            self._log.warning("smpp_receipt_refused", smsc_id=receipt.smsc_id, error=repr(error))
            self._respond(pdu, conn, st.ESME_RX_T_APPN)
        while self._waiting and self._storing < DELIVER_CONCURRENCY:
            self._store_receipt(*self._waiting.popleft())
        if self._drained is not None and not self._storing and not self._waiting:
            self._drained.set()

    # --- MO -----------------------------------------------------------------------------
    async def _inbound(self, pdu: Pdu, conn: SmppProtocol) -> None:
        async with self._slots:
            status = await self._hand_over(pdu)
        self._respond(pdu, conn, status)

    async def _hand_over(self, pdu: Pdu) -> int:
        c = self._config
        try:
            part = inbound_from_pdu(pdu, link=c.name, now=self._wall_clock(), country=c.country)
        except RemoteProtocolError as exc:
            self._log.warning("smpp_inbound_unreadable", seq=pdu.sequence, error=str(exc))
            return st.ESME_RX_P_APPN
        try:
            await self._handler.on_inbound(part)
        except Exception as exc:  # noqa: BLE001 - any handler failure means "send it again"
            self._log.warning("smpp_inbound_refused", error=repr(exc))
            return st.ESME_RX_T_APPN
        self._counters["inbound"] += 1
        return st.ESME_ROK

    # --- answers ------------------------------------------------------------------------
    def _respond(self, pdu: Pdu, conn: SmppProtocol, status: int) -> None:
        """Answer one deliver_sm (once each), if its connection is still the link's."""
        conn.inbound -= 1
        if conn.reading_paused and conn.inbound <= INBOUND_LOW:
            conn.resume_inbound()
        if conn is not self._current():
            return  # its connection is gone: the SMSC delivers it again
        conn.session.respond(pdu, status)
        conn.schedule_flush()
        backlog = conn.write_backlog()
        if backlog > WRITE_BACKLOG_LIMIT:
            self.detail = f"the SMSC left {backlog} octets of answers unread"
            self._log.warning("smpp_peer_unresponsive", unread=backlog, unanswered=conn.inbound)
            conn.abort()

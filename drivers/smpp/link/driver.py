"""The asyncio SMPP link: connection, bind, send window, pacing, reconnects, receipts, MO.

It implements :class:`gateway.link.interface.Link`. The protocol logic lives in
:class:`drivers.smpp.protocol.session.EsmeSession`; this module moves bytes, arms one
timer and resolves one future per submit_sm.

Delivery is at-least-once: a submit_sm in flight when the connection drops
resolves at once as ``Retry("link_down")`` although the SMSC may have taken it,
so a resend can duplicate it (bounded by the window). A submit left unanswered
resolves as ``Retry("timeout")`` only once the SMSC is heard from again; if the
session is declared dead first (the SMSC stopped answering, the connection
open), it resolves as ``link_down`` with the connection, so it is sent again on
the next session, not on the silent one. A receipt or MO message
is acknowledged (deliver_sm_resp) only after the handler returned; if it
raises, the answer is ESME_RX_T_APPN and the SMSC delivers it again.

Inbound work is bounded per connection: at most ``DELIVER_CONCURRENCY``
receipts or MO are with the handler at once, and once ``INBOUND_HIGH``
deliver_sm are unanswered the link stops reading the connection until they
are down to ``INBOUND_LOW`` (a flood waits in the SMSC, not in memory here;
what one read had already brought is kept, at most one read buffer). A peer
that does not read its deliver_sm_resp while it floods is cut off once
``WRITE_BACKLOG_LIMIT`` octets wait to be sent to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
import ssl
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import structlog

from drivers.smpp.link.config import SmppLinkConfig
from drivers.smpp.link.connection import SmppProtocol
from drivers.smpp.link.submit import SubmitMapper
from drivers.smpp.protocol import status as st
from drivers.smpp.protocol.inbound import inbound_from_pdu
from drivers.smpp.protocol.pacing import SendPacer
from drivers.smpp.protocol.pdu import DataSm, ShortMessage
from drivers.smpp.protocol.receipts import is_receipt, receipt_from_pdu
from drivers.smpp.protocol.session import EsmeSession, SessionState
from gateway.link.interface import (
    LinkHandler,
    LinkHealth,
    Outcome,
    Receipt,
    ReceiptSink,
    Rejected,
    Retry,
    SubmitRequest,
)
from gateway.model.errors import LocalProtocolError, RemoteProtocolError

LINK_DOWN = Retry(reason="link_down")
TIMEOUT = Retry(reason="timeout")
# ESME_ROK with no usable message_id: the SMSC says it took the segment, so sending
# it again could deliver it twice (and an SMSC that answers so does it for every
# submit: a retry would resend each message at every back-off); the segment is
# refused instead, once, and no receipt can be matched to it
MISANSWERED = "ESME_ROK without a usable message_id"
DELIVER_CONCURRENCY = 256  # receipts/MO handed to the handler at once, per link
INBOUND_HIGH = 2 * DELIVER_CONCURRENCY  # unanswered deliver_sm: reading stops here...
INBOUND_LOW = DELIVER_CONCURRENCY  # ...and starts again at this many
WRITE_BACKLOG_LIMIT = 4 << 20  # octets unsent to a flooding peer that does not read
BACKOFF_DOUBLINGS = 32  # 2**32 times reconnect_min passes any reconnect_max
COUNTERS = (
    "submitted",
    "accepted",
    "retried",
    "rejected",
    "throttled",
    "receipts",
    "inbound",
    "reconnects",
    "timeouts",
    "protocol_errors",
    "reading_paused",
)


def reconnect_delay(failures: int, *, low: float, high: float, rng: random.Random) -> float:
    """Seconds before the next connect after ``failures`` in a row: ``low`` doubling
    up to ``high``, jittered into its upper half. The exponent is capped, so no
    number of failures overflows it."""
    delay = min(high, low * 2.0 ** min(failures, BACKOFF_DOUBLINGS))
    return delay * (0.5 + rng.random() / 2)


def _resolve(future: asyncio.Future[Outcome], outcome: Outcome) -> None:
    if not future.done():  # not cancelled by the caller meanwhile
        future.set_result(outcome)


class SmppLink:
    """One SMPP link to one SMSC (``bind`` = transmitter, receiver or transceiver)."""

    def __init__(
        self,
        *,
        config: SmppLinkConfig,
        handler: LinkHandler,
        logger: Any = None,
        wall_clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self._handler = handler
        self._log = (logger or structlog.get_logger()).bind(link=config.name)
        self._wall_clock = wall_clock
        self._rng = rng or random.Random()
        self._mapper = SubmitMapper(config)
        self._window = config.window
        # sequence -> what takes its outcome (a future's resolver, or send()'s callback)
        self._pending: dict[int, Callable[[Outcome], None]] = {}
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._reserved = 0
        self._room: asyncio.Future[None] | None = None  # wait_room() waiting for the window
        self._proto: SmppProtocol | None = None
        self._stopping = False
        self._stop_event: asyncio.Event | None = None
        self._bound_event: asyncio.Event | None = None
        self._drained: asyncio.Event | None = None
        # the submit rate: throughput, lowered while the SMSC throttles (AIMD)
        self._pacer = SendPacer(ceiling=config.throughput, floor=config.min_throughput)
        # receipts and MO being handed to the handler: concurrently, so that the
        # handler can group-commit them; each deliver_sm_resp leaves when its own
        # handler call returns (SMPP allows responses in any order)
        self._delivering: set[asyncio.Task[None]] = set()
        self._deliver_slots = asyncio.Semaphore(DELIVER_CONCURRENCY)
        # a handler that takes receipts without a coroutine each (ReceiptSink)
        self._sink = handler if isinstance(handler, ReceiptSink) else None
        self._storing = 0  # receipts given to the sink, not yet stored
        self._waiting: deque[tuple[ShortMessage | DataSm, SmppProtocol]] = deque()
        self._drained_receipts: asyncio.Event | None = None
        self._detail = "not started"
        self._up = False
        self.counters = dict.fromkeys(COUNTERS, 0)

    # --- Link protocol -----------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def concat(self) -> str:
        return self.config.concat

    @property
    def packed(self) -> bool:
        return self.config.packed

    @property
    def stopping(self) -> bool:
        return self._stopping

    @property
    def bound(self) -> bool:
        proto = self._proto
        return proto is not None and proto.session.bound

    def health(self) -> LinkHealth:
        proto = self._proto
        return LinkHealth(
            name=self.config.name,
            driver="smpp",
            up=self._up,
            bound=self.bound,
            in_flight=len(self._pending),
            window=self._window,
            throttled=self._pacer.reduced,
            detail=self._detail,
            counters=dict(self.counters),
            gauges={"inbound_unanswered": float(proto.inbound if proto is not None else 0)},
        )

    async def wait_bound(self, timeout: float | None = None) -> None:
        """Wait until the link is bound (for tests and start-up ordering)."""
        if self._bound_event is None:
            self._bound_event = asyncio.Event()
        if not self.bound:
            async with asyncio.timeout(timeout):
                await self._bound_event.wait()

    async def run(self) -> None:
        """Connect, bind and stay connected (jittered exponential backoff) until stop()."""
        self._stop_event = asyncio.Event()
        if self._bound_event is None:
            self._bound_event = asyncio.Event()
        failures = 0
        while not self._stopping:
            was_bound = await self._connect_once()
            if self.stopping:
                break
            failures = 0 if was_bound else failures + 1
            self.counters["reconnects"] += 1
            delay = reconnect_delay(
                failures,
                low=self.config.reconnect_min,
                high=self.config.reconnect_max,
                rng=self._rng,
            )
            self._log.info("smpp_reconnect_scheduled", delay=round(delay, 3))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._stop_event.wait()
        self._detail = "stopped"

    async def stop(self, *, timeout: float = 10.0) -> None:
        """Refuse new submits, wait (bounded) for in-flight answers, unbind, close."""
        self._stopping = True
        if self._stop_event is not None:
            self._stop_event.set()
        proto = self._proto
        if proto is None:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        if self._pending:
            self._drained = asyncio.Event()
            try:
                async with asyncio.timeout(timeout):
                    await self._drained.wait()
            except TimeoutError:
                self._log.warning("smpp_stop_timed_out", in_flight=len(self._pending))
        if proto.session.bound:
            proto.session.unbind(loop.time())
            proto.flush()
            proto.arm_timer()
        elif not proto.closed.done() and proto.session.state is not SessionState.UNBINDING:
            proto.abort()  # still binding: nothing to wait for
        try:
            async with asyncio.timeout_at(deadline):
                await asyncio.shield(proto.closed)
        except TimeoutError:
            proto.abort()
            await proto.closed
        if self._delivering:  # handler calls still running
            await asyncio.wait(set(self._delivering), timeout=max(0.1, deadline - loop.time()))
        if self._storing or self._waiting:  # receipts being stored
            self._drained_receipts = asyncio.Event()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.1, deadline - loop.time())):
                    await self._drained_receipts.wait()

    async def submit(self, request: SubmitRequest) -> Outcome:
        """Send one segment: pace, take a place in the window, await the answer."""
        if self._stopping or not self.bound:
            return LINK_DOWN
        loop = asyncio.get_running_loop()
        if self._pacer.interval:
            await self._pace(loop)
        proto = self._proto
        if proto is not None and proto.paused:  # the kernel buffer is full: wait before queueing
            await proto.wait_writable()
        if self._waiters or len(self._pending) + self._reserved >= self._window:
            await self._acquire(loop)
        # from here to the future's registration nothing awaits: the slot stays ours
        proto = self._proto
        if self.stopping or proto is None or not proto.ready():
            self._wake()
            return LINK_DOWN
        try:
            seq = proto.session.submit_body(loop.time(), self._mapper.body(request))
        except LocalProtocolError as exc:
            self._wake()
            self.counters["rejected"] += 1
            return Rejected(reason=f"invalid: {exc}")
        fut: asyncio.Future[Outcome] = loop.create_future()
        self._pending[seq] = functools.partial(_resolve, fut)
        self.counters["submitted"] += 1
        proto.schedule_flush()
        return await fut

    # --- streaming submits: the dispatcher's path, no task or future per segment -----

    def room(self) -> int:
        """How many segments :meth:`send` takes right now; 0: await :meth:`wait_room`.

        A link that is down or stopping has room: send() answers it link_down
        at once, so what was routed here goes back to be routed again.
        """
        proto = self._proto
        if self._stopping or proto is None or not proto.session.bound:
            return self._window
        if proto.paused or self._waiters:
            return 0
        room = self._window - len(self._pending) - self._reserved
        pacer = self._pacer
        if pacer.interval:  # what the rate allows now
            return min(room, pacer.allowance(proto.loop.time()))
        return room

    async def wait_room(self) -> None:
        """Until :meth:`room` is above 0 (or the link is down: send() answers at once)."""
        loop = asyncio.get_running_loop()
        while True:
            proto = self._proto
            if self._stopping or proto is None or not proto.session.bound:
                return
            now = loop.time()
            start = self._pacer.next_send_time(now)
            if start > now:
                await asyncio.sleep(start - now)
            elif proto.paused:
                await proto.wait_writable()
            elif self._waiters or len(self._pending) + self._reserved >= self._window:
                if self._room is None or self._room.done():
                    self._room = loop.create_future()
                await self._room
            else:
                return

    def send(self, request: SubmitRequest, done: Callable[[Outcome], None]) -> None:
        """Send one segment now (call when :meth:`room` > 0); ``done(outcome)`` is
        called once, with the answer, or at once when the segment cannot go."""
        proto = self._proto
        if self._stopping or proto is None or not proto.ready():
            done(LINK_DOWN)
            return
        now = proto.loop.time()
        if self._pacer.interval:
            self._pacer.on_sent(now)
        try:
            seq = proto.session.submit_body(now, self._mapper.body(request))
        except LocalProtocolError as exc:
            self.counters["rejected"] += 1
            done(Rejected(reason=f"invalid: {exc}"))
            return
        self._pending[seq] = done
        self.counters["submitted"] += 1
        proto.schedule_flush()

    # --- window and pacing --------------------------------------------------------------

    async def _acquire(self, loop: asyncio.AbstractEventLoop) -> None:
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._reserved -= 1
                self._wake()
            raise
        self._reserved -= 1

    def _wake(self) -> None:
        waiters = self._waiters
        while waiters and len(self._pending) + self._reserved < self._window:
            waiter = waiters.popleft()
            if not waiter.done():
                self._reserved += 1
                waiter.set_result(None)
        room = self._room
        if room is not None and not waiters and len(self._pending) + self._reserved < self._window:
            self._room = None
            if not room.done():
                room.set_result(None)

    def _wake_all(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._reserved += 1
                waiter.set_result(None)

    async def _pace(self, loop: asyncio.AbstractEventLoop) -> None:
        """Book the next moment the pacer allows, and wait for it."""
        now = loop.time()
        start = max(now, self._pacer.next_send_time(now))
        self._pacer.on_sent(start)
        if start > now:
            await asyncio.sleep(start - now)

    def _loop_time(self) -> float:
        try:
            return asyncio.get_running_loop().time()
        except RuntimeError:
            return 0.0

    # --- connection ---------------------------------------------------------------------

    def _ssl_context(self) -> ssl.SSLContext | None:
        if not self.config.tls:
            return None
        return ssl.create_default_context(cafile=self.config.tls_ca)

    def _new_session(self) -> EsmeSession:
        c = self.config
        return EsmeSession(
            system_id=c.system_id,
            password=c.password.reveal(),
            bind=c.bind,
            system_type=c.system_type,
            window=c.window,
            response_timeout=c.response_timeout,
            bind_timeout=c.bind_timeout,
            enquire_link=c.enquire_link,
            dead_after_timeouts=c.dead_after_timeouts,
        )

    async def _connect_once(self) -> bool:
        """One connection's life; True if it got bound."""
        loop = asyncio.get_running_loop()
        c = self.config
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for loses a
        # cancellation that comes as the connection fails, and the reconnect
        # loop then never ends (a task group waiting for it hangs)
        try:
            async with asyncio.timeout(c.bind_timeout):
                _, proto = await loop.create_connection(
                    lambda: SmppProtocol(link=self, session=self._new_session()),
                    c.host,
                    c.port,
                    ssl=self._ssl_context(),
                )
        except (OSError, TimeoutError) as exc:
            self._detail = f"connect to {c.host}:{c.port} failed: {exc}"
            self._log.warning("smpp_connect_failed", host=c.host, port=c.port, error=str(exc))
            return False
        self._proto = proto
        self._up = True
        if self._stopping:
            proto.abort()
        try:
            await proto.closed
        finally:
            self._up = False
        return proto.was_bound

    # --- callbacks from SmppProtocol -------------------------------------------------------

    def on_bound(self, system_id: str) -> None:
        self._detail = f"bound to {system_id or 'SMSC'}"
        self._log.info("smpp_bound", peer=system_id, mode=self.config.bind.value)
        if self._bound_event is not None:
            self._bound_event.set()

    def on_closed(self, reason: str, detail: str) -> None:
        self._detail = f"{reason}: {detail}" if detail else reason
        log = self._log.info if reason in ("unbound", "unbind_requested") else self._log.warning
        log("smpp_session_closed", reason=reason, detail=detail)

    def on_peer_error(self, detail: str) -> None:
        self._log.warning("smpp_peer_error_received", detail=detail)

    def on_answer(self, seq: int, status: int, message_id: str) -> None:
        done = self._pending.pop(seq, None)
        if done is None:
            return
        outcome = self._mapper.outcome(status, message_id, self.config.throttle_delay)
        if status == 0:
            self.counters["accepted"] += 1
            if self._pacer.on_accepted(self._loop_time()):
                self._log.info("smpp_rate_restored", rate=self._pacer.rate)
        elif isinstance(outcome, Retry):
            self.counters["retried"] += 1
            if outcome.throttled:
                self._on_throttled()
        else:
            self.counters["rejected"] += 1
        done(outcome)

    def on_misanswered(self, seq: int, detail: str) -> None:
        done = self._pending.pop(seq, None)
        self.counters["protocol_errors"] += 1
        self._log.warning("smpp_submit_resp_refused", seq=seq, detail=detail)
        if done is not None:
            self.counters["rejected"] += 1
            done(Rejected(reason=MISANSWERED))

    def on_expired(self, seq: int) -> None:
        done = self._pending.pop(seq, None)
        if done is not None:
            self.counters["timeouts"] += 1
            self.counters["retried"] += 1
            done(TIMEOUT)

    def after_events(self) -> None:
        if self._waiters or self._room is not None:
            self._wake()
        if self._drained is not None and not self._pending:
            self._drained.set()

    def _on_throttled(self) -> None:
        self.counters["throttled"] += 1
        pacer = self._pacer
        if pacer.on_throttled(self._loop_time()):
            rate = pacer.rate or 0.0
            self._log.info("smpp_throttled", rate=round(rate, 1))

    def on_connection_lost(self, proto: SmppProtocol) -> None:
        if self._proto is proto:
            self._proto = None
        if self._bound_event is not None:
            self._bound_event.clear()
        pending, self._pending = self._pending, {}
        self._log.info("smpp_connection_lost", in_flight=len(pending), stopping=self._stopping)
        if not proto.session_closed:  # the peer or the network ended it, not the session
            self._detail = "connection lost"
        self.counters["retried"] += len(pending)
        for done in pending.values():
            done(LINK_DOWN)
        self._wake_all()
        room, self._room = self._room, None
        if room is not None and not room.done():
            room.set_result(None)  # wait_room() returns: send() now answers link_down
        # handler calls still running answer nobody: the SMSC delivers them again
        if self._drained is not None:
            self._drained.set()

    # --- receipts and MO ------------------------------------------------------------------

    def on_deliver(self, pdu: ShortMessage | DataSm, proto: SmppProtocol) -> None:
        """A deliver_sm/data_sm of ``proto``'s connection; :meth:`_respond` answers it."""
        proto.inbound += 1
        if proto.inbound >= INBOUND_HIGH and not proto.reading_paused:
            proto.pause_inbound()
            self.counters["reading_paused"] += 1
            self._log.debug("smpp_reading_paused", unanswered=proto.inbound)
        sink = self._sink
        if sink is not None and is_receipt(pdu.esm_class):
            # receipts, the bulk of what comes in: no task per PDU
            if self._storing >= DELIVER_CONCURRENCY:
                self._waiting.append((pdu, proto))
            else:
                self._store_receipt(sink, pdu, proto)
            return
        task = asyncio.get_running_loop().create_task(self._deliver_and_answer(pdu, proto))
        self._delivering.add(task)
        task.add_done_callback(self._delivering.discard)

    def _store_receipt(
        self, sink: ReceiptSink, pdu: ShortMessage | DataSm, proto: SmppProtocol
    ) -> None:
        receipt = receipt_from_pdu(pdu, link=self.config.name, ids=self._mapper.ids)
        if receipt is None:
            self._log.warning("smpp_receipt_unreadable", seq=pdu.sequence)
            self._respond(pdu, proto, st.ESME_ROK)  # redelivery would not make it readable
            return
        self._storing += 1
        sink.store_receipt(receipt, functools.partial(self._receipt_stored, pdu, proto, receipt))

    def _receipt_stored(
        self,
        pdu: ShortMessage | DataSm,
        proto: SmppProtocol,
        receipt: Receipt,
        error: BaseException | None,
    ) -> None:
        self._storing -= 1
        if error is None:
            self.counters["receipts"] += 1
            self._respond(pdu, proto, st.ESME_ROK)
        else:
            self._log.warning("smpp_receipt_refused", smsc_id=receipt.smsc_id, error=repr(error))
            self._respond(pdu, proto, st.ESME_RX_T_APPN)
        sink = self._sink
        while sink is not None and self._waiting and self._storing < DELIVER_CONCURRENCY:
            self._store_receipt(sink, *self._waiting.popleft())
        if self._drained_receipts is not None and not self._storing and not self._waiting:
            self._drained_receipts.set()

    def _respond(self, pdu: ShortMessage | DataSm, proto: SmppProtocol, status: int) -> None:
        """Answer one deliver_sm (once each), if its connection is still the link's."""
        proto.inbound -= 1
        if proto.reading_paused and proto.inbound <= INBOUND_LOW:
            proto.resume_inbound()
        if proto is not self._proto:
            return  # its connection is gone: the SMSC delivers it again
        proto.session.respond(pdu, status)
        proto.schedule_flush()
        backlog = proto.write_backlog()
        if backlog > WRITE_BACKLOG_LIMIT:
            self._detail = f"the SMSC left {backlog} octets of answers unread"
            self._log.warning("smpp_peer_unresponsive", unread=backlog, unanswered=proto.inbound)
            proto.abort()

    async def _deliver_and_answer(self, pdu: ShortMessage | DataSm, proto: SmppProtocol) -> None:
        async with self._deliver_slots:
            status = await self._deliver(pdu)
        self._respond(pdu, proto, status)

    async def _deliver(self, pdu: ShortMessage | DataSm) -> int:
        name = self.config.name
        if is_receipt(pdu.esm_class):
            receipt = receipt_from_pdu(pdu, link=name, ids=self._mapper.ids)
            if receipt is None:
                self._log.warning("smpp_receipt_unreadable", seq=pdu.sequence)
                return st.ESME_ROK  # redelivery would not make it readable
            try:
                await self._handler.on_receipt(receipt)
            except Exception as exc:  # noqa: BLE001 - any handler failure means "send it again"
                self._log.warning("smpp_receipt_refused", smsc_id=receipt.smsc_id, error=repr(exc))
                return st.ESME_RX_T_APPN
            self.counters["receipts"] += 1
            return st.ESME_ROK
        try:
            part = inbound_from_pdu(
                pdu, link=name, now=self._wall_clock(), country=self.config.country
            )
        except RemoteProtocolError as exc:
            self._log.warning("smpp_inbound_unreadable", seq=pdu.sequence, error=str(exc))
            return st.ESME_RX_P_APPN
        try:
            await self._handler.on_inbound(part)
        except Exception as exc:  # noqa: BLE001 - any handler failure means "send it again"
            self._log.warning("smpp_inbound_refused", error=repr(exc))
            return st.ESME_RX_T_APPN
        self.counters["inbound"] += 1
        return st.ESME_ROK

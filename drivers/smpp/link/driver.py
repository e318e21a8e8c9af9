"""The asyncio SMPP link: connection, bind, send window, pacing, reconnects, receipts, MO.

It implements :class:`gateway.link.interface.Link`. The protocol logic lives in
:class:`drivers.smpp.protocol.session.EsmeSession`, the window and the pace in
:class:`drivers.smpp.protocol.window.SendWindow` (both sans-IO); this module
moves bytes through one connection at a time (:mod:`drivers.smpp.link.connection`),
reconnects, and calls one callback per submit_sm. What the SMSC delivers is
:mod:`drivers.smpp.link.deliveries`'.

Submits stream (:meth:`SmppLink.send` while :meth:`SmppLink.room` is above 0,
:meth:`SmppLink.wait_room` otherwise): no task nor future per segment.
:meth:`SmppLink.submit` is that path for one segment, awaited.

Delivery is at-least-once: a submit_sm in flight when the connection drops
resolves at once as ``Retry("link_down")`` although the SMSC may have taken it,
so a resend can duplicate it (bounded by the window). A submit left unanswered
resolves as ``Retry("timeout")`` only once the SMSC is heard from again; if the
session is declared dead first (the SMSC stopped answering, the connection
open), it resolves as ``link_down`` with the connection, so it is sent again on
the next session, not on the silent one.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
import ssl
import time
from collections.abc import Callable
from typing import Any

import structlog

from drivers.smpp.link.config import SmppLinkConfig
from drivers.smpp.link.connection import SmppProtocol
from drivers.smpp.link.deliveries import Deliveries
from drivers.smpp.link.submit import SubmitMapper
from drivers.smpp.protocol.pdu import DataSm, ShortMessage
from drivers.smpp.protocol.session import CloseReason, EsmeSession, SessionState
from drivers.smpp.protocol.window import Answer, RateChange, SendWindow
from gateway.link.interface import LinkHandler, LinkHealth, OutcomeCallback, SubmitRequest
from gateway.model.errors import LocalProtocolError
from gateway.model.outcomes import Outcome, Rejected, Retry

LINK_DOWN = Retry(reason="link_down")
TIMEOUT = Retry(reason="timeout")
# ESME_ROK with no usable message_id: the SMSC says it took the segment, so sending
# it again could deliver it twice (and an SMSC that answers so does it for every
# submit: a retry would resend each message at every back-off); the segment is
# refused instead, once, and no receipt can be matched to it
MISANSWERED = "ESME_ROK without a usable message_id"
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
        self._log = (logger or structlog.get_logger()).bind(link=config.name)
        self._rng = rng or random.Random()
        self._mapper = SubmitMapper(config)
        self._window = SendWindow(
            config.window, throughput=config.throughput, min_throughput=config.min_throughput
        )
        self._pending: dict[int, OutcomeCallback] = {}  # sequence -> who takes its outcome
        self._room: asyncio.Future[None] | None = None  # wait_room() waiting for an answer
        self._proto: SmppProtocol | None = None
        self._stopping = False
        self._stop_event: asyncio.Event | None = None
        self._bound_event: asyncio.Event | None = None
        self._drained: asyncio.Event | None = None
        self._detail = "not started"
        self._up = False
        self.counters = dict.fromkeys(COUNTERS, 0)
        self.deliveries = Deliveries(
            config=config,
            handler=handler,
            ids=self._mapper.ids,
            current=lambda: self._proto,
            counters=self.counters,
            log=self._log,
            wall_clock=wall_clock,
        )

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
            window=self._window.size,
            throttled=self._window.throttled,
            detail=self.deliveries.detail or self._detail,
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
        await self.deliveries.drain(max(0.1, deadline - loop.time()))

    # --- submits: the one send path --------------------------------------------------------

    def room(self) -> int:
        """How many segments :meth:`send` takes right now; 0: await :meth:`wait_room`.

        A link that is down or stopping has room: send() answers it link_down
        at once, so what was routed here goes back to be routed again.
        """
        proto = self._proto
        if self._stopping or proto is None or not proto.session.bound:
            return self._window.size
        if proto.paused:
            return 0
        return self._window.room(proto.loop.time(), len(self._pending))

    async def wait_room(self) -> None:
        """Until :meth:`room` is above 0 (or the link is down: send() answers at once)."""
        loop = asyncio.get_running_loop()
        while True:
            proto = self._proto
            if self._stopping or proto is None or not proto.session.bound:
                return
            now = loop.time()
            ready = self._window.ready_at(now, len(self._pending))
            if ready is None:  # the window is full: an answer frees it
                if self._room is None or self._room.done():
                    self._room = loop.create_future()
                await self._room
            elif ready > now:
                await asyncio.sleep(ready - now)
            elif proto.paused:
                await proto.wait_writable()
            else:
                return

    def send(self, request: SubmitRequest, done: OutcomeCallback) -> None:
        """Send one segment now (call when :meth:`room` > 0); ``done(outcome)`` is
        called once, with the answer, or at once when the segment cannot go."""
        proto = self._proto
        if self._stopping or proto is None or not proto.ready():
            done(LINK_DOWN)
            return
        now = proto.loop.time()
        try:
            seq = proto.session.submit_body(now, self._mapper.body(request))
        except LocalProtocolError as exc:
            self.counters["rejected"] += 1
            done(Rejected(reason=f"invalid: {exc}"))
            return
        self._window.sent(now)
        self._pending[seq] = done
        self.counters["submitted"] += 1
        proto.schedule_flush()

    async def submit(self, request: SubmitRequest) -> Outcome:
        """One segment through :meth:`send`, awaited: room first, then its answer."""
        while self.room() <= 0:
            await self.wait_room()
        outcome: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self.send(request, functools.partial(_resolve, outcome))
        return await outcome

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
        self.deliveries.detail = None
        self._up = True
        if self._stopping:
            proto.abort()
        try:
            await proto.closed
        finally:
            self._up = False
        return proto.was_bound

    # --- what the connection reports (drivers.smpp.link.connection.ConnectionListener) ----

    def on_bound(self, system_id: str) -> None:
        self._detail = f"bound to {system_id or 'SMSC'}"
        self._log.info("smpp_bound", peer=system_id, mode=self.config.bind.value)
        if self._bound_event is not None:
            self._bound_event.set()

    def on_closed(self, reason: CloseReason, detail: str) -> None:
        self._detail = f"{reason.value}: {detail}" if detail else reason.value
        log = self._log.info if reason.orderly else self._log.warning
        log("smpp_session_closed", reason=reason.value, detail=detail)

    def on_peer_error(self, detail: str) -> None:
        self._log.warning("smpp_peer_error_received", detail=detail)

    def on_answer(self, seq: int, status: int, message_id: str) -> None:
        done = self._pending.pop(seq, None)
        if done is None:
            return
        outcome = self._mapper.outcome(status, message_id, self.config.throttle_delay)
        if status == 0:
            self.counters["accepted"] += 1
            answer = Answer.ACCEPTED
        elif isinstance(outcome, Retry):
            self.counters["retried"] += 1
            answer = Answer.THROTTLED if outcome.throttled else Answer.OTHER
            if outcome.throttled:
                self.counters["throttled"] += 1
        else:
            self.counters["rejected"] += 1
            answer = Answer.OTHER
        proto = self._proto
        change = self._window.answered(proto.loop.time() if proto else 0.0, answer)
        if change is RateChange.RESTORED:
            self._log.info("smpp_rate_restored", rate=self._window.rate)
        elif change is RateChange.CUT:
            self._log.info("smpp_throttled", rate=round(self._window.rate or 0.0, 1))
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

    def on_deliver(self, pdu: ShortMessage | DataSm, conn: SmppProtocol) -> None:
        self.deliveries.take(pdu, conn)

    def after_events(self) -> None:
        room = self._room
        if room is not None and len(self._pending) < self._window.size:
            self._room = None
            if not room.done():
                room.set_result(None)
        if self._drained is not None and not self._pending:
            self._drained.set()

    def on_connection_lost(self, conn: SmppProtocol) -> None:
        if self._proto is conn:
            self._proto = None
        if self._bound_event is not None:
            self._bound_event.clear()
        pending, self._pending = self._pending, {}
        self._log.info("smpp_connection_lost", in_flight=len(pending), stopping=self._stopping)
        if not conn.session_closed:  # the peer or the network ended it, not the session
            self._detail = "connection lost"
        self.counters["retried"] += len(pending)
        for done in pending.values():
            done(LINK_DOWN)
        room, self._room = self._room, None
        if room is not None and not room.done():
            room.set_result(None)  # wait_room() returns: send() now answers link_down
        # handler calls still running answer nobody: the SMSC delivers them again
        if self._drained is not None:
            self._drained.set()

"""The asyncio SMPP link: connection, bind, reconnects, stop; sends and deliveries composed.

It implements :class:`gateway.link.interface.Link`. The protocol logic lives in
:class:`drivers.smpp.protocol.session.EsmeSession` (sans-IO); this module
keeps one connection at a time (:mod:`drivers.smpp.link.connection` moves its
bytes and reports to the link), reconnects, and stops. What goes to the SMSC
is :mod:`drivers.smpp.link.outbound`'s (the window, the pace, one callback
per submit_sm); what the SMSC delivers is :mod:`drivers.smpp.link.deliveries`'.

Submits stream (:meth:`SmppLink.send` while :meth:`SmppLink.room` is above 0,
:meth:`SmppLink.wait_room` otherwise): no task nor future per segment, and at
least once (:mod:`drivers.smpp.link.outbound`).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import ssl
import time
from collections.abc import Callable
from typing import Any

import structlog

from drivers.smpp.link.config import SmppLinkConfig
from drivers.smpp.link.connection import SmppProtocol
from drivers.smpp.link.deliveries import Deliveries
from drivers.smpp.link.outbound import Outbound
from drivers.smpp.link.submit import SubmitMapper
from drivers.smpp.protocol.events import CloseReason
from drivers.smpp.protocol.pdu import DataSm, ShortMessage
from drivers.smpp.protocol.session import EsmeSession
from drivers.smpp.protocol.states import SessionState
from gateway.link.interface import LinkHandler, LinkHealth, OutcomeCallback, SubmitRequest

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
        mapper = SubmitMapper(config)
        self._proto: SmppProtocol | None = None
        self._stopping = False
        self._stop_event: asyncio.Event | None = None
        self._bound_event: asyncio.Event | None = None
        self._detail = "not started"
        self._up = False
        self.counters = dict.fromkeys(COUNTERS, 0)
        self.outbound = Outbound(
            config=config,
            mapper=mapper,
            current=lambda: self._proto,
            stopping=lambda: self._stopping,
            counters=self.counters,
            log=self._log,
        )
        self.deliveries = Deliveries(
            config=config,
            handler=handler,
            ids=mapper.ids,
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
    def connection(self) -> SmppProtocol | None:
        """The connection to the SMSC now (None between connections)."""
        return self._proto

    @property
    def stopping(self) -> bool:
        return self._stopping

    @property
    def bound(self) -> bool:
        proto = self._proto
        return proto is not None and proto.session.bound

    def health(self) -> LinkHealth:
        proto = self._proto
        window = self.outbound.window
        return LinkHealth(
            name=self.config.name,
            driver="smpp",
            up=self._up,
            bound=self.bound,
            in_flight=self.outbound.in_flight,
            window=window.size,
            throttled=window.throttled,
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
            if self.stopping:  # (a property: stop() may have run during the await)
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
        await self.outbound.drain(timeout)
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

    # --- submits: the one send path (drivers.smpp.link.outbound) -------------------------

    def room(self) -> int:
        return self.outbound.room()

    async def wait_room(self) -> None:
        await self.outbound.wait_room()

    def send(self, request: SubmitRequest, done: OutcomeCallback) -> None:
        self.outbound.send(request, done)

    # --- connection ---------------------------------------------------------------------

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
                    ssl=ssl.create_default_context(cafile=c.tls_ca) if c.tls else None,
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
        self.outbound.on_answer(seq, status, message_id)

    def on_misanswered(self, seq: int, detail: str) -> None:
        self.outbound.on_misanswered(seq, detail)

    def on_expired(self, seq: int) -> None:
        self.outbound.on_expired(seq)

    def on_deliver(self, pdu: ShortMessage | DataSm, conn: SmppProtocol) -> None:
        self.deliveries.take(pdu, conn)

    def after_events(self) -> None:
        self.outbound.after_events()

    def on_connection_lost(self, conn: SmppProtocol) -> None:
        if self._proto is conn:
            self._proto = None
        if self._bound_event is not None:
            self._bound_event.clear()
        if not conn.session_closed:  # the peer or the network ended it, not the session
            self._detail = "connection lost"
        # in flight: link_down; handler calls still running answer nobody (redelivered)
        self.outbound.connection_lost(stopping=self._stopping)

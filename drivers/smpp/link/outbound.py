"""What a link sends to the SMSC: submit_sm in a window, at a pace, and their answers.

:class:`Outbound` is the SMPP link's send path (:meth:`Outbound.room`,
:meth:`Outbound.wait_room`, :meth:`Outbound.send`): no task nor future per
segment, one callback per submit_sm, called with its outcome when the SMSC
answers (:meth:`Outbound.on_answer`), when the answer is unusable, when it
never comes (``Retry("timeout")``) or when the connection is lost
(``Retry("link_down")``). The window and the pace are
:class:`drivers.smpp.protocol.window.SendWindow`'s (sans-IO, takes ``now``);
the connection it sends on is the link's current one.

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
from collections.abc import Callable
from typing import Any

from drivers.smpp.link.config import SmppLinkConfig
from drivers.smpp.link.connection import SmppProtocol
from drivers.smpp.link.submit import SubmitMapper
from drivers.smpp.protocol.window import Answer, RateChange, SendWindow
from gateway.link.interface import OutcomeCallback, SubmitRequest
from gateway.model.errors import LocalProtocolError
from gateway.model.outcomes import Rejected, Retry

LINK_DOWN = Retry(reason="link_down")
TIMEOUT = Retry(reason="timeout")
# ESME_ROK with no usable message_id: the SMSC says it took the segment, so sending
# it again could deliver it twice (and an SMSC that answers so does it for every
# submit: a retry would resend each message at every back-off); the segment is
# refused instead, once, and no receipt can be matched to it
MISANSWERED = "ESME_ROK without a usable message_id"


class Outbound:
    """One link's submits: the window, the pace, and who takes each answer.

    ``current()`` is the link's connection now (None while there is none) and
    ``stopping()`` whether the link refuses new submits.
    """

    def __init__(
        self,
        *,
        config: SmppLinkConfig,
        mapper: SubmitMapper,
        current: Callable[[], SmppProtocol | None],
        stopping: Callable[[], bool],
        counters: dict[str, int],
        log: Any,
    ) -> None:
        self._config = config
        self._mapper = mapper
        self._current = current
        self._stopping = stopping
        self._counters = counters
        self._log = log
        self.window = SendWindow(
            config.window, throughput=config.throughput, min_throughput=config.min_throughput
        )
        self._pending: dict[int, OutcomeCallback] = {}  # sequence -> who takes its outcome
        self._room: asyncio.Future[None] | None = None  # wait_room() waiting for an answer
        self._drained: asyncio.Event | None = None  # drain() waiting for the last answer

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    # --- the send path ----------------------------------------------------------------

    def room(self) -> int:
        """How many segments :meth:`send` takes right now; 0: await :meth:`wait_room`.

        A link that is down or stopping has room: send() answers it link_down
        at once, so what was routed here goes back to be routed again.
        """
        proto = self._current()
        if self._stopping() or proto is None or not proto.session.bound:
            return self.window.size
        if proto.paused:
            return 0
        return self.window.room(proto.loop.time(), len(self._pending))

    async def wait_room(self) -> None:
        """Until :meth:`room` is above 0 (or the link is down: send() answers at once)."""
        loop = asyncio.get_running_loop()
        while True:
            proto = self._current()
            if self._stopping() or proto is None or not proto.session.bound:
                return
            now = loop.time()
            ready = self.window.ready_at(now, len(self._pending))
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
        proto = self._current()
        if self._stopping() or proto is None or not proto.ready():
            done(LINK_DOWN)
            return
        now = proto.loop.time()
        try:
            seq = proto.session.submit_body(now, self._mapper.body(request))
        except LocalProtocolError as exc:
            self._counters["rejected"] += 1
            done(Rejected(reason=f"invalid: {exc}"))
            return
        self.window.sent(now)
        self._pending[seq] = done
        self._counters["submitted"] += 1
        proto.schedule_flush()

    async def drain(self, timeout: float) -> None:
        """Until every submit is answered (or lost with the connection), ``timeout`` at most."""
        if not self._pending:
            return
        self._drained = asyncio.Event()
        try:
            async with asyncio.timeout(timeout):
                await self._drained.wait()
        except TimeoutError:
            self._log.warning("smpp_stop_timed_out", in_flight=len(self._pending))

    # --- what the connection reports about submits ------------------------------------

    def on_answer(self, seq: int, status: int, message_id: str) -> None:
        done = self._pending.pop(seq, None)
        if done is None:
            return
        counters = self._counters
        outcome = self._mapper.outcome(status, message_id, self._config.throttle_delay)
        if status == 0:
            counters["accepted"] += 1
            answer = Answer.ACCEPTED
        elif isinstance(outcome, Retry):
            counters["retried"] += 1
            answer = Answer.THROTTLED if outcome.throttled else Answer.OTHER
            if outcome.throttled:
                counters["throttled"] += 1
        else:
            counters["rejected"] += 1
            answer = Answer.OTHER
        proto = self._current()
        change = self.window.answered(proto.loop.time() if proto else 0.0, answer)
        if change is RateChange.RESTORED:
            self._log.info("smpp_rate_restored", rate=self.window.rate)
        elif change is RateChange.CUT:
            self._log.info("smpp_throttled", rate=round(self.window.rate or 0.0, 1))
        done(outcome)

    def on_misanswered(self, seq: int, detail: str) -> None:
        done = self._pending.pop(seq, None)
        self._counters["protocol_errors"] += 1
        self._log.warning("smpp_submit_resp_refused", seq=seq, detail=detail)
        if done is not None:
            self._counters["rejected"] += 1
            done(Rejected(reason=MISANSWERED))

    def on_expired(self, seq: int) -> None:
        done = self._pending.pop(seq, None)
        if done is not None:
            self._counters["timeouts"] += 1
            self._counters["retried"] += 1
            done(TIMEOUT)

    def after_events(self) -> None:
        """The answers of one read or timer are in: wake wait_room() and drain()."""
        room = self._room
        if room is not None and len(self._pending) < self.window.size:
            self._room = None
            if not room.done():
                room.set_result(None)
        if self._drained is not None and not self._pending:
            self._drained.set()

    def connection_lost(self, *, stopping: bool) -> None:
        """Every submit in flight answers link_down; wait_room() and drain() return."""
        pending, self._pending = self._pending, {}
        self._log.info("smpp_connection_lost", in_flight=len(pending), stopping=stopping)
        self._counters["retried"] += len(pending)
        for done in pending.values():
            done(LINK_DOWN)
        room, self._room = self._room, None
        if room is not None and not room.done():
            room.set_result(None)  # wait_room() returns: send() now answers link_down
        if self._drained is not None:
            self._drained.set()

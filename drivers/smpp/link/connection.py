"""The asyncio protocol of one ESME connection: bytes in and out, one timer, flow control.

Flow control both ways: submits wait while the transport's write buffer is
full (``pause_writing``), and the link stops reading while too many deliver_sm
of this connection are not answered yet (:meth:`SmppProtocol.pause_inbound`):
the SMSC's flood then waits in the kernel's buffers and its own, not in ours.
"""

from __future__ import annotations

import asyncio
from typing import Protocol, cast

from drivers.smpp.protocol.events import (
    Bound,
    Closed,
    CloseReason,
    DeliverReceived,
    Event,
    PeerError,
    SubmitAnswered,
    SubmitExpired,
    SubmitMisanswered,
)
from drivers.smpp.protocol.pdu import DataSm, ShortMessage
from drivers.smpp.protocol.session import EsmeSession


class ConnectionListener(Protocol):
    """What a connection reports to its link (gateway's SmppLink), event by event."""

    def on_bound(self, system_id: str) -> None: ...

    def on_closed(self, reason: CloseReason, detail: str) -> None:
        """The session ended itself (the connection closes next)."""
        ...

    def on_peer_error(self, detail: str) -> None: ...

    def on_answer(self, seq: int, status: int, message_id: str) -> None:
        """submit_sm ``seq`` answered."""
        ...

    def on_misanswered(self, seq: int, detail: str) -> None:
        """submit_sm ``seq`` answered ESME_ROK without a usable message_id."""
        ...

    def on_expired(self, seq: int) -> None:
        """submit_sm ``seq`` got no answer in time (a late one is ignored)."""
        ...

    def on_deliver(self, pdu: ShortMessage | DataSm, conn: SmppProtocol) -> None:
        """A deliver_sm or data_sm of ``conn``, to answer with ``conn.session.respond``."""
        ...

    def after_events(self) -> None:
        """The events of one read or timer are all reported."""
        ...

    def on_connection_lost(self, conn: SmppProtocol) -> None: ...


class SmppProtocol(asyncio.Protocol):
    """Feeds an :class:`EsmeSession` and hands its events to its listener (the link)."""

    def __init__(self, *, link: ConnectionListener, session: EsmeSession) -> None:
        self.link = link
        self.session = session
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.closed: asyncio.Future[None] = self.loop.create_future()
        self.paused = False
        self.reading_paused = False  # by the link: too many deliver_sm unanswered
        self.inbound = 0  # deliver_sm of this connection received, not answered yet
        self.was_bound = False
        self.session_closed = False  # the session ended itself (Closed event)
        self._writable: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._flush_scheduled = False

    # --- asyncio callbacks --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast("asyncio.Transport", transport)
        self.session.connection_made(self.loop.time())
        self.flush()
        self.arm_timer()

    def data_received(self, data: bytes) -> None:
        events = self.session.receive_data(data, self.loop.time())
        if events:
            self._handle(events)
        self.flush()
        self.arm_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.session.connection_lost()
        self.link.on_connection_lost(self)
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        if not self.closed.done():
            self.closed.set_result(None)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    # --- helpers for the link -------------------------------------------------------------

    def pause_inbound(self) -> None:
        """Stop reading from the SMSC until :meth:`resume_inbound`."""
        transport = self.transport
        if not self.reading_paused and transport is not None and not transport.is_closing():
            transport.pause_reading()
            self.reading_paused = True

    def resume_inbound(self) -> None:
        transport = self.transport
        if self.reading_paused and transport is not None and not transport.is_closing():
            transport.resume_reading()
        self.reading_paused = False

    def write_backlog(self) -> int:
        """Octets written and not yet taken by the kernel (the SMSC is not reading)."""
        transport = self.transport
        return 0 if transport is None else transport.get_write_buffer_size()

    def ready(self) -> bool:
        """Bound, able to submit, with room in the session's window."""
        return self.session.can_submit

    async def wait_writable(self) -> None:
        if self.paused:
            if self._writable is None or self._writable.done():
                self._writable = self.loop.create_future()
            await self._writable

    def schedule_flush(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.loop.call_soon(self.flush)
        # a new submit's deadline may come before the armed timer (e.g. the idle one)
        if self._timer is None or self._timer_at > self.loop.time() + self.session.response_timeout:
            self.arm_timer()

    def flush(self) -> None:
        self._flush_scheduled = False
        data = self.session.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def arm_timer(self) -> None:
        when = self.session.get_timer()
        if when is None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            return
        if self._timer is not None:
            if self._timer_at <= when:
                return
            self._timer.cancel()
        self._timer_at = when
        self._timer = self.loop.call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        events = self.session.handle_timer(self.loop.time())
        if events:
            self._handle(events)
        self.flush()
        self.arm_timer()

    def _handle(self, events: list[Event]) -> None:
        link = self.link
        for event in events:
            if type(event) is SubmitAnswered:
                link.on_answer(event.sequence, event.status, event.message_id)
            elif isinstance(event, DeliverReceived):
                link.on_deliver(event.pdu, self)
            elif isinstance(event, SubmitExpired):
                link.on_expired(event.sequence)
            elif isinstance(event, SubmitMisanswered):
                link.on_misanswered(event.sequence, event.detail)
            elif isinstance(event, Bound):
                self.was_bound = True
                link.on_bound(event.system_id)
            elif isinstance(event, PeerError):
                link.on_peer_error(event.detail)
            elif isinstance(event, Closed):
                self._closed(event)
        link.after_events()

    def _closed(self, event: Closed) -> None:
        self.session_closed = True
        self.link.on_closed(event.reason, event.detail)
        if self.transport is not None:
            if event.reason is CloseReason.DEAD:  # nothing will drain a dead peer's buffer
                self.transport.abort()
            else:
                self.flush()  # an unbind_resp or generic_nack goes out first
                self.transport.close()

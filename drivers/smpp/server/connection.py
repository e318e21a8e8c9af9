"""One ESME connection: bytes between the socket and the sans-IO session, and the gateway's answers.

:class:`EsmeConnection` runs as one task per connection (:meth:`run`). It feeds
what it reads to :class:`~drivers.smpp.protocol.server.ServerSession`, arms
the session's one timer, asks the gateway (binds, submits, queries, cancels:
each in a task of its own, so answers go back in the order they are ready),
and is the :class:`~gateway.model.esme.DeliveryTarget` of its bind when it is
a receiver or transceiver. Nothing it does sends a traceback to the peer: an
unexpected error is ESME_RSYSERR and one log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from drivers.smpp.protocol import status as st
from drivers.smpp.protocol.pdu import QueryResp
from drivers.smpp.protocol.server import ServerSession
from drivers.smpp.protocol.server_events import (
    BindRequested,
    CancelReceived,
    Closed,
    DeliverAnswered,
    DeliverExpired,
    PeerError,
    QueryReceived,
    ServerEvent,
    SubmitReceived,
    WindowFull,
)
from drivers.smpp.protocol.states import BindMode
from drivers.smpp.server.deliveries import deliver_fields, smpp_date
from drivers.smpp.server.limits import FailedBinds, Throughput
from drivers.smpp.server.port import EsmeGateway
from drivers.smpp.server.settings import ServerMetrics, ServerSettings
from drivers.smpp.server.statuses import bind_status_for, status_for
from drivers.smpp.server.submits import esme_submit
from gateway.model.errors import NotFound, Unauthorized, UserError
from gateway.model.esme import DeliveryRefused, EsmeCredential, EsmeDelivery
from gateway.model.esme_ingress import QueryAnswer

READ_SIZE = 65_536
_QUERY_STATES = {  # smsgw's message states as SMPP 3.4 message_state values (5.2.28)
    "queued": 1,
    "dispatching": 1,
    "submitted": 1,
    "delivered": 2,
    "expired": 3,
    "cancelled": 4,
    "undeliverable": 5,
    "rejected": 8,
    "failed": 5,
}


class Server(Protocol):
    """What a connection asks of its server (drivers/smpp/server/listener.py)."""

    settings: ServerSettings
    gateway: EsmeGateway
    log: Any
    metrics: ServerMetrics
    throughput: Throughput
    failed_binds: FailedBinds
    # credential checks (a password KDF each) running at once, over every address
    credential_checks: asyncio.Semaphore

    def bound(
        self, connection: EsmeConnection, credential: EsmeCredential, mode: BindMode
    ) -> bool: ...

    def attach(self, connection: EsmeConnection) -> None: ...

    def bind_turn(self, peer: str) -> contextlib.AbstractAsyncContextManager[None]: ...

    def bind_refused(
        self, connection: EsmeConnection, event: BindRequested, status: int, *, blocked: bool = ...
    ) -> None: ...

    def unbound(self, connection: EsmeConnection) -> None: ...


class EsmeConnection:
    """One ESME's connection to the server; a DeliveryTarget once bound to receive."""

    def __init__(
        self,
        *,
        server: Server,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        peer: str,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._server = server
        self._reader = reader
        self._writer = writer
        self.peer = peer
        self._monotonic = monotonic
        settings = server.settings
        self.session = ServerSession(
            window=settings.window,
            inactivity_timeout=settings.inactivity_timeout,
            enquire_link=settings.enquire_link,
            bind_timeout=settings.bind_timeout,
            response_timeout=settings.response_timeout,
            system_id=settings.system_id,
            max_pdu=settings.max_pdu,
        )
        peername = writer.get_extra_info("peername")
        self.peer_port: int | None = int(peername[1]) if peername and len(peername) > 1 else None
        self.tls = writer.get_extra_info("ssl_object") is not None
        self.credential: EsmeCredential | None = None
        self.quiet = False  # its bind was refused as its address is blocked: logs at debug
        self.mode: BindMode | None = None
        self.bound_at = 0.0  # POSIX seconds, once bound
        self._tasks: set[asyncio.Task[None]] = set()
        self._delivers: dict[int, asyncio.Future[int]] = {}
        self._deliver_room = asyncio.Semaphore(settings.window)
        self._rearm = asyncio.Event()
        self._flush_soon = False  # a call of _flush_answers is scheduled
        self._done = asyncio.Event()

    # --- DeliveryTarget ------------------------------------------------------------

    @property
    def system_id(self) -> str:
        return self.credential.system_id if self.credential is not None else ""

    @property
    def in_flight(self) -> int:
        """deliver_sm sent and not answered yet."""
        return len(self._delivers)

    async def deliver(self, delivery: EsmeDelivery) -> None:
        fields = deliver_fields(delivery)
        async with self._deliver_room:
            if not self.session.can_deliver:
                msg = f"the bind of {self.system_id} from {self.peer} is gone"
                raise ConnectionError(msg)
            seq = self.session.deliver(self._monotonic(), **fields)
            future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
            self._delivers[seq] = future
            self._flush()
            self._rearm.set()
            status = await future
        if status != st.ESME_ROK:
            raise DeliveryRefused(status)

    # --- the connection's life ------------------------------------------------------

    async def run(self) -> None:
        self.session.connection_made(self._monotonic())
        timer = asyncio.create_task(self._timer(), name=f"smpp-server-timer-{self.peer}")
        try:
            await self._read()
        except (ConnectionError, OSError):
            pass
        finally:
            timer.cancel()
            await self._ended()

    async def _read(self) -> None:
        while not self.session.closed:
            data = await self._reader.read(READ_SIZE)
            if not data:
                return
            self._handle(self.session.receive_data(data, self._monotonic()))
            self._flush()
            self._rearm.set()
            await self._writer.drain()

    async def _timer(self) -> None:
        while not self.session.closed:
            deadline = self.session.get_timer()
            self._rearm.clear()
            delay = None if deadline is None else max(0.0, deadline - self._monotonic())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._rearm.wait(), delay)
                continue
            self._handle(self.session.handle_timer(self._monotonic()))
            self._flush()

    def _flush(self) -> None:
        data = self.session.data_to_send()
        if data and not self._writer.is_closing():
            self._writer.write(data)
        if self.session.closed and not self._writer.is_closing():
            self._writer.close()

    async def unbind(self) -> None:
        """Ask the ESME to unbind (the daemon stops); returns once the connection ended."""
        if not self.session.closed:
            self.session.unbind(self._monotonic())
            self._flush()
            self._rearm.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._done.wait(), self._server.settings.response_timeout)
        if not self._done.is_set():
            self._writer.close()

    async def _ended(self) -> None:
        if not self.session.closed:
            self.session.connection_lost()
        for future in self._delivers.values():
            if not future.done():
                future.set_exception(ConnectionError(f"the bind from {self.peer} ended"))
        self._delivers.clear()
        self._server.unbound(self)
        self._writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self._writer.wait_closed()
        if self._tasks:  # the gateway's answers in progress end on their own
            await asyncio.wait(list(self._tasks), timeout=self._server.settings.response_timeout)
        self._done.set()

    # --- events -----------------------------------------------------------------------

    def _handle(self, events: list[ServerEvent]) -> None:
        for event in events:
            if isinstance(event, SubmitReceived):
                self._submit(event)
            elif isinstance(event, BindRequested):
                self._spawn(self._bind(event))
            elif isinstance(event, QueryReceived):
                self._spawn(self._query(event))
            elif isinstance(event, CancelReceived):
                self._spawn(self._cancel(event))
            elif isinstance(event, DeliverAnswered | DeliverExpired):
                self._deliver_done(event)
            elif isinstance(event, WindowFull):
                self._server.metrics.esme_throttled(system_id=self.system_id)
            elif isinstance(event, PeerError):
                self._server.log.info("esme_pdu_refused", peer=self.peer, detail=event.detail)
            elif isinstance(event, Closed):
                # a blocked address's connections after the first: not one line each
                say = self._server.log.debug if self.quiet else self._server.log.info
                say(
                    "esme_connection_closed",
                    peer=self.peer,
                    system_id=self.system_id,
                    reason=event.reason.value,
                    detail=event.detail,
                )

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _deliver_done(self, event: DeliverAnswered | DeliverExpired) -> None:
        future = self._delivers.pop(event.sequence, None)
        if future is None or future.done():
            return
        if isinstance(event, DeliverAnswered):
            future.set_result(event.status)
        else:
            future.set_exception(ConnectionError("deliver_sm unanswered in time"))

    def _answered(self, closed: Closed | None) -> None:
        """An answer is in the session's output: written once this loop iteration's
        other answers are in too (one write for the answers done together)."""
        if closed is not None:
            self._handle([closed])
        if not self._flush_soon:
            self._flush_soon = True
            asyncio.get_running_loop().call_soon(self._flush_answers)

    def _flush_answers(self) -> None:
        self._flush_soon = False
        self._flush()
        self._rearm.set()

    def _unexpected(self, what: str, exc: BaseException) -> None:
        self._server.log.error(
            "esme_request_failed",
            what=what,
            peer=self.peer,
            system_id=self.system_id,
            error=f"{type(exc).__name__}: {exc}",
        )

    async def _bind(self, event: BindRequested) -> None:
        server = self._server
        status = st.ESME_ROK
        credential: EsmeCredential | None = None
        # one check at a time per address: a burst of bad binds from one address costs
        # at most ``failed_binds`` password checks (each a KDF), not one per bind
        async with server.bind_turn(self.peer):
            refused = True  # counted against the peer's address (wrong credentials, or blocked)
            blocked = server.failed_binds.blocked(self.peer, self._monotonic())
            if blocked:
                status = st.ESME_RBINDFAIL
            else:
                try:
                    async with server.credential_checks:
                        credential = await server.gateway.authenticate(
                            event.system_id, event.password, self.peer
                        )
                except (NotFound, Unauthorized) as exc:
                    status = bind_status_for(exc)
                except UserError as exc:  # the store is down...: not the peer's fault
                    status, refused = bind_status_for(exc), False
                except Exception as exc:  # noqa: BLE001 - never a traceback to the peer
                    self._unexpected("bind", exc)
                    status, refused = st.ESME_RBINDFAIL, False
            if status != st.ESME_ROK and refused:  # even when the ESME left meanwhile
                server.failed_binds.failed(self.peer, self._monotonic())
        if status != st.ESME_ROK:
            server.bind_refused(self, event, status, blocked=blocked)
        if self.session.closed:  # the ESME left while its bind was decided
            return
        if credential is not None and not server.bound(self, credential, event.mode):
            status = st.ESME_RALYBND
            server.bind_refused(self, event, status)
        if status == st.ESME_ROK:
            self.credential, self.mode = credential, event.mode
            self.session.accept_bind(self._monotonic(), event.sequence)
            server.attach(self)
        else:
            self._handle([self.session.refuse_bind(event.sequence, status)])
        self._answered(None)

    def _submit(self, event: SubmitReceived) -> None:
        credential = self.credential
        seq = event.pdu.sequence
        if credential is None:  # cannot happen: the session takes submits only once bound
            self._answered(self.session.answer_submit(seq, st.ESME_RINVBNDSTS))
            return
        server = self._server
        if not server.throughput.take(credential.system_id, credential.throughput, self._now()):
            server.metrics.esme_throttled(system_id=credential.system_id)
            server.metrics.esme_submit(system_id=credential.system_id, status="ESME_RTHROTTLED")
            self._answered(self.session.answer_submit(seq, st.ESME_RTHROTTLED))
            return
        self._spawn(self._send(credential, event))

    def _now(self) -> float:
        return self._monotonic()

    async def _send(self, credential: EsmeCredential, event: SubmitReceived) -> None:
        message_id = ""
        try:
            message_id = await self._server.gateway.submit(credential, esme_submit(event.pdu))
            status = st.ESME_ROK
        except UserError as exc:
            status = status_for(exc)
            self._server.log.info(
                "esme_submit_refused",
                system_id=credential.system_id,
                status=st.status_name(status),
                detail=str(exc),
            )
        except Exception as exc:  # noqa: BLE001 - never a traceback to the peer
            self._unexpected("submit", exc)
            status = st.ESME_RSYSERR
        self._server.metrics.esme_submit(
            system_id=credential.system_id, status=st.status_name(status)
        )
        self._answered(self.session.answer_submit(event.pdu.sequence, status, message_id))

    async def _query(self, event: QueryReceived) -> None:
        seq = event.pdu.sequence
        answer: QueryAnswer | None = None
        status = st.ESME_RQUERYFAIL
        if self.credential is not None:
            try:
                answer = await self._server.gateway.query(self.credential, event.pdu.message_id)
                status = st.ESME_ROK
            except UserError as exc:
                status = status_for(exc)
            except Exception as exc:  # noqa: BLE001 - never a traceback to the peer
                self._unexpected("query", exc)
                status = st.ESME_RSYSERR
        if answer is None:
            self._answered(self.session.answer_query(seq, status))
            return
        found = QueryResp(
            sequence=seq,
            message_id=answer.message_id,
            final_date=_absolute(answer.final_at),
            message_state=_QUERY_STATES.get(answer.state.value, 7),
            error_code=min(answer.error, 255),
        )
        self._answered(self.session.answer_query(seq, st.ESME_ROK, found))

    async def _cancel(self, event: CancelReceived) -> None:
        status = st.ESME_RCANCELFAIL
        if self.credential is not None:
            try:
                await self._server.gateway.cancel(self.credential, event.pdu.message_id)
                status = st.ESME_ROK
            except UserError as exc:
                status = status_for(exc)
            except Exception as exc:  # noqa: BLE001 - never a traceback to the peer
                self._unexpected("cancel", exc)
                status = st.ESME_RSYSERR
        self._answered(self.session.answer_cancel(event.pdu.sequence, status))


def _absolute(at: float | None) -> str:
    """SMPP absolute time 'YYMMDDhhmmss000+' (UTC) of a final date; empty when not final."""
    if at is None:
        return ""
    return smpp_date(at) + time.strftime("%S", time.gmtime(at)) + "000+"

"""What one HTTP listener lets a connection hold: a count, deadlines, quiet logs.

aiohttp reads request headers and bodies without a deadline of its own, so a
client that connects and sends nothing, or sends its headers one byte at a
time (slowloris), holds a file descriptor for as long as it likes; about a
thousand of them used to make the API unreachable. :class:`Connections` sits
between the listening socket and aiohttp's protocol (``runner.server``, a
public protocol factory) and gives each connection, through public asyncio
and aiohttp interfaces only:

- a limit: beyond ``max_connections`` open connections a new one is answered
  ``503`` (``too_many_connections``) and closed at once, before aiohttp sees
  it, so its descriptor is free again;
- ``header_timeout``: from the connection's start, or from the first byte of
  a request after an idle keep-alive, the request's headers must be in before
  it passes; bytes trickling in do not extend it;
- ``keepalive_timeout``: an idle connection between requests is closed after it.

The deadline for a body (``body_timeout``) is the handler's: only the handler
knows when it reads one (gateway.ingress.http_api, ``build_app(body_timeout=)``); here it
bounds how long the rest of a body nobody reads is drained before closing.
A request being handled has no connection deadline (a send waits for its
commit).

Log lines that a flood would repeat (connections refused, ``accept()``
failing with EMFILE when the process is out of descriptors) go through
:class:`RateLimitedLog`: one line per event per ``interval`` at most, the next
one saying how many were left out.
"""

from __future__ import annotations

import asyncio
import errno
import json
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, cast

from aiohttp import web

__all__ = [
    "DEFAULT_BODY_TIMEOUT",
    "Connections",
    "HttpLimits",
    "RateLimitedLog",
    "accept_error_handler",
]

DEFAULT_BODY_TIMEOUT = 30.0

# accept() errors asyncio reports (and retries a second later) when the process or
# the system is out of descriptors or memory
_ACCEPT_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpLimits:
    """``[http]`` max_connections, header_timeout, body_timeout, keepalive_timeout."""

    max_connections: int = 512  # per process (each worker process counts its own)
    header_timeout: float = 10.0  # seconds for a request's headers
    body_timeout: float = DEFAULT_BODY_TIMEOUT  # seconds for a body, once the headers are in
    keepalive_timeout: float = 15.0  # seconds an idle connection is kept between requests


class RateLimitedLog:
    """At most one line per event name every ``interval`` seconds.

    A line written after some were left out carries ``suppressed=N``.
    """

    def __init__(
        self, log: Any, *, interval: float = 10.0, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._log = log
        self._interval = interval
        self._monotonic = monotonic
        self._next: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def warning(self, event: str, **fields: Any) -> None:
        now = self._monotonic()
        if now < self._next.get(event, float("-inf")):
            self._suppressed[event] = self._suppressed.get(event, 0) + 1
            return
        self._next[event] = now + self._interval
        suppressed = self._suppressed.pop(event, 0)
        if suppressed:
            fields["suppressed"] = suppressed
        self._log.warning(event, **fields)


def _busy_response(max_connections: int) -> bytes:
    body = json.dumps(
        {
            "error": "too_many_connections",
            "detail": f"the server holds its limit of {max_connections} connections; retry later",
        }
    ).encode()
    head = (
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
    ).encode()
    return head + body


class Connections:
    """The connections of one listener: :meth:`protocol` is its protocol factory,
    :attr:`middleware` tells each connection when a request starts and ends."""

    def __init__(
        self,
        *,
        limits: HttpLimits,
        make_protocol: Callable[[], asyncio.Protocol],
        log: RateLimitedLog,
        debug_log: Any = None,
    ) -> None:
        self.limits = limits
        self._make = make_protocol
        self._log = log
        self._debug = debug_log
        self._open: dict[asyncio.BaseTransport, _Guard] = {}
        self._busy = _busy_response(limits.max_connections)
        self.refused = 0  # connections refused over the limit, since the start

    @property
    def active(self) -> int:
        return len(self._open)

    def protocol(self) -> asyncio.Protocol:
        return _Guard(self)

    @web.middleware
    async def middleware(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        guard = self._open.get(request.transport) if request.transport is not None else None
        if guard is None:  # served some other way (a test client): nothing to track
            return await handler(request)
        guard.request_started()
        try:
            return await handler(request)
        finally:
            guard.request_finished()

    # --- called by each connection's guard ------------------------------------------

    def admit(self, guard: _Guard, transport: asyncio.Transport) -> asyncio.Protocol | None:
        """aiohttp's protocol for a new connection, or None: over the limit, the
        connection was answered 503 and closed."""
        if len(self._open) >= self.limits.max_connections:
            self.refused += 1
            self._log.warning(
                "http_connection_refused",
                reason="too_many_connections",
                max_connections=self.limits.max_connections,
            )
            transport.write(self._busy)
            transport.close()
            return None
        self._open[transport] = guard
        return self._make()

    def release(self, transport: asyncio.BaseTransport) -> None:
        """A connection is gone: it no longer counts against the limit."""
        self._open.pop(transport, None)

    def timed_out(self, phase: str) -> None:
        """A connection closed for taking too long in ``phase`` ("headers" or "idle")."""
        if self._debug is not None:
            self._debug.debug("http_connection_timed_out", phase=phase)


class _Guard(asyncio.Protocol):
    """One connection: forwards everything to aiohttp's protocol, and closes the
    connection when its headers or its idle keep-alive take too long."""

    __slots__ = ("_inner", "_owner", "_phase", "_timer", "_transport")

    def __init__(self, owner: Connections) -> None:
        self._owner = owner
        self._inner: asyncio.Protocol | None = None
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._phase = "headers"  # "headers" | "request" | "idle"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast("asyncio.Transport", transport)  # a stream server's transport
        self._transport = transport
        self._inner = self._owner.admit(self, transport)
        if self._inner is None:
            return
        self._inner.connection_made(transport)
        self._arm("headers", self._owner.limits.header_timeout)

    def data_received(self, data: bytes) -> None:
        if self._inner is None:
            return
        if self._phase == "idle":  # the first bytes of the next request
            self._arm("headers", self._owner.limits.header_timeout)
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._inner is not None else None

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        if self._transport is not None:
            self._owner.release(self._transport)
        if self._inner is not None:
            self._inner.connection_lost(exc)
            self._inner = None

    # --- requests (from Connections.middleware) ------------------------------------

    def request_started(self) -> None:
        self._cancel()
        self._phase = "request"

    def request_finished(self) -> None:
        self._arm("idle", self._owner.limits.keepalive_timeout)

    # --- deadlines -------------------------------------------------------------

    def _arm(self, phase: str, seconds: float) -> None:
        self._cancel()
        self._phase = phase
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(seconds, self._expire)

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        self._timer = None
        if self._phase == "request" or self._transport is None:
            return
        self._owner.timed_out(self._phase)
        self._transport.close()


ExceptionHandler = Callable[[asyncio.AbstractEventLoop, dict[str, Any]], object]


def accept_error_handler(
    previous: ExceptionHandler | None,
    *,
    sockets: Callable[[], Iterable[int]],
    log: RateLimitedLog,
) -> ExceptionHandler:
    """A loop exception handler that logs accept() failures of ``sockets`` (their file
    descriptors) as ``http_accept_failed``, rate-limited, and hands everything else
    to ``previous`` (None: the loop's default)."""

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> object:
        exc = context.get("exception")
        sock = context.get("socket")
        if (
            isinstance(exc, OSError)
            and exc.errno in _ACCEPT_ERRNOS
            and sock is not None
            and sock.fileno() in set(sockets())
        ):
            log.warning(
                "http_accept_failed",
                error=errno.errorcode.get(exc.errno or 0, "?"),
                detail=exc.strerror,
            )
            return None
        if previous is not None:
            return previous(loop, context)
        loop.default_exception_handler(context)
        return None

    return handle

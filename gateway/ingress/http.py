"""The HTTP API (README: HTTP API) on aiohttp: sends, message status, balance, inbound, probes.

Why aiohttp: a mature asyncio server and client in one package (the webhook
sender uses its client), body size limits enforced while streaming, and no
ASGI layer between the socket and the handler.

Choices made here:

- A 202 is answered only after :meth:`SendService.send` returned, which is
  after the store committed each message with its debit (docs/architecture.md, data rules).
  Handlers are not cancelled when a client goes away (aiohttp's default since
  3.9), so a disconnect never interrupts a commit half way.
- Every :class:`~gateway.model.errors.UserError` becomes ``{"error": code,
  "detail": one line}`` with the status of :data:`STATUS_BY_ERROR` (its class
  or nearest base); anything else is a 500 ``{"error": "internal"}`` and an
  error log with the traceback (frames only, no locals: they may hold a
  message's text or a token).
- Another account's message is a 404, exactly like a missing one, so ids
  cannot be probed.
- The body of ``POST /v1/messages`` is read as UTF-8 JSON whatever the
  Content-Type says: ``curl -d`` works without ``-H``, and a browser form
  cannot add the ``Authorization`` header, so tolerating it opens no
  cross-site hole.
- When no recipient of a send is accepted, the status is the one of the first
  refusal (402 when it was for credit) and the body lists every refusal.
"""

from __future__ import annotations

import asyncio
import traceback
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Protocol

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from gateway.ingress.http_limits import (
    DEFAULT_BODY_TIMEOUT,
    Connections,
    ExceptionHandler,
    HttpLimits,
    RateLimitedLog,
    accept_error_handler,
)
from gateway.ingress.http_schema import (
    DEFAULT_MAX_BYTES,
    inbound_json,
    message_json,
    parse_send_payload,
)
from gateway.ingress.pipeline import SendResult, SendService
from gateway.link.interface import LinkHealth
from gateway.model.errors import (
    AlreadyExists,
    InsufficientCredit,
    InvalidField,
    MonthlyCapReached,
    NotCancellable,
    NotFound,
    PayloadTooLarge,
    RequestTimeout,
    SenderNotAllowed,
    TextTooLong,
    Unauthorized,
    UserError,
)
from gateway.model.message import MessageState
from gateway.ops.metrics import IngressMetrics
from gateway.store.base import Store
from gateway.store.records import MessageView

__all__ = ["STATUS_BY_ERROR", "HttpServer", "Readiness", "build_app", "status_for"]

Readiness = Callable[[], Awaitable[tuple[bool, dict[str, Any]]]]

# The one table from error to HTTP status; a class not listed takes its nearest base's.
STATUS_BY_ERROR: Mapping[type[UserError], int] = {
    UserError: 400,
    Unauthorized: 401,
    InsufficientCredit: 402,
    MonthlyCapReached: 402,
    SenderNotAllowed: 403,
    NotFound: 404,
    AlreadyExists: 409,  # ClientRefConflict: a client_ref reused with another body
    NotCancellable: 409,
    PayloadTooLarge: 413,
    TextTooLong: 413,
    RequestTimeout: 408,
}

CHANNEL = "http"
MAX_INBOUND_LIMIT = 1000
_WWW_AUTHENTICATE = 'Bearer realm="smsgw"'
_MAX_TOKEN = 256


def status_for(error: UserError) -> int:
    for cls in type(error).__mro__:
        status = STATUS_BY_ERROR.get(cls)
        if status is not None:
            return status
    return 400  # unreachable: UserError is in the table


def _error_body(error: UserError) -> dict[str, Any]:
    return {"error": error.code, "detail": str(error)}


def _json(
    data: Mapping[str, Any], status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.json_response(data, status=status, headers=headers)


class _Api:
    """The handlers; the state they share is passed in, never global."""

    def __init__(
        self,
        *,
        store: Store,
        send_service: SendService,
        operations: Operations,
        readiness: Readiness,
        logger: Any,
        max_body: int,
        metrics: IngressMetrics | None,
        readiness_timeout: float,
        body_timeout: float,
    ) -> None:
        self.store = store
        self.send_service = send_service
        self.operations = operations
        self.readiness = readiness
        self.log = logger
        self.max_body = max_body
        self.metrics = metrics
        self.readiness_timeout = readiness_timeout
        self.body_timeout = body_timeout

    # --- middleware ---------------------------------------------------------------

    @web.middleware
    async def errors(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        try:
            return await handler(request)
        except UserError as exc:
            status = status_for(exc)
            headers = {"WWW-Authenticate": _auth_challenge(exc)} if status == 401 else None
            response = _json(_error_body(exc), status, headers)
            if isinstance(exc, RequestTimeout):
                response.force_close()  # the rest of the body may still come: not a request
            return response
        except web.HTTPRequestEntityTooLarge:
            return _json(_error_body(PayloadTooLarge(None, self.max_body)), 413)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            code = (exc.reason or "error").lower().replace(" ", "_")
            headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
            detail = f"{exc.reason}: {request.method} {request.path}"
            return _json({"error": code, "detail": detail}, exc.status, headers)
        except ConnectionResetError:  # the client left mid-request (aiohttp's own is one)
            route = request.match_info.route.resource
            self.log.info(
                "http_client_disconnected",
                method=request.method,
                route=route.canonical if route is not None else request.path,
            )
            response = web.Response(status=400)  # nobody reads it: the connection is gone
            response.force_close()
            return response
        except Exception as exc:  # noqa: BLE001 - the one place that turns a bug into a 500
            route = request.match_info.route.resource
            self.log.error(
                "http_request_failed",
                method=request.method,
                route=route.canonical if route is not None else request.path,
                error=type(exc).__name__,
                traceback="".join(traceback.format_exception(exc)),
            )
            return _json({"error": "internal", "detail": "internal error; see the server log"}, 500)

    # --- helpers ------------------------------------------------------------------

    async def account(self, request: web.Request) -> str:
        header = request.headers.get("Authorization")
        if header is None:
            raise Unauthorized("missing Authorization header: send 'Authorization: Bearer TOKEN'")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("the Authorization header must be 'Bearer TOKEN'")
        # tokens are printable ASCII; anything else (undecodable bytes...) cannot match
        known = token.isascii() and token.isprintable() and len(token) <= _MAX_TOKEN
        account = await self.store.account_for_token(token) if known else None
        if account is None:
            raise _BadToken("unknown or revoked API token: create one with `smsgw token create`")
        return account

    async def own_message(self, request: web.Request, account: str) -> MessageView:
        message_id = request.match_info["id"]
        try:
            view = await self.store.get_message(message_id)
        except NotFound:
            view = None
        if view is None or view.message.account != account:
            raise NotFound(f"no message {message_id!r}")
        return view

    def rejected(self, account: str, reason: str, count: int = 1) -> None:
        if self.metrics is not None:
            self.metrics.message_rejected(account=account, reason=reason, count=count)

    # --- /v1 --------------------------------------------------------------------

    async def send(self, request: web.Request) -> web.Response:
        try:
            account = await self.account(request)
        except UserError as exc:
            self.rejected("", exc.code)
            raise
        try:
            if request.content_length is not None and request.content_length > self.max_body:
                raise PayloadTooLarge(request.content_length, self.max_body)
            try:
                async with asyncio.timeout(self.body_timeout):
                    data = await request.read()
            except web.HTTPRequestEntityTooLarge:
                raise PayloadTooLarge(None, self.max_body) from None
            except TimeoutError:
                raise RequestTimeout(
                    f"the request body did not arrive within {self.body_timeout:g} seconds"
                ) from None
            send_request = parse_send_payload(data, account=account, max_bytes=self.max_body)
            result = await self.send_service.send(send_request)
        except UserError as exc:
            self.rejected(account, exc.code)
            self.log.info(
                "http_message_rejected", account=account, error=exc.code, status=status_for(exc)
            )
            raise
        return self.send_response(account, result)

    def send_response(self, account: str, result: SendResult) -> web.Response:
        messages = [
            {
                "id": a.message.id,
                "to": a.message.destination,
                "segments": a.message.segments,
                "encoding": a.message.encoding,
                "credits": a.message.credits,
                "state": a.message.state.value,
                "duplicate": a.duplicate,
            }
            for a in result.accepted
        ]
        refused = [
            {"to": r.destination, "error": r.error.code, "detail": str(r.error)}
            for r in result.refused
        ]
        for reason, count in Counter(r.error.code for r in result.refused).items():
            self.rejected(account, reason, count)
        fresh = [a for a in result.accepted if not a.duplicate]
        if fresh and self.metrics is not None:
            self.metrics.message_accepted(account=account, channel=CHANNEL, count=len(fresh))
        if not result.accepted and result.refused:
            first = result.refused[0].error
            self.log.info(
                "http_message_rejected",
                account=account,
                error=first.code,
                status=status_for(first),
                refused=len(refused),
            )
            return _json(
                {**_error_body(first), "messages": [], "refused": refused}, status_for(first)
            )
        self.log.info(
            "http_message_accepted",
            account=account,
            count=len(fresh),
            duplicates=len(messages) - len(fresh),
            refused=len(refused),
            segments=result.segments,
            credits=sum(a.message.credits for a in fresh),
        )
        body: dict[str, Any] = {"messages": messages}
        if refused:
            body["refused"] = refused
        return _json(body, 202)

    async def get_message(self, request: web.Request) -> web.Response:
        account = await self.account(request)
        return _json(message_json(await self.own_message(request, account)))

    async def cancel(self, request: web.Request) -> web.Response:
        account = await self.account(request)
        view = await self.own_message(request, account)
        message = view.message
        if message.state is not MessageState.QUEUED:
            raise NotCancellable(message.id, message.state.value)
        try:
            changes = await self.store.cancel(message.id)
        except NotFound:
            raise
        except UserError:
            # the store refuses with a plain UserError when the state moved meanwhile
            now = await self.own_message(request, account)
            if now.message.state is MessageState.QUEUED:
                raise
            raise NotCancellable(message.id, now.message.state.value) from None
        refunded = sum(entry.amount for entry in changes.refunds)
        if self.metrics is not None:
            for change in changes.changes:
                if change.new.final:
                    self.metrics.message_finished(account=change.account, status=change.new.value)
        self.log.info(
            "http_message_cancelled", account=account, msg_id=message.id, refunded=refunded
        )
        return _json(
            {"id": message.id, "state": MessageState.CANCELLED.value, "refunded": refunded}
        )

    async def balance(self, request: web.Request) -> web.Response:
        account = await self.account(request)
        b = await self.store.balance(account)
        return _json(
            {
                "account": b.account,
                "balance": b.balance,
                "credit_limit": b.credit_limit,
                "available": b.available,
                "monthly_cap": b.monthly_cap,
                "month_spent": b.month_spent,
                "currency": "credits",
            }
        )

    async def inbound(self, request: web.Request) -> web.Response:
        account = await self.account(request)
        raw = request.query.get("limit", "100")
        if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_INBOUND_LIMIT:
            raise InvalidField("limit", f"{raw[:20]!r}: a whole number, 1 to {MAX_INBOUND_LIMIT}")
        rows = await self.store.list_inbound(account=account, limit=int(raw))
        return _json({"inbound": [inbound_json(m) for m in rows]})

    # --- operations ---------------------------------------------------------------

    async def metrics_page(self, _request: web.Request) -> web.Response:
        body = await self.operations.metrics_text()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def links_page(self, _request: web.Request) -> web.Response:
        return _json({"links": await self.operations.links()})

    async def healthz(self, _request: web.Request) -> web.Response:
        return _json({"status": "ok"})

    async def readyz(self, _request: web.Request) -> web.Response:
        try:
            async with asyncio.timeout(self.readiness_timeout):
                ready, details = await self.readiness()
        except Exception as exc:  # noqa: BLE001 - any failure of the check means not ready
            self.log.warning("http_readiness_failed", error=type(exc).__name__)
            return _json({"status": "not_ready", "error": type(exc).__name__}, 503)
        return _json(
            {"status": "ready" if ready else "not_ready", **details}, 200 if ready else 503
        )


class _BadToken(Unauthorized):
    """A token was given but the store does not know it (RFC 6750 invalid_token)."""


def _auth_challenge(error: UserError) -> str:
    if isinstance(error, _BadToken):
        return f'{_WWW_AUTHENTICATE}, error="invalid_token"'
    return _WWW_AUTHENTICATE


class Operations(Protocol):
    """What /metrics and /links show: the daemon's own registry and links
    (:class:`LocalOperations`), or, in a worker process, the daemon's
    answers relayed (gateway.runtime.workers)."""

    async def metrics_text(self) -> bytes: ...

    async def links(self) -> list[dict[str, Any]]: ...


class LocalOperations:
    """/metrics and /links of the process that runs the links and owns the registry."""

    def __init__(
        self, registry: CollectorRegistry, links: Callable[[], Iterable[LinkHealth]] | None = None
    ) -> None:
        self._registry = registry
        self._links = links

    async def metrics_text(self) -> bytes:
        return await asyncio.to_thread(generate_latest, self._registry)

    async def links(self) -> list[dict[str, Any]]:
        return [link_json(h) for h in (self._links or list)()]


def build_app(
    *,
    store: Store,
    send_service: SendService,
    registry: CollectorRegistry | None = None,
    readiness: Readiness,
    logger: Any,
    max_body: int = DEFAULT_MAX_BYTES,
    metrics: IngressMetrics | None = None,
    readiness_timeout: float = 5.0,
    links: Callable[[], Iterable[LinkHealth]] | None = None,
    operations: Operations | None = None,
    body_timeout: float = DEFAULT_BODY_TIMEOUT,
) -> web.Application:
    """The API application.

    ``links`` gives the links' health for ``GET /links`` (operators' view, no
    authentication, like /metrics: serve it on a private address).
    ``operations``, when given, answers /metrics and /links instead of
    ``registry`` and ``links`` (a worker process relays the daemon's).

    ``metrics`` (on ``registry``) counts accepted and refused sends (the
    ``send_service`` hands new messages to the dispatcher); ``readiness``
    answers /readyz and is given ``readiness_timeout`` seconds. A request body
    must arrive within ``body_timeout`` seconds of its headers (408 after).
    """
    if operations is None:
        operations = LocalOperations(registry or CollectorRegistry(), links)
    api = _Api(
        store=store,
        send_service=send_service,
        operations=operations,
        readiness=readiness,
        logger=logger,
        max_body=max_body,
        metrics=metrics,
        readiness_timeout=readiness_timeout,
        body_timeout=body_timeout,
    )
    app = web.Application(middlewares=[api.errors], client_max_size=max_body)
    app.router.add_post("/v1/messages", api.send)
    app.router.add_get("/v1/messages/{id}", api.get_message, allow_head=False)
    app.router.add_post("/v1/messages/{id}/cancel", api.cancel)
    app.router.add_get("/v1/balance", api.balance, allow_head=False)
    app.router.add_get("/v1/inbound", api.inbound, allow_head=False)
    app.router.add_get("/metrics", api.metrics_page)
    app.router.add_get("/healthz", api.healthz)
    app.router.add_get("/readyz", api.readyz)
    app.router.add_get("/links", api.links_page)
    return app


def link_json(h: LinkHealth) -> dict[str, Any]:
    return {
        "name": h.name,
        "driver": h.driver,
        "up": h.up,
        "bound": h.bound,
        "in_flight": h.in_flight,
        "window": h.window,
        "throttled": h.throttled,
        "detail": h.detail,
        "counters": dict(h.counters),
        "gauges": dict(h.gauges),
    }


class HttpServer:
    """Runs an application on one TCP address until :meth:`stop`.

    ``limits`` bound what a connection may hold (gateway.ingress.http_limits): the
    number of connections, the time to send headers, idle keep-alive. The body
    deadline is the application's (:func:`build_app` ``body_timeout``).
    ``logger`` (optional) gets ``http_listening``, ``http_stopped`` and the
    rate-limited warnings (connections refused, accept() failing);
    ``access_log`` turns on aiohttp's access log (through the standard
    ``logging`` module, so the daemon's log setup renders it).
    """

    def __init__(
        self,
        app: web.Application,
        /,
        *,
        logger: Any = None,
        shutdown_timeout: float = 10.0,
        access_log: bool = False,
        limits: HttpLimits | None = None,
    ) -> None:
        self._app = app
        self._log = logger
        self._shutdown_timeout = shutdown_timeout
        self._access_log = access_log
        self.limits = limits or HttpLimits()
        self._runner: web.AppRunner | None = None
        self._server: asyncio.Server | None = None
        self._handler: ExceptionHandler | None = None
        self._previous_handler: ExceptionHandler | None = None
        warnings = RateLimitedLog(logger if logger is not None else _Silent())
        self.connections = Connections(
            limits=self.limits, make_protocol=self._protocol, log=warnings, debug_log=logger
        )
        self._warnings = warnings

    @property
    def sockets(self) -> tuple[Any, ...]:
        """The listening sockets (none before :meth:`start` and after :meth:`stop`)."""
        return tuple(self._server.sockets) if self._server is not None else ()

    def _protocol(self) -> asyncio.Protocol:
        server = self._runner.server if self._runner is not None else None
        if server is None:
            raise RuntimeError("the HTTP server is not started")
        return server()

    async def start(self, host: str, port: int, *, reuse_port: bool = False) -> int:
        """Listen on ``host:port`` (0: a free port); return the bound port.

        ``reuse_port``: other processes may listen on the same address (the
        kernel spreads connections over them; worker processes).
        """
        if self._runner is not None:
            raise RuntimeError("the HTTP server is already started")
        self._app.middlewares.insert(0, self.connections.middleware)
        kwargs: dict[str, Any] = {} if self._access_log else {"access_log": None}
        runner = web.AppRunner(
            self._app,
            shutdown_timeout=self._shutdown_timeout,
            handler_cancellation=False,
            keepalive_timeout=self.limits.keepalive_timeout,
            lingering_time=min(self.limits.body_timeout, _LINGER),
            **kwargs,
        )
        await runner.setup()
        self._runner = runner
        loop = asyncio.get_running_loop()
        try:
            server = await loop.create_server(
                self.connections.protocol,
                host or None,
                port,
                reuse_address=True,
                reuse_port=reuse_port or None,
                backlog=_BACKLOG,
            )
        except OSError:
            self._runner = None
            await runner.cleanup()
            raise
        self._server = server
        self._previous_handler = loop.get_exception_handler()
        self._handler = accept_error_handler(
            self._previous_handler,
            log=self._warnings,
            sockets=lambda: [sock.fileno() for sock in server.sockets],
        )
        loop.set_exception_handler(self._handler)
        bound = int(server.sockets[0].getsockname()[1])
        if self._log is not None:
            self._log.info("http_listening", host=host, port=bound)
        return bound

    async def stop(self) -> None:
        """Stop accepting, let requests in progress finish (bounded), close."""
        runner, self._runner = self._runner, None
        server, self._server = self._server, None
        if server is not None:
            server.close()
            loop = asyncio.get_running_loop()
            if loop.get_exception_handler() is self._handler:
                loop.set_exception_handler(self._previous_handler)
        if runner is not None:
            await runner.cleanup()
        if server is not None:
            await server.wait_closed()
        if runner is not None and self._log is not None:
            self._log.info("http_stopped")


_BACKLOG = 128  # as aiohttp's TCPSite
# aiohttp reads and drops the rest of a body a handler did not read (a 401, a 413,
# a 408) before it closes, for at most this long, and no longer than a body may take
_LINGER = 10.0


class _Silent:
    """A logger that writes nothing (HttpServer without a logger)."""

    def warning(self, event: str, **fields: Any) -> None:
        pass

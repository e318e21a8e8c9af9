"""The HTTP API (README: HTTP API) on aiohttp: the application and the server that runs it.

Why aiohttp: a mature asyncio server and client in one package (the webhook
sender uses its client), body size limits enforced while streaming, and no
ASGI layer between the socket and the handler.

:func:`build_app` wires the routes: the /v1 handlers
(gateway.ingress.http_api; orders and the stoplist in http_orders; SMPP
credentials in http_esme, also on any account's for operator tokens: whose
token is which in http_auth), the
operators' pages (gateway.ingress.http_operations),
every error answered by one middleware (gateway.ingress.http_errors);
:class:`HttpServer` runs it within the connection limits of
gateway.ingress.http_limits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry

from gateway.accounting.ledger import DEFAULT_MIN_TOPUP
from gateway.accounting.orders import Orders
from gateway.ingress.http_account import AccountApi
from gateway.ingress.http_api import MessagesApi
from gateway.ingress.http_errors import error_middleware
from gateway.ingress.http_esme import EsmeApi
from gateway.ingress.http_limits import (
    DEFAULT_BODY_TIMEOUT,
    Connections,
    ExceptionHandler,
    HttpLimits,
    RateLimitedLog,
    accept_error_handler,
)
from gateway.ingress.http_openapi import openapi_page
from gateway.ingress.http_operations import (
    LocalOperations,
    Operations,
    OperationsPages,
    Readiness,
)
from gateway.ingress.http_orders import OrdersApi
from gateway.ingress.http_schema import DEFAULT_MAX_BYTES
from gateway.ingress.pipeline import SendService
from gateway.ingress.tokens import TOKEN_TTL, TokenCache, store_lookup
from gateway.link.interface import LinkHealth
from gateway.model.clock import SYSTEM_CLOCK, Clock
from gateway.ops.metric_sinks import IngressMetrics
from gateway.store.base import Store

__all__ = ["HttpServer", "build_app"]


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
    daemon: str | None = None,
    min_pack: int = DEFAULT_MIN_TOPUP,
    clock: Clock = SYSTEM_CLOCK,
    token_ttl: float = TOKEN_TTL,
) -> web.Application:
    """The API application.

    ``daemon``: the daemon's ``[dispatcher] worker`` name, which /links, /esme and
    /readyz give (with several daemons on one store, the one they describe).

    ``links`` gives the links' health for ``GET /links`` (operators' view, no
    authentication, like /metrics: serve it on a private address).
    ``operations``, when given, answers /metrics, /links and /esme (the ESMEs
    bound to the SMPP server; none without one) instead of ``registry`` and
    ``links`` (a worker process relays the daemon's).

    ``metrics`` (on ``registry``) counts accepted and refused sends (the
    ``send_service`` hands new messages to the dispatcher); ``readiness``
    answers /readyz and is given ``readiness_timeout`` seconds. A request body
    must arrive within ``body_timeout`` seconds of its headers (408 after).
    ``min_pack``: the smallest credit order (``[ledger] min_topup``).
    An API token's owner (its account, or the operator token it is) is read from
    the store again at least every ``token_ttl`` seconds on ``clock``
    (gateway.ingress.tokens; 0: at every request).
    """
    if operations is None:
        operations = LocalOperations(registry or CollectorRegistry(), links)
    api = MessagesApi(
        store=store,
        send_service=send_service,
        logger=logger,
        max_body=max_body,
        metrics=metrics,
        body_timeout=body_timeout,
        tokens=TokenCache(store_lookup(store), clock=clock, ttl=token_ttl),
    )
    orders = OrdersApi(
        store=store,
        orders=Orders(store=store, min_pack=min_pack, log=logger),
        authenticate=api.account,
        body_timeout=body_timeout,
    )
    pages = OperationsPages(
        operations=operations,
        readiness=readiness,
        readiness_timeout=readiness_timeout,
        logger=logger,
        daemon=daemon,
    )
    middlewares = [error_middleware(logger=logger, max_body=max_body)]
    app = web.Application(middlewares=middlewares, client_max_size=max_body)
    account = AccountApi(
        store=store,
        authenticate=api.account,
        read_body=api.body,
        logger=logger,
        revoked=api.tokens.forget,
    )
    app.router.add_post("/v1/messages", api.send)
    app.router.add_get("/v1/messages", account.messages, allow_head=False)
    app.router.add_post("/v1/quote", api.quote)
    app.router.add_get("/v1/messages/{id}", api.get_message, allow_head=False)
    app.router.add_post("/v1/messages/{id}/cancel", api.cancel)
    app.router.add_get("/v1/balance", api.balance, allow_head=False)
    app.router.add_get("/v1/inbound", api.inbound, allow_head=False)
    app.router.add_post("/v1/orders", orders.create)
    app.router.add_get("/v1/orders", orders.list, allow_head=False)
    app.router.add_post("/v1/orders/{id}/cancel", orders.cancel)
    app.router.add_get("/v1/stoplist", orders.stoplist, allow_head=False)
    app.router.add_get("/v1/journal", account.journal, allow_head=False)
    app.router.add_get("/v1/senders", account.senders, allow_head=False)
    app.router.add_post("/v1/senders", account.request_sender)
    app.router.add_get("/v1/tokens", account.tokens, allow_head=False)
    app.router.add_delete("/v1/tokens/{id}", account.revoke_token)
    esme = EsmeApi(store=store, authenticate=api.auth.as_account, read_body=api.body, logger=logger)
    app.router.add_get("/v1/esme", esme.list, allow_head=False)
    app.router.add_post("/v1/esme", esme.create)
    app.router.add_post("/v1/esme/{system_id}/password", esme.password)
    app.router.add_delete("/v1/esme/{system_id}", esme.remove)
    # operator tokens only (gateway.ingress.http_auth): any account's, by the path
    ops = EsmeApi(store=store, authenticate=api.auth.on_account, read_body=api.body, logger=logger)
    app.router.add_get("/v1/accounts/{account}/esme", ops.list, allow_head=False)
    app.router.add_post("/v1/accounts/{account}/esme", ops.create)
    app.router.add_post("/v1/accounts/{account}/esme/{system_id}/password", ops.password)
    app.router.add_delete("/v1/accounts/{account}/esme/{system_id}", ops.remove)
    app.router.add_get("/openapi.json", openapi_page, allow_head=False)
    app.router.add_get("/metrics", pages.metrics_page)
    app.router.add_get("/healthz", pages.healthz)
    app.router.add_get("/readyz", pages.readyz)
    app.router.add_get("/links", pages.links_page)
    app.router.add_get("/esme", pages.esme_page)
    return app


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

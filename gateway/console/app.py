"""The console's aiohttp sub-application, mounted by the runtime under ``[console] path``.

Its own middlewares run inside the API's: the session and CSRF checks
(gateway.console.auth), then the errors answered as pages (a user error as
the page's message with its HTTP status, a missing or another account's
record as a 404 page), so no console error is answered in the API's JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiohttp import web

from gateway.accounting.ledger import DEFAULT_MIN_TOPUP
from gateway.accounting.orders import Orders
from gateway.console.auth import Auth, Handler
from gateway.console.messages import MessagePages
from gateway.console.operator import OperatorPages
from gateway.console.orders import OrderPages
from gateway.console.pages import AccountPages
from gateway.console.phonebooks import PhonebookPages
from gateway.console.prices import PricePages
from gateway.console.render import STATIC, Renderer
from gateway.console.sending import SendPage
from gateway.console.settings import ConsoleSettings
from gateway.console.smpp import SmppPages
from gateway.console.stoplist import StoplistPages
from gateway.ingress.http_errors import status_for
from gateway.ingress.http_operations import Operations
from gateway.ingress.pipeline import SendService
from gateway.model.clock import SYSTEM_CLOCK, Clock
from gateway.model.errors import UserError
from gateway.ops.metric_sinks import IngressMetrics
from gateway.store.base import Store

__all__ = ["build_console", "mount_console"]


def _errors(renderer: Renderer, logger: Any) -> Any:
    @web.middleware
    async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except UserError as exc:
            status = status_for(exc)
            return renderer.page(request, "error.html", {"error": str(exc)}, status=status)
        except web.HTTPException as exc:
            if exc.status < 400 or request.headers.get("HX-Request"):
                raise
            message = {
                403: exc.text or "Forbidden.",
                404: "There is no such page.",
                405: "This page does not take that method.",
            }.get(exc.status, exc.reason)
            logger.debug("console_refused", status=exc.status, path=request.path)
            return renderer.page(request, "error.html", {"error": message}, status=exc.status)

    return errors


def build_console(
    *,
    store: Store,
    send_service: SendService,
    settings: ConsoleSettings,
    logger: Any,
    metrics: IngressMetrics | None = None,
    national: Sequence[str] = (),
    clock: Clock = SYSTEM_CLOCK,
    min_pack: int = DEFAULT_MIN_TOPUP,
    smpp: bool = False,
    operations: Operations | None = None,
) -> web.Application:
    """The console's pages; ``smpp``: the daemon runs the SMPP server (the
    account's SMPP credentials get a page); ``operations``: the links shown to
    operators (as ``GET /links``)."""
    renderer = Renderer(root=settings.path, smpp=smpp)
    auth = Auth(store=store, settings=settings, renderer=renderer, logger=logger, clock=clock)
    account = AccountPages(store=store, renderer=renderer, logger=logger)
    messages = MessagePages(store=store, renderer=renderer, logger=logger, metrics=metrics)
    books = PhonebookPages(store=store, renderer=renderer, logger=logger)
    operator = OperatorPages(store=store, renderer=renderer, logger=logger)
    orders = OrderPages(
        store=store,
        orders=Orders(store=store, min_pack=min_pack, log=logger),
        renderer=renderer,
        logger=logger,
    )
    prices = PricePages(store=store, renderer=renderer, logger=logger, operations=operations)
    stoplist = StoplistPages(store=store, renderer=renderer, logger=logger)
    send = SendPage(
        store=store,
        send_service=send_service,
        renderer=renderer,
        logger=logger,
        metrics=metrics,
        national=national,
    )
    app = web.Application(middlewares=[_errors(renderer, logger), auth.middleware])
    r = app.router
    r.add_get("/", account.dashboard)
    r.add_post("/login", auth.login)
    r.add_post("/logout", auth.logout)
    r.add_post("/password", auth.password)
    r.add_get("/send", send.show)
    r.add_post("/send", send.send)
    r.add_post("/send/counter", send.counter)
    r.add_get("/messages", messages.history)
    r.add_get("/messages/{id}", messages.show)
    r.add_get("/messages/{id}/state", messages.state)
    r.add_post("/messages/{id}/cancel", messages.cancel)
    r.add_get("/replies", account.replies)
    r.add_get("/senders", account.senders)
    r.add_post("/senders", account.request_sender)
    r.add_get("/stoplist", stoplist.mine)
    r.add_get("/phonebooks", books.index)
    r.add_post("/phonebooks", books.create)
    r.add_get("/phonebooks/{name}", books.show)
    r.add_post("/phonebooks/{name}/contacts", books.add)
    r.add_post("/phonebooks/{name}/remove", books.remove)
    r.add_post("/phonebooks/{name}/import", books.import_csv)
    r.add_get("/credit", orders.credit)
    r.add_post("/credit/orders", orders.order)
    r.add_post("/credit/orders/{id}/cancel", orders.cancel_own)
    r.add_get("/credit/journal.csv", account.journal_csv)
    r.add_get("/tokens", account.tokens)
    r.add_post("/tokens", account.create_token)
    r.add_post("/tokens/{id}/revoke", account.revoke_token)
    if smpp:
        credentials = SmppPages(store=store, renderer=renderer, logger=logger)
        r.add_get("/smpp", credentials.credentials)
        r.add_post("/smpp", credentials.create)
    r.add_get("/operator/", operator.accounts)
    r.add_post("/operator/accounts", operator.create_account)
    r.add_post("/operator/accounts/limits", operator.set_limits)
    r.add_get("/operator/webhooks", operator.webhooks)
    r.add_post("/operator/webhooks/{id}/retry", operator.retry_webhook)
    r.add_get("/operator/senders", operator.senders)
    r.add_post("/operator/senders", operator.decide)
    r.add_get("/operator/orders", orders.pending)
    r.add_post("/operator/orders/{id}/paid", orders.paid)
    r.add_post("/operator/orders/{id}/cancel", orders.cancel)
    r.add_get("/operator/stoplist", stoplist.every)
    r.add_post("/operator/stoplist/remove", stoplist.remove)
    r.add_get("/operator/prices", prices.prices)
    r.add_post("/operator/prices", prices.set_price)
    r.add_get("/operator/queue", prices.queue)
    r.add_static("/static", STATIC)
    return app


def mount_console(
    app: web.Application, console: web.Application, settings: ConsoleSettings
) -> None:
    """Serve ``console`` under ``settings.path`` of ``app`` (``path`` itself redirects
    to ``path/``)."""

    async def to_root(request: web.Request) -> web.StreamResponse:
        raise web.HTTPPermanentRedirect(settings.path + "/")

    app.router.add_get(settings.path, to_root)
    app.add_subapp(settings.path, console)

"""The operators' prices and queue pages (role operator; others get a 404).

/operator/prices lists the default price list and every account's own, and
sets a price as ``smsgw price set`` does (the same prefix and amount rules,
the store's ``set_price``); /operator/queue shows the messages not final yet
per state (the store's ``queue_depths``) and the links as ``GET /links``
shows them (the daemon's, relayed in a worker process).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.accounting.ledger import parse_amount
from gateway.accounting.pricing import normalize_prefix
from gateway.console.auth import see_other
from gateway.console.keys import PAGE
from gateway.console.pages import form_text, operator_of
from gateway.console.render import Renderer
from gateway.ingress.http_operations import Operations
from gateway.model.errors import UserError
from gateway.model.records import Price
from gateway.store.base import Store


class PricePages:
    def __init__(
        self, *, store: Store, renderer: Renderer, logger: Any, operations: Operations | None
    ) -> None:
        self.store = store
        self.operations = operations
        self.render = renderer
        self.log = logger

    async def prices(
        self, request: web.Request, *, error: str = "", status: int = 200
    ) -> web.Response:
        operator_of(request)
        request[PAGE] = "/operator/prices"
        accounts = [a.name for a in await self.store.list_accounts()]
        rows: list[Price] = list(await self.store.list_prices())
        for name in accounts:
            rows += await self.store.list_prices(account=name)
        context = {"prices": rows, "accounts": accounts, "error": error}
        return self.render.page(request, "operator_prices.html", context, status=status)

    async def set_price(self, request: web.Request) -> web.StreamResponse:
        operator = operator_of(request)
        form = await request.post()
        account = form_text(form, "account", limit=64) or None
        try:
            prefix = normalize_prefix(form_text(form, "prefix", limit=40))
            per_segment = parse_amount(form_text(form, "credits", limit=40), what="price")
            price = await self.store.set_price(prefix, per_segment, account=account)
        except UserError as exc:
            return await self.prices(request, error=str(exc), status=400)
        self.log.info(
            "console_price_set",
            operator=operator,
            account=price.account,
            prefix=price.prefix,
            credits=price.credits,
        )
        return see_other(self.render.root + "/operator/prices")

    async def queue(self, request: web.Request) -> web.Response:
        operator_of(request)
        request[PAGE] = "/operator/queue"
        depths = await self.store.queue_depths()
        rows = sorted(((s.value, n) for s, n in depths.items()), key=lambda r: r[0])
        links = await self.operations.links() if self.operations is not None else []
        context = {"depths": rows, "links": links}
        return self.render.page(request, "operator_queue.html", context)

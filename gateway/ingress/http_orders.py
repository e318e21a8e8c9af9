"""The /v1 handlers of credit orders and the stoplist (README: HTTP API).

``POST /v1/orders`` ``{"credits": N}`` orders a pack for the token's account
(201, the order, ``pending`` until an operator marks it paid); ``GET
/v1/orders`` lists the account's orders, newest first (``status`` and
``limit`` filters); ``POST /v1/orders/{id}/cancel`` cancels one of the
account's pending orders; ``GET /v1/stoplist`` the numbers the account does not
send to. Unknown query parameters are refused, as on every list
(gateway.ingress.http_query). The rules are gateway.accounting.orders' and
gateway.store.stoplist's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from gateway.accounting.orders import Orders
from gateway.ingress.http_query import Query
from gateway.ingress.http_schema import iso_time, json_kind, json_object
from gateway.model.errors import (
    MissingField,
    NotFound,
    RequestTimeout,
    WrongType,
)
from gateway.model.orders import Order, OrderStatus, StopEntry
from gateway.store.base import Store

__all__ = ["OrdersApi", "order_json", "stop_json"]

Authenticate = Callable[[web.Request], Awaitable[str]]


def order_json(order: Order) -> dict[str, Any]:
    return {
        "id": order.id,
        "account": order.account,
        "credits": order.credits,
        "status": order.status.value,
        "payment_ref": order.payment_ref,
        "created_at": iso_time(order.created_at),
        "updated_at": iso_time(order.updated_at),
    }


def stop_json(entry: StopEntry) -> dict[str, Any]:
    return {
        "number": entry.number,
        "source": entry.source.value,
        "created_at": iso_time(entry.created_at),
    }


def _credits(data: bytes) -> int:
    body = json_object(data, ("credits",))
    if "credits" not in body:
        raise MissingField("credits")
    value = body["credits"]
    if isinstance(value, bool) or not isinstance(value, int):
        raise WrongType("credits", "an integer", json_kind(value))
    return value


class OrdersApi:
    """The handlers; ``authenticate`` gives the account of a request's token."""

    def __init__(
        self,
        *,
        store: Store,
        orders: Orders,
        authenticate: Authenticate,
        body_timeout: float,
    ) -> None:
        self.store = store
        self.orders = orders
        self.authenticate = authenticate
        self.body_timeout = body_timeout

    async def create(self, request: web.Request) -> web.Response:
        account = await self.authenticate(request)
        try:
            async with asyncio.timeout(self.body_timeout):
                data = await request.read()
        except TimeoutError:
            raise RequestTimeout(
                f"the request body did not arrive within {self.body_timeout:g} seconds"
            ) from None
        order = await self.orders.create(account, _credits(data))
        return web.json_response(order_json(order), status=201)

    async def list(self, request: web.Request) -> web.Response:
        account = await self.authenticate(request)
        q = Query(request.query, ("status", "limit"))
        raw = q.choice("status", [s.value for s in OrderStatus])
        status = None if raw is None else OrderStatus(raw)
        found = await self.orders.list(account=account, status=status, limit=q.limit())
        return web.json_response({"orders": [order_json(o) for o in found]})

    async def cancel(self, request: web.Request) -> web.Response:
        account = await self.authenticate(request)
        raw = request.match_info["id"]
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
            raise NotFound(f"no order {raw[:20]!r}: an order is a whole number")
        order = await self.orders.cancel(int(raw), account=account)
        return web.json_response(order_json(order))

    async def stoplist(self, request: web.Request) -> web.Response:
        account = await self.authenticate(request)
        Query(request.query, ())
        entries = await self.store.list_stops(account)
        return web.json_response({"stoplist": [stop_json(e) for e in entries]})

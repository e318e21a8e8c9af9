"""The console's credit orders: a customer orders a pack on /credit and sees
its orders, and cancels a pending one; an operator marks them paid or
cancels them on /operator/orders.

Both go through :class:`gateway.accounting.orders.Orders`, the service the
CLI and ``POST /v1/orders`` use: the pack rule (``[ledger] min_topup``) is
its, and marking paid credits once however many times it is submitted (a
replayed form, two operators at once): the store locks the order's row and
finds it paid the second time.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.accounting.orders import Orders
from gateway.console.auth import see_other
from gateway.console.keys import PAGE
from gateway.console.pages import JOURNAL_ROWS, account_of, form_text, operator_of
from gateway.console.render import Renderer
from gateway.model.errors import UserError
from gateway.model.orders import OrderConflict, OrderStatus
from gateway.store.base import Store

ORDERS_SHOWN = 100


def order_id_of(request: web.Request) -> int:
    raw = request.match_info["id"]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise web.HTTPNotFound
    return int(raw)


class OrderPages:
    def __init__(self, *, store: Store, orders: Orders, renderer: Renderer, logger: Any) -> None:
        self.store = store
        self.orders = orders
        self.render = renderer
        self.log = logger

    async def credit(
        self, request: web.Request, *, error: str = "", status: int = 200
    ) -> web.Response:
        """Balance, the order form and the account's orders, the journal."""
        account = account_of(request)
        request[PAGE] = "/credit"
        context = {
            "balance": await self.store.balance(account),
            "journal": await self.store.history(account, limit=JOURNAL_ROWS),
            "orders": await self.orders.list(account=account, limit=ORDERS_SHOWN),
            "min_pack": self.orders.min_pack,
            "error": error,
        }
        return self.render.page(request, "credit.html", context, status=status)

    async def order(self, request: web.Request) -> web.StreamResponse:
        """The customer's "Order" on /credit: a pending order of the account."""
        account = account_of(request)
        form = await request.post()
        raw = form_text(form, "credits", limit=20)
        try:
            if not (raw.isascii() and raw.isdigit()):
                raise UserError(f"bad number of credits {raw!r}: a whole number")
            order = await self.orders.create(account, int(raw))
        except UserError as exc:
            return await self.credit(request, error=str(exc), status=400)
        self.log.info("console_order_created", account=account, order=order.id)
        return see_other(self.render.root + "/credit")

    async def cancel_own(self, request: web.Request) -> web.StreamResponse:
        """The customer's "Cancel" of one of its pending orders on /credit."""
        account = account_of(request)
        order_id = order_id_of(request)
        try:
            await self.orders.cancel(order_id, account=account)  # another's: 404
        except OrderConflict as exc:  # paid or cancelled meanwhile
            return await self.credit(request, error=str(exc), status=409)
        self.log.info("console_order_cancelled", account=account, order=order_id)
        return see_other(self.render.root + "/credit")

    # --- operators --------------------------------------------------------------

    async def pending(self, request: web.Request) -> web.Response:
        operator_of(request)
        request[PAGE] = "/operator/orders"
        rows = await self.orders.list(status=OrderStatus.PENDING, limit=ORDERS_SHOWN)
        return self.render.page(request, "operator_orders.html", {"orders": rows})

    async def paid(self, request: web.Request) -> web.StreamResponse:
        operator = operator_of(request)
        order_id = order_id_of(request)
        form = await request.post()
        ref = form_text(form, "payment_ref", limit=200) or None
        payment = await self.orders.paid(order_id, payment_ref=ref)  # NotFound: 404
        self.log.info(
            "console_order_paid",
            operator=operator,
            order=order_id,
            duplicate=payment.duplicate,
        )
        return see_other(self.render.root + "/operator/orders")

    async def cancel(self, request: web.Request) -> web.StreamResponse:
        operator = operator_of(request)
        order_id = order_id_of(request)
        await self.orders.cancel(order_id)  # NotFound: 404; OrderConflict: 409
        self.log.info("console_order_cancelled", operator=operator, order=order_id)
        return see_other(self.render.root + "/operator/orders")

"""The stoplist in the console: a customer sees the account's stopped numbers
(/stoplist); an operator sees every account's and takes a number off
(/operator/stoplist), through the store's ``list_stops`` and ``remove_stop``
as ``smsgw stoplist`` does.

A customer cannot take a number off: the number asked to stop (a reply with
a stop keyword) or an operator put it there.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.console.auth import see_other
from gateway.console.keys import PAGE
from gateway.console.pages import account_of, form_text, operator_of
from gateway.console.render import Renderer
from gateway.store.base import Store


class StoplistPages:
    def __init__(self, *, store: Store, renderer: Renderer, logger: Any) -> None:
        self.store = store
        self.render = renderer
        self.log = logger

    async def mine(self, request: web.Request) -> web.Response:
        account = account_of(request)
        request[PAGE] = "/stoplist"
        stops = await self.store.list_stops(account)
        return self.render.page(request, "stoplist.html", {"stops": stops})

    async def every(self, request: web.Request) -> web.Response:
        operator_of(request)
        request[PAGE] = "/operator/stoplist"
        stops = []
        for account in await self.store.list_accounts():
            stops += await self.store.list_stops(account.name)
        return self.render.page(request, "operator_stoplist.html", {"stops": stops})

    async def remove(self, request: web.Request) -> web.StreamResponse:
        operator = operator_of(request)
        form = await request.post()
        account = form_text(form, "account", limit=64)
        number = form_text(form, "number", limit=32)
        entry = await self.store.remove_stop(account, number)  # NotFound: 404
        self.log.info(
            "console_stop_removed", operator=operator, account=entry.account, number=entry.number
        )
        return see_other(self.render.root + "/operator/stoplist")

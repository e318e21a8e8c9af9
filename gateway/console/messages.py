"""The console's message pages: history with a state filter and pages, one
message with its segments, cancel while queued, and the small fragments htmx
asks for to keep states live.

Another account's message is a 404, exactly like a missing one, so ids cannot
be probed. Cancelling goes through the store's ``cancel`` (its refund rules).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from gateway.console.auth import see_other
from gateway.console.keys import PAGE
from gateway.console.pages import account_of
from gateway.console.render import Renderer
from gateway.model.errors import NotFound, UserError
from gateway.model.message import MessageState
from gateway.model.records import MessageView
from gateway.ops.metric_sinks import IngressMetrics
from gateway.store.base import Store
from gateway.store.pages import message_page

PER_PAGE = 50  # messages per page
MAX_BACK = 20  # newer pages "Newer" walks back through (then: the newest)
_MAX_ID = 64


class MessagePages:
    def __init__(
        self,
        *,
        store: Store,
        renderer: Renderer,
        logger: Any,
        metrics: IngressMetrics | None,
    ) -> None:
        self.store = store
        self.render = renderer
        self.log = logger
        self.metrics = metrics

    async def own(self, request: web.Request) -> MessageView:
        account = account_of(request)
        message_id = request.match_info["id"]
        view = None
        if len(message_id) <= _MAX_ID:
            try:
                view = await self.store.get_message(message_id)
            except NotFound:
                view = None
        if view is None or view.message.account != account:
            raise NotFound(f"no message {message_id[:_MAX_ID]!r}")
        return view

    async def history(self, request: web.Request) -> web.Response:
        """One page of the history on the store's cursor pages: ``cursor`` is where
        it starts (none: the newest), ``back`` the cursors of the newer pages
        (``.``-joined, at most MAX_BACK), so "Newer" needs no second query."""
        account = account_of(request)
        raw_state = request.query.get("state", "")
        state = next((s for s in MessageState if s.value == raw_state), None)
        cursor = request.query.get("cursor") or None
        back = [c for c in request.query.get("back", "").split(".")[-MAX_BACK:] if c]
        # a cursor not of this list: InvalidField, the error page (400)
        page = await message_page(self.store, account, state=state, cursor=cursor, limit=PER_PAGE)
        request[PAGE] = "/messages"
        older = newer = None
        if page.next_cursor is not None:
            older = self._query(state, page.next_cursor, [*back, cursor or "-"][-MAX_BACK:])
        if cursor is not None:
            previous = back[-1] if back else "-"
            newer = self._query(state, None if previous == "-" else previous, back[:-1])
        return self.render.page(
            request,
            "messages.html",
            {
                "messages": page.messages,
                "states": [s.value for s in MessageState],
                "state": state.value if state else "",
                "number": _page_number(cursor, back),
                "older": older,
                "newer": newer,
            },
        )

    @staticmethod
    def _query(state: MessageState | None, cursor: str | None, back: list[str]) -> str:
        query: dict[str, str] = {}
        if state is not None:
            query["state"] = state.value
        if cursor is not None:
            query["cursor"] = cursor
        if back:
            query["back"] = ".".join(back)
        return urlencode(query)

    async def show(self, request: web.Request) -> web.Response:
        view = await self.own(request)
        request[PAGE] = "/messages"
        template = "message_live.html" if request.headers.get("HX-Request") else "message.html"
        return self.render.page(request, template, {"view": view, "m": view.message})

    async def state(self, request: web.Request) -> web.Response:
        """A message's state cell, polled by the history while it is not final."""
        view = await self.own(request)
        return self.render.page(request, "state.html", {"m": view.message})

    async def cancel(self, request: web.Request) -> web.StreamResponse:
        view = await self.own(request)
        message = view.message
        try:
            if message.state is not MessageState.QUEUED:
                raise UserError(
                    f"message {message.id} is {message.state.value}: "
                    "only queued ones can be cancelled"
                )
            changes = await self.store.cancel(message.id)
        except UserError as exc:
            request[PAGE] = "/messages"
            fresh = await self.own(request)
            return self.render.page(
                request,
                "message.html",
                {"view": fresh, "m": fresh.message, "error": str(exc)},
                status=409,
            )
        if self.metrics is not None:
            for change in changes.changes:
                if change.new.final:
                    self.metrics.message_finished(account=change.account, status=change.new.value)
        refunded = sum(entry.amount for entry in changes.refunds)
        self.log.info(
            "console_message_cancelled",
            account=message.account,
            msg_id=message.id,
            refunded=refunded,
        )
        return see_other(f"{self.render.root}/messages/{message.id}")


def _page_number(cursor: str | None, back: list[str]) -> int | None:
    """Which page this is, when the trail of newer pages reaches the first one."""
    if cursor is None:
        return 1
    return len(back) + 1 if back and back[0] == "-" else None

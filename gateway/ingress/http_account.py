"""The HTTP API's handlers for an account's own lists and settings (README: HTTP
API): its messages, its credit journal (JSON or CSV), its senders (listed,
requested) and its API tokens (listed, revoked).

The handlers read the query or body and write the answer; what a page holds,
what a cursor means and what a sender request needs are the store's and the
send pipeline's (gateway.store.pages, gateway.ingress.senders), which the
console uses too. A list answers ``next_cursor`` (null on the last page) and,
when there is a next page, a ``Link: <...>; rel="next"`` header.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from gateway.accounting.journal import journal_csv
from gateway.ingress.http_query import Query, next_link
from gateway.ingress.http_schema import parse_sender_request
from gateway.ingress.http_shapes import (
    journal_json,
    message_summary_json,
    sender_json,
    token_json,
)
from gateway.ingress.senders import request_sender
from gateway.model.errors import InvalidField, NotFound
from gateway.store.base import Store
from gateway.store.pages import journal_page, message_page

__all__ = ["AccountApi"]

_FORMATS = ("json", "csv")
_MAX_TOKEN_ID = 2**63 - 1


class AccountApi:
    """``authenticate`` gives the account of a request's token (401 otherwise);
    ``read_body`` its body within the API's limits; ``revoked`` is told the account
    whose token a request revoked."""

    def __init__(
        self,
        *,
        store: Store,
        authenticate: Callable[[web.Request], Awaitable[str]],
        read_body: Callable[[web.Request], Awaitable[bytes]],
        logger: Any,
        revoked: Callable[[str], None] = lambda _account: None,
    ) -> None:
        self.store = store
        self.authenticate = authenticate
        self.read_body = read_body
        self.log = logger
        self.revoked = revoked  # told the account whose token this process revoked

    async def messages(self, request: web.Request) -> web.Response:
        account = await self.authenticate(request)
        q = Query(request.query, ("status", "since", "until", "limit", "cursor"))
        page = await message_page(
            self.store,
            account,
            state=q.state(),
            since=q.time("since"),
            until=q.time("until"),
            cursor=q.text("cursor"),
            limit=q.limit(),
        )
        body = {
            "messages": [message_summary_json(m) for m in page.messages],
            "next_cursor": page.next_cursor,
        }
        return web.json_response(body, headers=next_link(request, page.next_cursor))

    async def journal(self, request: web.Request) -> web.Response:
        account = await self.authenticate(request)
        q = Query(request.query, ("since", "until", "limit", "cursor", "format"))
        wanted = q.choice("format", _FORMATS)
        if wanted is None:
            wanted = "csv" if "text/csv" in request.headers.get("Accept", "") else "json"
        page = await journal_page(
            self.store,
            account,
            since=q.time("since"),
            until=q.time("until"),
            cursor=q.text("cursor"),
            limit=q.limit(),
        )
        headers = next_link(request, page.next_cursor)
        if wanted == "csv":
            return web.Response(
                text=journal_csv(page.rows),
                content_type="text/csv",
                charset="utf-8",
                headers=headers,
            )
        body = {
            "account": account,
            "entries": [journal_json(r) for r in page.rows],
            "next_cursor": page.next_cursor,
        }
        return web.json_response(body, headers=headers)

    async def senders(self, request: web.Request) -> web.Response:
        account = await self.authenticate(request)
        Query(request.query, ())
        listed = await self.store.list_senders(account)
        return web.json_response({"senders": [sender_json(s) for s in listed]})

    async def request_sender(self, request: web.Request) -> web.Response:
        account = await self.authenticate(request)
        Query(request.query, ())
        value, kind, reason = parse_sender_request(await self.read_body(request))
        sender = await request_sender(self.store, account, value, kind=kind, reason=reason)
        self.log.info(
            "sender_requested", account=account, sender=sender.value, kind=sender.kind.value
        )
        return web.json_response(sender_json(sender), status=201)

    async def tokens(self, request: web.Request) -> web.Response:
        account = await self.authenticate(request)
        Query(request.query, ())
        listed = await self.store.list_tokens(account)
        return web.json_response({"tokens": [token_json(t) for t in listed]})

    async def revoke_token(self, request: web.Request) -> web.Response:
        account = await self.authenticate(request)
        Query(request.query, ())
        raw = request.match_info["id"]
        if not (raw.isascii() and raw.isdigit()) or not 0 < int(raw) <= _MAX_TOKEN_ID:
            raise InvalidField("id", f"{raw[:20]!r}: a token id, a whole number (GET /v1/tokens)")
        try:
            token = await self.store.revoke_token(int(raw), account=account)
        except NotFound:
            raise NotFound(f"no token {raw} of this account") from None
        self.revoked(account)
        self.log.info("token_revoked", account=account, token_id=token.id)
        return web.json_response({**token_json(token), "revoked": True})

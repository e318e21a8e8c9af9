"""The HTTP API's /v1 handlers (README: HTTP API): sends and quotes, message status
and cancel, balance, inbound (the account's lists, senders and tokens are
gateway.ingress.http_account's).

Choices made here:

- A 202 is answered only after :meth:`SendService.send` returned, which is
  after the store committed each message with its debit (docs/architecture.md, data rules).
  Handlers are not cancelled when a client goes away (aiohttp's default since
  3.9), so a disconnect never interrupts a commit half way.
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
from collections import Counter
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from gateway.ingress.http_auth import Authenticator
from gateway.ingress.http_errors import error_body, status_for
from gateway.ingress.http_query import Query, next_link
from gateway.ingress.http_schema import inbound_json, message_json, parse_send_payload
from gateway.ingress.http_shapes import quote_json
from gateway.ingress.pipeline import SendResult, SendService
from gateway.ingress.tokens import TokenCache, store_lookup
from gateway.model.errors import (
    NotCancellable,
    NotFound,
    PayloadTooLarge,
    RequestTimeout,
    UserError,
)
from gateway.model.message import MessageState
from gateway.model.records import MessageView
from gateway.ops.logs import debug_enabled
from gateway.ops.metric_sinks import IngressMetrics
from gateway.store.base import Store
from gateway.store.pages import inbound_page

__all__ = ["CHANNEL", "MessagesApi"]

CHANNEL = "http"


def _json(
    data: Mapping[str, Any], status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.json_response(data, status=status, headers=headers)


class MessagesApi:
    """The /v1 handlers; the state they share is passed in, never global."""

    def __init__(
        self,
        *,
        store: Store,
        send_service: SendService,
        logger: Any,
        max_body: int,
        metrics: IngressMetrics | None,
        body_timeout: float,
        tokens: TokenCache | None = None,
    ) -> None:
        self.store = store
        # owners of tokens, read again at least every TOKEN_TTL s (gateway.ingress.tokens)
        self.tokens = tokens if tokens is not None else TokenCache(store_lookup(store))
        self.auth = Authenticator(tokens=self.tokens, store=store)
        self.send_service = send_service
        self.log = logger
        # asked once: a request's debug line costs nothing when the level drops it
        self.debug = debug_enabled(logger)
        self.max_body = max_body
        self.metrics = metrics
        self.body_timeout = body_timeout

    # --- helpers ------------------------------------------------------------------

    async def account(self, request: web.Request) -> str:
        """The account of the request's token: 401 without one, 403 for an operator's."""
        return await self.auth.account(request)

    async def own_message(self, request: web.Request, account: str) -> MessageView:
        message_id = request.match_info["id"]
        try:
            view = await self.store.get_message(message_id)
        except NotFound:
            view = None
        if view is None or view.message.account != account:
            raise NotFound(f"no message {message_id!r}")
        return view

    async def body(self, request: web.Request) -> bytes:
        """The request's body, within the size and time limits."""
        if request.content_length is not None and request.content_length > self.max_body:
            raise PayloadTooLarge(request.content_length, self.max_body)
        try:
            if request.content.is_eof():  # the body came with the headers: no timer
                return await request.read()
            async with asyncio.timeout(self.body_timeout):
                return await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise PayloadTooLarge(None, self.max_body) from None
        except TimeoutError:
            raise RequestTimeout(
                f"the request body did not arrive within {self.body_timeout:g} seconds"
            ) from None

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
            data = await self.body(request)
            send_request = parse_send_payload(data, account=account, max_bytes=self.max_body)
            result = await self.send_service.send(send_request)
        except UserError as exc:
            self.rejected(account, exc.code)
            self.log.info(
                "http_message_rejected", account=account, error=exc.code, status=status_for(exc)
            )
            raise
        return self.send_response(account, result)

    async def quote(self, request: web.Request) -> web.Response:
        """What the same body would cost at ``POST /v1/messages``; nothing is stored."""
        account = await self.account(request)
        data = await self.body(request)
        quote = await self.send_service.quote(
            parse_send_payload(data, account=account, max_bytes=self.max_body)
        )
        return _json(quote_json(quote))

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
        if refused:
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
                {**error_body(first), "messages": [], "refused": refused}, status_for(first)
            )
        if self.debug:  # at info, the send service's messages_enqueued says it with the ids
            self.log.debug(
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
        q = Query(request.query, ("since", "until", "limit", "cursor"))
        page = await inbound_page(
            self.store,
            account,
            since=q.time("since"),
            until=q.time("until"),
            cursor=q.text("cursor"),
            limit=q.limit(),
        )
        body = {"inbound": [inbound_json(m) for m in page.replies], "next_cursor": page.next_cursor}
        return _json(body, headers=next_link(request, page.next_cursor))

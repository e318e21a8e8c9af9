"""The console's account pages: dashboard, replies, senders, tokens, credit.

Every handler works on the logged-in login's account only
(:func:`account_of`); what it shows comes from the store's operations, what it
changes goes through them too (the rules are theirs).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.accounting.journal import journal_csv
from gateway.console.auth import see_other
from gateway.console.keys import PAGE, SESSION
from gateway.console.render import Renderer
from gateway.ingress.senders import MAX_REQUEST_REASON, request_sender
from gateway.model.errors import UserError
from gateway.model.logins import ConsoleSession, LoginRole
from gateway.model.message import SenderKind
from gateway.store.accounts import TOKEN_NAME_MAX
from gateway.store.base import Store
from gateway.store.pages import journal_rows

RECENT = 5  # messages and replies on the dashboard
JOURNAL_ROWS = 100
REPLIES = 100


def session_of(request: web.Request) -> ConsoleSession:
    session: ConsoleSession | None = request.get(SESSION)
    if session is None:  # the middleware lets no such request through
        raise web.HTTPUnauthorized
    return session


def account_of(request: web.Request) -> str:
    return session_of(request).login.account


def operator_of(request: web.Request) -> str:
    """The operator's email; a 404 for a customer's login (the page does not exist)."""
    login = session_of(request).login
    if login.role is not LoginRole.OPERATOR:
        raise web.HTTPNotFound
    return login.email


def form_text(form: Any, name: str, *, limit: int = 2000) -> str:
    value = form.get(name, "")
    return value.strip()[:limit] if isinstance(value, str) else ""


class AccountPages:
    def __init__(self, *, store: Store, renderer: Renderer, logger: Any) -> None:
        self.store = store
        self.render = renderer
        self.log = logger

    def page(
        self, request: web.Request, name: str, template: str, context: dict[str, Any], **kw: Any
    ) -> web.Response:
        request[PAGE] = name
        return self.render.page(request, template, context, **kw)

    async def dashboard(self, request: web.Request) -> web.Response:
        if request.get(SESSION) is None:
            return self.render.page(request, "login.html", {"email": "", "error": ""})
        account = account_of(request)
        return self.page(
            request,
            "/",
            "dashboard.html",
            {
                "balance": await self.store.balance(account),
                "messages": await self.store.list_messages(account=account, limit=RECENT),
                "replies": await self.store.list_inbound(account=account, limit=RECENT),
            },
        )

    async def replies(self, request: web.Request) -> web.Response:
        account = account_of(request)
        rows = await self.store.list_inbound(account=account, limit=REPLIES)
        return self.page(request, "/replies", "replies.html", {"replies": rows})

    # --- senders ----------------------------------------------------------------

    async def senders(
        self, request: web.Request, *, error: str = "", status: int = 200
    ) -> web.Response:
        account = account_of(request)
        return self.page(
            request,
            "/senders",
            "senders.html",
            {
                "senders": await self.store.list_senders(account),
                "kinds": [k.value for k in SenderKind],
                "max_reason": MAX_REQUEST_REASON,
                "error": error,
            },
            status=status,
        )

    async def request_sender(self, request: web.Request) -> web.StreamResponse:
        account = account_of(request)
        form = await request.post()
        value = form_text(form, "value", limit=64)
        kind = form_text(form, "kind", limit=20)
        reason = form_text(form, "reason", limit=MAX_REQUEST_REASON + 1) or None
        try:
            if kind not in {k.value for k in SenderKind}:
                raise UserError(f"bad kind {kind!r}: alpha, shortcode or number")
            sender = await request_sender(
                self.store, account, value, kind=SenderKind(kind), reason=reason
            )
        except UserError as exc:
            return await self.senders(request, error=str(exc), status=400)
        self.log.info("console_sender_requested", account=account, sender=sender.value)
        return see_other(self.render.root + "/senders")

    # --- tokens -----------------------------------------------------------------

    async def tokens(
        self, request: web.Request, *, created: str = "", error: str = "", status: int = 200
    ) -> web.Response:
        account = account_of(request)
        return self.page(
            request,
            "/tokens",
            "tokens.html",
            {
                "tokens": await self.store.list_tokens(account),
                "created": created,
                "error": error,
                "max_name": TOKEN_NAME_MAX,
            },
            status=status,
        )

    async def create_token(self, request: web.Request) -> web.Response:
        account = account_of(request)
        form = await request.post()
        # empty: no name; one character past the limit, so that a long name is refused
        name = form_text(form, "name", limit=TOKEN_NAME_MAX + 1) or None
        try:
            record, token = await self.store.create_token(account, name=name)
        except UserError as exc:
            return await self.tokens(request, error=str(exc), status=400)
        self.log.info("console_token_created", account=account, token_id=record.id)
        return await self.tokens(request, created=token)

    async def revoke_token(self, request: web.Request) -> web.StreamResponse:
        account = account_of(request)
        raw = request.match_info["id"]
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
            raise web.HTTPNotFound
        record = await self.store.revoke_token(int(raw), account=account)  # NotFound: 404
        self.log.info("console_token_revoked", account=account, token_id=record.id)
        return see_other(self.render.root + "/tokens")

    # --- credit -----------------------------------------------------------------

    async def journal_csv(self, request: web.Request) -> web.Response:
        """The whole journal as CSV for an accountant (the same file as
        ``smsgw credit history --csv``)."""
        account = account_of(request)
        text = journal_csv(await journal_rows(self.store, await self.store.history(account)))
        return web.Response(
            text=text,
            content_type="text/csv",
            charset="utf-8",
            headers={"Content-Disposition": f'attachment; filename="journal-{account}.csv"'},
        )

"""The operators' pages (role operator, under ``/operator``): every account with
its credit, created and its limits set there (the rules of ``smsgw account
create`` and ``set``); the senders waiting for approval, approved or refused
there; the webhooks given up, tried again there (as ``smsgw webhook retry``).

A customer's login gets a 404 for these pages, as for a page that does not
exist. Approving and refusing go through the store's ``set_sender_status``
(its rules: one owner per number, the reason kept with a refusal).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.console.auth import see_other
from gateway.console.keys import PAGE
from gateway.console.pages import form_text, operator_of
from gateway.console.render import Renderer
from gateway.model.errors import UserError
from gateway.model.message import SenderStatus
from gateway.store.accounts import account_limits
from gateway.store.base import Store

# the failed webhooks listed (oldest first), as ``smsgw webhook list``'s default
WEBHOOK_ROWS = 100


class OperatorPages:
    def __init__(self, *, store: Store, renderer: Renderer, logger: Any) -> None:
        self.store = store
        self.render = renderer
        self.log = logger

    async def accounts(
        self, request: web.Request, *, error: str = "", status: int = 200
    ) -> web.Response:
        operator_of(request)
        request[PAGE] = "/operator/"
        accounts = await self.store.list_accounts()
        context = {"accounts": accounts, "error": error}
        return self.render.page(request, "operator_accounts.html", context, status=status)

    async def create_account(self, request: web.Request) -> web.StreamResponse:
        operator = operator_of(request)
        form = await request.post()
        try:
            account = await self.store.create_account(form_text(form, "account", limit=64))
        except UserError as exc:
            return await self.accounts(request, error=str(exc), status=400)
        self.log.info("console_account_created", operator=operator, account=account.name)
        return see_other(self.render.root + "/operator/")

    async def set_limits(self, request: web.Request) -> web.StreamResponse:
        operator = operator_of(request)
        form = await request.post()
        name = form_text(form, "account", limit=64)
        try:
            credit_limit, monthly_cap, alert_below = account_limits(
                form_text(form, "credit_limit", limit=40),
                form_text(form, "monthly_cap", limit=40),
                form_text(form, "alert_below", limit=40),
            )
            account = await self.store.set_account(
                name, credit_limit=credit_limit, monthly_cap=monthly_cap, alert_below=alert_below
            )
        except UserError as exc:
            return await self.accounts(request, error=f"{name}: {exc}", status=400)
        self.log.info(
            "console_account_set",
            operator=operator,
            account=account.name,
            credit_limit=account.credit_limit,
            monthly_cap=account.monthly_cap,
            alert_below=account.alert_below,
        )
        return see_other(self.render.root + "/operator/")

    async def webhooks(self, request: web.Request) -> web.Response:
        operator_of(request)
        request[PAGE] = "/operator/webhooks"
        rows = await self.store.list_webhooks(state="failed", limit=WEBHOOK_ROWS)
        return self.render.page(request, "operator_webhooks.html", {"webhooks": rows})

    async def retry_webhook(self, request: web.Request) -> web.StreamResponse:
        operator = operator_of(request)
        raw = request.match_info["id"]
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
            raise web.HTTPNotFound
        count = await self.store.retry_webhooks([int(raw)])
        self.log.info("console_webhook_retried", operator=operator, webhook=int(raw), count=count)
        return see_other(self.render.root + "/operator/webhooks")

    async def senders(
        self, request: web.Request, *, error: str = "", status: int = 200
    ) -> web.Response:
        operator_of(request)
        request[PAGE] = "/operator/senders"
        rows = []
        for account in await self.store.list_accounts():
            rows += await self.store.list_senders(account.name)
        rows.sort(key=lambda s: (s.status is not SenderStatus.PENDING, s.account, s.value))
        return self.render.page(
            request, "operator_senders.html", {"senders": rows, "error": error}, status=status
        )

    async def decide(self, request: web.Request) -> web.StreamResponse:
        operator = operator_of(request)
        form = await request.post()
        account = form_text(form, "account", limit=64)
        value = form_text(form, "value", limit=64)
        decision = form_text(form, "decision", limit=20)
        reason = form_text(form, "reason", limit=200) or None
        status = {"approve": SenderStatus.APPROVED, "refuse": SenderStatus.REFUSED}.get(decision)
        try:
            if status is None:
                raise UserError(f"bad decision {decision!r}: approve or refuse")
            await self.store.set_sender_status(account, value, status, reason=reason)
        except UserError as exc:
            return await self.senders(request, error=str(exc), status=400)
        self.log.info(
            "console_sender_decided",
            operator=operator,
            account=account,
            sender=value,
            status=status.value,
        )
        return see_other(self.render.root + "/operator/senders")

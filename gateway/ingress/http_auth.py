"""Whose a request's API token is (README: HTTP API): an account's, for that account's
own routes, or an operator's, for the operator routes (``/v1/accounts/{account}/...``).

- No token, a header that is not ``Bearer TOKEN``, an unknown or revoked token:
  401, with RFC 6750's challenge (gateway.ingress.http_errors).
- A token of the other kind: 403 ``forbidden``. An operator token is no
  account's, so it reaches no account's own routes (it would have to say
  which); an account's token never reaches the operator routes, whatever
  account the path names.
- On the operator routes the token is checked before the path's account is
  looked at, so that only an operator learns which accounts exist (an unknown
  one: 404).

What a handler is told is an :class:`Acting`: the account it acts on, and the
operator token acting on it, if any; its :meth:`~Acting.log_fields` put the
operator token's name and id in the handler's log events (never the token).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from gateway.ingress.http_errors import BadToken, Forbidden
from gateway.ingress.tokens import Owner, TokenCache
from gateway.model.errors import NotFound, Unauthorized
from gateway.model.records import OperatorToken
from gateway.store.accounts import ACCOUNT_NAME
from gateway.store.base import Store

__all__ = ["Acting", "Authenticator"]

_MAX_TOKEN = 256


@dataclass(frozen=True, slots=True, kw_only=True)
class Acting:
    """Who a request acts for: ``account``, by its own token (``operator`` None) or by
    an operator token."""

    account: str
    operator: OperatorToken | None = None

    def log_fields(self) -> dict[str, Any]:
        """The fields naming who did it, for a log event."""
        if self.operator is None:
            return {"account": self.account}
        return {
            "account": self.account,
            "operator": self.operator.name,
            "operator_token_id": self.operator.id,
        }


class Authenticator:
    """The owner of a request's ``Authorization: Bearer`` token, through ``tokens``;
    the accounts of the operator routes' paths in ``store``."""

    def __init__(self, *, tokens: TokenCache, store: Store) -> None:
        self.tokens = tokens
        self.store = store

    async def owner(self, request: web.Request) -> Owner:
        header = request.headers.get("Authorization")
        if header is None:
            raise Unauthorized("missing Authorization header: send 'Authorization: Bearer TOKEN'")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("the Authorization header must be 'Bearer TOKEN'")
        # tokens are printable ASCII; anything else (undecodable bytes...) cannot match
        known = token.isascii() and token.isprintable() and len(token) <= _MAX_TOKEN
        owner = await self.tokens.owner(token) if known else None
        if owner is None:
            raise BadToken("unknown or revoked API token: create one with `smsgw token create`")
        return owner

    async def account(self, request: web.Request) -> str:
        """The account of an account's token (401 without one; 403 for an operator's)."""
        owner = await self.owner(request)
        if isinstance(owner, OperatorToken):
            msg = (
                "an operator token acts on an account through /v1/accounts/{account}/... "
                "only: use the account's own token here"
            )
            raise Forbidden(msg)
        return owner

    async def as_account(self, request: web.Request) -> Acting:
        """An account acting on itself, by its own token."""
        return Acting(account=await self.account(request))

    async def operator(self, request: web.Request) -> OperatorToken:
        """The operator token of a request (401 without one; 403 for an account's)."""
        owner = await self.owner(request)
        if not isinstance(owner, OperatorToken):
            msg = (
                "this route is for operator tokens (`smsgw token create --operator NAME`); "
                "an account's token reaches its own routes only"
            )
            raise Forbidden(msg)
        return owner

    async def on_account(self, request: web.Request) -> Acting:
        """An operator token acting on the path's ``{account}`` (404 when there is none)."""
        operator = await self.operator(request)
        name = request.match_info["account"]
        if not ACCOUNT_NAME.match(name):
            shown = name if len(name) <= 20 else name[:20] + "…"
            raise NotFound(f"unknown account {shown!r}")
        await self.store.get_account(name)  # NotFound: unknown account
        return Acting(account=name, operator=operator)

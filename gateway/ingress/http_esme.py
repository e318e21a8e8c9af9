"""The /v1 handlers of an account's SMPP credentials (README: HTTP API, SMPP server).

``GET /v1/esme`` lists the token's account's credentials (never a password
or its hash); ``POST /v1/esme`` ``{"system_id": "acme1", "max_binds": 2,
"throughput": 50, "allow": ["192.0.2.0/24"], "options": ["latin1"]}`` creates
one (201) and answers its generated password, in this answer only;
``POST /v1/esme/{system_id}/password`` gives it a new one (binds already
open stay, new binds need the new password), also answered once;
``DELETE /v1/esme/{system_id}`` removes it (new binds refused at once).
Operators have the same four under ``/v1/accounts/{account}/esme``, with an
operator token (gateway.ingress.http_auth): the same handlers, on the path's
account, their log events naming the operator token.

This module reads JSON types only: what a system_id may be, the ranges of
``max_binds`` and ``throughput``, the addresses and the options are the
store's rules (gateway.store.esme_credentials), which ``smsgw esme`` and the
console's SMPP page go through too. Another account's system_id is a 404,
as a missing one; a system_id is unique over every account (the bind names
no account), so creating one another account holds is a 409. Passwords are
neither logged nor kept: only their scrypt hash is stored.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from gateway.ingress.http_auth import Acting
from gateway.ingress.http_query import Query
from gateway.ingress.http_schema import iso_time, json_kind, json_object
from gateway.model.errors import MissingField, NotFound, WrongType
from gateway.model.esme import EsmeCredential
from gateway.store.base import Store

__all__ = ["ESME_FIELDS", "EsmeApi", "EsmeRequest", "esme_json", "parse_esme_request"]

ESME_FIELDS = ("system_id", "max_binds", "throughput", "allow", "options")


def esme_json(c: EsmeCredential) -> dict[str, Any]:
    return {
        "account": c.account,
        "system_id": c.system_id,
        "max_binds": c.max_binds,
        "throughput": c.throughput,
        "allow": list(c.allow),
        "options": list(c.options),
        "created_at": iso_time(c.created_at),
    }


def _strings(body: dict[str, Any], field: str) -> list[str]:
    value = body.get(field)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise WrongType(field, "an array of strings", json_kind(value))
    return value


def _whole(body: dict[str, Any], field: str) -> int | None:
    value = body.get(field)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise WrongType(field, "an integer or null", json_kind(value))
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class EsmeRequest:
    """``POST /v1/esme``'s body, of the JSON types the store's rules take."""

    system_id: str
    max_binds: int
    throughput: int | None
    allow: list[str]
    options: list[str]


def parse_esme_request(data: bytes) -> EsmeRequest:
    body = json_object(data, ESME_FIELDS)
    if "system_id" not in body:
        raise MissingField("system_id")
    system_id = body["system_id"]
    if not isinstance(system_id, str):
        raise WrongType("system_id", "a string", json_kind(system_id))
    max_binds = _whole(body, "max_binds")
    return EsmeRequest(
        system_id=system_id,
        max_binds=1 if max_binds is None else max_binds,
        throughput=_whole(body, "throughput"),
        allow=_strings(body, "allow"),
        options=_strings(body, "options"),
    )


class EsmeApi:
    """``authenticate`` gives the account a request acts on, and who acts (401 or 403
    otherwise); ``read_body`` its body within the API's limits."""

    def __init__(
        self,
        *,
        store: Store,
        authenticate: Callable[[web.Request], Awaitable[Acting]],
        read_body: Callable[[web.Request], Awaitable[bytes]],
        logger: Any,
    ) -> None:
        self.store = store
        self.authenticate = authenticate
        self.read_body = read_body
        self.log = logger

    async def list(self, request: web.Request) -> web.Response:
        acting = await self.authenticate(request)
        Query(request.query, ())
        found = await self.store.list_esme_credentials(acting.account)
        return web.json_response({"credentials": [esme_json(c) for c in found]})

    async def create(self, request: web.Request) -> web.Response:
        acting = await self.authenticate(request)
        Query(request.query, ())
        asked = parse_esme_request(await self.read_body(request))
        credential, password = await self.store.create_esme_credential(
            acting.account,
            asked.system_id,
            max_binds=asked.max_binds,
            throughput=asked.throughput,
            allow=asked.allow,
            options=asked.options,
        )
        self.log.info("esme_credential_created", **acting.log_fields(), system_id=asked.system_id)
        return web.json_response({**esme_json(credential), "password": password}, status=201)

    async def password(self, request: web.Request) -> web.Response:
        acting = await self.authenticate(request)
        Query(request.query, ())
        system_id = request.match_info["system_id"]
        try:
            password = await self.store.set_esme_password(acting.account, system_id)
        except NotFound:
            raise _not_found(system_id, acting) from None
        self.log.info("esme_password_changed", **acting.log_fields(), system_id=system_id)
        return web.json_response(
            {"account": acting.account, "system_id": system_id, "password": password}
        )

    async def remove(self, request: web.Request) -> web.Response:
        acting = await self.authenticate(request)
        Query(request.query, ())
        system_id = request.match_info["system_id"]
        try:
            credential = await self.store.remove_esme_credential(acting.account, system_id)
        except NotFound:
            raise _not_found(system_id, acting) from None
        self.log.info("esme_credential_removed", **acting.log_fields(), system_id=system_id)
        return web.json_response({**esme_json(credential), "removed": True})


def _not_found(system_id: str, acting: Acting) -> NotFound:
    shown = system_id if len(system_id) <= 20 else system_id[:20] + "…"
    if acting.operator is None:
        return NotFound(f"no ESME credential {shown!r} of this account (GET /v1/esme)")
    where = f"/v1/accounts/{acting.account}/esme"
    return NotFound(f"no ESME credential {shown!r} of account {acting.account!r} (GET {where})")

"""The real API against its OpenAPI document (gateway/ingress/openapi.json): the
application has exactly the routes it describes, and every answer to requests
good and bad, over a loopback socket, has a documented status and content type
and validates against the documented schema (jsonschema, draft 2020-12: the
schema dialect of OpenAPI 3.1). Every documented operation is called, and every
status it documents but 408, 500 and 503 (a body too slow, a bug, a store
down: tested in test_http_limits.py, test_http.py and tests/e2e/test_daemons.py)
is seen."""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import jsonschema
import pytest
from aiohttp import web

from gateway.ingress.http_openapi import openapi_document
from gateway.model.message import SenderKind
from tests.gateway.ingress.conftest import Client, Env

FR = "+33612345678"
BE = "+32470123456"
NOT_SEEN = {"408", "500", "503"}
DOCUMENT = openapi_document()
METHODS = ("get", "post", "put", "patch", "delete")


def _operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in DOCUMENT["paths"].items():
        for method in METHODS:
            if method in item:
                yield method.upper(), path, item[method]


OPERATIONS = {(m, p): op for m, p, op in _operations()}


FORMATS = jsonschema.FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    """RFC 3339 as the API writes it: ISO 8601 with a time zone (jsonschema checks
    date-time only with an extra package)."""
    if not isinstance(value, str):
        return True
    when = dt.datetime.fromisoformat(value)
    return "T" in value and when.utcoffset() is not None


def _validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    # references are "#/components/...": resolved against a root that holds them
    root = {**schema, "components": DOCUMENT["components"]}
    return jsonschema.Draft202012Validator(root, format_checker=FORMATS)


@dataclass
class Checker:
    client: Client
    env: Env
    seen: set[tuple[str, str, str]] = field(default_factory=set)

    async def call(
        self,
        method: str,
        route: str,
        path: str | None = None,
        *,
        token: str | None = "",
        body: Any = None,
        raw: bytes | None = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """Call ``route`` (as documented) at ``path`` and check the answer against it."""
        operation = OPERATIONS[(method, route)]
        sent = dict(headers or {})
        if token is not None:
            sent.update(self.env.auth(token or None))
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        resp = await self.client.request(
            method, path or route, data=data, params=params, headers=sent
        )
        status = str(resp.status)
        responses = operation["responses"]
        assert status in responses, f"{method} {route}: {status} not documented"
        content = responses[status].get("content", {})
        assert resp.content_type in content, f"{method} {route}: {resp.content_type}"
        schema = content[resp.content_type]["schema"]
        value: Any = await resp.json() if resp.content_type == "application/json" else None
        if value is None:
            value = await resp.text()
        _validator(schema).validate(value)
        for name in responses[status].get("headers", {}):
            assert name not in resp.headers or resp.headers[name]
        self.seen.add((method, route, status))
        return resp.status, value


@pytest.fixture
def checker(client: Client, env: Env) -> Checker:
    return Checker(client=client, env=env)


def test_the_document_is_openapi_31_with_valid_schemas() -> None:
    assert DOCUMENT["openapi"].startswith("3.1")
    for schema in DOCUMENT["components"]["schemas"].values():
        jsonschema.Draft202012Validator.check_schema(schema)  # raises, naming the error
    for (method, path), op in OPERATIONS.items():
        assert op["responses"], (method, path)
        for param in op.get("parameters", []):
            if param["in"] == "path":
                assert f"{{{param['name']}}}" in path


def test_the_app_has_exactly_the_documented_routes(app: web.Application) -> None:
    routes = {
        (r.method, r.resource.canonical)
        for r in app.router.routes()
        if r.resource is not None and r.method != "HEAD"
    }
    assert routes == set(OPERATIONS)


async def test_openapi_json_is_the_document(checker: Checker) -> None:
    _, body = await checker.call("GET", "/openapi.json", token=None)
    assert body == DOCUMENT


async def _send_and_messages(c: Checker, env: Env) -> str:
    route = "/v1/messages"
    status, sent = await c.call("POST", route, body={"from": "ACME", "to": [FR], "text": "hi"})
    assert status == 202
    await c.call("POST", route, body={"from": "ACME", "to": [FR], "text": "x", "validity": 0})
    await c.call("POST", route, token="nope", body={})
    await c.call("POST", route, token=env.poor_token, body={"from": "POOR", "to": FR, "text": "a"})
    await c.call("POST", route, body={"from": "NOBODY", "to": FR, "text": "a"})
    await c.call("POST", route, body={"from": "ACME", "to": FR, "text": "a", "client_ref": "r"})
    await c.call("POST", route, body={"from": "ACME", "to": FR, "text": "b", "client_ref": "r"})
    await c.call("POST", route, raw=b"{" + b" " * 70_000 + b"}")
    await c.call("GET", route, params={"limit": "1"})
    await c.call("GET", route, params={"status": "queued", "since": "2026-01-01T00:00:00Z"})
    await c.call("GET", route, params={"limit": "-1"})
    await c.call("GET", route, token=None)
    message_id: str = sent["messages"][0]["id"]
    return message_id


async def _message(c: Checker, message_id: str) -> None:
    one, cancel = "/v1/messages/{id}", "/v1/messages/{id}/cancel"
    await c.call("GET", one, f"/v1/messages/{message_id}")
    await c.call("GET", one, "/v1/messages/NOSUCH")
    await c.call("GET", one, f"/v1/messages/{message_id}", token=None)
    await c.call("POST", cancel, f"/v1/messages/{message_id}/cancel")
    await c.call("POST", cancel, f"/v1/messages/{message_id}/cancel")
    await c.call("POST", cancel, "/v1/messages/NOSUCH/cancel")
    await c.call("POST", cancel, f"/v1/messages/{message_id}/cancel", token=None)


async def _quote(c: Checker, env: Env) -> None:
    route = "/v1/quote"
    await c.call("POST", route, body={"from": "ACME", "to": [FR, "+4915112345678"], "text": "é"})
    await c.call("POST", route, body={"from": "ACME", "to": [FR]})
    await c.call("POST", route, token=None, body={})
    await c.call(
        "POST", route, token=env.poor_token, body={"from": "PENDING", "to": FR, "text": "a"}
    )
    await c.call("POST", route, raw=b"[" + b" " * 70_000 + b"]")


async def _account(c: Checker, env: Env) -> None:
    for route in ("/v1/balance", "/v1/inbound", "/v1/journal", "/v1/senders", "/v1/tokens"):
        await c.call("GET", route)
        await c.call("GET", route, token=None)
    for route in ("/v1/inbound", "/v1/journal", "/v1/senders", "/v1/tokens"):
        await c.call("GET", route, params={"limit": "many"})
    await c.call("GET", "/v1/journal", params={"format": "csv", "limit": "1"})
    await c.call("GET", "/v1/journal", headers={"Accept": "text/csv"})
    senders = "/v1/senders"
    await c.call("POST", senders, body={"value": "NEWNAME", "reason": "a shop"})
    await c.call("POST", senders, body={"value": "NEWNAME"})
    await c.call("POST", senders, body={"value": ""})
    await c.call("POST", senders, token=None, body={"value": "X"})
    await c.call("POST", senders, raw=b'"' + b"x" * 70_000 + b'"')
    record, _ = await env.store.create_token("acme", name="crm")
    await c.call("GET", "/v1/tokens")  # a named one and the unnamed one
    token = "/v1/tokens/{id}"
    await c.call("DELETE", token, f"/v1/tokens/{record.id}")
    await c.call("DELETE", token, f"/v1/tokens/{record.id}")
    await c.call("DELETE", token, "/v1/tokens/x")
    await c.call("DELETE", token, "/v1/tokens/1", token=None)


async def _orders_and_stoplist(c: Checker, env: Env) -> None:
    orders = "/v1/orders"
    status, order = await c.call("POST", orders, body={"credits": 500})
    assert (status, order["status"]) == (201, "pending")
    await c.call("POST", orders, body={"credits": 1})
    await c.call("POST", orders, token=None, body={"credits": 500})
    await c.call("POST", orders, raw=b"{" + b" " * 70_000 + b"}")
    _, listed = await c.call("GET", orders, params={"status": "pending", "limit": "5"})
    assert [o["id"] for o in listed["orders"]] == [order["id"]]
    await c.call("GET", orders, params={"limit": "0"})
    await c.call("GET", orders, token=None)
    cancel = "/v1/orders/{id}/cancel"
    _, cancelled = await c.call("POST", cancel, f"/v1/orders/{order['id']}/cancel")
    assert cancelled["status"] == "cancelled"
    await c.call("POST", cancel, f"/v1/orders/{order['id']}/cancel")
    await c.call("POST", cancel, "/v1/orders/x/cancel")
    await c.call("POST", cancel, f"/v1/orders/{order['id']}/cancel", token=None)
    await env.store.add_stop("acme", FR)
    _, stops = await c.call("GET", "/v1/stoplist")
    assert [s["number"] for s in stops["stoplist"]] == [FR]
    status, unknown = await c.call("GET", "/v1/stoplist", params={"sinse": "x"})
    assert (status, unknown["error"]) == (400, "unknown_parameter")
    await c.call("GET", "/v1/stoplist", token=None)
    # a stopped recipient is refused (one of several), or the whole send (the only one)
    _, sent = await c.call(
        "POST", "/v1/messages", body={"from": "ACME", "to": [FR, BE], "text": "a"}
    )
    assert [r["error"] for r in sent["refused"]] == ["stopped"]
    status, refused = await c.call(
        "POST", "/v1/messages", body={"from": "ACME", "to": FR, "text": "a"}
    )
    assert (status, refused["error"]) == (400, "stopped")
    _, quote = await c.call("POST", "/v1/quote", body={"from": "ACME", "to": [FR, BE], "text": "a"})
    assert [r["error"] for r in quote["refused"]] == ["stopped"]


async def _esme(c: Checker, env: Env) -> None:
    route = "/v1/esme"
    status, made = await c.call("POST", route, body={"system_id": "acme1", "allow": ["::1"]})
    assert (status, len(made["password"])) == (201, 8)
    await c.call("POST", route, body={"system_id": "acme1"})
    await c.call("POST", route, body={"system_id": "a b"})
    await c.call("POST", route, token=None, body={"system_id": "acme2"})
    await c.call("POST", route, raw=b"{" + b" " * 70_000 + b"}")
    _, listed = await c.call("GET", route)
    assert [e["system_id"] for e in listed["credentials"]] == ["acme1"]
    await c.call("GET", route, params={"limit": "1"})
    await c.call("GET", route, token=None)
    password = "/v1/esme/{system_id}/password"
    await c.call("POST", password, "/v1/esme/acme1/password")
    await c.call("POST", password, "/v1/esme/ghost/password")
    await c.call("POST", password, "/v1/esme/acme1/password", params={"x": "1"})
    await c.call("POST", password, "/v1/esme/acme1/password", token=None)
    one = "/v1/esme/{system_id}"
    _, removed = await c.call("DELETE", one, "/v1/esme/acme1")
    assert removed["removed"] is True
    await c.call("DELETE", one, "/v1/esme/acme1")
    await c.call("DELETE", one, "/v1/esme/acme1", params={"x": "1"})
    await c.call("DELETE", one, "/v1/esme/acme1", token=None)


async def _operator_esme(c: Checker, env: Env) -> None:
    ops = env.operator_token
    route, path = "/v1/accounts/{account}/esme", "/v1/accounts/other/esme"
    status, made = await c.call("POST", route, path, token=ops, body={"system_id": "other9"})
    assert (status, made["account"], len(made["password"])) == (201, "other", 8)
    await c.call("POST", route, path, token=ops, body={"system_id": "other9"})
    await c.call("POST", route, path, token=ops, body={"system_id": "a b"})
    await c.call("POST", route, "/v1/accounts/ghost/esme", token=ops, body={"system_id": "g1"})
    await c.call("POST", route, path, token=None, body={"system_id": "other8"})
    await c.call("POST", route, path, body={"system_id": "other8"})
    await c.call("POST", route, path, token=ops, raw=b"{" + b" " * 70_000 + b"}")
    _, listed = await c.call("GET", route, path, token=ops)
    assert [e["system_id"] for e in listed["credentials"]] == ["other9"]
    await c.call("GET", route, path, token=ops, params={"limit": "1"})
    await c.call("GET", route, "/v1/accounts/ghost/esme", token=ops)
    await c.call("GET", route, path, token=None)
    await c.call("GET", route, path)
    for method, route, tail in (
        ("POST", "/v1/accounts/{account}/esme/{system_id}/password", "/password"),
        ("DELETE", "/v1/accounts/{account}/esme/{system_id}", ""),
    ):
        one = f"{path}/other9{tail}"
        await c.call(method, route, one, token=ops, params={"x": "1"})
        await c.call(method, route, one, token=None)
        await c.call(method, route, one)
        await c.call(method, route, f"{path}/ghost{tail}", token=ops)
        await c.call(method, route, f"/v1/accounts/ghost/esme/other9{tail}", token=ops)
        status, _ = await c.call(method, route, one, token=ops)
        assert status == 200
    assert await env.store.list_esme_credentials() == []


async def _operator_token_on_account_routes(c: Checker, env: Env) -> None:
    """An operator token on every account's own route: 403, whatever the body."""
    for (method, route), op in OPERATIONS.items():
        if op.get("security") == [{"bearer": []}]:
            path = route.replace("{id}", "1").replace("{system_id}", "acme1")
            status, answer = await c.call(
                method, route, path, token=env.operator_token, body={"system_id": "acme9"}
            )
            assert (status, answer["error"]) == (403, "forbidden"), (method, route)


async def _operations_pages(c: Checker, env: Env) -> None:
    for route in ("/metrics", "/healthz", "/readyz", "/links", "/esme"):
        await c.call("GET", route, token=None)
    env.ready = False
    await c.call("GET", "/readyz", token=None)


async def test_every_documented_answer_is_given_as_documented(checker: Checker, env: Env) -> None:
    await env.store.add_sender("acme", "WAITING", SenderKind.ALPHA)
    message_id = await _send_and_messages(checker, env)
    await _message(checker, message_id)
    await _quote(checker, env)
    await _account(checker, env)
    await _orders_and_stoplist(checker, env)
    await _esme(checker, env)
    await _operator_esme(checker, env)
    await _operator_token_on_account_routes(checker, env)
    await _operations_pages(checker, env)
    await checker.call("GET", "/openapi.json", token=None)
    documented = {
        (m, p, s) for (m, p), op in OPERATIONS.items() for s in op["responses"] if s not in NOT_SEEN
    }
    assert documented - checker.seen == set()


def _mutations(rng: random.Random) -> Iterator[Any]:
    """Send bodies good and broken: fields dropped, of the wrong type, unknown, odd text."""
    good: dict[str, Any] = {"from": "ACME", "to": [FR], "text": "hello"}
    odd: list[Any] = [None, 0, -1, 2**70, 1.5, True, "", " ", "\u0000", "é" * 300, [], {}, [1]]
    fields = ["from", "to", "text", "class", "send_at", "validity", "priority", "client_ref",
              "callback_url", "phonebook", "extra"]  # fmt: skip
    for _ in range(60):
        body = dict(good)
        for _ in range(rng.randint(1, 3)):
            name = rng.choice(fields)
            if rng.random() < 0.2:
                body.pop(name, None)
            else:
                body[name] = rng.choice(odd)
        yield body
    yield from (b"", b"{", b"\xff", b"[]", b"null", b'{"from": "ACME", "from": "ACME"}')


async def test_broken_sends_and_quotes_answer_as_documented(checker: Checker) -> None:
    rng = random.Random(20261207)  # the same bodies every run
    for body in _mutations(rng):
        for route in ("/v1/quote", "/v1/messages"):
            if isinstance(body, bytes):
                status, answer = await checker.call("POST", route, raw=body)
            else:
                status, answer = await checker.call("POST", route, body=body)
            if status >= 400:
                assert set(answer) <= {"error", "detail", "messages", "refused"}

"""GET /esme: the ESMEs bound to the daemon's SMPP server, as documented, naming the daemon."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable

import jsonschema
import structlog
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from gateway.ingress.http import build_app
from gateway.ingress.http_openapi import openapi_document
from gateway.ingress.http_operations import LocalOperations
from gateway.ingress.pipeline import SendService
from gateway.model.esme import EsmeBind
from tests.gateway.ingress.conftest import Client, Env

BIND = EsmeBind(
    system_id="acme1",
    account="acme",
    bind_type="transceiver",
    peer="192.0.2.7",
    peer_port=40001,
    tls=True,
    bound_at=1_796_000_000.0,
    in_flight=3,
)


async def _client(env: Env, esme: Callable[[], Iterable[EsmeBind]] | None) -> AsyncIterator[Client]:
    log = structlog.get_logger()
    app = build_app(
        store=env.store,
        send_service=SendService(store=env.store, log=log),
        operations=LocalOperations(CollectorRegistry(), esme=esme),
        readiness=env.readiness,
        logger=log,
        daemon="gw-a",
    )
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as c:
        yield c


def _check(doc: object) -> None:
    document = openapi_document()
    schema = {"$ref": "#/components/schemas/EsmeBinds", "components": document["components"]}
    jsonschema.Draft202012Validator(schema).validate(doc)


async def test_esme_lists_each_bind_without_authentication(env: Env) -> None:
    async for client in _client(env, lambda: [BIND]):
        resp = await client.get("/esme")  # no token: an operators' page, like /links
        assert resp.status == 200
        doc = await resp.json()
    _check(doc)
    assert doc == {
        "daemon": "gw-a",
        "smpp_server": True,
        "binds": [
            {
                "system_id": "acme1",
                "account": "acme",
                "bind_type": "transceiver",
                "peer": "192.0.2.7",
                "peer_port": 40001,
                "tls": True,
                "bound_since": "2026-11-30T00:53:20Z",
                "in_flight": 3,
            }
        ],
    }


async def test_esme_without_an_smpp_server_says_so(env: Env) -> None:
    async for client in _client(env, None):
        resp = await client.get("/esme")
        doc = await resp.json()
    _check(doc)
    assert doc == {"daemon": "gw-a", "smpp_server": False, "binds": []}

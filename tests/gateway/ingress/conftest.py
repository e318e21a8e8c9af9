"""Fixtures for the HTTP API: a real SQLite store, the app on a loopback socket, the
SMPP server on the same store (the credentials the API makes bind there)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from drivers.smpp.server.listener import SmppServer
from drivers.smpp.server.settings import ServerSettings
from gateway.ingress.esme import EsmeIngress
from gateway.ingress.http import build_app
from gateway.ingress.pipeline import SendService
from gateway.model.message import SenderKind, SenderStatus
from gateway.ops.metrics import Metrics
from gateway.store.sqlite.store import SqliteStore
from tests.gateway.store.support import open_sqlite

Client = TestClient[web.Request, web.Application]


@dataclass(kw_only=True)
class Env:
    """What a test needs besides the client: the store, tokens, the readiness switch."""

    store: SqliteStore
    registry: CollectorRegistry
    token: str  # account "acme": 100 credits, approved sender "ACME", price 1 per segment
    other_token: str  # account "other": approved sender "OTHER"
    poor_token: str  # account "poor": no credit, approved sender "POOR", "PENDING" pending
    operator_token: str  # an operator's, named "ops": any account's operator routes
    ready: bool = True
    readiness_error: Exception | None = None
    details: dict[str, Any] = field(default_factory=lambda: {"links_bound": 1})

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}"}

    async def readiness(self) -> tuple[bool, dict[str, Any]]:
        if self.readiness_error is not None:
            raise self.readiness_error
        return self.ready, self.details


async def _account(store: SqliteStore, name: str, sender: str, credit: int) -> str:
    await store.create_account(name)
    if credit:
        await store.topup(name, credit, reference=f"init-{name}")
    await store.add_sender(name, sender, SenderKind.ALPHA)
    await store.set_sender_status(name, sender, SenderStatus.APPROVED)
    _, token = await store.create_token(name)
    return token


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    store = await open_sqlite(tmp_path / "gw.db")
    # priced: France and Belgium; Germany (+49) has no price
    await store.set_price("+33", 1)
    await store.set_price("+32", 2)
    token = await _account(store, "acme", "ACME", 100)
    other = await _account(store, "other", "OTHER", 100)
    poor = await _account(store, "poor", "POOR", 0)
    await store.add_sender("poor", "PENDING", SenderKind.ALPHA)
    _, operator = await store.create_operator_token("ops")
    yield Env(
        store=store,
        registry=CollectorRegistry(),
        token=token,
        other_token=other,
        poor_token=poor,
        operator_token=operator,
    )
    await store.close()


@pytest.fixture
def app(env: Env) -> web.Application:
    log = structlog.get_logger()
    return build_app(
        store=env.store,
        send_service=SendService(store=env.store, log=log),
        registry=env.registry,
        readiness=env.readiness,
        logger=log,
        metrics=Metrics(registry=env.registry),
        max_body=64 * 1024,
    )


@pytest.fixture
async def client(app: web.Application) -> AsyncIterator[Client]:
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as c:
        yield c


class NoDeliveries:
    def attach(self, target: Any) -> None:
        pass

    def detach(self, target: Any) -> None:
        pass


@pytest.fixture
async def smpp_port(env: Env) -> AsyncIterator[int]:
    """The SMPP server on the API's store (binds checked there), on a free port."""
    send = SendService(store=env.store, log=structlog.get_logger())
    server = SmppServer(
        settings=ServerSettings(listen=(("127.0.0.1", 0),)),
        gateway=EsmeIngress(store=env.store, send=send),
        deliveries=NoDeliveries(),
        log=structlog.get_logger(),
    )
    await server.start()
    try:
        yield server.addresses[0][1]
    finally:
        await server.stop()

"""schemathesis against the running API over a real socket: requests generated from
gateway/ingress/openapi.json, valid ones and invalid ones, each answer checked for
a documented status, content type, headers and schema, no 5xx, and every request
that breaks the document refused with a 4xx. Deterministic (derandomized, no
example database) and bounded in examples.

The app runs on its own event loop in a thread (schemathesis calls it with
``requests``, synchronously); its SQLite store is opened on that loop. Revoking
tokens is left out of the generated calls (a random id would revoke the token the
calls use); test_openapi.py and test_http_account.py call it. The operator routes
are called with an operator token, the others with the account's.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
import structlog
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from gateway.ingress.http import build_app
from gateway.ingress.http_openapi import openapi_document
from gateway.ingress.pipeline import SendService
from gateway.model.message import SenderKind, SenderStatus
from gateway.store.sqlite.store import SqliteStore
from tests.gateway.store.support import open_sqlite

SCHEMA = schemathesis.openapi.from_dict(openapi_document()).exclude(operation_id="revokeToken")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
EXAMPLES = 100  # per generation mode


class Served:
    """The API on 127.0.0.1 (a free port), on an event loop of its own thread."""

    def __init__(self, directory: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="api", daemon=True)
        self.thread.start()
        self.token = ""
        self.operator_token = ""
        self.base = ""
        self._runner: web.AppRunner | None = None
        self._store: SqliteStore | None = None
        asyncio.run_coroutine_threadsafe(self._start(directory), self.loop).result(30)

    async def _start(self, directory: Path) -> None:
        store = await open_sqlite(directory / "gw.db")
        self._store = store
        await store.set_price("+33", 1)
        await store.create_account("acme")
        await store.topup("acme", 1000, reference="init")
        await store.add_sender("acme", "ACME", SenderKind.ALPHA)
        await store.set_sender_status("acme", "ACME", SenderStatus.APPROVED)
        _, self.token = await store.create_token("acme")
        _, self.operator_token = await store.create_operator_token("ops")
        log = structlog.get_logger()
        app = build_app(
            store=store,
            send_service=SendService(store=store, log=log),
            readiness=self._ready,
            logger=log,
            max_body=64 * 1024,
        )
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base = f"http://127.0.0.1:{port}"

    async def _ready(self) -> tuple[bool, dict[str, Any]]:
        return True, {"links_bound": 1}

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._store is not None:
            await self._store.close()

    def headers(self, case: Any) -> dict[str, str]:
        """The token of the kind ``case``'s route takes."""
        operators = "operatorToken" in str(case.operation.definition.raw.get("security"))
        return {"Authorization": f"Bearer {self.operator_token if operators else self.token}"}

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    server = Served(tmp_path_factory.mktemp("fuzz"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)


@SETTINGS
@given(case=SCHEMA.as_strategy(GenerationMode.POSITIVE))
def test_valid_requests_answer_as_documented(
    served: Served, session: requests.Session, case: Any
) -> None:
    headers = served.headers(case)
    response = case.call(base_url=served.base, session=session, headers=headers)
    case.validate_response(response, checks=CHECKS, headers=headers)


@SETTINGS
@given(case=SCHEMA.as_strategy(GenerationMode.NEGATIVE))
def test_invalid_requests_are_refused_as_documented(
    served: Served, session: requests.Session, case: Any
) -> None:
    headers = served.headers(case)
    response = case.call(base_url=served.base, session=session, headers=headers)
    case.validate_response(response, checks=[*CHECKS, negative_data_rejection], headers=headers)

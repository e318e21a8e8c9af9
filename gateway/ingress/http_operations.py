"""The HTTP API's operators' pages: /metrics, /links, /esme, /healthz and /readyz.

No authentication, like any scrape target: serve them on a private address.
In the daemon they show its own registry, links and the ESMEs bound to its
SMPP server (:class:`LocalOperations`); in a worker process, the daemon's
answers relayed (gateway.runtime).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from gateway.link.interface import LinkHealth
from gateway.model.esme import EsmeBind
from gateway.model.isotime import iso_utc

__all__ = [
    "LocalOperations",
    "Operations",
    "OperationsPages",
    "Readiness",
    "esme_bind_json",
    "link_json",
]

Readiness = Callable[[], Awaitable[tuple[bool, dict[str, Any]]]]


class Operations(Protocol):
    """What /metrics, /links and /esme show: the daemon's own registry, links and
    binds (:class:`LocalOperations`), or, in a worker process, the daemon's
    answers relayed (gateway.runtime.worker)."""

    async def metrics_text(self) -> bytes: ...

    async def links(self) -> list[dict[str, Any]]: ...

    async def esme(self) -> dict[str, Any]:
        """``{"smpp_server": bool, "binds": [esme_bind_json...]}``."""


class LocalOperations:
    """/metrics, /links and /esme of the process that runs the links, the SMPP
    server and owns the registry; ``esme`` None: no SMPP server runs here."""

    def __init__(
        self,
        registry: CollectorRegistry,
        links: Callable[[], Iterable[LinkHealth]] | None = None,
        *,
        esme: Callable[[], Iterable[EsmeBind]] | None = None,
    ) -> None:
        self._registry = registry
        self._links = links
        self._esme = esme

    async def metrics_text(self) -> bytes:
        return await asyncio.to_thread(generate_latest, self._registry)

    async def links(self) -> list[dict[str, Any]]:
        return [link_json(h) for h in (self._links or list)()]

    async def esme(self) -> dict[str, Any]:
        if self._esme is None:
            return {"smpp_server": False, "binds": []}
        return {"smpp_server": True, "binds": [esme_bind_json(b) for b in self._esme()]}


def link_json(h: LinkHealth) -> dict[str, Any]:
    return {
        "name": h.name,
        "driver": h.driver,
        "up": h.up,
        "bound": h.bound,
        "in_flight": h.in_flight,
        "window": h.window,
        "throttled": h.throttled,
        "detail": h.detail,
        "counters": dict(h.counters),
        "gauges": dict(h.gauges),
    }


def esme_bind_json(b: EsmeBind) -> dict[str, Any]:
    return {
        "system_id": b.system_id,
        "account": b.account,
        "bind_type": b.bind_type,
        "peer": b.peer,
        "peer_port": b.peer_port,
        "tls": b.tls,
        "bound_since": iso_utc(b.bound_at),
        "in_flight": b.in_flight,
    }


class OperationsPages:
    """The handlers; ``readiness`` answers /readyz within ``readiness_timeout`` seconds."""

    def __init__(
        self,
        *,
        operations: Operations,
        readiness: Readiness,
        readiness_timeout: float,
        logger: Any,
        daemon: str | None = None,
    ) -> None:
        self.operations = operations
        # the daemon's worker name: with several daemons, which one the pages describe
        self.daemon = {"daemon": daemon} if daemon is not None else {}
        self.readiness = readiness
        self.readiness_timeout = readiness_timeout
        self.log = logger

    async def metrics_page(self, _request: web.Request) -> web.Response:
        body = await self.operations.metrics_text()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def links_page(self, _request: web.Request) -> web.Response:
        return web.json_response({**self.daemon, "links": await self.operations.links()})

    async def esme_page(self, _request: web.Request) -> web.Response:
        return web.json_response({**self.daemon, **await self.operations.esme()})

    async def healthz(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(self, _request: web.Request) -> web.Response:
        try:
            async with asyncio.timeout(self.readiness_timeout):
                ready, details = await self.readiness()
        except Exception as exc:  # noqa: BLE001 - any failure of the check means not ready
            self.log.warning("http_readiness_failed", error=type(exc).__name__)
            return web.json_response(
                {"status": "not_ready", **self.daemon, "error": type(exc).__name__}, status=503
            )
        return web.json_response(
            {"status": "ready" if ready else "not_ready", **self.daemon, **details},
            status=200 if ready else 503,
        )

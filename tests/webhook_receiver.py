"""A webhook receiver on loopback for tests: records what it is sent, answers as told."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from aiohttp import web

from gateway.events.webhooks import SIGNATURE_HEADER


@dataclass
class Receiver:
    url: str = ""
    seen: list[tuple[bytes, str]] = field(default_factory=list)  # (body, signature header)
    answers: list[int] = field(default_factory=list)  # statuses to answer in turn; then 200


@contextlib.asynccontextmanager
async def webhook_receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()

    async def hook(request: web.Request) -> web.Response:
        receiver.seen.append((await request.read(), request.headers.get(SIGNATURE_HEADER, "")))
        return web.Response(status=receiver.answers.pop(0) if receiver.answers else 200)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]  # (host, port) of the one site
    receiver.url = f"http://127.0.0.1:{port}/hook"
    try:
        yield receiver
    finally:
        await runner.cleanup()

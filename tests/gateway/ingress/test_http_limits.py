"""What a connection may hold, over real sockets: a count, header and body deadlines,
idle keep-alive; and the rate-limited warnings a flood would repeat."""

from __future__ import annotations

import asyncio
import errno
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import structlog
from aiohttp import web
from structlog.testing import capture_logs

from gateway.ingress.http import HttpServer, build_app
from gateway.ingress.http_limits import HttpLimits, RateLimitedLog
from gateway.ingress.pipeline import SendService
from tests.gateway.ingress.conftest import Env
from tests.waiting import eventually


class Listening:
    def __init__(self, server: HttpServer, port: int) -> None:
        self.server = server
        self.port = port

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", self.port)


@pytest.fixture
def limits() -> HttpLimits:
    return HttpLimits(max_connections=3, header_timeout=5, body_timeout=5, keepalive_timeout=5)


@pytest.fixture
async def listening(env: Env, limits: HttpLimits) -> AsyncIterator[Listening]:
    log = structlog.get_logger()
    app = build_app(
        store=env.store,
        send_service=SendService(store=env.store, log=log),
        readiness=env.readiness,
        logger=log,
        body_timeout=limits.body_timeout,
    )
    server = HttpServer(app, logger=log, limits=limits)
    port = await server.start("127.0.0.1", 0)
    try:
        yield Listening(server, port)
    finally:
        await server.stop()


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> bytes:
    """Everything the server sends until it closes the connection (EOF)."""
    return await asyncio.wait_for(reader.read(), timeout=seconds)


async def drip_until_closed(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    chunk: bytes,
    *,
    every: float,
    limit: float,
) -> tuple[float, bytes]:
    """Send ``chunk`` whenever the server stays silent for ``every`` seconds, until it
    closes the connection; return the seconds that took and what it answered."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    answer = b""
    while loop.time() - start < limit:
        try:
            data = await asyncio.wait_for(reader.read(4096), timeout=every)
        except TimeoutError:
            writer.write(chunk)
            continue
        if not data:
            return loop.time() - start, answer
        answer += data
    raise AssertionError(f"the connection was still open after {limit} s; got {answer!r}")


def get_request(path: str = "/healthz") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: gw\r\n\r\n".encode()


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    length = next(
        int(line.split(":")[1]) for line in lines if line.lower().startswith("content-length:")
    )
    return int(lines[0].split()[1]), await reader.readexactly(length)


@pytest.mark.parametrize("limits", [HttpLimits(keepalive_timeout=0.3, header_timeout=30)])
async def test_an_idle_keepalive_connection_is_closed_after_the_timeout(
    listening: Listening,
) -> None:
    reader, writer = await listening.connect()
    writer.write(get_request())
    status, _ = await read_response(reader)
    assert status == 200
    loop = asyncio.get_running_loop()
    start = loop.time()
    assert await closed_within(reader, 5) == b""
    assert loop.time() - start >= 0.25
    writer.close()
    await eventually(lambda: listening.server.connections.active == 0, what="no connection")


@pytest.mark.parametrize("limits", [HttpLimits(header_timeout=0.3, keepalive_timeout=30)])
async def test_a_connection_that_sends_nothing_is_closed_after_the_header_timeout(
    listening: Listening,
) -> None:
    reader, writer = await listening.connect()
    assert await closed_within(reader, 5) == b""
    writer.close()


@pytest.mark.parametrize("limits", [HttpLimits(header_timeout=0.4, keepalive_timeout=30)])
async def test_headers_trickling_in_are_dropped_at_the_header_deadline(
    listening: Listening,
) -> None:
    reader, writer = await listening.connect()
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: gw\r\n")
    took, answer = await drip_until_closed(reader, writer, b"X-Slow: 1\r\n", every=0.05, limit=5)
    assert answer == b""
    assert 0.3 <= took < 3
    writer.close()


@pytest.mark.parametrize("limits", [HttpLimits(header_timeout=0.4, keepalive_timeout=30)])
async def test_the_header_deadline_starts_again_with_each_request(
    listening: Listening,
) -> None:
    reader, writer = await listening.connect()
    for _ in range(3):  # well-behaved requests on one connection, over 0.4 s in all
        writer.write(get_request())
        assert (await read_response(reader))[0] == 200
    writer.write(b"GET /healthz HTTP/1.1\r\n")  # then a slow one
    took, _ = await drip_until_closed(reader, writer, b"X-Slow: 1\r\n", every=0.05, limit=5)
    assert 0.3 <= took < 3
    writer.close()


@pytest.mark.parametrize("limits", [HttpLimits(body_timeout=0.4, header_timeout=30)])
async def test_a_body_trickling_in_is_answered_408_and_closed(
    listening: Listening,
    env: Env,
) -> None:
    reader, writer = await listening.connect()
    writer.write(
        f"POST /v1/messages HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {env.token}"
        "\r\nContent-Length: 1000\r\n\r\n{".encode()
    )
    took, answer = await drip_until_closed(reader, writer, b" ", every=0.05, limit=5)
    assert 0.3 <= took < 3
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ")
    assert json.loads(body)["error"] == "request_timeout"
    assert (await env.store.balance("acme")).balance == 100
    writer.close()


async def test_connections_over_the_limit_are_refused_until_one_closes(
    listening: Listening,
    env: Env,
) -> None:
    held = [await listening.connect() for _ in range(3)]
    await eventually(lambda: listening.server.connections.active == 3, what="3 connections")
    with capture_logs() as logs:
        extra = [await listening.connect() for _ in range(2)]
        answers = [await closed_within(reader, 5) for reader, _ in extra]
    for answer in answers:
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503 ")
        assert json.loads(body)["error"] == "too_many_connections"
    refused = [e for e in logs if e["event"] == "http_connection_refused"]
    assert len(refused) == 1  # the second is left out of the log, and counted
    assert listening.server.connections.refused == 2
    _, writer = held.pop()
    writer.close()
    await eventually(lambda: listening.server.connections.active == 2, what="2 connections")
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{listening.port}/v1/balance", headers=env.auth()) as resp,
    ):
        assert resp.status == 200
        assert (await resp.json())["balance"] == 100
    for _, writer in held + extra:
        writer.close()


# --- rate-limited warnings ------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rate_limited_log_writes_one_line_per_interval_and_counts_the_rest() -> None:
    clock = Clock()
    with capture_logs() as logs:
        log = RateLimitedLog(structlog.get_logger(), interval=10, monotonic=clock)
        for _ in range(5):
            log.warning("http_accept_failed", error="EMFILE")
        clock.now += 10
        log.warning("http_accept_failed", error="EMFILE")
        log.warning("http_connection_refused")  # another event has its own interval
    assert [(e["event"], e.get("suppressed")) for e in logs] == [
        ("http_accept_failed", None),
        ("http_accept_failed", 4),
        ("http_connection_refused", None),
    ]


async def test_accept_failures_of_the_listener_are_one_line_per_interval(
    app: web.Application,
) -> None:
    """asyncio reports an accept() out of descriptors through the loop's exception
    handler, and retries a second later; the listener's failures are logged as one
    line per 10 s, other reports go to the handler that was there before."""
    loop = asyncio.get_running_loop()
    others: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()

    def before(_loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        others.append(context)

    loop.set_exception_handler(before)
    try:
        with capture_logs() as logs:
            server = HttpServer(app, logger=structlog.get_logger())
            await server.start("127.0.0.1", 0)
            [listener] = server.sockets
            try:
                for _ in range(50):
                    loop.call_exception_handler(
                        {
                            "message": "socket.accept() out of system resource",
                            "exception": OSError(errno.EMFILE, "Too many open files"),
                            "socket": listener,
                        }
                    )
                loop.call_exception_handler({"message": "something else"})
            finally:
                await server.stop()
        assert loop.get_exception_handler() is before  # put back at stop
    finally:
        loop.set_exception_handler(previous)
    failed = [e for e in logs if e["event"] == "http_accept_failed"]
    assert [(e["error"], e["log_level"]) for e in failed] == [("EMFILE", "warning")]
    assert [c["message"] for c in others] == ["something else"]


async def test_a_client_gone_mid_body_is_one_line_not_an_internal_error(
    listening: Listening,
    env: Env,
) -> None:
    with capture_logs() as logs:
        _reader, writer = await listening.connect()
        writer.write(
            f"POST /v1/messages HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer "
            f'{env.token}\r\nContent-Length: 1000\r\n\r\n{{"to"'.encode()
        )
        await writer.drain()
        writer.close()  # gone before the body is whole
        await writer.wait_closed()
        await eventually(
            lambda: any(
                e["event"] in {"http_client_disconnected", "http_request_failed"} for e in logs
            ),
            what="the disconnect logged",
            timeout=5,
        )
    [event] = [e for e in logs if e["event"] == "http_client_disconnected"]
    assert event["log_level"] == "info"
    assert "traceback" not in event
    assert not [e for e in logs if e["event"] == "http_request_failed"]
    assert (await env.store.balance("acme")).balance == 100

"""API tokens (accounts' and operators') remembered for at most TOKEN_TTL: the cache
alone, then the HTTP API on real SQLite and PostgreSQL stores with the token revoked
through another handle."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gateway.ingress.http import build_app
from gateway.ingress.pipeline import SendService
from gateway.ingress.tokens import TOKEN_TTL, Lookup, Owner, TokenCache
from gateway.model.errors import StoreError
from gateway.model.records import OperatorToken
from gateway.store.base import Store
from gateway.store.postgres.store import PostgresStore
from tests.clock import FakeClock
from tests.gateway.store.support import make_account, open_sqlite
from tests.waiting import eventually

Client = TestClient[web.Request, web.Application]


@dataclass
class FakeTokens:
    """The store's lookup: ``known`` tokens, every read counted; ``gate`` holds reads."""

    clock: FakeClock
    known: dict[str, str] = field(default_factory=dict)
    reads: list[str] = field(default_factory=list)
    gate: asyncio.Event | None = None
    takes: float = 0.0  # seconds a read moves the clock by
    fail: bool = False

    async def lookup(self, token: str) -> str | None:
        self.reads.append(token)
        if self.gate is not None:
            await self.gate.wait()
        self.clock.advance(self.takes)
        if self.fail:
            raise StoreError("the store is unreachable")
        return self.known.get(token)

    def owner_lookup(self, owners: dict[str, Owner]) -> Lookup:
        """A lookup answering ``owners`` (accounts and operator tokens), reads counted."""

        async def lookup(token: str) -> Owner | None:
            self.reads.append(token)
            return owners.get(token)

        return lookup


@pytest.fixture
def tokens(clock: FakeClock) -> FakeTokens:
    return FakeTokens(clock=clock, known={"tok-a": "acme", "tok-b": "beta"})


async def test_an_account_is_read_once_then_again_after_the_ttl(
    tokens: FakeTokens, clock: FakeClock
) -> None:
    cache = TokenCache(tokens.lookup, clock=clock, ttl=1.0)
    assert await cache.owner("tok-a") == "acme"
    clock.advance(0.999)
    assert await cache.owner("tok-a") == "acme"
    assert tokens.reads == ["tok-a"]
    tokens.known.clear()  # revoked
    clock.advance(0.001)
    assert await cache.owner("tok-a") is None
    assert tokens.reads == ["tok-a", "tok-a"]
    assert len(cache) == 0


async def test_an_account_forgotten_is_read_again_at_once(
    tokens: FakeTokens, clock: FakeClock
) -> None:
    cache = TokenCache(tokens.lookup, clock=clock, ttl=1.0)
    assert await cache.owner("tok-a") == "acme"
    assert await cache.owner("tok-b") == "beta"
    del tokens.known["tok-a"]  # revoked by a request of this process
    cache.forget("acme")
    assert await cache.owner("tok-a") is None
    assert await cache.owner("tok-b") == "beta"  # another account's: still remembered
    assert tokens.reads == ["tok-a", "tok-b", "tok-a"]


async def test_the_ttl_counts_from_the_start_of_the_read(
    tokens: FakeTokens, clock: FakeClock
) -> None:
    # a revocation committed just after the store read the row is seen ttl
    # after the read began, however long the read took
    tokens.takes = 0.4
    cache = TokenCache(tokens.lookup, clock=clock, ttl=1.0)
    assert await cache.owner("tok-a") == "acme"
    tokens.takes = 0.0
    clock.advance(0.6)
    assert await cache.owner("tok-a") == "acme"
    assert len(tokens.reads) == 2


async def test_unknown_tokens_are_read_every_time_and_never_remembered(
    tokens: FakeTokens, clock: FakeClock
) -> None:
    cache = TokenCache(tokens.lookup, clock=clock, size=4)
    for n in range(100):
        assert await cache.owner(f"guess-{n}") is None
    assert await cache.owner("guess-0") is None
    assert len(tokens.reads) == 101
    assert len(cache) == 0


async def test_at_most_size_tokens_are_remembered_the_oldest_go_first(clock: FakeClock) -> None:
    tokens = FakeTokens(clock=clock, known={f"tok-{n}": f"acct-{n}" for n in range(5)})
    cache = TokenCache(tokens.lookup, clock=clock, size=3)
    for n in range(5):
        assert await cache.owner(f"tok-{n}") == f"acct-{n}"
    assert len(cache) == 3
    tokens.reads.clear()
    for n in (4, 3, 2):
        assert await cache.owner(f"tok-{n}") == f"acct-{n}"
    assert tokens.reads == []
    assert await cache.owner("tok-0") == "acct-0"
    assert tokens.reads == ["tok-0"]
    assert len(cache) == 3


async def test_requests_arriving_during_a_read_share_it(
    tokens: FakeTokens, clock: FakeClock
) -> None:
    tokens.gate = asyncio.Event()
    cache = TokenCache(tokens.lookup, clock=clock)
    waiting = [asyncio.ensure_future(cache.owner("tok-a")) for _ in range(20)]
    other = asyncio.ensure_future(cache.owner("tok-b"))
    await eventually(lambda: len(tokens.reads) == 2, what="both reads at the gate")
    assert sorted(tokens.reads) == ["tok-a", "tok-b"]
    tokens.gate.set()
    assert await asyncio.gather(*waiting) == ["acme"] * 20
    assert await other == "beta"
    assert len(tokens.reads) == 2


async def test_a_failed_read_fails_its_waiters_and_is_not_remembered(
    tokens: FakeTokens, clock: FakeClock
) -> None:
    tokens.fail = True
    tokens.gate = asyncio.Event()
    cache = TokenCache(tokens.lookup, clock=clock)
    waiting = [asyncio.ensure_future(cache.owner("tok-a")) for _ in range(3)]
    await eventually(lambda: len(tokens.reads) == 1, what="the read at the gate")
    tokens.gate.set()
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(r, StoreError) for r in results)
    tokens.fail = False
    assert await cache.owner("tok-a") == "acme"
    assert len(tokens.reads) == 2


async def test_a_ttl_of_zero_reads_at_every_request(tokens: FakeTokens, clock: FakeClock) -> None:
    cache = TokenCache(tokens.lookup, clock=clock, ttl=0)
    for _ in range(3):
        assert await cache.owner("tok-a") == "acme"
    assert len(tokens.reads) == 3
    assert len(cache) == 0


# --- the HTTP API, a token revoked through another handle on the same store ----------


@dataclass
class Handles:
    serving: Store  # the daemon's (or a worker's)
    other: Store  # another process's: `smsgw token revoke`, another daemon


@pytest.fixture(params=["sqlite", "postgres"])
async def handles(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[Handles]:
    url = None if request.param == "sqlite" else str(request.getfixturevalue("postgres_url"))

    async def open_handle() -> Store:
        if url is None:
            return await open_sqlite(tmp_path / "gw.db", clock=clock)
        return await PostgresStore.open(url, clock=clock)

    serving = await open_handle()
    try:
        other = await open_handle()
        try:
            yield Handles(serving=serving, other=other)
        finally:
            await other.close()
    finally:
        await serving.close()


@pytest.fixture
async def client(handles: Handles, clock: FakeClock) -> AsyncIterator[Client]:
    log = structlog.get_logger()

    async def ready() -> tuple[bool, dict[str, object]]:
        return True, {}

    app = build_app(
        store=handles.serving,
        send_service=SendService(store=handles.serving, log=log, clock=clock),
        readiness=ready,
        logger=log,
        clock=clock,
    )
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as c:
        yield c


async def balance(client: Client, token: str) -> int:
    resp = await client.get("/v1/balance", headers={"Authorization": f"Bearer {token}"})
    await resp.read()
    return resp.status


async def test_a_token_revoked_elsewhere_is_refused_within_the_ttl(
    handles: Handles, client: Client, clock: FakeClock
) -> None:
    await make_account(handles.other)
    record, token = await handles.other.create_token("acme")
    assert await balance(client, token) == 200
    await handles.other.revoke_token(record.id)
    clock.advance(TOKEN_TTL / 2)
    assert await balance(client, token) == 200  # remembered: the store was not asked
    clock.advance(TOKEN_TTL / 2)
    assert await balance(client, token) == 401
    clock.advance(TOKEN_TTL * 10)
    assert await balance(client, token) == 401


async def test_a_token_not_yet_used_is_refused_as_soon_as_it_is_revoked(
    handles: Handles, client: Client
) -> None:
    await make_account(handles.other)
    record, token = await handles.other.create_token("acme")
    _, kept = await handles.other.create_token("acme")
    assert await balance(client, kept) == 200
    await handles.other.revoke_token(record.id)
    assert await balance(client, token) == 401
    assert await balance(client, kept) == 200


async def test_an_operator_token_is_remembered_as_its_record(clock: FakeClock) -> None:
    operator = OperatorToken(
        id=7, name="ops", prefix="smsgwop_abcdef", created_at=0, revoked_at=None
    )
    tokens = FakeTokens(clock=clock)
    cache = TokenCache(tokens.owner_lookup({"tok-a": "acme", "tok-o": operator}), clock=clock)
    assert await cache.owner("tok-o") == operator
    assert await cache.owner("tok-a") == "acme"
    cache.forget("acme")  # an account's revocation leaves the operator's remembered
    assert await cache.owner("tok-o") == operator
    assert tokens.reads == ["tok-o", "tok-a"]


async def operator_routes(client: Client, token: str) -> int:
    resp = await client.get("/v1/accounts/acme/esme", headers={"Authorization": f"Bearer {token}"})
    await resp.read()
    return resp.status


async def test_an_operator_token_revoked_elsewhere_is_refused_within_the_ttl(
    handles: Handles, client: Client, clock: FakeClock
) -> None:
    await make_account(handles.other)
    record, token = await handles.other.create_operator_token("ops")
    _, kept = await handles.other.create_operator_token("ops2")
    assert await operator_routes(client, token) == 200
    await handles.other.revoke_operator_token(record.id)
    clock.advance(TOKEN_TTL / 2)
    assert await operator_routes(client, token) == 200  # remembered: the store was not asked
    clock.advance(TOKEN_TTL / 2)
    assert await operator_routes(client, token) == 401
    assert await operator_routes(client, kept) == 200
    clock.advance(TOKEN_TTL * 10)
    assert await operator_routes(client, token) == 401

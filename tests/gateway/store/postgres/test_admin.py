"""What PostgreSQL keeps of accounts, senders and top-ups beyond the contract:
tokens stored hashed, a secret made for an account row without one, and the
unique indexes that settle two writers racing (read as the duplicate they are).
The behaviour every backend shares is tested in tests/gateway/store/contract."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from gateway.model.errors import SenderTaken
from gateway.model.message import SenderKind, SenderStatus
from gateway.store.accounts import token_hash
from gateway.store.postgres.store import PostgresStore
from tests.clock import FakeClock
from tests.waiting import eventually


@pytest.fixture
async def pg(postgres_url: str, clock: FakeClock) -> AsyncIterator[PostgresStore]:
    store = await PostgresStore.open(postgres_url, clock=clock)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def raw(postgres_url: str, pg: PostgresStore) -> AsyncIterator[asyncpg.Connection]:
    """A connection of its own (another writer), on the store's migrated database."""
    conn = await asyncpg.connect(postgres_url)
    try:
        yield conn
    finally:
        await conn.close()


async def _waiting_on_a_lock(conn: asyncpg.Connection) -> bool:
    """Another session of this database waits for a lock (one this one holds)."""
    waiting = await conn.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
    )
    return bool(waiting)


async def test_token_is_stored_hashed(pg: PostgresStore, raw: asyncpg.Connection) -> None:
    await pg.create_account("acme")
    _, token = await pg.create_token("acme")
    stored = [r["token_hash"] for r in await raw.fetch("SELECT token_hash FROM api_tokens")]
    assert stored == [token_hash(token)]


async def test_account_row_without_secret_gets_one_when_asked(
    pg: PostgresStore, raw: asyncpg.Connection
) -> None:
    await raw.execute("INSERT INTO accounts (name, month, created_at) VALUES ('raw', '', 0)")
    secrets = await asyncio.gather(*(pg.webhook_secret("raw") for _ in range(5)))
    assert len(secrets[0]) == 64
    assert set(secrets) == {secrets[0]}  # asked at once: one secret made
    assert await pg.webhook_secret("raw") == secrets[0]


async def test_topup_losing_the_race_to_the_unique_index_is_the_duplicate(
    pg: PostgresStore, raw: asyncpg.Connection
) -> None:
    await pg.create_account("acme")
    # a writer that credits without the account's lock (no smsgw code does; its
    # foreign key checks off, so it takes no lock on the account row either): only
    # ledger_topup_ref stands between its entry and the store's
    await raw.execute("SET session_replication_role = replica")
    tx = raw.transaction()
    await tx.start()
    await raw.execute(
        "INSERT INTO ledger (account, at, kind, amount, balance_after, reference) "
        "VALUES ('acme', 0, 'topup', 300, 300, 'ORDER-1')"
    )
    topup = asyncio.create_task(pg.topup("acme", 300, reference="ORDER-1"))
    await eventually(lambda: _waiting_on_a_lock(raw), what="the top-up waiting on the index")
    await tx.commit()
    result = await topup
    assert result.duplicate
    assert (result.entry.amount, result.entry.reference) == (300, "ORDER-1")
    assert (await pg.balance("acme")).balance == 0  # the store credited nothing
    assert len(await pg.history("acme")) == 1


async def test_approval_losing_the_race_to_the_one_owner_index_names_the_owner(
    pg: PostgresStore, raw: asyncpg.Connection
) -> None:
    for name in ("acme", "beta"):
        await pg.create_account(name)
        await pg.add_sender(name, "36180", SenderKind.SHORTCODE)
    tx = raw.transaction()
    await tx.start()
    await raw.execute(
        "UPDATE senders SET status = 'approved' WHERE account = 'acme' AND value = '36180'"
    )
    approval = asyncio.create_task(pg.set_sender_status("beta", "36180", SenderStatus.APPROVED))
    await eventually(lambda: _waiting_on_a_lock(raw), what="the approval waiting on the index")
    await tx.commit()
    with pytest.raises(SenderTaken, match="is approved for account 'acme'"):
        await approval
    sender = await pg.get_sender("beta", "36180")
    assert sender is not None
    assert sender.status is SenderStatus.PENDING

"""The account tokens' names migration on an existing PostgreSQL store: its tokens
kept (with no name), new ones named, the version moved on."""

from __future__ import annotations

import asyncpg

from gateway.store.accounts import new_token
from gateway.store.postgres.schema import MIGRATIONS, SCHEMA_VERSION, statements
from gateway.store.postgres.store import PostgresStore

_BEFORE = MIGRATIONS.index(
    next(m for m in MIGRATIONS if "api_tokens ADD COLUMN IF NOT EXISTS name" in m)
)


async def test_a_store_of_the_previous_version_gets_token_names(postgres_url: str) -> None:
    made = new_token()
    conn = await asyncpg.connect(postgres_url)
    try:
        for script in MIGRATIONS[:_BEFORE]:
            for statement in statements(script):
                await conn.execute(statement)
        await conn.execute(
            "INSERT INTO smsgw_meta (key, value) VALUES ('application', 'smsgw'), ('version', $1)",
            str(_BEFORE),
        )
        await conn.execute(
            "INSERT INTO accounts (name, month, created_at, webhook_secret) "
            "VALUES ('acme', '', 0, 'x')"
        )
        await conn.execute(
            "INSERT INTO api_tokens (account, token_hash, prefix, created_at) "
            "VALUES ('acme', $1, $2, 0)",
            made.hash,
            made.prefix,
        )
    finally:
        await conn.close()
    store = await PostgresStore.open(postgres_url)
    try:
        assert await store.account_for_token(made.token) == "acme"
        [old] = await store.list_tokens("acme")
        assert (old.prefix, old.name) == (made.prefix, None)
        named, token = await store.create_token("acme", name="crm")
        assert await store.account_for_token(token) == "acme"
        assert await store.list_tokens("acme") == [old, named]
    finally:
        await store.close()
    conn = await asyncpg.connect(postgres_url)
    try:
        version = await conn.fetchval("SELECT value FROM smsgw_meta WHERE key = 'version'")
    finally:
        await conn.close()
    assert version == str(SCHEMA_VERSION)


async def test_run_again_over_a_store_that_has_them_it_keeps_them(postgres_url: str) -> None:
    store = await PostgresStore.open(postgres_url)
    try:
        await store.create_account("acme")
        record, _ = await store.create_token("acme", name="crm")
    finally:
        await store.close()
    conn = await asyncpg.connect(postgres_url)  # the version before, the column kept
    try:
        await conn.execute("UPDATE smsgw_meta SET value = $1 WHERE key = 'version'", str(_BEFORE))
    finally:
        await conn.close()
    store = await PostgresStore.open(postgres_url)
    try:
        assert await store.list_tokens() == [record]
    finally:
        await store.close()

"""The operator tokens' migration on an existing PostgreSQL store: its data kept,
the table made, the version moved on."""

from __future__ import annotations

import asyncpg

from gateway.store.accounts import new_token
from gateway.store.postgres.schema import MIGRATIONS, SCHEMA_VERSION, statements
from gateway.store.postgres.store import PostgresStore

_BEFORE = MIGRATIONS.index(next(m for m in MIGRATIONS if "operator_tokens (" in m))


async def test_a_store_of_the_previous_version_gets_operator_tokens(postgres_url: str) -> None:
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
        assert await store.list_operator_tokens() == []
        record, token = await store.create_operator_token("ops")
        assert await store.operator_for_token(token) == record
    finally:
        await store.close()
    conn = await asyncpg.connect(postgres_url)
    try:
        version = await conn.fetchval("SELECT value FROM smsgw_meta WHERE key = 'version'")
    finally:
        await conn.close()
    assert version == str(SCHEMA_VERSION)

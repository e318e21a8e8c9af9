"""Opening a PostgreSQL store: the schema made once, other databases refused, one-line errors."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import asyncpg
import pytest

from gateway.model.errors import ConfigError, NotASmsgwDatabase, StoreUnavailable
from gateway.model.secrets import Secret
from gateway.store.postgres.schema import MIGRATIONS, SCHEMA_VERSION, statements
from gateway.store.postgres.store import PostgresStore
from tests.fixtures.net import free_port
from tests.fixtures.postgres import PASSWORD_ROLE


async def test_a_fresh_database_gets_the_schema_and_its_version(postgres_url: str) -> None:
    store = await PostgresStore.open(postgres_url)
    try:
        await store.ping()
    finally:
        await store.close()
    conn = await asyncpg.connect(postgres_url)
    try:
        meta = {r["key"]: r["value"] for r in await conn.fetch("SELECT key, value FROM smsgw_meta")}
        tables = {r[0] for r in await conn.fetch("SELECT tablename FROM pg_tables")}
    finally:
        await conn.close()
    assert meta == {"application": "smsgw", "version": str(SCHEMA_VERSION)}
    assert {"accounts", "messages", "segments", "ledger", "outbox", "webhooks"} <= tables


async def test_a_version_1_database_gets_the_held_reply_parts(postgres_url: str) -> None:
    conn = await asyncpg.connect(postgres_url)
    try:
        for statement in statements(MIGRATIONS[0]):
            await conn.execute(statement)
        await conn.execute(
            "INSERT INTO smsgw_meta (key, value) VALUES ('application', 'smsgw'), ('version', '1')"
        )
        await conn.execute(
            "INSERT INTO inbound (id, account, link, source, destination, text, received_at) "
            "VALUES ('in-1', NULL, 'op-a', '+33600000001', '36180', 'STOP', 0)"
        )
    finally:
        await conn.close()
    store = await PostgresStore.open(postgres_url)
    try:
        assert [m.id for m in await store.list_inbound()] == ["in-1"]
        assert await store.expire_inbound_parts(before=1e12, now=1e9) == []
    finally:
        await store.close()
    conn = await asyncpg.connect(postgres_url)
    try:
        version = await conn.fetchval("SELECT value FROM smsgw_meta WHERE key = 'version'")
    finally:
        await conn.close()
    assert version == str(SCHEMA_VERSION)


async def test_daemons_opening_a_fresh_database_at_once_migrate_it_once(postgres_url: str) -> None:
    stores = await asyncio.gather(*(PostgresStore.open(postgres_url) for _ in range(4)))
    for store in stores:
        await store.close()
    again = await PostgresStore.open(postgres_url)  # an existing schema: nothing to do
    await again.close()


async def test_another_applications_database_is_refused(postgres_url: str) -> None:
    conn = await asyncpg.connect(postgres_url)
    try:
        await conn.execute("CREATE TABLE invoices (id int)")
    finally:
        await conn.close()
    with pytest.raises(NotASmsgwDatabase, match="not a smsgw database"):
        await PostgresStore.open(postgres_url)


async def test_a_newer_schema_is_refused_with_what_to_do(postgres_url: str) -> None:
    await (await PostgresStore.open(postgres_url)).close()  # a smsgw database
    conn = await asyncpg.connect(postgres_url)
    try:
        await conn.execute("UPDATE smsgw_meta SET value = '99' WHERE key = 'version'")
    finally:
        await conn.close()
    with pytest.raises(NotASmsgwDatabase, match="upgrade smsgw"):
        await PostgresStore.open(postgres_url)


async def test_a_server_that_is_not_there_is_one_line() -> None:
    url = f"postgresql://smsgw@127.0.0.1:{free_port('127.0.0.1')}/smsgw"
    with pytest.raises(
        StoreUnavailable, match=r"^postgresql://smsgw@127\.0\.0\.1:\d+/smsgw: cannot reach"
    ):
        await PostgresStore.open(url)


async def test_a_missing_database_is_named(postgres_url: str) -> None:
    missing = postgres_url.rsplit("/", 1)[0] + "/no_such_db"
    with pytest.raises(ConfigError, match="no such database"):
        await PostgresStore.open(missing)


async def test_a_password_in_the_url_is_refused_and_not_repeated() -> None:
    with pytest.raises(ConfigError) as caught:
        await PostgresStore.open("postgresql://smsgw:hunter2@db.example/smsgw")
    assert "hunter2" not in str(caught.value)
    assert "[store] password" in str(caught.value)


async def test_wrong_credentials_are_one_line_without_the_password(postgres_url: str) -> None:
    parts = urlsplit(postgres_url)
    conn = await asyncpg.connect(postgres_url)
    try:
        await conn.execute(f"CREATE ROLE {PASSWORD_ROLE} LOGIN PASSWORD 'right-one'")
    finally:
        await conn.close()
    url = f"postgresql://{PASSWORD_ROLE}@{parts.hostname}:{parts.port}{parts.path}"
    with pytest.raises(ConfigError, match="refused the user or its password") as caught:
        await PostgresStore.open(url, password=Secret("wrong-one"))
    assert "wrong-one" not in str(caught.value)


async def test_a_user_that_may_not_create_the_tables_is_told_so(postgres_url: str) -> None:
    parts = urlsplit(postgres_url)
    conn = await asyncpg.connect(postgres_url)
    try:
        await conn.execute("CREATE ROLE reader LOGIN")
        await conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    finally:
        await conn.close()
    url = f"postgresql://reader@{parts.hostname}:{parts.port}{parts.path}"
    with pytest.raises(ConfigError, match="may not create smsgw's tables"):
        await PostgresStore.open(url)

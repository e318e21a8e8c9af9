"""The migration that adds segments ESMEs cut (messages.raw) on PostgreSQL: a store migrates
on open."""

from __future__ import annotations

import dataclasses

import asyncpg

from gateway.model.raw_body import RawBody
from gateway.model.records import Enqueued
from gateway.store.postgres.schema import MIGRATIONS, SCHEMA_VERSION
from gateway.store.postgres.store import PostgresStore
from tests.clock import FakeClock
from tests.gateway.store.old_stores import version_before
from tests.gateway.store.support import make_account, new_message

# the version before the raw column (later migrations run again after it)
BEFORE_RAW = version_before(MIGRATIONS, "ADD COLUMN raw")

RAW = RawBody(
    data_coding=0x08, udh=bytes((5, 0, 3, 1, 2, 2)), body="ж".encode("utf-16-be"), encoding="ucs2"
)


async def test_a_store_before_the_raw_column_migrates_on_open(
    postgres_url: str, clock: FakeClock
) -> None:
    store = await PostgresStore.open(postgres_url, clock=clock)
    await make_account(store)
    [old] = (await store.enqueue([new_message()])).results
    await store.close()
    conn = await asyncpg.connect(postgres_url)  # as the version before left it
    try:
        await conn.execute("ALTER TABLE messages DROP COLUMN raw")
        await conn.execute(
            "UPDATE smsgw_meta SET value = $1 WHERE key = 'version'", str(BEFORE_RAW)
        )
    finally:
        await conn.close()

    store = await PostgresStore.open(postgres_url, clock=clock)
    try:
        assert isinstance(old, Enqueued)
        assert (await store.get_message(old.message.id)).message.raw is None
        [new] = (await store.enqueue([dataclasses.replace(new_message(), raw=RAW.pack())])).results
        assert isinstance(new, Enqueued)
        assert (await store.get_message(new.message.id)).message.raw == RAW.pack()
    finally:
        await store.close()
    conn = await asyncpg.connect(postgres_url)
    try:
        version = await conn.fetchval("SELECT value FROM smsgw_meta WHERE key = 'version'")
    finally:
        await conn.close()
    assert version == str(SCHEMA_VERSION)

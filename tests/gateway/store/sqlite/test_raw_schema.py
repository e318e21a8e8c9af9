"""The migration that adds segments ESMEs cut (messages.raw) on SQLite: a store migrates on open."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

from gateway.model.raw_body import RawBody
from gateway.model.records import Enqueued
from gateway.store.sqlite.schema import MIGRATIONS, SCHEMA_VERSION
from tests.clock import FakeClock
from tests.gateway.store.old_stores import version_before
from tests.gateway.store.support import make_account, new_message, open_sqlite

# the version before the raw column (later migrations run again after it)
BEFORE_RAW = version_before(MIGRATIONS, "ADD COLUMN raw")

RAW = RawBody(data_coding=0x04, udh=b"", body=b"\x01\x02", encoding="8bit")


async def test_a_store_before_the_raw_column_migrates_on_open(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "gw.db"
    store = await open_sqlite(path, clock=clock)
    await make_account(store)
    [old] = (await store.enqueue([new_message()])).results
    await store.close()
    conn = sqlite3.connect(path, isolation_level=None)  # as the version before left it
    conn.execute("ALTER TABLE messages DROP COLUMN raw")
    conn.execute(f"PRAGMA user_version = {BEFORE_RAW}")
    conn.close()

    store = await open_sqlite(path, clock=clock)
    try:
        assert isinstance(old, Enqueued)
        assert (await store.get_message(old.message.id)).message.raw is None
        [new] = (await store.enqueue([dataclasses.replace(new_message(), raw=RAW.pack())])).results
        assert isinstance(new, Enqueued)
        assert (await store.get_message(new.message.id)).message.raw == RAW.pack()
    finally:
        await store.close()
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    check.close()

"""The account tokens' names migration on an existing SQLite store: its tokens kept
(with no name), new ones named, the version moved on."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from gateway.store import open_store
from gateway.store.accounts import new_token
from gateway.store.sqlite.schema import APPLICATION_ID, BEFORE, MIGRATIONS, SCHEMA_VERSION

_BEFORE = MIGRATIONS.index(next(m for m in MIGRATIONS if "api_tokens.name" in m))


async def test_a_store_of_the_previous_version_gets_token_names(tmp_path: Path) -> None:
    path = tmp_path / "gw.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for number, script in enumerate(MIGRATIONS[:_BEFORE], start=1):
        before = BEFORE.get(number)
        if before is not None:
            before(conn)
        conn.executescript(script)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute(f"PRAGMA user_version = {_BEFORE}")
    conn.execute("INSERT INTO accounts (name, month, created_at) VALUES ('acme', '', 0)")
    made = new_token()
    conn.execute(
        "INSERT INTO api_tokens (account, token_hash, prefix, created_at) VALUES (?, ?, ?, 0)",
        ("acme", made.hash, made.prefix),
    )
    conn.close()
    store = await open_store(f"sqlite:///{path}")
    try:
        assert await store.account_for_token(made.token) == "acme"
        [old] = await store.list_tokens("acme")
        assert (old.prefix, old.name) == (made.prefix, None)
        named, token = await store.create_token("acme", name="crm")
        assert await store.account_for_token(token) == "acme"
        assert await store.list_tokens("acme") == [old, named]
    finally:
        await store.close()
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    check.close()


async def test_run_again_over_a_store_that_has_them_it_keeps_them(tmp_path: Path) -> None:
    path = tmp_path / "gw.db"
    store = await open_store(f"sqlite:///{path}")
    try:
        await store.create_account("acme")
        record, token = await store.create_token("acme", name="crm")
    finally:
        await store.close()
    conn = sqlite3.connect(path, isolation_level=None)  # the version before, the column kept
    conn.execute(f"PRAGMA user_version = {_BEFORE}")
    conn.close()
    store = await open_store(f"sqlite:///{path}")
    try:
        assert await store.list_tokens() == [record]
        assert await store.account_for_token(token) == "acme"
    finally:
        await store.close()

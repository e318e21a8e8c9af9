"""Stores as an earlier schema version left them, for the migration tests: the
migrations up to a version applied by hand, an account ``acme`` (and an API
token of it, when given), then opened by the current code."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

import asyncpg

from gateway.store.accounts import NewToken
from gateway.store.postgres import schema as pg
from gateway.store.sqlite import schema as lite


def version_before(migrations: Sequence[str], marker: str) -> int:
    """The schema version before the migration whose script holds ``marker``."""
    return next(i for i, script in enumerate(migrations) if marker in script)


def sqlite_at(path: Path, version: int, *, token: NewToken | None = None) -> sqlite3.Connection:
    """A SQLite store at ``version``, left open (autocommit) for what the test adds."""
    conn = sqlite3.connect(path, isolation_level=None)
    for number, script in enumerate(lite.MIGRATIONS[:version], start=1):
        before = lite.BEFORE.get(number)
        if before is not None:
            before(conn)
        conn.executescript(script)
    conn.execute(f"PRAGMA application_id = {lite.APPLICATION_ID}")
    conn.execute(f"PRAGMA user_version = {version}")
    conn.execute("INSERT INTO accounts (name, month, created_at) VALUES ('acme', '', 0)")
    if token is not None:
        conn.execute(
            "INSERT INTO api_tokens (account, token_hash, prefix, created_at) VALUES (?, ?, ?, 0)",
            ("acme", token.hash, token.prefix),
        )
    return conn


def sqlite_version(path: Path, version: int | None = None) -> int:
    """The store's schema version (set to ``version`` first, when given)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        if version is not None:
            conn.execute(f"PRAGMA user_version = {version}")
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


async def postgres_at(
    url: str, version: int, *, token: NewToken | None = None
) -> asyncpg.Connection:
    """A PostgreSQL store at ``version``, left open for what the test adds."""
    conn = await asyncpg.connect(url)
    for script in pg.MIGRATIONS[:version]:
        for statement in pg.statements(script):
            await conn.execute(statement)
    await conn.execute(
        "INSERT INTO smsgw_meta (key, value) VALUES ('application', 'smsgw'), ('version', $1)",
        str(version),
    )
    await conn.execute(
        "INSERT INTO accounts (name, month, created_at, webhook_secret) VALUES ('acme', '', 0, 'x')"
    )
    if token is not None:
        await conn.execute(
            "INSERT INTO api_tokens (account, token_hash, prefix, created_at) "
            "VALUES ('acme', $1, $2, 0)",
            token.hash,
            token.prefix,
        )
    return conn


async def postgres_version(url: str, version: int | None = None) -> int:
    """The store's schema version (set to ``version`` first, when given)."""
    conn = await asyncpg.connect(url)
    try:
        if version is not None:
            await conn.execute(
                "UPDATE smsgw_meta SET value = $1 WHERE key = 'version'", str(version)
            )
        return int(await conn.fetchval("SELECT value FROM smsgw_meta WHERE key = 'version'"))
    finally:
        await conn.close()

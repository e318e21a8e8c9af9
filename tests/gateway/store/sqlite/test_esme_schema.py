"""The ESME credentials migration on SQLite, also over a table another migration began."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from gateway.model.esme_ingress import WrongPassword
from gateway.store import open_store
from gateway.store.sqlite.schema import MIGRATIONS, SCHEMA_VERSION
from tests.gateway.store.old_stores import sqlite_at, version_before

_BEFORE = version_before(MIGRATIONS, "esme_credentials_full")


@pytest.mark.parametrize("begun", [False, True], ids=["fresh", "begun"])
async def test_the_table_ends_complete(tmp_path: Path, begun: bool) -> None:
    path = tmp_path / "gw.db"
    conn = sqlite_at(path, _BEFORE)
    if begun:  # what a migration that reads only these two columns makes
        conn.execute(
            "CREATE TABLE esme_credentials (system_id TEXT PRIMARY KEY, "
            "account TEXT NOT NULL REFERENCES accounts(name))"
        )
        conn.execute("INSERT INTO esme_credentials VALUES ('old1', 'acme')")
    conn.close()
    store = await open_store(f"sqlite:///{path}")
    try:
        _, password = await store.create_esme_credential("acme", "new1", throughput=5)
        assert (await store.esme_credential_for_bind("new1", password)).throughput == 5
        listed = [c.system_id for c in await store.list_esme_credentials()]
        assert listed == (["new1", "old1"] if begun else ["new1"])
        if begun:  # kept, without a password until one is set
            with pytest.raises(WrongPassword):
                await store.esme_credential_for_bind("old1", "")
            fresh = await store.set_esme_password("acme", "old1")
            assert (await store.esme_credential_for_bind("old1", fresh)).max_binds == 1
    finally:
        await store.close()
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    check.close()

"""The ESME credentials migration on PostgreSQL, also over a table another migration began."""

from __future__ import annotations

import pytest

from gateway.model.esme_ingress import WrongPassword
from gateway.store.postgres.schema import MIGRATIONS
from gateway.store.postgres.store import PostgresStore
from tests.gateway.store.old_stores import postgres_at, version_before

_BEFORE = version_before(MIGRATIONS, "esme_credentials")


@pytest.mark.parametrize("begun", [False, True], ids=["fresh", "begun"])
async def test_the_table_ends_complete(postgres_url: str, begun: bool) -> None:
    conn = await postgres_at(postgres_url, _BEFORE)
    try:
        if begun:
            await conn.execute(
                "CREATE TABLE esme_credentials (system_id text PRIMARY KEY, "
                "account text NOT NULL REFERENCES accounts(name))"
            )
            await conn.execute("INSERT INTO esme_credentials VALUES ('old1', 'acme')")
    finally:
        await conn.close()
    store = await PostgresStore.open(postgres_url)
    try:
        _, password = await store.create_esme_credential("acme", "new1", throughput=5)
        assert (await store.esme_credential_for_bind("new1", password)).throughput == 5
        listed = [c.system_id for c in await store.list_esme_credentials()]
        assert listed == (["new1", "old1"] if begun else ["new1"])
        if begun:
            with pytest.raises(WrongPassword):
                await store.esme_credential_for_bind("old1", "")
    finally:
        await store.close()

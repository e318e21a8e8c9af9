"""The token migrations on an existing SQLite store (operators' tokens, account
tokens' names): its tokens kept, the new things there, the version moved on; run
again over a store that has them, they change nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.store import open_store
from gateway.store.accounts import new_token
from gateway.store.sqlite.schema import MIGRATIONS, SCHEMA_VERSION
from tests.gateway.store.old_stores import sqlite_at, sqlite_version, version_before

OPERATOR_TOKENS = version_before(MIGRATIONS, "operator_tokens (")
TOKEN_NAMES = version_before(MIGRATIONS, "api_tokens.name")


async def test_a_store_before_operator_tokens_gets_them(tmp_path: Path) -> None:
    path = tmp_path / "gw.db"
    made = new_token()
    sqlite_at(path, OPERATOR_TOKENS, token=made).close()
    store = await open_store(f"sqlite:///{path}")
    try:
        assert await store.account_for_token(made.token) == "acme"
        assert await store.list_operator_tokens() == []
        record, token = await store.create_operator_token("ops")
        assert await store.operator_for_token(token) == record
    finally:
        await store.close()
    assert sqlite_version(path) == SCHEMA_VERSION


async def test_a_store_before_token_names_gets_them(tmp_path: Path) -> None:
    path = tmp_path / "gw.db"
    made = new_token()
    sqlite_at(path, TOKEN_NAMES, token=made).close()
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
    assert sqlite_version(path) == SCHEMA_VERSION


@pytest.mark.parametrize("before", [OPERATOR_TOKENS, TOKEN_NAMES], ids=["operator", "names"])
async def test_run_again_over_a_store_that_has_them_they_change_nothing(
    tmp_path: Path, before: int
) -> None:
    path = tmp_path / "gw.db"
    store = await open_store(f"sqlite:///{path}")
    try:
        await store.create_account("acme")
        named, token = await store.create_token("acme", name="crm")
        operator, op_token = await store.create_operator_token("ops")
    finally:
        await store.close()
    sqlite_version(path, before)  # the version before, the table and column kept
    store = await open_store(f"sqlite:///{path}")
    try:
        assert await store.list_tokens() == [named]
        assert await store.account_for_token(token) == "acme"
        assert await store.operator_for_token(op_token) == operator
    finally:
        await store.close()
    assert sqlite_version(path) == SCHEMA_VERSION

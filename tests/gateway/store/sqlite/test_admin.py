"""What SQLite keeps of accounts and senders: tokens stored hashed, one approved
owner per short code across processes on one file, and the schema's own index.
The behaviour every backend shares is tested in tests/gateway/store/contract."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
from pathlib import Path

import pytest

from gateway.model.errors import SenderTaken
from gateway.model.message import SenderKind, SenderStatus
from gateway.store import open_store
from gateway.store.accounts import token_hash
from gateway.store.sqlite.store import SqliteStore


async def test_token_is_stored_hashed(store: SqliteStore) -> None:
    await store.create_account("acme")
    _, token = await store.create_token("acme")
    conn = sqlite3.connect(store.path)
    stored = [r[0] for r in conn.execute("SELECT token_hash FROM api_tokens")]
    conn.close()
    assert stored == [token_hash(token)]
    assert token not in stored


async def test_concurrent_approvals_of_one_short_code_leave_one_owner(
    store: SqliteStore,
    tmp_path: Path,
) -> None:
    other = await open_store(f"sqlite:///{tmp_path}/gw.db")  # as another process would
    try:
        names = [f"acc{i}" for i in range(6)]
        for name in names:
            await store.create_account(name)
            await store.add_sender(name, "36180", SenderKind.SHORTCODE)
        results = await asyncio.gather(
            *(
                s.set_sender_status(n, "36180", SenderStatus.APPROVED)
                for n, s in zip(names, itertools.cycle([store, other]), strict=False)
            ),
            return_exceptions=True,
        )
    finally:
        await other.close()
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, SenderTaken) for r in results if isinstance(r, BaseException))


def test_the_database_itself_refuses_a_second_approved_owner(store: SqliteStore) -> None:
    conn = sqlite3.connect(store.path)
    try:
        conn.executemany(
            "INSERT INTO accounts (name, month, created_at) VALUES (?, '', 0)",
            [("acme",), ("beta",)],
        )
        conn.executemany(
            "INSERT INTO senders (account, value, kind, status, created_at, updated_at) "
            "VALUES (?, ?, ?, 'approved', 0, 0)",
            [("acme", "SHOP", "alpha"), ("beta", "SHOP", "alpha"), ("acme", "36180", "shortcode")],
        )
        with pytest.raises(sqlite3.IntegrityError, match=r"senders\.value"):
            conn.execute(
                "INSERT INTO senders (account, value, kind, status, created_at, updated_at) "
                "VALUES ('beta', '36180', 'shortcode', 'approved', 0, 0)"
            )
    finally:
        conn.close()

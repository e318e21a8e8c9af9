"""Opening store files: migrations, our application id, other files refused."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from gateway.model.errors import ConfigError, NotASmsgwDatabase
from gateway.store import open_store, sqlite_path
from gateway.store.sqlite.connect import set_wal
from gateway.store.sqlite.schema import (
    APPLICATION_ID,
    MIGRATIONS,
    SCHEMA_VERSION,
    SHARED_APPROVAL_REASON,
)
from tests.clock import FakeClock
from tests.gateway.store.support import pending_events


async def test_new_file_is_created_migrated_and_marked(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "gw.db"
    store = await open_store(f"sqlite:///{path}")
    await store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


async def test_reopening_keeps_data(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/gw.db"
    store = await open_store(url)
    await store.create_account("acme")
    await store.close()
    store = await open_store(url)
    assert [a.name for a in await store.list_accounts()] == ["acme"]
    await store.close()


async def test_other_applications_sqlite_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (x)")
    conn.commit()
    conn.close()
    with pytest.raises(NotASmsgwDatabase, match="not a smsgw database"):
        await open_store(f"sqlite:///{path}")


async def test_file_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello, this is not a database at all\n" * 200)
    with pytest.raises(NotASmsgwDatabase, match="not a smsgw database"):
        await open_store(f"sqlite:///{path}")


async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/gw.db"
    await (await open_store(url)).close()
    conn = sqlite3.connect(tmp_path / "gw.db")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(NotASmsgwDatabase, match="upgrade smsgw"):
        await open_store(url)


async def test_two_stores_opening_a_fresh_file_at_once_both_work(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/gw.db"
    a, b = await asyncio.gather(open_store(url), open_store(url))
    await a.create_account("one")
    await b.create_account("two")
    assert len(await a.list_accounts()) == 2
    await a.close()
    await b.close()


def test_relative_sqlite_url_is_relative_to_base(tmp_path: Path) -> None:
    assert sqlite_path("sqlite:var/gw.db", base=tmp_path) == tmp_path / "var" / "gw.db"
    assert sqlite_path("sqlite:///abs/gw.db") == Path("/abs/gw.db")


@pytest.mark.parametrize("url", ["sqlite://host/x.db", "sqlite:"])
def test_malformed_sqlite_url_is_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="store url"):
        sqlite_path(url)


async def test_unknown_backend_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="use sqlite:PATH or postgresql://"):
        await open_store("mysql://x/y", clock=FakeClock())


async def test_version_1_file_is_upgraded_with_outbox_tables_and_secrets(
    tmp_path: Path,
) -> None:
    path = tmp_path / "v1.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(MIGRATIONS[0])
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 1")
    for name in ("acme", "beta"):
        conn.execute("INSERT INTO accounts (name, month, created_at) VALUES (?, '', 0)", (name,))
    conn.close()
    store = await open_store(f"sqlite:///{path}")
    secrets = {a: await store.webhook_secret(a) for a in ("acme", "beta")}
    await store.close()
    assert all(len(s) == 64 for s in secrets.values())
    assert secrets["acme"] != secrets["beta"]
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert {
        "inbound_parts",
        "outbox",
        "metric_counts",
        "webhooks",
        "webhooks_due",
        "messages_next",
        "messages_due",
        "orders",
        "stoplist",
    } <= tables
    assert "events" not in tables
    stored = dict(conn.execute("SELECT name, webhook_secret FROM accounts").fetchall())
    conn.close()
    assert {k: v.encode() for k, v in stored.items()} == secrets


async def test_version_2_outbox_events_move_to_the_batched_outbox_in_order(
    tmp_path: Path,
) -> None:
    path = tmp_path / "v2.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for script in MIGRATIONS[:2]:
        conn.executescript(script)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 2")
    waiting = [
        ("acme", "status", b'{"state":"queued"}'),
        ("a b", "rejected", b'{"error":"x"}'),
        ("acme", "inbound", '{"text":"é"}'.encode()),
    ]
    conn.executemany(
        "INSERT INTO events (account, kind, payload, created_at) VALUES (?, ?, ?, 0)", waiting
    )
    conn.close()
    store = await open_store(f"sqlite:///{path}")
    try:
        events = await pending_events(store, 10)
    finally:
        await store.close()
    assert [(e.account, e.kind, e.payload) for e in events] == waiting
    assert len({e.batch for e in events}) == 3  # one event per row, as they were


async def test_version_3_with_a_short_code_approved_twice_keeps_the_first_owner(
    tmp_path: Path,
) -> None:
    path = tmp_path / "v3.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for script in MIGRATIONS[:3]:
        conn.executescript(script)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 3")
    for name in ("acme", "beta", "gamma"):
        conn.execute("INSERT INTO accounts (name, month, created_at) VALUES (?, '', 0)", (name,))
    conn.executemany(
        "INSERT INTO senders (account, value, kind, status, created_at, updated_at) "
        "VALUES (?, ?, ?, 'approved', 0, ?)",
        [
            ("acme", "36180", "shortcode", 20.0),
            ("beta", "36180", "shortcode", 10.0),
            ("gamma", "36180", "shortcode", 30.0),
            ("acme", "+33612345678", "number", 5.0),
            ("acme", "SHOP", "alpha", 1.0),
            ("beta", "SHOP", "alpha", 2.0),
        ],
    )
    conn.close()
    store = await open_store(f"sqlite:///{path}")
    try:
        owners = await store.sender_owners("36180")
        states = {a: await store.get_sender(a, "36180") for a in ("acme", "beta", "gamma")}
        shop = [await store.get_sender(a, "SHOP") for a in ("acme", "beta")]
    finally:
        await store.close()
    assert owners[0] == "beta"  # approved first (earliest), it keeps the short code
    assert {a: s.status.value for a, s in states.items() if s} == {
        "acme": "pending",
        "beta": "approved",
        "gamma": "pending",
    }
    assert states["acme"] is not None
    assert states["acme"].reason == SHARED_APPROVAL_REASON
    assert all(s is not None and s.status.value == "approved" for s in shop)


class _LockedTwice:
    """A connection whose journal-mode switch meets another opener's lock twice."""

    def __init__(self, code: int = sqlite3.SQLITE_BUSY, error: str = "database is locked") -> None:
        self.calls = 0
        self.code = code
        self.error = error

    def execute(self, sql: str) -> sqlite3.Cursor:
        assert sql == "PRAGMA journal_mode = WAL"
        self.calls += 1
        if self.calls <= 2:
            exc = sqlite3.OperationalError(self.error)
            exc.sqlite_errorcode = self.code
            raise exc
        return sqlite3.connect(":memory:").execute("SELECT 'wal'")


def test_wal_switch_is_retried_while_another_opener_holds_the_file() -> None:
    conn = _LockedTwice()
    assert set_wal(conn) == "wal"  # type: ignore[arg-type]
    assert conn.calls == 3


def test_wal_switch_other_errors_are_not_retried() -> None:
    conn = _LockedTwice(sqlite3.SQLITE_IOERR, "disk I/O error")
    with pytest.raises(sqlite3.OperationalError, match="disk I/O"):
        set_wal(conn)  # type: ignore[arg-type]
    assert conn.calls == 1

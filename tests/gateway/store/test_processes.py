"""Real processes on one SQLite file: no overdraw under concurrency, kill -9 mid-bulk."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import sys
from pathlib import Path

import pytest

from gateway.model.message import SenderKind, SenderStatus
from gateway.store import open_store
from tests.waiting import eventually

# Each child imports everything, then blocks reading its standard input; the
# parent closes every child's input at once, so that all of them hit the store
# together, then each runs `smsgw send` in-process.
CHILD = """
import sys
from gateway.runtime.commands import main
sys.stdin.read()
sys.exit(main(sys.argv[1:]))
"""


async def _prepare(tmp_path: Path, credit: int) -> Path:
    config = tmp_path / "gateway.toml"
    config.write_text('[store]\nurl = "sqlite:gw.db"\n')
    store = await open_store(f"sqlite:///{tmp_path}/gw.db")
    await store.create_account("acme")
    await store.topup("acme", credit, reference="pack-1")
    await store.add_sender("acme", "ACME", SenderKind.ALPHA)
    await store.set_sender_status("acme", "ACME", SenderStatus.APPROVED)
    await store.set_price("+", 1)
    await store.close()
    return config


def _count(db: Path, sql: str) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return int(conn.execute(sql).fetchone()[0])
    finally:
        conn.close()


@pytest.mark.slow
async def test_twenty_processes_cannot_overdraw_the_balance(tmp_path: Path) -> None:
    config = await _prepare(tmp_path, credit=100)
    children = []
    for p in range(20):
        to = [a for i in range(10) for a in ("--to", f"+3361{p:02d}{i:05d}")]
        argv = [
            "send",
            "--account",
            "acme",
            "--from",
            "ACME",
            *to,
            "--text",
            "hi",
            "--json",
            "-c",
            str(config),
        ]
        children.append(
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                CHILD,
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        )
    for child in children:  # the start signal
        assert child.stdin is not None
        child.stdin.close()
    outputs = await asyncio.wait_for(
        asyncio.gather(*(c.communicate() for c in children)), timeout=120
    )
    accepted = refused = 0
    for child, (out, err) in zip(children, outputs, strict=True):
        doc = json.loads(out)
        accepted += doc["accepted"]
        refused += len(doc["refused"])
        assert {r["error"] for r in doc["refused"]} <= {"insufficient_credit"}
        if doc["refused"]:
            assert child.returncode == 1
            assert b"insufficient credit" in err
    assert (accepted, refused) == (100, 100)
    db = tmp_path / "gw.db"
    assert _count(db, "SELECT count(*) FROM messages") == 100
    assert _count(db, "SELECT count(*) FROM ledger WHERE kind = 'debit'") == 100
    assert _count(db, "SELECT balance FROM accounts WHERE name = 'acme'") == 0
    store = await open_store(f"sqlite:///{db}")
    assert await store.verify_ledger() == {}
    await store.close()


@pytest.mark.slow
async def test_kill_during_bulk_send_leaves_store_consistent(tmp_path: Path) -> None:
    config = await _prepare(tmp_path, credit=1_000_000)
    listing = tmp_path / "bulk.csv"
    listing.write_text("number\n" + "".join(f"+336{10_000_000 + i}\n" for i in range(10_000)))
    db = tmp_path / "gw.db"
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        "send",
        "--account",
        "acme",
        "--from",
        "ACME",
        "--to-file",
        str(listing),
        "--text",
        "x" * 200,
        "-c",
        str(config),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )

    def stored() -> bool:
        assert child.returncode is None, "the bulk send ended before it could be killed"
        return db.exists() and _count(db, "SELECT count(*) FROM messages") > 0

    await eventually(stored, timeout=60, what="the first stored batch")
    child.kill()  # SIGKILL: no cleanup, no commit of what is in flight
    assert await asyncio.wait_for(child.wait(), timeout=30) == -signal.SIGKILL

    store = await open_store(f"sqlite:///{db}")  # recovers the WAL like a restart would
    assert await store.verify_ledger() == {}
    await store.close()
    messages = _count(db, "SELECT count(*) FROM messages")
    assert 0 < messages < 10_000, messages
    # every stored message is debited exactly once, and no debit lacks its message
    assert (
        _count(
            db,
            "SELECT count(*) FROM messages m WHERE (SELECT count(*) FROM ledger l "
            "WHERE l.message_id = m.id AND l.kind = 'debit') != 1",
        )
        == 0
    )
    assert (
        _count(
            db,
            "SELECT count(*) FROM ledger l WHERE kind = 'debit' AND NOT EXISTS "
            "(SELECT 1 FROM messages m WHERE m.id = l.message_id)",
        )
        == 0
    )
    # none half-written: every message has all of its segments
    assert (
        _count(
            db,
            "SELECT count(*) FROM messages m WHERE segments != "
            "(SELECT count(*) FROM segments s WHERE s.message_id = m.id)",
        )
        == 0
    )
    assert _count(db, "SELECT balance FROM accounts") == 1_000_000 - 2 * messages

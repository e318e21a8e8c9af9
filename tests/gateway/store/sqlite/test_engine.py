"""The writer thread: group commit, one failing operation does not sink its batch."""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
import threading
from pathlib import Path

import pytest

from gateway.model.errors import AlreadyExists, StoreError
from gateway.store.base import Store
from gateway.store.sqlite.engine import Engine
from gateway.store.sqlite.store import SqliteStore
from tests.clock import FakeClock
from tests.gateway.store.support import make_account, new_message
from tests.waiting import eventually


def test_sqlite_store_implements_the_store_interface(store: SqliteStore) -> None:
    interface: Store = store  # checked by mypy: every method, same signatures
    assert interface is store


async def test_many_concurrent_writes_all_commit(store: SqliteStore) -> None:
    names = [f"acc{i}" for i in range(300)]
    await asyncio.gather(*(store.create_account(n) for n in names))
    assert [a.name for a in await store.list_accounts()] == sorted(names)


async def test_failing_operation_in_a_batch_rolls_back_alone(store: SqliteStore) -> None:
    await store.create_account("dup")
    results = await asyncio.gather(
        store.create_account("a1"),
        store.create_account("dup"),
        store.create_account("a2"),
        return_exceptions=True,
    )
    assert isinstance(results[1], AlreadyExists)
    assert {a.name for a in await store.list_accounts()} == {"dup", "a1", "a2"}


async def test_closed_store_refuses_work(store: SqliteStore) -> None:
    await store.close()
    with pytest.raises(StoreError, match="closed"):
        await store.create_account("late")
    with pytest.raises(StoreError, match="closed"):
        await store.list_accounts()


async def test_pragmas_of_the_write_connection(store: SqliteStore) -> None:
    conn = sqlite3.connect(store.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


async def test_month_spent_reads_zero_in_a_new_month(store: SqliteStore, clock: FakeClock) -> None:
    await make_account(store)
    await store.enqueue([new_message(segments=3)])
    assert (await store.balance("acme")).month_spent == 3
    clock.advance(40 * 86400)
    assert (await store.balance("acme")).month_spent == 0


async def test_small_writes_are_not_held_behind_every_queued_bulk_write(tmp_path: Path) -> None:
    engine = await asyncio.to_thread(Engine, str(tmp_path / "gw.db"), max_bulk=500)
    release = threading.Event()
    ran: list[str] = []

    def record(conn: sqlite3.Connection, name: str) -> None:
        del conn
        ran.append(name)

    def block(conn: sqlite3.Connection) -> None:
        del conn
        release.wait(10)

    blocker = asyncio.create_task(engine.write(block))
    await asyncio.sleep(0)  # queued: the writer runs it (alone, or with what follows)
    jobs = [
        asyncio.create_task(engine.write(record, "bulk-1", bulk=300)),
        asyncio.create_task(engine.write(record, "bulk-2", bulk=300)),
        asyncio.create_task(engine.write(record, "claim")),
        asyncio.create_task(engine.write(record, "bulk-3", bulk=100)),
        asyncio.create_task(engine.write(record, "bulk-4", bulk=100)),
    ]
    await asyncio.sleep(0)  # all five queued while the writer is held in block()
    release.set()
    await asyncio.gather(blocker, *jobs)
    await engine.close()
    # bulk jobs fill a transaction up to 500 messages; the claim joins the
    # first (ahead of its bulk job), the others follow in their order (FIFO
    # would run the claim third)
    assert ran == ["claim", "bulk-1", "bulk-2", "bulk-3", "bulk-4"]


async def test_urgent_writes_go_first_and_not_behind_bulk_writes(tmp_path: Path) -> None:
    path = tmp_path / "gw.db"
    engine = await asyncio.to_thread(Engine, str(path), max_bulk=500)
    release = threading.Event()
    # each job notes how many jobs were committed before it (seen from another
    # connection): jobs of one transaction see the same number
    ran: list[tuple[str, int]] = []
    outside = sqlite3.connect(path, check_same_thread=False)

    def record(conn: sqlite3.Connection, name: str) -> None:
        conn.execute("CREATE TABLE IF NOT EXISTS done (name TEXT)")
        committed = (
            outside.execute("SELECT count(*) FROM sqlite_master WHERE name = 'done'").fetchone()[0]
            and outside.execute("SELECT count(*) FROM done").fetchone()[0]
        )
        ran.append((name, committed))
        conn.execute("INSERT INTO done VALUES (?)", (name,))

    def block(conn: sqlite3.Connection) -> None:
        del conn
        release.wait(10)

    blocker = asyncio.create_task(engine.write(block))
    await asyncio.sleep(0)
    jobs = [
        asyncio.create_task(engine.write(record, "enqueue", bulk=100)),
        asyncio.create_task(engine.write(record, "receipts")),
        asyncio.create_task(engine.write(record, "outcomes", urgent=True)),
    ]
    await asyncio.sleep(0)
    release.set()
    await asyncio.gather(blocker, *jobs)
    await engine.close()
    outside.close()
    # the outcomes first, with the small receipts job; the enqueue after their commit
    assert ran == [("outcomes", 0), ("receipts", 0), ("enqueue", 2)]


async def test_bulk_writes_wait_out_one_urgent_transaction_at_most(tmp_path: Path) -> None:
    # outcomes keep coming (each urgent job queues the next before its transaction
    # ends): the enqueue still goes in the second transaction
    path = tmp_path / "gw.db"
    engine = await asyncio.to_thread(Engine, str(path), max_bulk=500)
    loop = asyncio.get_running_loop()
    ran: list[str] = []
    tasks: list[asyncio.Task[None]] = []

    def queue_next(n: int, queued: threading.Event) -> None:
        tasks.append(asyncio.create_task(engine.write(urgent, n, urgent=True)))
        loop.call_soon(queued.set)  # after the task's first step: the job is queued

    def urgent(conn: sqlite3.Connection, n: int) -> None:
        del conn
        ran.append(f"urgent-{n}")
        if n < 4:
            queued = threading.Event()
            loop.call_soon_threadsafe(queue_next, n + 1, queued)
            assert queued.wait(10)

    def enqueue(conn: sqlite3.Connection) -> None:
        del conn
        ran.append("enqueue")

    release = threading.Event()

    def block(conn: sqlite3.Connection) -> None:
        del conn
        release.wait(10)

    blocker = asyncio.create_task(engine.write(block))
    await asyncio.sleep(0)
    bulk = asyncio.create_task(engine.write(enqueue, bulk=100))
    tasks.append(asyncio.create_task(engine.write(urgent, 1, urgent=True)))
    await asyncio.sleep(0)
    release.set()
    await asyncio.gather(blocker, bulk)
    await eventually(
        lambda: len(tasks) == 4 and all(t.done() for t in tasks), what="every urgent job written"
    )
    await engine.close()
    assert ran == ["urgent-1", "urgent-2", "enqueue", "urgent-3", "urgent-4"]


async def test_writers_wait_on_the_writer_lock_file_not_on_sleeps(tmp_path: Path) -> None:
    # another smsgw process (a worker, a command) holding the lock file: this
    # engine's transaction starts only once it is released, woken by the kernel
    path = tmp_path / "gw.db"
    engine = await asyncio.to_thread(Engine, str(path))
    ran: list[str] = []

    def record(conn: sqlite3.Connection, name: str) -> None:
        del conn
        ran.append(name)

    fd = os.open(f"{path}-writer.lock", os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        write = asyncio.create_task(engine.write(record, "after"))
        # the writer thread is blocked in flock(): nothing runs while the lock is held
        done, _ = await asyncio.wait({write}, timeout=0.3)
        assert not done
        assert ran == []
        fcntl.flock(fd, fcntl.LOCK_UN)
        await asyncio.wait_for(write, timeout=10)
        assert ran == ["after"]
    finally:
        os.close(fd)
        await engine.close()


def _size(path: Path) -> int:
    return path.stat().st_size


def _fill(conn: sqlite3.Connection, rows: int) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS filler (x BLOB)")
    conn.executemany("INSERT INTO filler VALUES (?)", [(os.urandom(512),)] * rows)


async def test_background_checkpoints_copy_the_wal_beside_the_writer(tmp_path: Path) -> None:
    path = tmp_path / "gw.db"
    engine = await asyncio.to_thread(Engine, str(path), checkpoints="background")
    try:
        size = _size(path)
        await engine.write(_fill, 2000)  # ~1 MB, in the WAL at commit
        # the commit left it in the WAL (no inline checkpoint); the checkpointer
        # thread then copies it into the database file
        await eventually(
            lambda: _size(path) > size + 500_000,
            what="the database file to receive the WAL's pages",
        )
    finally:
        await engine.close()


async def test_a_worker_engine_leaves_checkpoints_to_its_daemon(tmp_path: Path) -> None:
    path = tmp_path / "gw.db"
    engine = await asyncio.to_thread(Engine, str(path), checkpoints="elsewhere")
    try:
        size = _size(path)
        for _ in range(10):  # ~5 MB: past SQLite's 1,000-page automatic checkpoint
            await engine.write(_fill, 1000)
        assert _size(path) == size
        assert _size(Path(f"{path}-wal")) > 4_000_000
    finally:
        await engine.close()


def test_unknown_checkpoint_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="checkpoints"):
        Engine(str(tmp_path / "gw.db"), checkpoints="sometimes")


async def test_a_prepare_step_runs_before_the_transaction_and_fails_alone(
    tmp_path: Path,
) -> None:
    engine = await asyncio.to_thread(Engine, str(tmp_path / "gw.db"))
    seen: list[object] = []

    def store(conn: sqlite3.Connection, prepared: object) -> object:
        seen.append(prepared)
        return prepared

    def broken() -> object:
        msg = "cannot prepare"
        raise ValueError(msg)

    try:
        ok = engine.write(store, prepare=lambda: ("ready", threading.get_ident()))
        bad = engine.write(store, prepare=broken)
        results = await asyncio.gather(ok, bad, return_exceptions=True)
    finally:
        await engine.close()
    assert isinstance(results[1], ValueError)
    assert results[0] == seen[0]  # the prepared value reached the job
    assert len(seen) == 1
    assert results[0][1] != threading.get_ident()  # type: ignore[index]  # the writer thread


async def test_the_daemons_checkpointer_copies_what_a_worker_committed(tmp_path: Path) -> None:
    # the daemon commits nothing meanwhile: its checkpointer still runs, and copies
    # the worker's commits into the database file
    path = tmp_path / "gw.db"
    daemon = await asyncio.to_thread(Engine, str(path), checkpoints="background")
    worker = await asyncio.to_thread(Engine, str(path), checkpoints="elsewhere")
    try:
        size = _size(path)
        await worker.write(_fill, 2000)
        await eventually(
            lambda: _size(path) > size + 500_000,
            what="the database file to receive the worker's pages",
        )
    finally:
        await worker.close()
        await daemon.close()

"""The store's files are private (0600) whatever the umask of whoever opens it first."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.dispatch.journal import AcceptJournal, journal_base
from gateway.model.outcomes import Accepted
from gateway.model.records import OutcomeRecord
from gateway.store import open_store
from gateway.store.files import open_private, prepare_database


@pytest.fixture
def umask() -> Iterator[None]:
    """An operator's shell: umask 022 (restored after the test)."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("umask")
async def test_every_store_file_is_created_0600_under_umask_022(tmp_path: Path) -> None:
    db = tmp_path / "var" / "gw.db"
    store = await open_store(f"sqlite:///{db}")
    journal, _ = AcceptJournal.open(journal_base(db, "gw1"))
    journal.start()
    try:
        await store.create_account("acme")  # a write: the WAL, its index and the lock
        _, durable = journal.append(
            [OutcomeRecord(message_id="m1", index=0, link="op", outcome=Accepted(smsc_id="s1"))]
        )
        await asyncio.wait_for(durable, 5)
        modes = {p.name: _mode(p) for p in db.parent.iterdir()}
    finally:
        await journal.close()
        await store.close()
    assert set(modes) >= {
        "gw.db",
        "gw.db-wal",
        "gw.db-shm",
        "gw.db-writer.lock",
        "gw.db-gw1.accepted.0",
    }
    assert modes == dict.fromkeys(modes, 0o600)
    assert _mode(db.parent) == 0o700


def test_a_umask_that_takes_owner_bits_does_not_make_files_unwritable(tmp_path: Path) -> None:
    old = os.umask(0o277)
    try:
        os.close(open_private(tmp_path / "f", os.O_RDONLY))
    finally:
        os.umask(old)
    assert _mode(tmp_path / "f") == 0o600


@pytest.mark.usefixtures("umask")
async def test_world_readable_files_of_an_older_store_lose_their_world_bits(
    tmp_path: Path,
) -> None:
    db = tmp_path / "gw.db"
    first = await open_store(f"sqlite:///{db}")
    try:
        await first.create_account("acme")
        old = [db, Path(f"{db}-wal"), Path(f"{db}-shm"), Path(f"{db}-writer.lock")]
        for path in old:
            os.chmod(path, 0o644)  # as smsgw made them before
        os.chmod(db, 0o640)  # an operator's backup group keeps its read access...
        os.chmod(f"{db}-wal", 0o666)  # noqa: S103 - the too-open file under test
        second = await open_store(f"sqlite:///{db}")
        try:
            await second.create_account("other")
        finally:
            await second.close()
        modes = {path.name: _mode(path) for path in old}
    finally:
        await first.close()
    assert modes == {
        "gw.db": 0o640,
        "gw.db-wal": 0o660,
        "gw.db-shm": 0o640,
        "gw.db-writer.lock": 0o640,
    }  # ...the world loses its access


def _locked_by_others(path: Path) -> bool:
    """Whether another process holds a POSIX lock on ``path`` (asked from a child)."""
    probe = (
        "import fcntl, os, sys\n"
        "fd = os.open(sys.argv[1], os.O_RDWR)\n"
        "try:\n"
        "    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
        "except OSError:\n"
        "    sys.exit(1)\n"
        "sys.exit(0)\n"
    )
    return (
        subprocess.run([sys.executable, "-c", probe, str(path)], check=False, timeout=30).returncode
        == 1
    )


async def test_opening_the_store_again_keeps_the_locks_sqlite_holds(tmp_path: Path) -> None:
    # closing any descriptor of the database drops this process's POSIX locks on it,
    # SQLite's included: the files are changed by path, never opened beside SQLite
    db = tmp_path / "gw.db"
    store = await open_store(f"sqlite:///{db}")
    try:
        await store.create_account("acme")
        assert await asyncio.to_thread(_locked_by_others, db)  # WAL readers' shared lock
        prepare_database(str(db))
        assert await asyncio.to_thread(_locked_by_others, db)
    finally:
        await store.close()

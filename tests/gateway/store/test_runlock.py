"""The run lock: one ``smsgw run`` per SQLite store, the holder named in the refusal."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from gateway.model.errors import StoreInUse
from gateway.store.runlock import hold_store, run_lock_path


def test_a_held_store_is_refused_with_the_holders_pid(tmp_path: Path) -> None:
    db = tmp_path / "var" / "gw.db"
    lock = hold_store(db)
    try:
        with pytest.raises(StoreInUse) as refused:
            hold_store(db)
        assert str(refused.value) == (
            f"store {db} is in use by another smsgw run (pid {os.getpid()})"
        )
    finally:
        lock.release()
    hold_store(db).release()  # free again once released
    assert not db.exists()  # the lock is taken before the database is touched


def test_the_lock_file_is_private_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        hold_store(tmp_path / "gw.db").release()
    finally:
        os.umask(old)
    assert stat.S_IMODE(run_lock_path(tmp_path / "gw.db").stat().st_mode) == 0o600


def test_a_holder_that_wrote_no_pid_yet_is_unknown(tmp_path: Path) -> None:
    db = tmp_path / "gw.db"
    lock = hold_store(db)
    try:
        run_lock_path(db).write_text("")
        with pytest.raises(StoreInUse, match=r"\(pid unknown\)"):
            hold_store(db)
    finally:
        lock.release()

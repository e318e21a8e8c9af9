"""Opening a SQLite file the way every smsgw connection does: PRAGMAs, WAL mode, the
writers' lock file beside it."""

from __future__ import annotations

import os
import sqlite3
import time

from gateway.model.errors import NotASmsgwDatabase, StoreError
from gateway.store.files import open_private, prepare_database

BUSY_TIMEOUT_MS = 30_000
SYNCHRONOUS = ("full", "normal")


def connect(path: str, *, synchronous: str = "full", readonly: bool = False) -> sqlite3.Connection:
    """Open ``path`` with smsgw's PRAGMAs; a non-SQLite file raises NotASmsgwDatabase."""
    if synchronous not in SYNCHRONOUS:
        msg = f"[store] synchronous: {synchronous!r} is not one of {', '.join(SYNCHRONOUS)}"
        raise StoreError(msg)
    try:
        if not readonly and _on_disk(path):
            prepare_database(path)  # created 0600 here, so that -wal and -shm are too
        conn = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
        )
    except OSError as exc:
        raise StoreError(f"cannot open store {path}: {exc.strerror or exc}") from None
    except sqlite3.OperationalError as exc:
        raise StoreError(f"cannot open store {path}: {exc}") from None
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if not readonly:
            mode = set_wal(conn)
            if mode != "wal":
                msg = f"cannot put store {path} in WAL mode (journal_mode is {mode})"
                raise StoreError(msg)
        conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
        conn.execute("PRAGMA foreign_keys = ON")
        if readonly:
            conn.execute("PRAGMA query_only = ON")
    except sqlite3.OperationalError as exc:
        conn.close()
        raise StoreError(f"store {path}: {exc}") from None
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise NotASmsgwDatabase(f"{path} is not a smsgw database ({exc})") from None
    return conn


def _on_disk(path: str) -> bool:
    return path != ":memory:" and not path.startswith("file:")


def set_wal(conn: sqlite3.Connection) -> str:
    """``PRAGMA journal_mode = WAL``, retried while another connection holds the file.

    Two processes opening a fresh file at once both switch it to WAL; SQLite
    answers "database is locked" to one of them at once, without calling the
    busy handler, so this waits and tries again (bounded by the busy timeout).
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    delay = 0.001
    while True:
        try:
            return str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
        except sqlite3.OperationalError as exc:
            busy = getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY
            if not busy or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def open_writer_lock(path: str) -> int | None:
    """The file whose flock() the writers of every smsgw process take around their
    transactions (``PATH-writer.lock`` beside the database).

    SQLite lets one process write at a time; a writer that finds the lock
    taken sleeps in its busy handler (1, 2, 5, 10... ms) and tries again, which
    stretches the commits of a daemon whose workers write at the same time.
    Waiting on flock() instead, the kernel wakes the next writer as soon as the
    lock is released. Without the file (read-only directory, memory database)
    SQLite's busy handler alone keeps writes correct.
    """
    if not _on_disk(path):
        return None
    try:
        return open_private(f"{path}-writer.lock", os.O_RDONLY)
    except OSError:
        return None

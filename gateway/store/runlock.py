"""One ``smsgw run`` per SQLite store: ``{db}-run.lock``, held with flock().

A daemon owns files beside the database that no other process may touch (its
acceptance journal, replayed and deleted at start). A second daemon on the
same store would replay and delete the first one's journal, then fail on the
taken port. :func:`hold_store` is the daemon's first act on the store, before
migrations and the journal: an exclusive, non-blocking flock on the lock
file, which holds the holder's pid for the refusal's message. The kernel
releases it when the process ends, however it ends, so a crash leaves no
stale lock. Commands (``smsgw send``, ``account``...) and the daemon's own
worker processes share the store with the daemon and never take this lock;
the descriptor is close-on-exec, so workers do not inherit it either.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from gateway.model.errors import StoreInUse
from gateway.store.files import make_dir, open_private


class RunLock:
    """The held lock; :meth:`release` (or the process's end) frees it."""

    def __init__(self, fd: int, path: Path) -> None:
        self._fd: int | None = fd
        self.path = path

    def release(self) -> None:
        # the file stays: removing it would let a third process lock a new file
        # while a second one waits on the old one's inode
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


def run_lock_path(db: Path) -> Path:
    return db.with_name(f"{db.name}-run.lock")


def hold_store(db: Path) -> RunLock:
    """Take the run lock of the database ``db``, or raise :class:`StoreInUse`."""
    path = run_lock_path(db)
    make_dir(path.parent)
    fd = open_private(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(fd)
        os.close(fd)
        raise StoreInUse(f"store {db} is in use by another smsgw run (pid {holder})") from None
    except BaseException:
        os.close(fd)
        raise
    with contextlib.suppress(OSError):  # the lock holds without it; only the message loses
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return RunLock(fd, path)


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        text = ""
    return text if text.isdigit() else "unknown"

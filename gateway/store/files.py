"""The store's files on disk are private: the database holds webhook secrets,
token hashes, texts and numbers.

Every file smsgw creates beside the database (the database itself, SQLite's
``-wal`` and ``-shm``, the lock files, the acceptance journal) is created
0600 whatever the caller's umask (``os.open`` with the mode, then ``fchmod``,
since a umask can only take bits away). SQLite creates ``-wal`` and ``-shm``
with the database file's own mode, so creating the database 0600 first makes
them 0600 too.

A file that already exists and is open to everyone (world bits, as an older
smsgw made them under a 022 umask) loses those bits when it is opened; group
bits are left alone: 0640 with a backup group is an operator's choice, 0644
never is. A directory the store creates is 0700.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
SQLITE_COMPANIONS = ("-wal", "-shm")  # files SQLite keeps beside a WAL database


def open_private(path: str | os.PathLike[str], flags: int) -> int:
    """``os.open(path, flags | O_CREAT)``: a new file is 0600, an old one loses world bits."""
    for _ in range(3):  # a file removed between the two opens: create it again
        try:
            fd = os.open(path, flags | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, PRIVATE_FILE)
        except FileExistsError:
            try:
                fd = os.open(path, flags | os.O_CLOEXEC)
            except FileNotFoundError:
                continue
            _tighten_fd(fd)
            return fd
        try:
            os.fchmod(fd, PRIVATE_FILE)  # the umask may have taken owner bits away
        except OSError:
            os.close(fd)
            raise
        return fd
    return os.open(path, flags | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE)


def make_dir(path: Path) -> None:
    """Create ``path`` (and its parents) when missing; the last one 0700."""
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)


def prepare_database(path: str) -> None:
    """Before SQLite opens ``path``: create it 0600 when missing; take world bits off
    it and off an existing ``-wal``/``-shm``.

    An existing database is never opened here: closing a descriptor of a file drops
    every POSIX lock the process holds on it, SQLite's included (another connection
    of this process would lose its locks), so existing files are changed by path.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, PRIVATE_FILE)
    except FileExistsError:
        tighten(path)
    else:
        try:
            os.fchmod(fd, PRIVATE_FILE)  # the umask may have taken owner bits away
        finally:
            os.close(fd)  # a new file: nobody holds a lock on it yet
    for suffix in SQLITE_COMPANIONS:
        tighten(f"{path}{suffix}")


def tighten(path: str | os.PathLike[str]) -> None:
    """Take the world bits off a file, by path (missing, or not ours: left alone)."""
    with contextlib.suppress(FileNotFoundError, PermissionError):
        mode = stat.S_IMODE(os.stat(path).st_mode)
        if mode & 0o007:
            os.chmod(path, mode & ~0o007)


def _tighten_fd(fd: int) -> None:
    mode = stat.S_IMODE(os.fstat(fd).st_mode)
    if mode & 0o007:
        with contextlib.suppress(PermissionError):  # another user's file: theirs to fix
            os.fchmod(fd, mode & ~0o007)

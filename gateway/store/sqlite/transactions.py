"""One write transaction on SQLite: the writer lock, savepoints, one commit.

:class:`TransactionRunner` is what the Engine's writer thread
(:mod:`gateway.store.sqlite.engine`) calls for each batch of jobs it took.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import Any

from gateway.model.errors import StoreError
from gateway.model.records import WriterStats
from gateway.store.sqlite.connect import open_writer_lock

__all__ = ["TransactionRunner"]


class TransactionRunner:
    """Runs write jobs, one transaction per call: the write lock file (flock), then
    ``BEGIN IMMEDIATE``, each job in a SAVEPOINT of its own (one that raises rolls
    back alone and hands its exception back), one COMMIT. Counts what it costs
    (:class:`~gateway.model.records.WriterStats`).

    The Engine's writer thread runs one; it holds no asyncio state, so any
    thread that owns a write connection can.
    """

    def __init__(self, conn: sqlite3.Connection, path: str) -> None:
        self.conn = conn
        self.path = path
        self.lock_fd = open_writer_lock(path)
        # added to by the running thread; stats() reads them from any thread
        self._transactions = 0
        self._busy = 0.0
        self._lock_wait = 0.0
        self._commit = 0.0
        self._cpu = 0.0

    def run(
        self,
        jobs: Sequence[tuple[Callable[..., Any], tuple[Any, ...]]],
    ) -> list[tuple[bool, Any]]:
        """``fn(conn, *args)`` for each (fn, args); (True, value) or (False, exception)."""
        asked = time.monotonic()
        if self.lock_fd is None:
            results = self._transaction(jobs)
        else:
            fcntl.flock(self.lock_fd, fcntl.LOCK_EX)
            got = time.monotonic()
            self._lock_wait += got - asked
            asked = got
            cpu = time.thread_time()
            try:
                results = self._transaction(jobs)
            finally:
                fcntl.flock(self.lock_fd, fcntl.LOCK_UN)
            self._cpu += time.thread_time() - cpu
        self._transactions += 1
        self._busy += time.monotonic() - asked
        return results

    def _transaction(
        self,
        jobs: Sequence[tuple[Callable[..., Any], tuple[Any, ...]]],
    ) -> list[tuple[bool, Any]]:
        conn = self.conn
        results: list[tuple[bool, Any]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for fn, args in jobs:
                conn.execute("SAVEPOINT job")
                try:
                    value = fn(conn, *args)
                except sqlite3.OperationalError:
                    raise  # disk full, I/O error, lock timeout: the whole batch fails
                except Exception as exc:  # noqa: BLE001 (handed back to the caller)
                    conn.execute("ROLLBACK TO job")
                    results.append((False, exc))
                else:
                    results.append((True, value))
                conn.execute("RELEASE job")
            started = time.monotonic()
            conn.execute("COMMIT")
            self._commit += time.monotonic() - started
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            error = StoreError(f"store {self.path}: {exc}")
            results = [(False, error)] * len(jobs)
        return results

    def stats(self) -> WriterStats:
        return WriterStats(
            transactions=self._transactions,
            busy_seconds=self._busy,
            lock_wait_seconds=self._lock_wait,
            commit_seconds=self._commit,
            cpu_seconds=self._cpu,
        )

    def close(self) -> None:
        if self.lock_fd is not None:
            os.close(self.lock_fd)
            self.lock_fd = None

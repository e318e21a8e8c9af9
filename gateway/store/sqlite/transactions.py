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

__all__ = ["Job", "Merge", "TransactionRunner"]

# jobs run together: ``merge(conn, [args of each job])`` gives one (ok, value) per
# job, as each alone would have; when it raises, the jobs run one by one instead
Merge = Callable[[sqlite3.Connection, list[tuple[Any, ...]]], list[tuple[bool, Any]]]
# fn(conn, *args), and the merge that may run it with others (None: alone)
Job = tuple[Callable[..., Any], tuple[Any, ...], Merge | None]


class TransactionRunner:
    """Runs write jobs, one transaction per call: the write lock file (flock), then
    ``BEGIN IMMEDIATE``, each job in a SAVEPOINT of its own (one that raises rolls
    back alone and hands its exception back), or the consecutive jobs of one
    :data:`Merge` in one SAVEPOINT together, one COMMIT. Counts what it costs
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

    def run(self, jobs: Sequence[Job]) -> list[tuple[bool, Any]]:
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

    def _transaction(self, jobs: Sequence[Job]) -> list[tuple[bool, Any]]:
        conn = self.conn
        results: list[tuple[bool, Any]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            start = 0
            while start < len(jobs):
                merge = jobs[start][2]
                end = start + 1
                while merge is not None and end < len(jobs) and jobs[end][2] is merge:
                    end += 1
                group = jobs[start:end]
                merged = (
                    self._merged(merge, group) if merge is not None and end - start > 1 else None
                )
                results.extend(merged if merged is not None else map(self._alone, group))
                start = end
            started = time.monotonic()
            conn.execute("COMMIT")
            self._commit += time.monotonic() - started
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            error = StoreError(f"store {self.path}: {exc}")
            results = [(False, error)] * len(jobs)
        return results

    def _alone(self, job: Job) -> tuple[bool, Any]:
        """One job in a SAVEPOINT of its own."""
        conn = self.conn
        fn, args, _ = job
        conn.execute("SAVEPOINT job")
        try:
            value = fn(conn, *args)
        except sqlite3.OperationalError:
            raise  # disk full, I/O error, lock timeout: the whole batch fails
        except Exception as exc:  # noqa: BLE001 (handed back to the caller)
            conn.execute("ROLLBACK TO job")
            conn.execute("RELEASE job")
            return False, exc
        conn.execute("RELEASE job")
        return True, value

    def _merged(self, merge: Merge, group: Sequence[Job]) -> list[tuple[bool, Any]] | None:
        """The jobs of ``group`` run together in one SAVEPOINT; None when that
        raised (rolled back: they run one by one)."""
        conn = self.conn
        conn.execute("SAVEPOINT merged")
        try:
            results = merge(conn, [args for _, args, _ in group])
        except sqlite3.OperationalError:
            raise
        except Exception:  # noqa: BLE001 (each job alone says what it raises)
            conn.execute("ROLLBACK TO merged")
            conn.execute("RELEASE merged")
            return None
        conn.execute("RELEASE merged")
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

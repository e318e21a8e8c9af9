"""The SQLite store: one writer thread with group commit, a small pool of readers.

Writes go through a queue to one thread that owns the write connection.
When the loop is busy the thread takes every queued operation (up to
``max_batch``) into one ``BEGIN IMMEDIATE`` transaction, runs each inside
its own SAVEPOINT (a failing one rolls back alone), commits once, then
resolves the callers' futures: an operation is acknowledged only after its
commit (:class:`~gateway.store.sqlite.transactions.TransactionRunner` runs
each transaction). ``BEGIN IMMEDIATE`` takes SQLite's write lock before
anything is read, so balance checks and debits of concurrent *processes*
serialise too.
Bulk jobs (enqueues, weighted by their messages) fill a transaction up to
``max_bulk`` messages; the rest wait for the next one, so the dispatcher's
small writes do not wait behind every queued enqueue. Urgent jobs (the
dispatcher's outcomes and receipts) go first, in a transaction without bulk
jobs, which wait out one such transaction at most. A job's ``prepare`` step
(ids, rows, packed events) runs before the write lock is taken. WAL
checkpoints run inline (commands), in a thread of the daemon's Engine, or are
left to that thread (workers): see :data:`CHECKPOINTS`.

Durability: ``synchronous = FULL`` by default. In WAL mode NORMAL survives a
process crash (kill -9) but may lose the last commits on power loss or an OS
crash, which would drop messages and debits already acknowledged to clients
(docs/architecture.md: "acknowledge only what is durable"). FULL fsyncs the WAL at
every commit; group commit shares that fsync among every operation of a
batch, so throughput stays high under load. ``[store] synchronous =
"normal"`` trades that guarantee for latency where the host has a UPS or
the data is disposable.

Reads run in a thread pool, one connection per thread (WAL readers do not
block the writer nor each other).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from gateway.model.errors import StoreError
from gateway.model.records import WriterStats
from gateway.store.sqlite.connect import connect
from gateway.store.sqlite.schema import migrate
from gateway.store.sqlite.transactions import Merge, TransactionRunner

T = TypeVar("T")
# who copies the WAL back into the database file: the committing writer
# (SQLite's default), a thread of this Engine, or another process's Engine
CHECKPOINTS = ("inline", "background", "elsewhere")
CHECKPOINT_INTERVAL = 0.2  # seconds between background checkpoints, at most
CHECKPOINT_IDLE = 1.0  # seconds between background checkpoints, at least


class _Job:
    __slots__ = ("args", "bulk", "fn", "future", "loop", "merge", "prepare", "urgent")

    def __init__(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        loop: asyncio.AbstractEventLoop,
        *,
        bulk: int = 0,
        urgent: bool = False,
        prepare: Callable[..., Any] | None = None,
        merge: Merge | None = None,
    ) -> None:
        self.fn = fn
        self.args = args
        self.loop = loop
        self.bulk = bulk
        self.urgent = urgent
        self.prepare = prepare
        self.merge = merge
        self.future: asyncio.Future[Any] = loop.create_future()


class _Schedule:
    """Which queued jobs the next transaction takes: urgent ones (the dispatcher's
    outcomes) first, then small ones, up to ``max_batch``; bulk ones (enqueues,
    weighted by their messages) up to ``max_bulk`` messages, except after an
    urgent transaction they waited out (a link's next window waits for urgent
    jobs: they do not wait behind bulk jobs too, but bulk jobs wait out one such
    transaction at most, however many urgent ones keep coming)."""

    def __init__(self, *, max_batch: int, max_bulk: int) -> None:
        self._max_batch = max_batch
        self._max_bulk = max_bulk
        self._urgent: collections.deque[_Job] = collections.deque()
        self._small: collections.deque[_Job] = collections.deque()
        self._held: collections.deque[_Job] = collections.deque()  # bulk jobs, FIFO
        self._passed_over = False  # bulk jobs waited out the last transaction

    def __bool__(self) -> bool:
        return bool(self._urgent or self._small or self._held)

    def add(self, job: _Job) -> None:
        (self._urgent if job.urgent else self._held if job.bulk else self._small).append(job)

    def next(self) -> list[_Job]:
        jobs: list[_Job] = []
        while self._urgent and len(jobs) < self._max_batch:
            jobs.append(self._urgent.popleft())
        while self._small and len(jobs) < self._max_batch:
            jobs.append(self._small.popleft())
        held = self._held
        self._passed_over = bool(jobs) and jobs[0].urgent and not self._passed_over and bool(held)
        if not self._passed_over:
            bulk = 0
            while held and (not bulk or bulk + held[0].bulk <= self._max_bulk):
                bulk += held[0].bulk
                jobs.append(held.popleft())
        return jobs


def _resolve(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.done():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


def _resolve_all(answers: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    for future, ok, value in answers:
        _resolve(future, ok, value)


def _answer(jobs: list[_Job], results: list[tuple[bool, Any]]) -> None:
    """Hand a transaction's results to their callers: one wake-up of each caller's
    loop for the whole batch (each wake-up is a write to the loop's self-pipe)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
    for job, (ok, value) in zip(jobs, results, strict=True):
        by_loop.setdefault(job.loop, []).append((job.future, ok, value))
    for loop, answers in by_loop.items():
        # RuntimeError: the caller's loop is closed, nobody waits for these answers
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_resolve_all, answers)


class Engine:
    """Owns the connections and threads; runs functions ``fn(conn, *args)``."""

    def __init__(
        self,
        path: str,
        *,
        synchronous: str = "full",
        max_batch: int = 512,
        max_bulk: int = 250,
        readers: int = 2,
        checkpoints: str = "inline",
    ) -> None:
        """``checkpoints``: see :data:`CHECKPOINTS` and :meth:`_checkpoint_loop`;
        "elsewhere" is for a process whose parent checkpoints (the daemon's workers)."""
        if checkpoints not in CHECKPOINTS:
            msg = f"checkpoints: {checkpoints!r} is not one of {', '.join(CHECKPOINTS)}"
            raise ValueError(msg)
        self.path = path
        self._synchronous = synchronous
        self._max_batch = max_batch
        self._max_bulk = max_bulk
        self._conn = connect(path, synchronous=synchronous)
        try:
            migrate(self._conn, path=path)
        except BaseException:
            self._conn.close()
            raise
        self._runner = TransactionRunner(self._conn, path)
        self._closed = False
        self._checkpoint_wake = threading.Event()
        self._checkpoint_stop = threading.Event()
        self._checkpointer: threading.Thread | None = None
        if checkpoints != "inline":
            self._conn.execute("PRAGMA wal_autocheckpoint = 0")
        if checkpoints == "background":
            self._checkpointer = threading.Thread(
                target=self._checkpoint_loop, name="smsgw-store-checkpoint", daemon=True
            )
            self._checkpointer.start()
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="smsgw-store-writer", daemon=True)
        self._thread.start()
        self._pool = ThreadPoolExecutor(max_workers=readers, thread_name_prefix="smsgw-store-read")
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    # --- writing ----------------------------------------------------------------
    async def write(
        self,
        fn: Callable[..., T],
        *args: Any,
        bulk: int = 0,
        urgent: bool = False,
        prepare: Callable[..., Any] | None = None,
        merge: Merge | None = None,
        **kwargs: Any,
    ) -> T:
        """Run ``fn(conn, *args, **kwargs)`` in the writer's next transaction.

        ``bulk``: the size of a large piece of work (the messages of an
        enqueue). A transaction takes bulk jobs up to ``max_bulk`` in all (at
        least one), so that the small, frequent writes of the dispatcher
        (claims, outcomes, receipts) queued behind them wait for one
        transaction's worth, not for every enqueue queued: sending goes on
        while thousands of messages/s come in.

        ``urgent``: goes first, and not in a transaction with bulk jobs (the
        dispatcher's outcomes: lanes wait for them when there is no journal).

        ``prepare``: run by the writer thread before the write lock is taken,
        ``prepare(*args)``; ``fn`` is then called as ``fn(conn, prepared)``. What
        needs no database is done there, so the lock, which every process's
        writer shares, is held for less.

        ``merge``: jobs of one transaction that give the same ``merge`` run
        together, ``merge(conn, [args of each])`` (one result per job, as
        :data:`Merge` says), instead of one by one: the one-message enqueues of
        concurrent requests become one enqueue of them all.
        """
        if self._closed:
            raise StoreError("store is closed")
        if kwargs:
            fn = functools.partial(fn, **kwargs)
        job = _Job(
            fn,
            args,
            asyncio.get_running_loop(),
            bulk=bulk,
            urgent=urgent,
            prepare=prepare,
            merge=merge,
        )
        self._queue.put(job)
        result: T = await job.future
        return result

    def _run(self) -> None:
        schedule = _Schedule(max_batch=self._max_batch, max_bulk=self._max_bulk)
        stop = False
        while True:
            if not schedule:
                if stop:
                    break
                job = self._queue.get()
                if job is None:
                    break
                schedule.add(job)
            while True:  # everything queued meanwhile
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stop = True
                else:
                    schedule.add(job)
            jobs = self._prepare(schedule.next())
            if not jobs:
                continue
            results = self._runner.run([(job.fn, job.args, job.merge) for job in jobs])
            _answer(jobs, results)
            self._checkpoint_wake.set()
        self._conn.close()
        self._runner.close()

    def _checkpoint_loop(self) -> None:
        """Copy committed WAL frames into the database file, beside the writer.

        With ``checkpoints = "inline"`` (SQLite's default) the commit that
        takes the WAL past 1,000 pages copies them back itself, holding the
        write lock while it does (a third of the commit time under load).
        Here a connection of its own does it after commits, at most every
        CHECKPOINT_INTERVAL, PASSIVE (never waiting for readers or writers);
        SQLite releases the GIL meanwhile, so it runs on another core.
        """
        conn = connect(self.path, synchronous=self._synchronous)
        conn.execute("PRAGMA wal_autocheckpoint = 0")
        try:
            while not self._closed:
                # this process's commits wake it; other processes' (the workers')
                # are seen at least every CHECKPOINT_IDLE
                self._checkpoint_wake.wait(CHECKPOINT_IDLE)
                self._checkpoint_wake.clear()
                started = time.monotonic()
                # busy: another process checkpoints right now (a command with
                # inline checkpoints); the next round catches up
                with contextlib.suppress(sqlite3.OperationalError):
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                rest = CHECKPOINT_INTERVAL - (time.monotonic() - started)
                self._checkpoint_stop.wait(max(0.0, rest))
        finally:
            conn.close()

    def _prepare(self, jobs: list[_Job]) -> list[_Job]:
        """Run the jobs' ``prepare`` steps, outside the transaction; a failing one
        answers its caller and leaves the batch."""
        ready = []
        for job in jobs:
            if job.prepare is not None:
                try:
                    job.args = (job.prepare(*job.args),)
                except Exception as exc:  # noqa: BLE001 (handed to the caller's future)
                    with contextlib.suppress(RuntimeError):
                        job.loop.call_soon_threadsafe(_resolve, job.future, False, exc)
                    continue
            ready.append(job)
        return ready

    def stats(self) -> WriterStats:
        return self._runner.stats()

    # --- reading ----------------------------------------------------------------
    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, synchronous=self._synchronous, readonly=True)
            self._local.conn = conn
            with self._lock:
                self._readers.append(conn)
        return conn

    def _call_read(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        return fn(self._reader(), *args)

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        if self._closed:
            raise StoreError("store is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._call_read, fn, args)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        await asyncio.to_thread(self._thread.join)
        if self._checkpointer is not None:
            self._checkpoint_stop.set()
            self._checkpoint_wake.set()
            await asyncio.to_thread(self._checkpointer.join)
        self._pool.shutdown(wait=True)
        with self._lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()

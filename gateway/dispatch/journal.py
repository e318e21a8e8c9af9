"""The acceptance journal: segments an SMSC accepted, durable in a millisecond.

The data rules (docs/architecture.md) bound what a crash can make us send twice by one window per
link: a segment the SMSC accepted must be durable before the link's window
moves on. Recorded in the store, that costs a share of the store's write
lock and of its transactions (outcomes, receipts, claims and, in worker
processes, enqueues all queue for it): 5-10 ms per window under load, longer
than the SMSC's own answer. The journal makes the same fact durable first,
in files of its own beside the store: one ``write`` and one ``fdatasync``
per group of answers, in a thread of its own, with no lock to share. The
store records the same outcomes right after, as usual; once it has, the
journal's copy is no longer needed.

After a crash, :meth:`AcceptJournal.open` returns what the journal holds
(some of it may already be in the store: recording an acceptance twice
changes nothing) for the daemon to record before it sends anything; then the
files are deleted.

Files: ``{base}.{n}``, one JSON array per line
``[message_id, index, link, smsc_id]``. A new file is started every
:data:`ROTATE_RECORDS` records, and after a write that failed (disk full...), so
that what a failed write left never shares a line with records written after
it; a file is deleted once every record written to it is recorded in the store.
A last line cut short is ignored: its ``fdatasync`` never returned, so its
segments were still holding the window.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import json
import os
import queue
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gateway.link.interface import settle
from gateway.model.outcomes import Accepted
from gateway.model.records import OutcomeRecord
from gateway.store.files import open_private

ROTATE_RECORDS = 20_000  # records per file
_quote = json.encoder.encode_basestring  # a str as a JSON string literal (C)
# a queue item for the thread: (file, records, their lines, future done once durable)
_Item = tuple[int, int, bytes, asyncio.Future[None]]


class JournalError(Exception):
    """The journal cannot be written (disk full, read-only...)."""


class AcceptJournal:
    """Appends accepted segments, durably; forgets them once the store has them."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self._file = -1  # number of the file new records go to
        self._appended = 0  # records appended to that file: it rotates at ROTATE_RECORDS
        # file -> records appended, not yet in the store (those whose write failed
        # not counted: nobody marks them stored)
        self._unstored: dict[int, int] = {}
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        # the thread's own
        self._fd: int | None = None
        self._fd_file = -1
        self._broken: set[int] = set()  # files a write failed in: none written since

    # --- opening and recovery -----------------------------------------------------

    @classmethod
    def open(cls, base: Path) -> tuple[AcceptJournal, list[OutcomeRecord]]:
        """The journal at ``base`` and the acceptances a previous run left in it.

        Record those in the store, then call :meth:`recovered` to delete them.
        """
        journal = cls(base)
        records: list[OutcomeRecord] = []
        for _, path in journal._files():
            records.extend(_read(path))
        return journal, records

    def recovered(self) -> None:
        """What :meth:`open` returned is in the store: delete the old files."""
        for _, path in self._files():
            path.unlink(missing_ok=True)
        self._file = 0
        self._appended = 0
        self._unstored = {0: 0}

    def _files(self) -> list[tuple[int, Path]]:
        found: list[tuple[int, Path]] = []
        prefix = self.base.name + "."
        for path in self.base.parent.glob(glob.escape(self.base.name) + ".*"):
            tail = path.name[len(prefix) :]
            if tail.isdigit():
                found.append((int(tail), path))
        return sorted(found)

    # --- appending ----------------------------------------------------------------

    def start(self) -> None:
        if self._file < 0:
            self.recovered()
        self._thread = threading.Thread(target=self._run, name="smsgw-journal", daemon=True)
        self._thread.start()

    def append(self, accepted: Sequence[OutcomeRecord]) -> tuple[int, asyncio.Future[None]]:
        """Queue accepted segments; (the file they go to, a future done once durable).

        The future fails with :class:`JournalError` when they could not be written.
        """
        quote = _quote
        lines = "".join(
            [
                f"[{quote(r.message_id)},{r.index},{quote(r.link)},"
                f"{quote(r.outcome.smsc_id if isinstance(r.outcome, Accepted) else '')}]\n"
                for r in accepted
            ]
        ).encode()
        if self._appended >= ROTATE_RECORDS:
            self._rotate()
        file = self._file
        self._appended += len(accepted)
        self._unstored[file] += len(accepted)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put((file, len(accepted), lines, future))
        return file, future

    def stored(self, file: int, count: int) -> None:
        """``count`` records appended to ``file`` are now in the store."""
        left = self._unstored.get(file)
        if left is None:
            return
        left -= count
        self._unstored[file] = left
        if left <= 0 and file != self._file:
            self._delete(file)

    def _rotate(self) -> None:
        old = self._file
        self._file += 1
        self._appended = 0
        self._unstored[self._file] = 0
        if self._unstored[old] <= 0:  # the store already has all of it
            self._delete(old)

    def _delete(self, file: int) -> None:
        del self._unstored[file]
        self._queue.put((file, 0, b"", _DELETE))  # deleted by the thread, in order

    def _unwritten(self, file: int, count: int) -> None:
        """``count`` records appended to ``file`` could not be written (their futures
        fail): nothing more goes to that file, and it goes once the others are stored.

        The store may have recorded them and said so already (it records them
        whether the journal could or not): then they count twice, which is
        harmless. :meth:`stored` comes in the order of :meth:`append`, so every
        record written to the file before them is stored by then, and none was
        written to it after them.
        """
        if file == self._file:
            self._rotate()
        self.stored(file, count)

    async def close(self) -> None:
        """Stop; files whose every record is in the store are deleted, the others kept
        for the next start."""
        if self._thread is not None:
            self._queue.put(None)
            await asyncio.to_thread(self._thread.join)
            self._thread = None
        await asyncio.to_thread(self._delete_stored)

    def _delete_stored(self) -> None:
        for file, left in self._unstored.items():
            if left <= 0:
                Path(f"{self.base}.{file}").unlink(missing_ok=True)

    # --- the thread ---------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                item = self._queue.get()
                if item is None:
                    return
                batch = [item]
                with contextlib.suppress(queue.Empty):
                    while True:
                        more = self._queue.get_nowait()
                        if more is None:
                            self._write(batch)
                            return
                        batch.append(more)
                self._write(batch)
        finally:
            self._close()

    def _write(self, batch: list[_Item]) -> None:
        pending: list[_Item] = []
        for item in batch:
            file, _, _, future = item
            if future is _DELETE:
                self._flush(pending)
                pending = []
                if file == self._fd_file:
                    self._close()
                self._broken.discard(file)
                with contextlib.suppress(OSError):  # left: the next start reads it again
                    Path(f"{self.base}.{file}").unlink(missing_ok=True)
            else:
                pending.append(item)
        self._flush(pending)

    def _flush(self, pending: list[_Item]) -> None:
        by_file: dict[int, list[_Item]] = {}
        for item in pending:
            by_file.setdefault(item[0], []).append(item)
        for file, items in by_file.items():
            error = self._append_lines(file, b"".join(item[2] for item in items))
            loop = items[0][3].get_loop()
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                if error is not None:
                    loop.call_soon_threadsafe(self._unwritten, file, sum(item[1] for item in items))
                for item in items:
                    loop.call_soon_threadsafe(settle, item[3], error)

    def _append_lines(self, file: int, data: bytes) -> JournalError | None:
        """Write and sync ``data`` to ``file``; the error when that failed.

        After a failure (possibly after part of ``data`` was written) nothing more is
        written to the file: the next line would continue the fragment.
        """
        if file in self._broken:
            return JournalError(
                f"acceptance journal {self.base}.{file}: an earlier write to it failed"
            )
        try:
            fd = self._open(file)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fdatasync(fd)
        except OSError as exc:
            self._broken.add(file)
            self._close()
            return JournalError(f"acceptance journal {self.base}.{file}: {exc.strerror or exc}")
        return None

    def _open(self, file: int) -> int:
        if self._fd_file != file or self._fd is None:
            self._close()
            self._fd = open_private(f"{self.base}.{file}", os.O_WRONLY | os.O_APPEND)
            self._fd_file = file
        return self._fd

    def _close(self) -> None:
        fd, self._fd, self._fd_file = self._fd, None, -1
        if fd is not None:
            with contextlib.suppress(OSError):  # what it wrote is synced, or reported failed
                os.close(fd)


_DELETE: Any = object()  # the future of an item that deletes its file instead


def _read(path: Path) -> list[OutcomeRecord]:
    records: list[OutcomeRecord] = []
    with path.open("rb") as f:
        for line in f:
            try:
                message_id, index, link, smsc_id = json.loads(line)
            except ValueError:
                continue  # the last line, cut short by the crash
            records.append(
                OutcomeRecord(
                    message_id=str(message_id),
                    index=int(index),
                    link=str(link),
                    outcome=Accepted(smsc_id=str(smsc_id)),
                )
            )
    return records


def journal_base(store: Path, worker: str) -> Path:
    """Where a dispatcher's journal lives: ``{store}-{worker}.accepted`` (the files
    ``.0``, ``.1``... after it), beside the store's database file."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in worker) or "worker"
    return store.with_name(f"{store.name}-{safe}.accepted")

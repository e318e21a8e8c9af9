"""The acceptance journal: durable before the future resolves, recovered after a crash,
forgotten once the store has it."""

from __future__ import annotations

import asyncio
import errno
import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.dispatch import journal as journal_module
from gateway.dispatch.journal import AcceptJournal, JournalError, journal_base
from gateway.model.outcomes import Accepted
from gateway.model.records import OutcomeRecord


def _accepted(n: int, start: int = 0) -> list[OutcomeRecord]:
    return [
        OutcomeRecord(
            message_id=f"m{i}", index=i % 2, link="op-a", outcome=Accepted(smsc_id=f"id-{i}")
        )
        for i in range(start, start + n)
    ]


def _append(path: Path, data: bytes) -> None:
    with path.open("ab") as f:
        f.write(data)


@pytest.fixture
def small_files(monkeypatch: pytest.MonkeyPatch) -> None:
    """A new journal file every 4 records."""
    monkeypatch.setattr(journal_module, "ROTATE_RECORDS", 4)


def _started(base: Path) -> AcceptJournal:
    journal, _ = AcceptJournal.open(base)
    journal.start()
    return journal


async def _durable(journal: AcceptJournal, records: list[OutcomeRecord]) -> int:
    """Append and wait until durable; the file they went to."""
    file, durable = journal.append(records)
    await asyncio.wait_for(durable, 5)
    return file


def _files(base: Path) -> list[str]:
    return sorted(p.name for p in base.parent.iterdir() if p.name.startswith(base.name))


def _in_the_journal_thread() -> bool:
    return threading.current_thread().name == "smsgw-journal"


def _fill_the_disk(
    monkeypatch: pytest.MonkeyPatch,
    *,
    first: Callable[[], object] = lambda: None,
) -> None:
    """The journal's next write stops part way (after ``first()``): the disk is full."""
    real_write = os.write
    armed = [True]

    def write(fd: int, data: memoryview | bytes) -> int:
        if not armed or not _in_the_journal_thread():
            return real_write(fd, data)
        armed.clear()
        first()
        real_write(fd, bytes(data)[:7])  # a fragment of the first line
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", write)


async def test_appended_acceptances_come_back_after_a_crash(tmp_path: Path) -> None:
    base = journal_base(tmp_path / "gw.db", "gw-1")
    journal, left = AcceptJournal.open(base)
    assert left == []
    journal.start()
    await _durable(journal, _accepted(3))
    # the process dies here: no stored(), no close()
    again, left = AcceptJournal.open(base)
    assert left == _accepted(3)
    again.recovered()
    assert _files(base) == []
    await journal.close()


async def test_a_last_line_cut_short_is_ignored(tmp_path: Path) -> None:
    base = tmp_path / "j"
    journal = _started(base)
    await _durable(journal, _accepted(2))
    await journal.close()  # nothing marked stored: the file stays
    _append(Path(f"{base}.0"), b'["m9",0,"op-a","id')  # the crash cut the write short
    _, left = AcceptJournal.open(base)
    assert left == _accepted(2)


@pytest.mark.usefixtures("small_files")
async def test_files_go_once_the_store_has_every_record(tmp_path: Path) -> None:
    base = tmp_path / "j"
    journal = _started(base)
    first = await _durable(journal, _accepted(4))
    second = await _durable(journal, _accepted(2, start=4))  # the first file is full
    assert (first, second) == (0, 1)
    assert _files(base) == ["j.0", "j.1"]
    journal.stored(first, 3)
    journal.stored(first, 1)  # all four in the store: the file goes
    await _durable(journal, _accepted(1, start=8))  # the thread deletes in order
    assert _files(base) == ["j.1"]
    journal.stored(second, 3)
    await journal.close()  # a clean stop: nothing left to keep
    assert _files(base) == []


@pytest.mark.usefixtures("small_files")
async def test_files_rotate_while_the_store_keeps_up(tmp_path: Path) -> None:
    base = tmp_path / "j"
    journal = _started(base)
    files = []
    for start in range(0, 12, 2):
        file = await _durable(journal, _accepted(2, start=start))
        journal.stored(file, 2)  # the store keeps up: never a full file waiting
        files.append(file)
    assert files == [0, 0, 1, 1, 2, 2]
    assert _files(base) == ["j.2"]  # full and all in the store: gone at rotation
    await journal.close()
    assert _files(base) == []


async def test_close_keeps_what_the_store_does_not_have(tmp_path: Path) -> None:
    base = tmp_path / "j"
    journal = _started(base)
    file = await _durable(journal, _accepted(2))
    journal.stored(file, 1)
    await journal.close()
    _, left = AcceptJournal.open(base)
    assert left == _accepted(2)  # recorded once more after restart: changes nothing


async def test_a_journal_that_cannot_be_written_fails_its_future(tmp_path: Path) -> None:
    journal = _started(tmp_path / "missing-directory" / "j")
    _, durable = journal.append(_accepted(1))
    with pytest.raises(JournalError, match="acceptance journal"):
        await asyncio.wait_for(durable, 5)
    await journal.close()


async def test_a_failed_write_never_shares_a_line_with_later_records(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base = tmp_path / "j"
    journal = _started(base)
    writing, go_on = threading.Event(), threading.Event()

    def wait_for_the_next_append() -> None:
        writing.set()
        go_on.wait(5)

    _fill_the_disk(monkeypatch, first=wait_for_the_next_append)
    first, failed = journal.append(_accepted(2))
    assert await asyncio.to_thread(writing.wait, 5)
    behind, queued = journal.append(_accepted(1, start=2))  # the failure not known yet
    go_on.set()
    for future in (failed, queued):
        with pytest.raises(JournalError, match="acceptance journal"):
            await asyncio.wait_for(future, 5)
    after = await _durable(journal, _accepted(1, start=3))
    assert (first, behind, after) == (0, 0, 1)  # a new file after the failure
    await journal.close()
    _, left = AcceptJournal.open(base)
    assert left == _accepted(1, start=3)


async def test_a_file_with_a_failed_write_goes_once_its_written_records_are_stored(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base = tmp_path / "j"
    journal = _started(base)
    first = await _durable(journal, _accepted(2))
    _fill_the_disk(monkeypatch)
    _, failed = journal.append(_accepted(1, start=2))
    with pytest.raises(JournalError, match=os.strerror(errno.ENOSPC)):
        await asyncio.wait_for(failed, 5)
    second = await _durable(journal, _accepted(1, start=3))
    assert (first, second) == (0, 1)
    journal.stored(first, 2)  # the failed record is never marked stored
    await _durable(journal, _accepted(1, start=4))  # the thread deletes in order
    assert _files(base) == ["j.1"]
    await journal.close()


@pytest.mark.usefixtures("small_files")
async def test_a_file_that_cannot_be_deleted_does_not_stop_the_journal(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base = tmp_path / "j"
    journal = _started(base)
    real_unlink = Path.unlink

    def unlink(path: Path, missing_ok: bool = False) -> None:
        if _in_the_journal_thread():
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        real_unlink(path, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", unlink)
    first = await _durable(journal, _accepted(4))
    await _durable(journal, _accepted(1, start=4))
    journal.stored(first, 4)  # the thread cannot delete the file
    await _durable(journal, _accepted(1, start=5))  # and still writes
    assert _files(base) == ["j.0", "j.1"]  # left for the next start to read again
    await journal.close()


async def test_a_base_name_with_glob_characters_is_matched_literally(tmp_path: Path) -> None:
    base = tmp_path / "j[1]*?"
    journal = _started(base)
    await _durable(journal, _accepted(1))
    await journal.close()
    _append(tmp_path / "j1abcd.99", b'["other",0,"op-a","id-x"]\n')  # matches j[1]*?.* unescaped
    _, left = AcceptJournal.open(base)
    assert left == _accepted(1)


def test_journal_names_are_safe_file_names(tmp_path: Path) -> None:
    assert journal_base(tmp_path / "gw.db", "gw-1").name == "gw.db-gw-1.accepted"
    assert journal_base(tmp_path / "gw.db", "a/b c").name == "gw.db-a_b_c.accepted"

"""The acceptance journal: durable before the future resolves, recovered after a crash,
forgotten once the store has it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gateway import journal as journal_module
from gateway.journal import AcceptJournal, JournalError, journal_base
from gateway.link import Accepted
from gateway.store.records import OutcomeRecord


def _accepted(n: int, start: int = 0) -> list[OutcomeRecord]:
    return [OutcomeRecord(message_id=f"m{i}", index=i % 2, link="op-a",
                          outcome=Accepted(smsc_id=f"id-{i}"))
            for i in range(start, start + n)]


def _append(path: Path, data: bytes) -> None:
    with path.open("ab") as f:
        f.write(data)


def _files(base: Path) -> list[str]:
    return sorted(p.name for p in base.parent.iterdir() if p.name.startswith(base.name))


async def test_appended_acceptances_come_back_after_a_crash(tmp_path: Path) -> None:
    base = journal_base(tmp_path / "gw.db", "gw-1")
    journal, left = AcceptJournal.open(base)
    assert left == []
    journal.start()
    _, durable = journal.append(_accepted(3))
    await asyncio.wait_for(durable, 5)
    # the process dies here: no stored(), no close()
    again, left = AcceptJournal.open(base)
    assert left == _accepted(3)
    again.recovered()
    assert _files(base) == []


async def test_a_last_line_cut_short_is_ignored(tmp_path: Path) -> None:
    base = tmp_path / "j"
    journal, _ = AcceptJournal.open(base)
    journal.start()
    _, durable = journal.append(_accepted(2))
    await asyncio.wait_for(durable, 5)
    await journal.close()  # nothing marked stored: the file stays
    _append(Path(f"{base}.0"), b'["m9",0,"op-a","id')  # the crash cut the write short
    _, left = AcceptJournal.open(base)
    assert left == _accepted(2)


async def test_files_go_once_the_store_has_every_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(journal_module, "ROTATE_RECORDS", 4)
    base = tmp_path / "j"
    journal, _ = AcceptJournal.open(base)
    journal.start()
    first, durable = journal.append(_accepted(4))
    await asyncio.wait_for(durable, 5)
    second, durable = journal.append(_accepted(2, start=4))  # the first file is full
    await asyncio.wait_for(durable, 5)
    assert (first, second) == (0, 1)
    assert _files(base) == ["j.0", "j.1"]
    journal.stored(first, 3)
    journal.stored(first, 1)  # all four in the store: the file goes
    _, durable = journal.append(_accepted(1, start=8))  # the thread deletes in order
    await asyncio.wait_for(durable, 5)
    assert _files(base) == ["j.1"]
    journal.stored(second, 3)
    await journal.close()  # a clean stop: nothing left to keep
    assert _files(base) == []


async def test_close_keeps_what_the_store_does_not_have(tmp_path: Path) -> None:
    base = tmp_path / "j"
    journal, _ = AcceptJournal.open(base)
    journal.start()
    file, durable = journal.append(_accepted(2))
    await asyncio.wait_for(durable, 5)
    journal.stored(file, 1)
    await journal.close()
    _, left = AcceptJournal.open(base)
    assert left == _accepted(2)  # recorded once more after restart: changes nothing


async def test_a_journal_that_cannot_be_written_fails_its_future(tmp_path: Path) -> None:
    journal, _ = AcceptJournal.open(tmp_path / "missing-directory" / "j")
    journal.start()
    _, durable = journal.append(_accepted(1))
    with pytest.raises(JournalError, match="acceptance journal"):
        await asyncio.wait_for(durable, 5)
    await journal.close()


def test_journal_names_are_safe_file_names(tmp_path: Path) -> None:
    assert journal_base(tmp_path / "gw.db", "gw-1").name == "gw.db-gw-1.accepted"
    assert journal_base(tmp_path / "gw.db", "a/b c").name == "gw.db-a_b_c.accepted"

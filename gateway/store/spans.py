"""The windows of the account lists (messages, journal, replies): a time range and a
page's keyset, as SQL conditions both backends use.

A page's cursor is the key of its last row: (created_at, id) for messages read
newest first, the entry id for the journal, the reply's id for replies. A next
page reads the rows below it, so rows inserted meanwhile (newer, larger keys)
never shift a page. ``mark(value)`` is the backend's placeholder for a
parameter (``?`` for SQLite, ``$n`` for PostgreSQL), which keeps the value and
returns the text to use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["InboundSpan", "JournalSpan", "Mark", "MessageSpan", "Placeholders"]

Mark = Callable[[object], str]


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageSpan:
    since: float | None = None  # created_at >= since
    until: float | None = None  # created_at < until
    before: tuple[float, str] | None = None  # (created_at, id) below this key

    def conditions(self, mark: Mark) -> list[str]:
        where: list[str] = []
        if self.since is not None:
            where.append(f"created_at >= {mark(self.since)}")
        if self.until is not None:
            where.append(f"created_at < {mark(self.until)}")
        if self.before is not None:
            at, key = self.before
            where.append(f"(created_at, id) < ({mark(at)}, {mark(key)})")
        return where


@dataclass(frozen=True, slots=True, kw_only=True)
class JournalSpan:
    since: float | None = None  # at >= since
    until: float | None = None  # at < until
    before: int | None = None  # id below this one

    def conditions(self, mark: Mark) -> list[str]:
        where: list[str] = []
        if self.since is not None:
            where.append(f"at >= {mark(self.since)}")
        if self.until is not None:
            where.append(f"at < {mark(self.until)}")
        if self.before is not None:
            where.append(f"id < {mark(self.before)}")
        return where


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundSpan:
    since: float | None = None  # received_at >= since
    until: float | None = None  # received_at < until
    before: str | None = None  # id below this one (ids sort by the time they were stored)

    def conditions(self, mark: Mark, *, key: str = "id") -> list[str]:
        """``key``: the id as the backend orders it (PostgreSQL: bytewise, ``COLLATE "C"``)."""
        where: list[str] = []
        if self.since is not None:
            where.append(f"received_at >= {mark(self.since)}")
        if self.until is not None:
            where.append(f"received_at < {mark(self.until)}")
        if self.before is not None:
            where.append(f"{key} < {mark(self.before)}")
        return where


class Placeholders:
    """Parameters with their placeholders: ``?`` (SQLite) or ``$1, $2...`` (PostgreSQL)."""

    def __init__(self, *, numbered: bool) -> None:
        self.params: list[object] = []
        self._numbered = numbered

    def __call__(self, value: object) -> str:
        self.params.append(value)
        return f"${len(self.params)}" if self._numbered else "?"

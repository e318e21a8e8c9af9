"""The stoplist on SQLite (rules: gateway.store.stoplist)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from gateway.model.orders import StopEntry, StopSource
from gateway.model.records import InboundMessage
from gateway.store.sqlite.events import add_inbound
from gateway.store.sqlite.rows import chunks, require_account
from gateway.store.stoplist import STOP_COLUMNS, check_number, not_stopped, stop_from

_SELECT = f"SELECT {STOP_COLUMNS} FROM stoplist"  # noqa: S608 (constant column list)


def insert_stop(
    conn: sqlite3.Connection, account: str, number: str, source: StopSource, now: float
) -> bool:
    """Add the entry unless the account has one for ``number``; whether it was added."""
    cur = conn.execute(
        "INSERT OR IGNORE INTO stoplist (account, number, source, created_at) VALUES (?, ?, ?, ?)",
        (account, number, source.value, now),
    )
    return cur.rowcount == 1


def add_stop(
    conn: sqlite3.Connection, account: str, number: str, source: StopSource, now: float
) -> tuple[StopEntry, bool]:
    check_number(number)
    require_account(conn, account)
    added = insert_stop(conn, account, number, source, now)
    row = conn.execute(_SELECT + " WHERE account = ? AND number = ?", (account, number)).fetchone()
    return stop_from(row), added


def remove_stop(conn: sqlite3.Connection, account: str, number: str) -> StopEntry:
    require_account(conn, account)
    row = conn.execute(_SELECT + " WHERE account = ? AND number = ?", (account, number)).fetchone()
    if row is None:
        raise not_stopped(account, number)
    conn.execute("DELETE FROM stoplist WHERE account = ? AND number = ?", (account, number))
    return stop_from(row)


def list_stops(conn: sqlite3.Connection, account: str) -> list[StopEntry]:
    require_account(conn, account)
    rows = conn.execute(_SELECT + " WHERE account = ? ORDER BY number", (account,)).fetchall()
    return [stop_from(r) for r in rows]


def stopped_numbers(conn: sqlite3.Connection, account: str, numbers: Sequence[str]) -> set[str]:
    """Which of ``numbers`` are on the account's stoplist (one indexed read per 500)."""
    found: set[str] = set()
    for part in chunks(list(dict.fromkeys(numbers))):
        marks = ", ".join("?" * len(part))
        rows = conn.execute(
            f"SELECT number FROM stoplist WHERE account = ? AND number IN ({marks})",  # noqa: S608
            (account, *part),
        ).fetchall()
        found.update(r[0] for r in rows)
    return found


def add_stopping_reply(conn: sqlite3.Connection, m: InboundMessage, *, outbox: bool) -> None:
    """Store a reply that is a stop keyword and, in the same transaction, put its
    source on the stoplist of the account owning its destination (if any)."""
    add_inbound(conn, m, outbox=outbox)
    if m.account is not None:
        insert_stop(conn, m.account, m.source, StopSource.REPLY, m.received_at)

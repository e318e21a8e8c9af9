"""Ledger journal operations on SQLite; run inside the writer's transaction."""

from __future__ import annotations

import sqlite3

from gateway.accounting.ledger import AccountState, repeated_topup
from gateway.model.records import Balance, EntryKind, LedgerEntry, LedgerResult
from gateway.store.columns import LEDGER_COLUMNS, entry_from
from gateway.store.spans import JournalSpan, Placeholders
from gateway.store.sqlite.rows import require_account


def load_state(conn: sqlite3.Connection, name: str) -> AccountState:
    row = require_account(conn, name)
    return AccountState(
        name=row[0],
        balance=row[1],
        credit_limit=row[2],
        monthly_cap=row[3],
        alert_below=row[4],
        month=row[5],
        month_spent=row[6],
        alert_armed=bool(row[8]),
    )


def save_state(conn: sqlite3.Connection, st: AccountState) -> None:
    conn.execute(
        "UPDATE accounts SET balance = ?, alert_armed = ?, month = ?, month_spent = ? "
        "WHERE name = ?",
        (st.balance, int(st.alert_armed), st.month, st.month_spent, st.name),
    )


INSERT_ENTRY = (
    "INSERT INTO ledger (account, at, kind, amount, balance_after, reference, message_id, note) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


def insert_entry(
    conn: sqlite3.Connection,
    *,
    account: str,
    at: float,
    kind: EntryKind,
    amount: int,
    balance_after: int,
    reference: str | None = None,
    message_id: str | None = None,
    note: str | None = None,
) -> LedgerEntry:
    cur = conn.execute(
        INSERT_ENTRY,
        (account, at, kind.value, amount, balance_after, reference, message_id, note),
    )
    return LedgerEntry(
        id=int(cur.lastrowid or 0),
        account=account,
        at=at,
        kind=kind,
        amount=amount,
        balance_after=balance_after,
        reference=reference,
        message_id=message_id,
        note=note,
    )


def topup(
    conn: sqlite3.Connection,
    account: str,
    amount: int,
    *,
    reference: str,
    note: str | None,
    now: float,
) -> LedgerResult:
    st = load_state(conn, account)
    row = conn.execute(
        f"SELECT {LEDGER_COLUMNS} FROM ledger "  # noqa: S608 (constant column list)
        "WHERE account = ? AND reference = ? AND kind = 'topup'",
        (account, reference),
    ).fetchone()
    if row is not None:
        return repeated_topup(entry_from(row), amount)
    crossing = st.topup(amount, now)
    save_state(conn, st)
    entry = insert_entry(
        conn,
        account=account,
        at=now,
        kind=EntryKind.TOPUP,
        amount=amount,
        balance_after=st.balance,
        reference=reference,
        note=note,
    )
    return LedgerResult(entry=entry, crossing=crossing)


def adjust(
    conn: sqlite3.Connection, account: str, amount: int, note: str, now: float
) -> LedgerResult:
    st = load_state(conn, account)
    crossing = st.adjust(amount, now)
    save_state(conn, st)
    entry = insert_entry(
        conn,
        account=account,
        at=now,
        kind=EntryKind.ADJUSTMENT,
        amount=amount,
        balance_after=st.balance,
        note=note,
    )
    return LedgerResult(entry=entry, crossing=crossing)


def refund(
    conn: sqlite3.Connection,
    st: AccountState,
    *,
    message_id: str,
    amount: int,
    debited_at: float,
    now: float,
    note: str,
) -> LedgerEntry | None:
    """Refund ``amount`` for a message once (a second refund for it is a no-op)."""
    if amount <= 0:
        return None
    if conn.execute(
        "SELECT 1 FROM ledger WHERE message_id = ? AND kind = 'refund'", (message_id,)
    ).fetchone():
        return None
    st.refund(amount, now, debited_at=debited_at)
    return insert_entry(
        conn,
        account=st.name,
        at=now,
        kind=EntryKind.REFUND,
        amount=amount,
        balance_after=st.balance,
        message_id=message_id,
        note=note,
    )


def history(
    conn: sqlite3.Connection, account: str, limit: int | None, span: JournalSpan
) -> list[LedgerEntry]:
    """The account's entries in ``span``, oldest first: the last ``limit`` (None: all)."""
    require_account(conn, account)
    mark = Placeholders(numbered=False)
    where = " AND ".join([f"account = {mark(account)}", *span.conditions(mark)])
    rows = conn.execute(
        f"SELECT * FROM (SELECT {LEDGER_COLUMNS} FROM ledger WHERE {where} "  # noqa: S608
        f"ORDER BY id DESC LIMIT {mark(-1 if limit is None else limit)}) ORDER BY id",
        mark.params,
    ).fetchall()
    return [entry_from(r) for r in rows]


def balance(conn: sqlite3.Connection, account: str, now: float) -> Balance:
    return load_state(conn, account).summary(now)


def verify(conn: sqlite3.Connection) -> dict[str, tuple[int, int]]:
    rows = conn.execute(
        "SELECT a.name, a.balance, coalesce(sum(l.amount), 0) FROM accounts a "
        "LEFT JOIN ledger l ON l.account = a.name GROUP BY a.name"
    ).fetchall()
    return {name: (bal, total) for name, bal, total in rows if bal != total}

"""Ledger rows on PostgreSQL: an account's state under its row lock, journal entries.

Every change of an account's money runs in the transaction of the change
that causes it, with the account row locked first (``FOR UPDATE``): two
daemons debiting the same account wait for each other, so the balance never
goes below ``-credit_limit`` and the month's spending never above its cap
(the rules are :class:`~gateway.accounting.ledger.AccountState`'s).
"""

from __future__ import annotations

from typing import Any

from gateway.accounting.ledger import AccountState
from gateway.model.errors import NotFound
from gateway.model.records import EntryKind, LedgerEntry

_STATE = (
    "SELECT name, balance, credit_limit, monthly_cap, alert_below, month, month_spent, "
    "alert_armed FROM accounts WHERE name = $1"
)
INSERT_ENTRY = (
    "INSERT INTO ledger (account, at, kind, amount, balance_after, reference, message_id, note) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id"
)


def unknown_account(name: str) -> NotFound:
    return NotFound(f"unknown account {name!r}: create it with `smsgw account create {name}`")


async def load_state(conn: Any, name: str, *, lock: bool = True) -> AccountState:
    """The account's money, its row locked until the transaction ends (``lock``)."""
    row = await conn.fetchrow(_STATE + (" FOR UPDATE" if lock else ""), name)
    if row is None:
        raise unknown_account(name)
    return AccountState(
        name=row["name"],
        balance=row["balance"],
        credit_limit=row["credit_limit"],
        monthly_cap=row["monthly_cap"],
        alert_below=row["alert_below"],
        month=row["month"],
        month_spent=row["month_spent"],
        alert_armed=row["alert_armed"],
    )


async def save_state(conn: Any, st: AccountState) -> None:
    await conn.execute(
        "UPDATE accounts SET balance = $1, alert_armed = $2, month = $3, month_spent = $4 "
        "WHERE name = $5",
        st.balance,
        st.alert_armed,
        st.month,
        st.month_spent,
        st.name,
    )


async def insert_entry(
    conn: Any,
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
    entry_id = await conn.fetchval(
        INSERT_ENTRY, account, at, kind.value, amount, balance_after, reference, message_id, note
    )
    return LedgerEntry(
        id=int(entry_id),
        account=account,
        at=at,
        kind=kind,
        amount=amount,
        balance_after=balance_after,
        reference=reference,
        message_id=message_id,
        note=note,
    )


async def refund(
    conn: Any,
    st: AccountState,
    *,
    message_id: str,
    amount: int,
    debited_at: float,
    now: float,
    note: str,
) -> LedgerEntry | None:
    """Refund ``amount`` for a message once (a second refund for it is a no-op);
    ``st`` is the account's state loaded under its lock in this transaction."""
    if amount <= 0:
        return None
    if await conn.fetchval(
        "SELECT 1 FROM ledger WHERE message_id = $1 AND kind = 'refund'", message_id
    ):
        return None
    st.refund(amount, now, debited_at=debited_at)
    return await insert_entry(
        conn,
        account=st.name,
        at=now,
        kind=EntryKind.REFUND,
        amount=amount,
        balance_after=st.balance,
        message_id=message_id,
        note=note,
    )

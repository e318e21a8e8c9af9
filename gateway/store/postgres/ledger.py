"""Ledger rows on PostgreSQL: an account's state under its row lock, journal entries.

Every change of an account's money runs in the transaction of the change
that causes it, with the account row locked first (``FOR NO KEY UPDATE``:
its key never changes, so rows that refer to it, such as a new token, are
not held up by the lock): two
daemons debiting the same account wait for each other, so the balance never
goes below ``-credit_limit`` and the month's spending never above its cap
(the rules are :class:`~gateway.accounting.ledger.AccountState`'s).

A top-up's reference is looked up after the lock, so the same reference sent
twice at once waits and finds the first; the unique index ``ledger_topup_ref``
is the last word all the same (an entry it refuses is that duplicate).
"""

from __future__ import annotations

from typing import Any

from gateway.accounting.ledger import AccountState, repeated_topup
from gateway.model.records import Balance, EntryKind, LedgerEntry, LedgerResult
from gateway.store.accounts import unknown_account
from gateway.store.columns import LEDGER_COLUMNS, entry_from
from gateway.store.spans import JournalSpan, Placeholders

_STATE = (
    "SELECT name, balance, credit_limit, monthly_cap, alert_below, month, month_spent, "
    "alert_armed FROM accounts WHERE name = $1"
)
_TOPUP = (
    f"SELECT {LEDGER_COLUMNS} FROM ledger "  # noqa: S608 (constant column list)
    "WHERE account = $1 AND reference = $2 AND kind = 'topup'"
)
_INSERT_TOPUP = (
    "INSERT INTO ledger (account, at, kind, amount, balance_after, reference, note) "
    "VALUES ($1, $2, 'topup', $3, $4, $5, $6) "
    "ON CONFLICT (account, reference) WHERE kind = 'topup' DO NOTHING RETURNING id"
)
INSERT_ENTRY = (
    "INSERT INTO ledger (account, at, kind, amount, balance_after, reference, message_id, note) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id"
)


async def load_state(conn: Any, name: str, *, lock: bool = True) -> AccountState:
    """The account's money, its row locked until the transaction ends (``lock``)."""
    row = await conn.fetchrow(_STATE + (" FOR NO KEY UPDATE" if lock else ""), name)
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


async def topup(
    conn: Any, account: str, amount: int, *, reference: str, note: str | None, now: float
) -> LedgerResult:
    st = await load_state(conn, account)
    row = await conn.fetchrow(_TOPUP, account, reference)
    if row is not None:
        return repeated_topup(entry_from(row), amount)
    crossing = st.topup(amount, now)
    entry_id = await conn.fetchval(_INSERT_TOPUP, account, now, amount, st.balance, reference, note)
    if entry_id is None:  # ledger_topup_ref: credited meanwhile by a writer without the lock
        return repeated_topup(entry_from(await conn.fetchrow(_TOPUP, account, reference)), amount)
    await save_state(conn, st)
    entry = LedgerEntry(
        id=int(entry_id),
        account=account,
        at=now,
        kind=EntryKind.TOPUP,
        amount=amount,
        balance_after=st.balance,
        reference=reference,
        message_id=None,
        note=note,
    )
    return LedgerResult(entry=entry, crossing=crossing)


async def adjust(conn: Any, account: str, amount: int, note: str, now: float) -> LedgerResult:
    st = await load_state(conn, account)
    crossing = st.adjust(amount, now)
    await save_state(conn, st)
    entry = await insert_entry(
        conn,
        account=account,
        at=now,
        kind=EntryKind.ADJUSTMENT,
        amount=amount,
        balance_after=st.balance,
        note=note,
    )
    return LedgerResult(entry=entry, crossing=crossing)


async def balance(conn: Any, account: str, now: float) -> Balance:
    return (await load_state(conn, account, lock=False)).summary(now)


async def history(
    conn: Any, account: str, limit: int | None, span: JournalSpan
) -> list[LedgerEntry]:
    """The account's entries in ``span``, oldest first: the last ``limit`` (None: all)."""
    mark = Placeholders(numbered=True)
    where = " AND ".join([f"account = {mark(account)}", *span.conditions(mark)])
    last = mark(None if limit is None or limit < 0 else limit)
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        await load_state(conn, account, lock=False)  # NotFound for an unknown account
        rows = await conn.fetch(
            f"SELECT * FROM (SELECT {LEDGER_COLUMNS} FROM ledger "  # noqa: S608 (placeholders)
            f"WHERE {where} ORDER BY id DESC LIMIT {last}) AS last ORDER BY id",
            *mark.params,
        )
    return [entry_from(r) for r in rows]


async def verify(conn: Any) -> dict[str, tuple[int, int]]:
    """Accounts whose balance is not their journal's sum: {name: (balance, sum)}."""
    rows = await conn.fetch(
        "SELECT a.name, a.balance, coalesce(sum(l.amount), 0)::bigint AS total "
        "FROM accounts a LEFT JOIN ledger l ON l.account = a.name GROUP BY a.name, a.balance"
    )
    return {r["name"]: (r["balance"], r["total"]) for r in rows if r["balance"] != r["total"]}


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

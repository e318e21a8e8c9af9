"""Accounts with credit, their ledger and replies read back, for the contract tests.

The message operations under test need accounts with credit, and their tests
read balances, journals and stored replies back. Those are Store methods of
their own (create_account, set_account, topup, balance, history,
verify_ledger, list_inbound) that a backend may not have yet: PostgresStore
gets them from another branch. Each
function here calls the store's method when the store has it, else does the
same with SQL on the store's database (the rows the SQLite backend would
write: the account, its top-up in the journal, the balance kept equal to the
journal's sum). Once every backend has them, these are plain calls of the
Store methods and this module can go.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from gateway.model.ids import new_webhook_secret
from gateway.model.isotime import month_of
from gateway.model.records import Balance, EntryKind, InboundMessage, LedgerEntry
from gateway.store.base import Store
from gateway.store.postgres.store import PostgresStore
from tests.clock import FakeClock

# PostgresStore lacks the account methods until they are merged: not a Store yet
AnyStore = Store | PostgresStore


def _method(store: AnyStore, name: str) -> Any:
    """The store's own method ``name``, or None when its backend lacks it."""
    return getattr(store, name, None)


@asynccontextmanager
async def _sql(store: AnyStore) -> AsyncIterator[Any]:
    if not isinstance(store, PostgresStore):
        msg = f"{type(store).__name__} lacks an account method and has no SQL fallback here"
        raise TypeError(msg)
    # the test server trusts its local users: the URL without a password connects
    conn = await asyncpg.connect(store.where)
    try:
        async with conn.transaction():
            yield conn
    finally:
        await conn.close()


async def make_account(
    store: AnyStore,
    clock: FakeClock,
    name: str = "acme",
    *,
    credit: int = 1000,
    credit_limit: int = 0,
    monthly_cap: int | None = None,
) -> None:
    """An account with ``credit`` topped up (and its credit limit and monthly cap)."""
    create = _method(store, "create_account")
    if create is not None:
        await create(name)
        if credit:
            await _method(store, "topup")(name, credit, reference=f"init-{name}")
        if credit_limit or monthly_cap is not None:
            await _method(store, "set_account")(
                name, credit_limit=credit_limit, monthly_cap=monthly_cap
            )
        return
    now = clock()
    async with _sql(store) as conn:
        await conn.execute(
            "INSERT INTO accounts (name, balance, credit_limit, monthly_cap, month, created_at, "
            "webhook_secret) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            name,
            credit,
            credit_limit,
            monthly_cap,
            month_of(now),
            now,
            new_webhook_secret(),
        )
        if credit:
            await conn.execute(
                "INSERT INTO ledger (account, at, kind, amount, balance_after, reference) "
                "VALUES ($1, $2, 'topup', $3, $3, $4)",
                name,
                now,
                credit,
                f"init-{name}",
            )


async def balance(store: AnyStore, clock: FakeClock, name: str = "acme") -> Balance:
    own = _method(store, "balance")
    if own is not None:
        result: Balance = await own(name)
        return result
    async with _sql(store) as conn:
        row = await conn.fetchrow(
            "SELECT balance, credit_limit, monthly_cap, month, month_spent FROM accounts "
            "WHERE name = $1",
            name,
        )
    assert row is not None, f"no account {name!r}"
    return Balance(
        account=name,
        balance=row["balance"],
        credit_limit=row["credit_limit"],
        available=row["balance"] + row["credit_limit"],
        monthly_cap=row["monthly_cap"],
        month_spent=row["month_spent"] if row["month"] == month_of(clock()) else 0,
    )


async def history(store: AnyStore, name: str = "acme") -> list[LedgerEntry]:
    own = _method(store, "history")
    if own is not None:
        entries: list[LedgerEntry] = await own(name)
        return entries
    async with _sql(store) as conn:
        rows = await conn.fetch(
            "SELECT id, account, at, kind, amount, balance_after, reference, message_id, note "
            "FROM ledger WHERE account = $1 ORDER BY id",
            name,
        )
    return [
        LedgerEntry(
            id=r["id"],
            account=r["account"],
            at=r["at"],
            kind=EntryKind(r["kind"]),
            amount=r["amount"],
            balance_after=r["balance_after"],
            reference=r["reference"],
            message_id=r["message_id"],
            note=r["note"],
        )
        for r in rows
    ]


async def verify_ledger(store: AnyStore) -> dict[str, tuple[int, int]]:
    """Accounts whose balance is not their journal's sum: (balance, sum)."""
    own = _method(store, "verify_ledger")
    if own is not None:
        unbalanced: dict[str, tuple[int, int]] = await own()
        return unbalanced
    async with _sql(store) as conn:
        rows = await conn.fetch(
            "SELECT a.name, a.balance, coalesce(sum(l.amount), 0)::bigint AS total "
            "FROM accounts a LEFT JOIN ledger l ON l.account = a.name GROUP BY a.name"
        )
    return {r["name"]: (r["balance"], r["total"]) for r in rows if r["balance"] != r["total"]}


async def list_inbound(store: AnyStore, account: str) -> list[InboundMessage]:
    """The replies stored for ``account``, newest first."""
    own = _method(store, "list_inbound")
    if own is not None:
        replies: list[InboundMessage] = await own(account=account)
        return replies
    async with _sql(store) as conn:
        rows = await conn.fetch(
            "SELECT id, account, link, source, destination, text, received_at FROM inbound "
            "WHERE account = $1 ORDER BY id DESC",
            account,
        )
    return [InboundMessage(**dict(r)) for r in rows]

"""Senders and prices on PostgreSQL, and the one read a send needs of them.

Coroutines taking a connection (asyncpg), the writing ones inside the
store's write transaction. What is refused, and with which error, are the
backend-neutral rules' (gateway.model.senders); one approved owner per short
code or virtual number is the unique index ``senders_one_owner``, and an
approval that loses the race to it names the owner that won.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from gateway.model.message import SenderKind, SenderStatus
from gateway.model.records import Price, SendContext, Sender
from gateway.model.senders import (
    approval_lost,
    check_request,
    new_status,
    no_sender,
    sender_exists,
)
from gateway.store.accounts import unknown_account
from gateway.store.columns import SENDER_COLUMNS, account_from, sender_from
from gateway.store.postgres.admin import require_account


async def get_sender(conn: Any, account: str, value: str) -> Sender | None:
    row = await conn.fetchrow(
        f"SELECT {SENDER_COLUMNS} FROM senders WHERE account = $1 AND value = $2",  # noqa: S608
        account,
        value,
    )
    return None if row is None else sender_from(row)


async def _approved_owner(conn: Any, value: str, account: str) -> str | None:
    """Another account holding ``value`` approved as a kind with one owner at a time."""
    owner = await conn.fetchval(
        "SELECT account FROM senders WHERE value = $1 AND status = 'approved' "
        "AND kind <> 'alpha' AND account <> $2",
        value,
        account,
    )
    return None if owner is None else str(owner)


async def add_sender(
    conn: Any, account: str, value: str, kind: SenderKind, now: float, *, reason: str | None = None
) -> Sender:
    await require_account(conn, account)
    if await get_sender(conn, account, value) is not None:
        raise sender_exists(value, account)
    check_request(value, kind, owner=await _approved_owner(conn, value, account))
    added = await conn.fetchval(
        "INSERT INTO senders (account, value, kind, status, created_at, updated_at, "
        "request_reason) VALUES ($1, $2, $3, 'pending', $4, $4, $5) "
        "ON CONFLICT (account, value) DO NOTHING RETURNING 1",
        account,
        value,
        kind.value,
        now,
        reason,
    )
    if added is None:  # the same request, committed since the check above
        raise sender_exists(value, account)
    return Sender(
        account=account,
        value=value,
        kind=kind,
        status=SenderStatus.PENDING,
        reason=None,
        created_at=now,
        updated_at=now,
        request_reason=reason,
    )


async def set_sender_status(
    conn: Any,
    account: str,
    value: str,
    status: SenderStatus,
    *,
    reason: str | None,
    now: float,
) -> Sender:
    await require_account(conn, account)
    row = await conn.fetchrow(
        f"SELECT {SENDER_COLUMNS} FROM senders "  # noqa: S608 (constant column list)
        "WHERE account = $1 AND value = $2 FOR UPDATE",
        account,
        value,
    )
    if row is None:
        raise no_sender(value, account)
    old = sender_from(row)
    owner = await _approved_owner(conn, value, account) if status is SenderStatus.APPROVED else None
    new = new_status(old, status, reason=reason, owner=owner, now=now)
    try:
        async with conn.transaction():  # a savepoint: the owner is read after a refusal
            await conn.execute(
                "UPDATE senders SET status = $1, reason = $2, updated_at = $3 "
                "WHERE account = $4 AND value = $5",
                new.status.value,
                new.reason,
                new.updated_at,
                account,
                value,
            )
    except asyncpg.UniqueViolationError:  # senders_one_owner: approved meanwhile elsewhere
        raise approval_lost(old, await _approved_owner(conn, value, account)) from None
    return new


async def list_senders(conn: Any, account: str) -> list[Sender]:
    await require_account(conn, account)
    rows = await conn.fetch(
        f"SELECT {SENDER_COLUMNS} FROM senders WHERE account = $1 "  # noqa: S608 (constant)
        'ORDER BY value COLLATE "C"',
        account,
    )
    return [sender_from(r) for r in rows]


async def sender_owners(conn: Any, value: str) -> list[str]:
    """Accounts with ``value`` as a sender, in any state: the approved one first."""
    rows = await conn.fetch(
        "SELECT account FROM senders WHERE value = $1 "
        "ORDER BY status <> 'approved', account COLLATE \"C\"",
        value,
    )
    return [str(r["account"]) for r in rows]


async def set_price(conn: Any, prefix: str, per_segment: int, account: str | None) -> Price:
    if account is not None:
        await require_account(conn, account)
    await conn.execute(
        "INSERT INTO prices (account, prefix, credits) VALUES ($1, $2, $3) "
        "ON CONFLICT (account, prefix) DO UPDATE SET credits = excluded.credits",
        account or "",
        prefix,
        per_segment,
    )
    return Price(account=account, prefix=prefix, credits=per_segment)


async def list_prices(conn: Any, account: str | None) -> list[Price]:
    if account is not None:
        await require_account(conn, account)
    rows = await conn.fetch(
        'SELECT prefix, credits FROM prices WHERE account = $1 ORDER BY prefix COLLATE "C"',
        account or "",
    )
    return [Price(account=account, prefix=r["prefix"], credits=r["credits"]) for r in rows]


# the account, the sender and both price lists in one statement (one snapshot: they
# agree with each other; one round trip, no transaction); prices ordered as bytes
_SEND_CONTEXT = (
    "SELECT a.name, a.balance, a.credit_limit, a.monthly_cap, a.alert_below, a.month, "
    "a.month_spent, a.created_at, s.account, s.value, s.kind, s.status, s.reason, "
    "s.created_at, s.updated_at, s.request_reason, p.accounts, p.prefixes, p.credits "
    "FROM accounts a LEFT JOIN senders s ON s.account = a.name AND s.value = $2, "
    'LATERAL (SELECT array_agg(account ORDER BY prefix COLLATE "C", account) AS accounts, '
    'array_agg(prefix ORDER BY prefix COLLATE "C", account) AS prefixes, '
    'array_agg(credits ORDER BY prefix COLLATE "C", account) AS credits '
    "FROM prices WHERE account IN ($1, '')) AS p WHERE a.name = $1"
)


async def send_context(conn: Any, account: str, sender: str) -> SendContext:
    """One read, one statement: the account, sender and prices agree."""
    row = await conn.fetchrow(_SEND_CONTEXT, account, sender)
    if row is None:
        raise unknown_account(account)
    own: list[Price] = []
    default: list[Price] = []
    for owner, prefix, amount in zip(
        row["accounts"] or (), row["prefixes"] or (), row["credits"] or (), strict=True
    ):
        if owner:
            own.append(Price(account=account, prefix=prefix, credits=amount))
        else:
            default.append(Price(account=None, prefix=prefix, credits=amount))
    values = tuple(row)
    return SendContext(
        account=account_from(values[:8]),
        sender=None if values[8] is None else sender_from(values[8:16]),
        own_prices=own,
        default_prices=default,
    )

"""The stoplist on PostgreSQL (rules: gateway.store.stoplist)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway.model.orders import StopEntry, StopSource
from gateway.model.records import InboundMessage
from gateway.store.postgres.admin import require_account
from gateway.store.postgres.events import add_inbound
from gateway.store.postgres.rows import row_count
from gateway.store.stoplist import STOP_COLUMNS, check_number, not_stopped, stop_from

_SELECT = f"SELECT {STOP_COLUMNS} FROM stoplist"  # noqa: S608 (constant column list)


async def insert_stop(conn: Any, account: str, number: str, source: StopSource, now: float) -> bool:
    """Add the entry unless the account has one for ``number``; whether it was added."""
    status = await conn.execute(
        "INSERT INTO stoplist (account, number, source, created_at) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (account, number) DO NOTHING",
        account,
        number,
        source.value,
        now,
    )
    return row_count(status) == 1


async def add_stop(
    conn: Any, account: str, number: str, source: StopSource, now: float
) -> tuple[StopEntry, bool]:
    check_number(number)
    await require_account(conn, account)
    added = await insert_stop(conn, account, number, source, now)
    row = await conn.fetchrow(_SELECT + " WHERE account = $1 AND number = $2", account, number)
    return stop_from(row), added


async def remove_stop(conn: Any, account: str, number: str) -> StopEntry:
    await require_account(conn, account)
    row = await conn.fetchrow(
        f"DELETE FROM stoplist WHERE account = $1 AND number = $2 RETURNING {STOP_COLUMNS}",  # noqa: S608
        account,
        number,
    )
    if row is None:
        raise not_stopped(account, number)
    return stop_from(row)


async def list_stops(conn: Any, account: str) -> list[StopEntry]:
    await require_account(conn, account)
    rows = await conn.fetch(_SELECT + " WHERE account = $1 ORDER BY number", account)
    return [stop_from(r) for r in rows]


async def stopped_numbers(conn: Any, account: str, numbers: Sequence[str]) -> set[str]:
    """Which of ``numbers`` are on the account's stoplist: one indexed read."""
    rows = await conn.fetch(
        "SELECT number FROM stoplist WHERE account = $1 AND number = ANY($2::text[])",
        account,
        list(dict.fromkeys(numbers)),
    )
    return {r["number"] for r in rows}


async def add_stopping_reply(conn: Any, m: InboundMessage, *, outbox: bool) -> None:
    """Store a reply that is a stop keyword and, in the same transaction, put its
    source on the stoplist of the account owning its destination (if any)."""
    await add_inbound(conn, m, outbox=outbox)
    if m.account is not None:
        await insert_stop(conn, m.account, m.source, StopSource.REPLY, m.received_at)

"""ESME credentials on PostgreSQL (the rules: gateway/store/esme_credentials.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from gateway.model.esme import EsmeCredential
from gateway.store.esme_credentials import (
    ESME_COLUMNS,
    credential_from,
    credential_row,
    hash_password,
    new_password,
    no_credential,
    system_id_taken,
)
from gateway.store.postgres.admin import require_account

_SELECT = f"SELECT {ESME_COLUMNS} FROM esme_credentials"  # noqa: S608 (constant)


async def create(conn: Any, credential: EsmeCredential, password_hash: str) -> EsmeCredential:
    await require_account(conn, credential.account)
    try:
        await conn.execute(
            f"INSERT INTO esme_credentials ({ESME_COLUMNS}, password_hash) "  # noqa: S608 (constant)
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            *credential_row(credential),
            password_hash,
        )
    except asyncpg.UniqueViolationError:
        raise system_id_taken(credential.system_id) from None
    return credential


async def list_all(conn: Any, account: str | None) -> list[EsmeCredential]:
    if account is not None:
        await require_account(conn, account)
    rows = await conn.fetch(
        f"{_SELECT} WHERE $1::text IS NULL OR account = $1 ORDER BY account, system_id", account
    )
    return [credential_from(tuple(r)) for r in rows]


async def _require(conn: Any, account: str, system_id: str) -> EsmeCredential:
    row = await conn.fetchrow(
        f"{_SELECT} WHERE account = $1 AND system_id = $2", account, system_id
    )
    if row is None:
        await require_account(conn, account)
        raise no_credential(account, system_id)
    return credential_from(tuple(row))


async def remove(conn: Any, account: str, system_id: str) -> EsmeCredential:
    credential = await _require(conn, account, system_id)
    await conn.execute("DELETE FROM esme_credentials WHERE system_id = $1", system_id)
    return credential


async def set_password(conn: Any, account: str, system_id: str) -> str:
    await _require(conn, account, system_id)
    password = new_password()
    digest = await asyncio.to_thread(hash_password, password)
    await conn.execute(
        "UPDATE esme_credentials SET password_hash = $1 WHERE system_id = $2", digest, system_id
    )
    return password


async def bind_row(conn: Any, system_id: str) -> tuple[Any, ...] | None:
    """The credential's row (ESME_COLUMNS, then its password hash) for a bind, if any."""
    row = await conn.fetchrow(
        f"SELECT {ESME_COLUMNS}, password_hash FROM esme_credentials "  # noqa: S608 (constant)
        "WHERE system_id = $1",
        system_id,
    )
    return tuple(row) if row is not None else None

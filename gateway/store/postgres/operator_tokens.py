"""Operators' API tokens on PostgreSQL (the rules: gateway/store/operator_tokens.py)."""

from __future__ import annotations

from typing import Any

import asyncpg

from gateway.model.records import OperatorToken
from gateway.store.accounts import token_hash
from gateway.store.operator_tokens import (
    OPERATOR_TOKEN_COLUMNS,
    check_operator_name,
    new_operator_token,
    no_operator_token,
    operator_name_taken,
    operator_token_from,
)

_SELECT = f"SELECT {OPERATOR_TOKEN_COLUMNS} FROM operator_tokens"  # noqa: S608 (constant)


async def create(conn: Any, name: str, now: float) -> tuple[OperatorToken, str]:
    check_operator_name(name)
    made = new_operator_token()
    try:
        token_id = await conn.fetchval(
            "INSERT INTO operator_tokens (name, token_hash, prefix, created_at) "
            "VALUES ($1, $2, $3, $4) RETURNING id",
            name,
            made.hash,
            made.prefix,
            now,
        )
    except asyncpg.UniqueViolationError:  # the name, in force (the hash is 256 random bits)
        raise operator_name_taken(name) from None
    record = OperatorToken(
        id=int(token_id), name=name, prefix=made.prefix, created_at=now, revoked_at=None
    )
    return record, made.token


async def for_token(conn: Any, token: str) -> OperatorToken | None:
    row = await conn.fetchrow(
        f"{_SELECT} WHERE token_hash = $1 AND revoked_at IS NULL", token_hash(token)
    )
    return None if row is None else operator_token_from(tuple(row))


async def list_all(conn: Any) -> list[OperatorToken]:
    return [operator_token_from(tuple(r)) for r in await conn.fetch(f"{_SELECT} ORDER BY id")]


async def revoke(conn: Any, token_id: int, now: float) -> OperatorToken:
    row = await conn.fetchrow(
        "UPDATE operator_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL "  # noqa: S608 (constant)
        f"RETURNING {OPERATOR_TOKEN_COLUMNS}",
        now,
        token_id,
    )
    if row is None:
        known = await conn.fetchval("SELECT 1 FROM operator_tokens WHERE id = $1", token_id)
        raise no_operator_token(token_id, revoked=known is not None)
    return operator_token_from(tuple(row))

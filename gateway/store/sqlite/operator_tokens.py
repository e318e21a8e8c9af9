"""Operators' API tokens on SQLite (the rules: gateway/store/operator_tokens.py)."""

from __future__ import annotations

import sqlite3

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


def create(conn: sqlite3.Connection, name: str, now: float) -> tuple[OperatorToken, str]:
    check_operator_name(name)
    made = new_operator_token()
    try:
        cur = conn.execute(
            "INSERT INTO operator_tokens (name, token_hash, prefix, created_at) "
            "VALUES (?, ?, ?, ?)",
            (name, made.hash, made.prefix, now),
        )
    except sqlite3.IntegrityError:  # the name, in force (the hash is 256 random bits)
        raise operator_name_taken(name) from None
    record = OperatorToken(
        id=int(cur.lastrowid or 0), name=name, prefix=made.prefix, created_at=now, revoked_at=None
    )
    return record, made.token


def for_token(conn: sqlite3.Connection, token: str) -> OperatorToken | None:
    row = conn.execute(
        f"{_SELECT} WHERE token_hash = ? AND revoked_at IS NULL", (token_hash(token),)
    ).fetchone()
    return None if row is None else operator_token_from(row)


def list_all(conn: sqlite3.Connection) -> list[OperatorToken]:
    return [operator_token_from(r) for r in conn.execute(f"{_SELECT} ORDER BY id")]


def revoke(conn: sqlite3.Connection, token_id: int, now: float) -> OperatorToken:
    row = conn.execute(
        f"UPDATE operator_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL "  # noqa: S608 (constant)
        f"RETURNING {OPERATOR_TOKEN_COLUMNS}",
        (now, token_id),
    ).fetchone()
    if row is None:
        known = conn.execute("SELECT 1 FROM operator_tokens WHERE id = ?", (token_id,)).fetchone()
        raise no_operator_token(token_id, revoked=known is not None)
    return operator_token_from(row)

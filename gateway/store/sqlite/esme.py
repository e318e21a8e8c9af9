"""ESME credentials on SQLite (the rules: gateway/store/esme_credentials.py)."""

from __future__ import annotations

import sqlite3
from typing import Any

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
from gateway.store.sqlite.rows import require_account

_SELECT = f"SELECT {ESME_COLUMNS} FROM esme_credentials"  # noqa: S608 (constant)


def create(
    conn: sqlite3.Connection, credential: EsmeCredential, password_hash: str
) -> EsmeCredential:
    require_account(conn, credential.account)
    try:
        conn.execute(
            f"INSERT INTO esme_credentials ({ESME_COLUMNS}, password_hash) "  # noqa: S608 (constant)
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (*credential_row(credential), password_hash),
        )
    except sqlite3.IntegrityError:
        raise system_id_taken(credential.system_id) from None
    return credential


def list_all(conn: sqlite3.Connection, account: str | None) -> list[EsmeCredential]:
    if account is not None:
        require_account(conn, account)
    rows = conn.execute(
        f"{_SELECT} WHERE ?1 IS NULL OR account = ?1 ORDER BY account, system_id", (account,)
    ).fetchall()
    return [credential_from(r) for r in rows]


def _require(conn: sqlite3.Connection, account: str, system_id: str) -> EsmeCredential:
    row = conn.execute(
        f"{_SELECT} WHERE account = ? AND system_id = ?", (account, system_id)
    ).fetchone()
    if row is None:
        require_account(conn, account)
        raise no_credential(account, system_id)
    return credential_from(row)


def remove(conn: sqlite3.Connection, account: str, system_id: str) -> EsmeCredential:
    credential = _require(conn, account, system_id)
    conn.execute("DELETE FROM esme_credentials WHERE system_id = ?", (system_id,))
    return credential


def set_password(conn: sqlite3.Connection, account: str, system_id: str) -> str:
    _require(conn, account, system_id)
    password = new_password()
    conn.execute(
        "UPDATE esme_credentials SET password_hash = ? WHERE system_id = ?",
        (hash_password(password), system_id),
    )
    return password


def bind_row(conn: sqlite3.Connection, system_id: str) -> tuple[Any, ...] | None:
    """The credential's row (ESME_COLUMNS, then its password hash) for a bind, if any."""
    row = conn.execute(
        f"SELECT {ESME_COLUMNS}, password_hash FROM esme_credentials "  # noqa: S608 (constant)
        "WHERE system_id = ?",
        (system_id,),
    ).fetchone()
    return tuple(row) if row is not None else None

"""The web console's logins and sessions, and phonebook contacts removed, on PostgreSQL.

Coroutines taking a connection, as gateway.store.postgres.admin; a login's row is
locked (``FOR UPDATE``) while its wrong-password counter changes, so that two
daemons counting at once count both. The rules are gateway.store.logins'.
"""

from __future__ import annotations

from typing import Any

from gateway.model.errors import NotFound
from gateway.model.logins import ConsoleSession, Login, LoginRole
from gateway.store.accounts import no_phonebook
from gateway.store.logins import (
    LockState,
    check_email,
    login_exists,
    new_session_token,
    no_login,
    normalize_email,
    session_hash,
)
from gateway.store.postgres.admin import require_account

LOGIN_COLUMNS = (
    "email, account, role, password_hash, must_change, failed_attempts, locked_until, "
    "disabled, created_at"
)


def _login(row: Any) -> Login:
    return Login(
        email=row["email"],
        account=row["account"],
        role=LoginRole(row["role"]),
        password_hash=row["password_hash"],
        must_change=bool(row["must_change"]),
        failed_attempts=int(row["failed_attempts"]),
        locked_until=row["locked_until"],
        disabled=bool(row["disabled"]),
        created_at=float(row["created_at"]),
    )


async def get_login(conn: Any, email: str, *, lock: bool = False) -> Login | None:
    row = await conn.fetchrow(
        f"SELECT {LOGIN_COLUMNS} FROM logins WHERE email = $1"  # noqa: S608 (constant)
        + (" FOR UPDATE" if lock else ""),
        normalize_email(email),
    )
    return None if row is None else _login(row)


async def _require(conn: Any, email: str, *, lock: bool = False) -> Login:
    login = await get_login(conn, email, lock=lock)
    if login is None:
        raise no_login(normalize_email(email))
    return login


async def create_login(  # noqa: PLR0917 - as the SQLite one
    conn: Any, account: str, email: str, role: LoginRole, password_hash: str, now: float
) -> Login:
    await require_account(conn, account)
    value = check_email(email)
    row = await conn.fetchrow(
        f"INSERT INTO logins ({LOGIN_COLUMNS}) "  # noqa: S608 (constant)
        "VALUES ($1, $2, $3, $4, true, 0, NULL, false, $5) "
        f"ON CONFLICT (email) DO NOTHING RETURNING {LOGIN_COLUMNS}",
        value,
        account,
        role.value,
        password_hash,
        now,
    )
    if row is None:
        raise login_exists(value)
    return _login(row)


async def list_logins(conn: Any, account: str | None) -> list[Login]:
    if account is None:
        rows = await conn.fetch(
            f'SELECT {LOGIN_COLUMNS} FROM logins ORDER BY email COLLATE "C"'  # noqa: S608
        )
    else:
        rows = await conn.fetch(
            f"SELECT {LOGIN_COLUMNS} FROM logins WHERE account = $1 "  # noqa: S608
            'ORDER BY email COLLATE "C"',
            account,
        )
    return [_login(r) for r in rows]


async def disable_login(conn: Any, email: str) -> Login:
    login = await _require(conn, email, lock=True)
    await conn.execute("UPDATE logins SET disabled = true WHERE email = $1", login.email)
    await conn.execute("DELETE FROM console_sessions WHERE email = $1", login.email)
    return await _require(conn, login.email)


async def set_login_password(conn: Any, email: str, password_hash: str, must_change: bool) -> Login:
    login = await _require(conn, email, lock=True)
    await conn.execute(
        "UPDATE logins SET password_hash = $1, must_change = $2, failed_attempts = 0, "
        "locked_until = NULL WHERE email = $3",
        password_hash,
        must_change,
        login.email,
    )
    await conn.execute("DELETE FROM console_sessions WHERE email = $1", login.email)
    return await _require(conn, login.email)


async def login_failed(
    conn: Any, email: str, max_failures: int, lock_seconds: float, now: float
) -> Login:
    login = await _require(conn, email, lock=True)
    state = LockState.after_failure(
        login.failed_attempts,
        login.locked_until,
        now=now,
        max_failures=max_failures,
        lock_seconds=lock_seconds,
    )
    await conn.execute(
        "UPDATE logins SET failed_attempts = $1, locked_until = $2 WHERE email = $3",
        state.failed_attempts,
        state.locked_until,
        login.email,
    )
    return await _require(conn, login.email)


async def create_session(
    conn: Any, email: str, ttl: float, now: float
) -> tuple[ConsoleSession, str]:
    login = await _require(conn, email, lock=True)
    token, hashed, csrf = new_session_token()
    await conn.execute("DELETE FROM console_sessions WHERE expires_at <= $1", now)
    await conn.execute(
        "INSERT INTO console_sessions (token_hash, email, csrf, created_at, expires_at) "
        "VALUES ($1, $2, $3, $4, $5)",
        hashed,
        login.email,
        csrf,
        now,
        now + ttl,
    )
    await conn.execute(
        "UPDATE logins SET failed_attempts = 0, locked_until = NULL WHERE email = $1",
        login.email,
    )
    fresh = await _require(conn, login.email)
    return ConsoleSession(login=fresh, csrf=csrf, created_at=now, expires_at=now + ttl), token


async def get_session(conn: Any, token: str, now: float) -> ConsoleSession | None:
    row = await conn.fetchrow(
        "SELECT email, csrf, created_at, expires_at FROM console_sessions "
        "WHERE token_hash = $1 AND expires_at > $2",
        session_hash(token),
        now,
    )
    if row is None:
        return None
    login = await get_login(conn, row["email"])
    if login is None or login.disabled:
        return None
    return ConsoleSession(
        login=login,
        csrf=row["csrf"],
        created_at=float(row["created_at"]),
        expires_at=float(row["expires_at"]),
    )


async def end_session(conn: Any, token: str) -> None:
    await conn.execute("DELETE FROM console_sessions WHERE token_hash = $1", session_hash(token))


async def remove_contact(conn: Any, account: str, name: str, number: str) -> None:
    await require_account(conn, account)
    book = await conn.fetchval(
        "SELECT id FROM phonebooks WHERE account = $1 AND name = $2", account, name
    )
    if book is None:
        raise no_phonebook(name, account)
    gone = await conn.fetchval(
        "DELETE FROM contacts WHERE phonebook_id = $1 AND number = $2 RETURNING 1",
        book,
        number,
    )
    if gone is None:
        raise NotFound(f"no contact {number} in phonebook {name!r}")

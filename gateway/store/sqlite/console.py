"""The web console's logins and sessions, and phonebook contacts removed, on SQLite.

Plain functions taking a connection, as gateway.store.sqlite.admin; the rules
(emails, lock-outs, tokens) are gateway.store.logins'.
"""

from __future__ import annotations

import sqlite3

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
from gateway.store.sqlite.rows import require_account

LOGIN_COLUMNS = (
    "email, account, role, password_hash, must_change, failed_attempts, locked_until, "
    "disabled, created_at"
)


def _login(row: tuple[object, ...]) -> Login:
    email, account, role, hashed, must, failed, locked, disabled, created = row
    return Login(
        email=str(email),
        account=str(account),
        role=LoginRole(role),
        password_hash=str(hashed),
        must_change=bool(must),
        failed_attempts=int(failed),  # type: ignore[call-overload]
        locked_until=None if locked is None else float(locked),  # type: ignore[arg-type]
        disabled=bool(disabled),
        created_at=float(created),  # type: ignore[arg-type]
    )


def _require(conn: sqlite3.Connection, email: str) -> Login:
    login = get_login(conn, email)
    if login is None:
        raise no_login(normalize_email(email))
    return login


def create_login(  # noqa: PLR0917 - called positionally by the writer
    conn: sqlite3.Connection,
    account: str,
    email: str,
    role: LoginRole,
    password_hash: str,
    now: float,
) -> Login:
    require_account(conn, account)
    value = check_email(email)
    try:
        conn.execute(
            f"INSERT INTO logins ({LOGIN_COLUMNS}) VALUES (?, ?, ?, ?, 1, 0, NULL, 0, ?)",  # noqa: S608
            (value, account, role.value, password_hash, now),
        )
    except sqlite3.IntegrityError:
        raise login_exists(value) from None
    return _require(conn, value)


def get_login(conn: sqlite3.Connection, email: str) -> Login | None:
    row = conn.execute(
        f"SELECT {LOGIN_COLUMNS} FROM logins WHERE email = ?",  # noqa: S608 (constant)
        (normalize_email(email),),
    ).fetchone()
    return None if row is None else _login(row)


def list_logins(conn: sqlite3.Connection, account: str | None) -> list[Login]:
    if account is None:
        rows = conn.execute(f"SELECT {LOGIN_COLUMNS} FROM logins ORDER BY email").fetchall()  # noqa: S608
    else:
        rows = conn.execute(
            f"SELECT {LOGIN_COLUMNS} FROM logins WHERE account = ? ORDER BY email",  # noqa: S608
            (account,),
        ).fetchall()
    return [_login(r) for r in rows]


def disable_login(conn: sqlite3.Connection, email: str) -> Login:
    login = _require(conn, email)
    conn.execute("UPDATE logins SET disabled = 1 WHERE email = ?", (login.email,))
    conn.execute("DELETE FROM console_sessions WHERE email = ?", (login.email,))
    return _require(conn, login.email)


def set_login_password(
    conn: sqlite3.Connection, email: str, password_hash: str, must_change: bool
) -> Login:
    login = _require(conn, email)
    conn.execute(
        "UPDATE logins SET password_hash = ?, must_change = ?, failed_attempts = 0, "
        "locked_until = NULL WHERE email = ?",
        (password_hash, int(must_change), login.email),
    )
    conn.execute("DELETE FROM console_sessions WHERE email = ?", (login.email,))
    return _require(conn, login.email)


def login_failed(
    conn: sqlite3.Connection, email: str, max_failures: int, lock_seconds: float, now: float
) -> Login:
    login = _require(conn, email)
    state = LockState.after_failure(
        login.failed_attempts,
        login.locked_until,
        now=now,
        max_failures=max_failures,
        lock_seconds=lock_seconds,
    )
    conn.execute(
        "UPDATE logins SET failed_attempts = ?, locked_until = ? WHERE email = ?",
        (state.failed_attempts, state.locked_until, login.email),
    )
    return _require(conn, login.email)


def create_session(
    conn: sqlite3.Connection, email: str, ttl: float, now: float
) -> tuple[ConsoleSession, str]:
    login = _require(conn, email)
    token, hashed, csrf = new_session_token()
    conn.execute("DELETE FROM console_sessions WHERE expires_at <= ?", (now,))
    conn.execute(
        "INSERT INTO console_sessions (token_hash, email, csrf, created_at, expires_at) "
        "VALUES (?, ?, ?, ?, ?)",
        (hashed, login.email, csrf, now, now + ttl),
    )
    conn.execute(
        "UPDATE logins SET failed_attempts = 0, locked_until = NULL WHERE email = ?",
        (login.email,),
    )
    session = ConsoleSession(
        login=_require(conn, login.email), csrf=csrf, created_at=now, expires_at=now + ttl
    )
    return session, token


def get_session(conn: sqlite3.Connection, token: str, now: float) -> ConsoleSession | None:
    row = conn.execute(
        "SELECT email, csrf, created_at, expires_at FROM console_sessions "
        "WHERE token_hash = ? AND expires_at > ?",
        (session_hash(token), now),
    ).fetchone()
    if row is None:
        return None
    login = get_login(conn, row[0])
    if login is None or login.disabled:
        return None
    return ConsoleSession(login=login, csrf=row[1], created_at=row[2], expires_at=row[3])


def end_session(conn: sqlite3.Connection, token: str) -> None:
    conn.execute("DELETE FROM console_sessions WHERE token_hash = ?", (session_hash(token),))


def remove_contact(conn: sqlite3.Connection, account: str, name: str, number: str) -> None:
    require_account(conn, account)
    row = conn.execute(
        "SELECT id FROM phonebooks WHERE account = ? AND name = ?", (account, name)
    ).fetchone()
    if row is None:
        raise no_phonebook(name, account)
    gone = conn.execute(
        "DELETE FROM contacts WHERE phonebook_id = ? AND number = ?", (row[0], number)
    ).rowcount
    if not gone:
        raise NotFound(f"no contact {number} in phonebook {name!r}")

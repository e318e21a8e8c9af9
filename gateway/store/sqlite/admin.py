"""Accounts, API tokens, senders, prices, phonebooks and inbound messages on SQLite.

Plain functions taking a connection; the writer thread runs the writing ones
inside its transaction, the reader pool the others. What is refused and the
errors are the backend-neutral rules' (gateway.store.accounts,
gateway.model.senders).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from gateway.model.ids import new_webhook_secret
from gateway.model.isotime import month_of
from gateway.model.message import SenderKind, SenderStatus
from gateway.model.records import (
    Account,
    ApiToken,
    InboundMessage,
    Phonebook,
    PhonebookContact,
    Price,
    SendContext,
    Sender,
)
from gateway.model.senders import (
    approval_lost,
    check_request,
    new_status,
    no_sender,
    sender_exists,
)
from gateway.store.accounts import (
    TOKEN_COLUMNS,
    account_exists,
    check_account_name,
    check_phonebook_name,
    check_token_name,
    import_counts,
    new_token,
    no_phonebook,
    no_token,
    phonebook_exists,
    settings_for,
    token_from,
    token_hash,
)
from gateway.store.base import Keep
from gateway.store.columns import ACCOUNT_COLUMNS, SENDER_COLUMNS, account_from, sender_from
from gateway.store.spans import InboundSpan, Placeholders
from gateway.store.sqlite.rows import require_account


def create_account(conn: sqlite3.Connection, name: str, now: float) -> Account:
    check_account_name(name)
    try:
        conn.execute(
            "INSERT INTO accounts (name, month, created_at, webhook_secret) VALUES (?, ?, ?, ?)",
            (name, month_of(now), now, new_webhook_secret()),
        )
    except sqlite3.IntegrityError:
        raise account_exists(name) from None
    return account_from(require_account(conn, name))


def get_account(conn: sqlite3.Connection, name: str) -> Account:
    return account_from(require_account(conn, name))


def list_accounts(conn: sqlite3.Connection) -> list[Account]:
    rows = conn.execute(
        f"SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY name"  # noqa: S608 (constant)
    ).fetchall()
    return [account_from(r) for r in rows]


def set_account(
    conn: sqlite3.Connection,
    name: str,
    credit_limit: int | Keep,
    monthly_cap: int | Keep | None,
    alert_below: int | Keep | None,
) -> Account:
    row = require_account(conn, name)
    new = settings_for(
        row[1], credit_limit=credit_limit, monthly_cap=monthly_cap, alert_below=alert_below
    )
    if not isinstance(new.credit_limit, Keep):
        conn.execute(
            "UPDATE accounts SET credit_limit = ? WHERE name = ?", (new.credit_limit, name)
        )
    if not isinstance(new.monthly_cap, Keep):
        conn.execute("UPDATE accounts SET monthly_cap = ? WHERE name = ?", (new.monthly_cap, name))
    if not isinstance(new.alert_below, Keep):
        conn.execute(
            "UPDATE accounts SET alert_below = ?, alert_armed = ? WHERE name = ?",
            (new.alert_below, int(new.alert_armed), name),
        )
    return account_from(require_account(conn, name))


def create_token(
    conn: sqlite3.Connection, account: str, name: str | None, now: float
) -> tuple[ApiToken, str]:
    check_token_name(name)
    require_account(conn, account)
    made = new_token()
    cur = conn.execute(
        "INSERT INTO api_tokens (account, name, token_hash, prefix, created_at) "
        "VALUES (?, ?, ?, ?, ?)",
        (account, name, made.hash, made.prefix, now),
    )
    record = ApiToken(
        id=int(cur.lastrowid or 0), account=account, name=name, prefix=made.prefix, created_at=now
    )
    return record, made.token


def account_for_token(conn: sqlite3.Connection, token: str) -> str | None:
    row = conn.execute(
        "SELECT account FROM api_tokens WHERE token_hash = ?", (token_hash(token),)
    ).fetchone()
    return None if row is None else str(row[0])


def list_tokens(conn: sqlite3.Connection, account: str | None) -> list[ApiToken]:
    if account is not None:
        require_account(conn, account)
    rows = conn.execute(
        f"SELECT {TOKEN_COLUMNS} FROM api_tokens "  # noqa: S608 (constant column list)
        "WHERE ?1 IS NULL OR account = ?1 ORDER BY id",
        (account,),
    ).fetchall()
    return [token_from(r) for r in rows]


def revoke_token(conn: sqlite3.Connection, token_id: int, account: str | None) -> ApiToken:
    if account is not None:
        require_account(conn, account)
    row = conn.execute(
        "DELETE FROM api_tokens WHERE id = ?1 AND (?2 IS NULL OR account = ?2) "  # noqa: S608 (constant column list)
        f"RETURNING {TOKEN_COLUMNS}",
        (token_id, account),
    ).fetchone()
    if row is None:
        raise no_token(token_id, account)
    return token_from(row)


def _sender(conn: sqlite3.Connection, account: str, value: str) -> Sender | None:
    row = conn.execute(
        f"SELECT {SENDER_COLUMNS} FROM senders WHERE account = ? AND value = ?",  # noqa: S608
        (account, value),
    ).fetchone()
    return None if row is None else sender_from(row)


def _approved_owner(conn: sqlite3.Connection, value: str, account: str) -> str | None:
    """Another account holding ``value`` approved as a kind with one owner at a time."""
    row = conn.execute(
        "SELECT account FROM senders WHERE value = ? AND status = 'approved' "
        "AND kind <> 'alpha' AND account <> ?",
        (value, account),
    ).fetchone()
    return None if row is None else str(row[0])


def add_sender(
    conn: sqlite3.Connection,
    account: str,
    value: str,
    kind: SenderKind,
    now: float,
    *,
    reason: str | None = None,
) -> Sender:
    require_account(conn, account)
    if _sender(conn, account, value) is not None:
        raise sender_exists(value, account)
    check_request(value, kind, owner=_approved_owner(conn, value, account))
    conn.execute(
        "INSERT INTO senders (account, value, kind, status, created_at, updated_at, "
        "request_reason) VALUES (?, ?, ?, 'pending', ?, ?, ?)",
        (account, value, kind.value, now, now, reason),
    )
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


def set_sender_status(
    conn: sqlite3.Connection,
    account: str,
    value: str,
    status: SenderStatus,
    *,
    reason: str | None,
    now: float,
) -> Sender:
    require_account(conn, account)
    old = _sender(conn, account, value)
    if old is None:
        raise no_sender(value, account)
    owner = _approved_owner(conn, value, account) if status is SenderStatus.APPROVED else None
    new = new_status(old, status, reason=reason, owner=owner, now=now)
    try:
        conn.execute(
            "UPDATE senders SET status = ?, reason = ?, updated_at = ? "
            "WHERE account = ? AND value = ?",
            (new.status.value, new.reason, new.updated_at, account, value),
        )
    except sqlite3.IntegrityError:  # senders_one_owner: an owner the check above missed
        raise approval_lost(old, _approved_owner(conn, value, account)) from None
    return new


def get_sender(conn: sqlite3.Connection, account: str, value: str) -> Sender | None:
    return _sender(conn, account, value)


def list_senders(conn: sqlite3.Connection, account: str) -> list[Sender]:
    require_account(conn, account)
    rows = conn.execute(
        f"SELECT {SENDER_COLUMNS} FROM senders WHERE account = ? ORDER BY value",  # noqa: S608
        (account,),
    ).fetchall()
    return [sender_from(r) for r in rows]


def sender_owners(conn: sqlite3.Connection, value: str) -> list[str]:
    """Accounts with ``value`` as a sender, in any state: the approved one first."""
    rows = conn.execute(
        "SELECT account FROM senders WHERE value = ? ORDER BY status <> 'approved', account",
        (value,),
    )
    return [r[0] for r in rows]


def set_price(
    conn: sqlite3.Connection, prefix: str, per_segment: int, account: str | None
) -> Price:
    if account is not None:
        require_account(conn, account)
    conn.execute(
        "INSERT INTO prices (account, prefix, credits) VALUES (?, ?, ?) "
        "ON CONFLICT (account, prefix) DO UPDATE SET credits = excluded.credits",
        (account or "", prefix, per_segment),
    )
    return Price(account=account, prefix=prefix, credits=per_segment)


def list_prices(conn: sqlite3.Connection, account: str | None) -> list[Price]:
    if account is not None:
        require_account(conn, account)
    rows = conn.execute(
        "SELECT prefix, credits FROM prices WHERE account = ? ORDER BY prefix", (account or "",)
    ).fetchall()
    return [Price(account=account, prefix=p, credits=c) for p, c in rows]


def send_context(conn: sqlite3.Connection, account: str, sender: str) -> SendContext:
    found = get_account(conn, account)  # NotFound with a hint
    own: list[Price] = []
    default: list[Price] = []
    for owner, prefix, credits_ in conn.execute(
        "SELECT account, prefix, credits FROM prices WHERE account IN (?, '') ORDER BY prefix",
        (account,),
    ):
        if owner:
            own.append(Price(account=account, prefix=prefix, credits=credits_))
        else:
            default.append(Price(account=None, prefix=prefix, credits=credits_))
    return SendContext(
        account=found, sender=_sender(conn, account, sender), own_prices=own, default_prices=default
    )


def _phonebook_id(conn: sqlite3.Connection, account: str, name: str) -> int:
    require_account(conn, account)
    row = conn.execute(
        "SELECT id FROM phonebooks WHERE account = ? AND name = ?", (account, name)
    ).fetchone()
    if row is None:
        raise no_phonebook(name, account)
    return int(row[0])


def create_phonebook(conn: sqlite3.Connection, account: str, name: str, now: float) -> Phonebook:
    require_account(conn, account)
    check_phonebook_name(name)
    try:
        conn.execute(
            "INSERT INTO phonebooks (account, name, created_at) VALUES (?, ?, ?)",
            (account, name, now),
        )
    except sqlite3.IntegrityError:
        raise phonebook_exists(name, account) from None
    return Phonebook(account=account, name=name, contacts=0, created_at=now)


def import_contacts(
    conn: sqlite3.Connection, account: str, name: str, contacts: Sequence[PhonebookContact]
) -> tuple[int, int]:
    book = _phonebook_id(conn, account, name)
    before = conn.execute(
        "SELECT count(*) FROM contacts WHERE phonebook_id = ?", (book,)
    ).fetchone()[0]
    conn.executemany(
        "INSERT INTO contacts (phonebook_id, number, name) VALUES (?, ?, ?) "
        "ON CONFLICT (phonebook_id, number) DO UPDATE SET name = excluded.name",
        [(book, c.number, c.name) for c in contacts],
    )
    after = conn.execute(
        "SELECT count(*) FROM contacts WHERE phonebook_id = ?", (book,)
    ).fetchone()[0]
    return import_counts(int(before), int(after), len(contacts))


def list_phonebooks(conn: sqlite3.Connection, account: str) -> list[Phonebook]:
    require_account(conn, account)
    rows = conn.execute(
        "SELECT p.name, p.created_at, (SELECT count(*) FROM contacts c "
        "WHERE c.phonebook_id = p.id) FROM phonebooks p WHERE p.account = ? ORDER BY p.name",
        (account,),
    ).fetchall()
    return [Phonebook(account=account, name=n, contacts=k, created_at=t) for n, t, k in rows]


def phonebook_contacts(conn: sqlite3.Connection, account: str, name: str) -> list[PhonebookContact]:
    book = _phonebook_id(conn, account, name)
    rows = conn.execute(
        "SELECT name, number FROM contacts WHERE phonebook_id = ? ORDER BY name, number", (book,)
    ).fetchall()
    return [PhonebookContact(name=n, number=k) for n, k in rows]


def list_inbound(
    conn: sqlite3.Connection, account: str | None, limit: int, span: InboundSpan
) -> list[InboundMessage]:
    cols = "id, account, link, source, destination, text, received_at"
    mark = Placeholders(numbered=False)
    where: list[str] = []
    if account is not None:
        require_account(conn, account)
        where.append(f"account = {mark(account)}")
    where += span.conditions(mark)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    rows = conn.execute(
        f"SELECT {cols} FROM inbound {clause} "  # noqa: S608 (placeholders only)
        f"ORDER BY id DESC LIMIT {mark(limit)}",
        mark.params,
    ).fetchall()
    return [
        InboundMessage(
            id=r[0],
            account=r[1],
            link=r[2],
            source=r[3],
            destination=r[4],
            text=r[5],
            received_at=r[6],
        )
        for r in rows
    ]

"""Accounts, API tokens, senders, prices, phonebooks and inbound messages on SQLite.

Plain functions taking a connection; the writer thread runs the writing ones
inside its transaction, the reader pool the others.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import sqlite3
from collections.abc import Sequence

from gateway.model.errors import AlreadyExists, NotFound, UserError
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
from gateway.model.senders import EXCLUSIVE_KINDS, taken_by_another, taken_for_approval
from gateway.store.base import Keep
from gateway.store.sqlite.rows import (
    ACCOUNT_COLUMNS,
    SENDER_COLUMNS,
    account_from,
    require_account,
    sender_from,
)

# account names appear in MQTT topics: no '/', '+', '#', spaces
ACCOUNT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
PHONEBOOK_NAME = re.compile(r"^[\w][\w .-]{0,63}$")
TOKEN_PREFIX = "smsgw_"  # noqa: S105 (the public prefix of every token, not a secret)


def token_hash(token: str) -> str:
    # tokens are 256 random bits: a fast hash is enough (no dictionary to try)
    return hashlib.sha256(token.encode()).hexdigest()


def create_account(conn: sqlite3.Connection, name: str, now: float) -> Account:
    if not ACCOUNT_NAME.match(name):
        msg = f"bad account name {name!r}: 1-64 letters, digits, '_', '.', '-'"
        raise UserError(msg)
    try:
        conn.execute(
            "INSERT INTO accounts (name, month, created_at, webhook_secret) VALUES (?, ?, ?, ?)",
            (name, month_of(now), now, new_webhook_secret()),
        )
    except sqlite3.IntegrityError:
        raise AlreadyExists(f"account {name!r} already exists") from None
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
    if not isinstance(credit_limit, Keep):
        if credit_limit < 0:
            raise UserError("bad credit limit: must not be negative")
        if row[1] < -credit_limit:
            msg = (
                f"credit limit {credit_limit} is below the account's debt "
                f"(balance {row[1]}): top up first"
            )
            raise UserError(msg)
        conn.execute("UPDATE accounts SET credit_limit = ? WHERE name = ?", (credit_limit, name))
    if not isinstance(monthly_cap, Keep):
        if monthly_cap is not None and monthly_cap < 0:
            raise UserError("bad monthly cap: must not be negative")
        conn.execute("UPDATE accounts SET monthly_cap = ? WHERE name = ?", (monthly_cap, name))
    if not isinstance(alert_below, Keep):
        # re-armed: the next time the balance is found below, it is reported
        armed = int(alert_below is None or row[1] >= alert_below)
        conn.execute(
            "UPDATE accounts SET alert_below = ?, alert_armed = ? WHERE name = ?",
            (alert_below, armed, name),
        )
    return account_from(require_account(conn, name))


def create_token(conn: sqlite3.Connection, account: str, now: float) -> tuple[ApiToken, str]:
    require_account(conn, account)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    prefix = token[: len(TOKEN_PREFIX) + 6]
    cur = conn.execute(
        "INSERT INTO api_tokens (account, token_hash, prefix, created_at) VALUES (?, ?, ?, ?)",
        (account, token_hash(token), prefix, now),
    )
    record = ApiToken(id=int(cur.lastrowid or 0), account=account, prefix=prefix, created_at=now)
    return record, token


def account_for_token(conn: sqlite3.Connection, token: str) -> str | None:
    row = conn.execute(
        "SELECT account FROM api_tokens WHERE token_hash = ?", (token_hash(token),)
    ).fetchone()
    return None if row is None else str(row[0])


def list_tokens(conn: sqlite3.Connection, account: str | None) -> list[ApiToken]:
    if account is not None:
        require_account(conn, account)
    rows = conn.execute(
        "SELECT id, account, prefix, created_at FROM api_tokens "
        "WHERE ?1 IS NULL OR account = ?1 ORDER BY id",
        (account,),
    ).fetchall()
    return [ApiToken(id=r[0], account=r[1], prefix=r[2], created_at=r[3]) for r in rows]


def revoke_token(conn: sqlite3.Connection, token_id: int, account: str | None) -> ApiToken:
    if account is not None:
        require_account(conn, account)
    row = conn.execute(
        "DELETE FROM api_tokens WHERE id = ?1 AND (?2 IS NULL OR account = ?2) "
        "RETURNING id, account, prefix, created_at",
        (token_id, account),
    ).fetchone()
    if row is None:
        whose = f" of account {account!r}" if account is not None else ""
        msg = f"no API token {token_id}{whose}: `smsgw token list` shows them"
        raise NotFound(msg)
    return ApiToken(id=row[0], account=row[1], prefix=row[2], created_at=row[3])


def _sender(conn: sqlite3.Connection, account: str, value: str) -> Sender | None:
    row = conn.execute(
        f"SELECT {SENDER_COLUMNS} FROM senders WHERE account = ? AND value = ?",  # noqa: S608
        (account, value),
    ).fetchone()
    return None if row is None else sender_from(row)


def _approved_owner(
    conn: sqlite3.Connection, value: str, kind: SenderKind, account: str
) -> str | None:
    """Another account holding ``value`` approved, when ``kind`` has one owner at a time."""
    if kind not in EXCLUSIVE_KINDS:
        return None
    row = conn.execute(
        "SELECT account FROM senders WHERE value = ? AND status = 'approved' "
        "AND kind <> 'alpha' AND account <> ?",
        (value, account),
    ).fetchone()
    return None if row is None else str(row[0])


def add_sender(
    conn: sqlite3.Connection, account: str, value: str, kind: SenderKind, now: float
) -> Sender:
    require_account(conn, account)
    if _sender(conn, account, value) is not None:
        raise AlreadyExists(f"sender {value!r} already exists for account {account!r}")
    if _approved_owner(conn, value, kind, account) is not None:
        raise taken_by_another(value, kind)
    conn.execute(
        "INSERT INTO senders (account, value, kind, status, created_at, updated_at) "
        "VALUES (?, ?, ?, 'pending', ?, ?)",
        (account, value, kind.value, now, now),
    )
    return Sender(
        account=account,
        value=value,
        kind=kind,
        status=SenderStatus.PENDING,
        reason=None,
        created_at=now,
        updated_at=now,
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
        msg = f"no sender {value!r} for account {account!r}: add it with `smsgw sender add`"
        raise NotFound(msg)
    if status is SenderStatus.APPROVED:
        owner = _approved_owner(conn, value, old.kind, account)
        if owner is not None:
            raise taken_for_approval(value, old.kind, owner)
    try:
        conn.execute(
            "UPDATE senders SET status = ?, reason = ?, updated_at = ? "
            "WHERE account = ? AND value = ?",
            (status.value, reason, now, account, value),
        )
    except sqlite3.IntegrityError:  # senders_one_owner: an owner the check above missed
        owner = _approved_owner(conn, value, old.kind, account) or "another account"
        raise taken_for_approval(value, old.kind, owner) from None
    return Sender(
        account=account,
        value=value,
        kind=old.kind,
        status=status,
        reason=reason,
        created_at=old.created_at,
        updated_at=now,
    )


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
        msg = (
            f"no phonebook {name!r} for account {account!r}: "
            f"create it with `smsgw phonebook create {account} {name}`"
        )
        raise NotFound(msg)
    return int(row[0])


def create_phonebook(conn: sqlite3.Connection, account: str, name: str, now: float) -> Phonebook:
    require_account(conn, account)
    if not PHONEBOOK_NAME.match(name):
        raise UserError(f"bad phonebook name {name!r}: 1-64 letters, digits, ' ', '_', '.', '-'")
    try:
        conn.execute(
            "INSERT INTO phonebooks (account, name, created_at) VALUES (?, ?, ?)",
            (account, name, now),
        )
    except sqlite3.IntegrityError:
        msg = f"phonebook {name!r} already exists for account {account!r}"
        raise AlreadyExists(msg) from None
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
    added = int(after - before)
    return added, len(contacts) - added


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


def list_inbound(conn: sqlite3.Connection, account: str | None, limit: int) -> list[InboundMessage]:
    cols = "id, account, link, source, destination, text, received_at"
    if account is None:
        rows = conn.execute(
            f"SELECT {cols} FROM inbound ORDER BY id DESC LIMIT ?",  # noqa: S608
            (limit,),
        ).fetchall()
    else:
        require_account(conn, account)
        rows = conn.execute(
            f"SELECT {cols} FROM inbound WHERE account = ? "  # noqa: S608
            "ORDER BY id DESC LIMIT ?",
            (account, limit),
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

"""Accounts, API tokens, phonebooks, inbound reads, webhook secrets and the
metrics' counters on PostgreSQL (senders and prices: gateway.store.postgres.senders).

Coroutines taking a connection (asyncpg); the writing ones run inside the
store's write transaction. What is refused and the errors are the
backend-neutral rules' (gateway.store.accounts, gateway.model.senders,
gateway.store.metric_counts); a unique index that refuses a row two writers
raced to add is read as the duplicate it is. Text is ordered byte-wise
(``COLLATE "C"``), as SQLite orders it, whatever the database's locale.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway.model.ids import new_webhook_secret
from gateway.model.isotime import month_of
from gateway.model.records import (
    Account,
    ApiToken,
    InboundMessage,
    MetricCount,
    Phonebook,
    PhonebookContact,
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
    unknown_account,
)
from gateway.store.base import Keep
from gateway.store.columns import ACCOUNT_COLUMNS, account_from
from gateway.store.metric_counts import count_from, count_rows
from gateway.store.spans import InboundSpan, Placeholders

INBOUND_COLUMNS = "id, account, link, source, destination, text, received_at"


def rows_limit(limit: int | None) -> int | None:
    """SQL ``LIMIT`` of a listing: none for None or a negative limit (as on SQLite)."""
    return None if limit is None or limit < 0 else limit


# --- accounts and tokens ---------------------------------------------------------


async def require_account(conn: Any, name: str, *, lock: bool = False) -> Account:
    """The account, or NotFound; its row locked until the transaction ends (``lock``)."""
    row = await conn.fetchrow(
        f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE name = $1"  # noqa: S608 (constant)
        + (" FOR NO KEY UPDATE" if lock else ""),
        name,
    )
    if row is None:
        raise unknown_account(name)
    return account_from(row)


async def create_account(conn: Any, name: str, now: float) -> Account:
    check_account_name(name)
    row = await conn.fetchrow(
        "INSERT INTO accounts (name, month, created_at, webhook_secret) "  # noqa: S608 (constant)
        f"VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING RETURNING {ACCOUNT_COLUMNS}",
        name,
        month_of(now),
        now,
        new_webhook_secret(),
    )
    if row is None:
        raise account_exists(name)
    return account_from(row)


async def list_accounts(conn: Any) -> list[Account]:
    rows = await conn.fetch(
        f'SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY name COLLATE "C"'  # noqa: S608 (constant)
    )
    return [account_from(r) for r in rows]


async def set_account(
    conn: Any,
    name: str,
    credit_limit: int | Keep,
    monthly_cap: int | Keep | None,
    alert_below: int | Keep | None,
) -> Account:
    # locked: a debit in between cannot take the balance below a new credit limit
    current = await require_account(conn, name, lock=True)
    new = settings_for(
        current.balance,
        credit_limit=credit_limit,
        monthly_cap=monthly_cap,
        alert_below=alert_below,
    )
    if not isinstance(new.credit_limit, Keep):
        await conn.execute(
            "UPDATE accounts SET credit_limit = $1 WHERE name = $2", new.credit_limit, name
        )
    if not isinstance(new.monthly_cap, Keep):
        await conn.execute(
            "UPDATE accounts SET monthly_cap = $1 WHERE name = $2", new.monthly_cap, name
        )
    if not isinstance(new.alert_below, Keep):
        await conn.execute(
            "UPDATE accounts SET alert_below = $1, alert_armed = $2 WHERE name = $3",
            new.alert_below,
            new.alert_armed,
            name,
        )
    return await require_account(conn, name)


async def create_token(
    conn: Any, account: str, name: str | None, now: float
) -> tuple[ApiToken, str]:
    check_token_name(name)
    await require_account(conn, account)
    made = new_token()
    token_id = await conn.fetchval(
        "INSERT INTO api_tokens (account, name, token_hash, prefix, created_at) "
        "VALUES ($1, $2, $3, $4, $5) RETURNING id",
        account,
        name,
        made.hash,
        made.prefix,
        now,
    )
    record = ApiToken(
        id=int(token_id), account=account, name=name, prefix=made.prefix, created_at=now
    )
    return record, made.token


async def account_for_token(conn: Any, token: str) -> str | None:
    account = await conn.fetchval(
        "SELECT account FROM api_tokens WHERE token_hash = $1", token_hash(token)
    )
    return None if account is None else str(account)


async def list_tokens(conn: Any, account: str | None) -> list[ApiToken]:
    if account is not None:
        await require_account(conn, account)
    rows = await conn.fetch(
        f"SELECT {TOKEN_COLUMNS} FROM api_tokens "  # noqa: S608 (constant column list)
        "WHERE $1::text IS NULL OR account = $1 ORDER BY id",
        account,
    )
    return [token_from(tuple(r)) for r in rows]


async def revoke_token(conn: Any, token_id: int, account: str | None) -> ApiToken:
    if account is not None:
        await require_account(conn, account)
    row = await conn.fetchrow(
        "DELETE FROM api_tokens "  # noqa: S608 (constant column list)
        f"WHERE id = $1 AND ($2::text IS NULL OR account = $2) RETURNING {TOKEN_COLUMNS}",
        token_id,
        account,
    )
    if row is None:
        raise no_token(token_id, account)
    return token_from(tuple(row))


# --- phonebooks --------------------------------------------------------------------


async def _phonebook_id(conn: Any, account: str, name: str, *, lock: bool = False) -> int:
    await require_account(conn, account)
    book = await conn.fetchval(
        "SELECT id FROM phonebooks WHERE account = $1 AND name = $2"  # noqa: S608 (constant)
        + (" FOR UPDATE" if lock else ""),
        account,
        name,
    )
    if book is None:
        raise no_phonebook(name, account)
    return int(book)


async def create_phonebook(conn: Any, account: str, name: str, now: float) -> Phonebook:
    await require_account(conn, account)
    check_phonebook_name(name)
    created = await conn.fetchval(
        "INSERT INTO phonebooks (account, name, created_at) VALUES ($1, $2, $3) "
        "ON CONFLICT (account, name) DO NOTHING RETURNING id",
        account,
        name,
        now,
    )
    if created is None:
        raise phonebook_exists(name, account)
    return Phonebook(account=account, name=name, contacts=0, created_at=now)


async def import_contacts(
    conn: Any, account: str, name: str, contacts: Sequence[PhonebookContact]
) -> tuple[int, int]:
    # locked: two imports into one phonebook count their own additions only
    book = await _phonebook_id(conn, account, name, lock=True)
    count = "SELECT count(*) FROM contacts WHERE phonebook_id = $1"
    before = await conn.fetchval(count, book)
    if contacts:
        await conn.executemany(
            "INSERT INTO contacts (phonebook_id, number, name) VALUES ($1, $2, $3) "
            "ON CONFLICT (phonebook_id, number) DO UPDATE SET name = excluded.name",
            [(book, c.number, c.name) for c in contacts],
        )
    after = await conn.fetchval(count, book)
    return import_counts(int(before), int(after), len(contacts))


async def list_phonebooks(conn: Any, account: str) -> list[Phonebook]:
    await require_account(conn, account)
    rows = await conn.fetch(
        "SELECT p.name, p.created_at, (SELECT count(*) FROM contacts c "
        "WHERE c.phonebook_id = p.id) AS contacts FROM phonebooks p WHERE p.account = $1 "
        'ORDER BY p.name COLLATE "C"',
        account,
    )
    return [
        Phonebook(
            account=account, name=r["name"], contacts=int(r["contacts"]), created_at=r["created_at"]
        )
        for r in rows
    ]


async def phonebook_contacts(conn: Any, account: str, name: str) -> list[PhonebookContact]:
    book = await _phonebook_id(conn, account, name)
    rows = await conn.fetch(
        "SELECT name, number FROM contacts WHERE phonebook_id = $1 "
        'ORDER BY name COLLATE "C", number COLLATE "C"',
        book,
    )
    return [PhonebookContact(name=r["name"], number=r["number"]) for r in rows]


# --- inbound (reads) -----------------------------------------------------------------


async def list_inbound(
    conn: Any, account: str | None, limit: int, span: InboundSpan
) -> list[InboundMessage]:
    mark = Placeholders(numbered=True)
    where: list[str] = []
    if account is not None:
        await require_account(conn, account)
        where.append(f"account = {mark(account)}")
    where += span.conditions(mark, key='id COLLATE "C"')
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    rows = await conn.fetch(
        f"SELECT {INBOUND_COLUMNS} FROM inbound {clause} "  # noqa: S608 (placeholders only)
        f'ORDER BY id COLLATE "C" DESC LIMIT {mark(rows_limit(limit))}',
        *mark.params,
    )
    return [
        InboundMessage(
            id=r["id"],
            account=r["account"],
            link=r["link"],
            source=r["source"],
            destination=r["destination"],
            text=r["text"],
            received_at=r["received_at"],
        )
        for r in rows
    ]


# --- webhook secrets ----------------------------------------------------------------


async def webhook_secret(conn: Any, account: str) -> str:
    """The account's secret; '' for an account row written without one."""
    secret = await conn.fetchval("SELECT webhook_secret FROM accounts WHERE name = $1", account)
    if secret is None:
        raise unknown_account(account)
    return str(secret)


async def ensure_webhook_secret(conn: Any, account: str) -> str:
    """The account's secret, generated first when it has none (in one statement: two
    processes asking at once get the same one)."""
    secret = await conn.fetchval(
        "UPDATE accounts SET webhook_secret = CASE WHEN webhook_secret = '' THEN $2 "
        "ELSE webhook_secret END WHERE name = $1 RETURNING webhook_secret",
        account,
        new_webhook_secret(),
    )
    if secret is None:
        raise unknown_account(account)
    return str(secret)


async def rotate_webhook_secret(conn: Any, account: str) -> str:
    secret = new_webhook_secret()
    done = await conn.fetchval(
        "UPDATE accounts SET webhook_secret = $1 WHERE name = $2 RETURNING 1", secret, account
    )
    if done is None:
        raise unknown_account(account)
    return secret


# --- counters for the daemon's metrics ------------------------------------------------


async def add_metric_counts(conn: Any, counts: Sequence[MetricCount]) -> None:
    rows = count_rows(counts)
    if rows:
        await conn.executemany(
            "INSERT INTO metric_counts (name, labels, amount) VALUES ($1, $2, $3) "
            "ON CONFLICT (name, labels) DO UPDATE "
            "SET amount = metric_counts.amount + excluded.amount",
            rows,
        )


async def take_metric_counts(conn: Any) -> list[MetricCount]:
    rows = await conn.fetch("DELETE FROM metric_counts RETURNING name, labels, amount")
    return [count_from(r["name"], r["labels"], r["amount"]) for r in rows]

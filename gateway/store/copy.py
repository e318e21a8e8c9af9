"""``smsgw store copy``: an embedded installation's SQLite store moved into PostgreSQL.

Everything goes, table by table, with its ids: accounts and their journal,
tokens (the accounts' and the operators'), ESME credentials (their password
hashes), senders, prices, phonebooks, console logins and sessions, messages
with their segments in whatever state they are, receipts waiting for their
submit answer, replies and the parts of replies not whole yet, the event
outbox, webhooks waiting to be delivered, the counters left for the daemon's
metrics, credit orders and stoplists, ESME credentials and the receipts and
replies waiting for their ESMEs. The copy is one
PostgreSQL transaction: it lands whole or not at all. It refuses a target
that holds any row (a copy never merges), a source that a daemon is running
on (stop it first: its journal and its in-flight work belong to it), and a
source whose schema is not this smsgw's (open it with this smsgw first,
which migrates it). At the end,
every table's row count and every account's balance against its journal are
compared between the two; a difference aborts the transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from gateway.model.errors import NotASmsgwDatabase, StoreError, UserError
from gateway.model.secrets import Secret
from gateway.store.postgres.connect import open_pool
from gateway.store.runlock import hold_store
from gateway.store.sqlite.schema import APPLICATION_ID, SCHEMA_VERSION

# parents before children (foreign keys); every table of both schemas but smsgw_meta
TABLES: tuple[str, ...] = (
    "accounts",
    "api_tokens",
    "operator_tokens",
    "esme_credentials",
    "senders",
    "prices",
    "phonebooks",
    "contacts",
    "messages",
    "segments",
    "pending_receipts",
    "inbound",
    "inbound_parts",
    "ledger",
    "outbox",
    "webhooks",
    "metric_counts",
    "esme_deliveries",
    "orders",
    "stoplist",
    "logins",
    "console_sessions",
)
IDENTITY_TABLES = (
    "api_tokens",
    "operator_tokens",
    "phonebooks",
    "pending_receipts",
    "ledger",
    "outbox",
    "webhooks",
    "esme_deliveries",
    "orders",
)
BALANCES = (
    "SELECT a.name, a.balance, coalesce(sum(l.amount), 0) FROM accounts a "
    "LEFT JOIN ledger l ON l.account = a.name GROUP BY a.name, a.balance"
)
CHUNK = 5_000  # rows read from SQLite and sent with COPY at a time


class CopyRefused(UserError):
    code = "copy_refused"


@dataclass(frozen=True, slots=True, kw_only=True)
class CopyReport:
    target: str  # the PostgreSQL database, without a password
    counts: dict[str, int]  # rows copied per table (equal on both sides)

    @property
    def rows(self) -> int:
        return sum(self.counts.values())


def _convert(pg_type: str) -> Callable[[Any], Any]:
    """SQLite's value as the PostgreSQL column's type wants it (SQLite keeps a REAL
    written as 1700000000 as an integer, and booleans as 0/1)."""
    if pg_type == "double precision":
        return float
    if pg_type == "boolean":
        return bool
    if pg_type in {"bigint", "integer"}:
        return int
    if pg_type == "bytea":
        return bytes
    return str


async def copy_sqlite_to_postgres(
    source: Path, target_url: str, *, password: Secret | None = None
) -> CopyReport:
    """Copy the SQLite store at ``source`` into the empty PostgreSQL database ``target_url``."""
    if not source.is_file():  # noqa: ASYNC240 - a one-shot command: nothing else runs on its loop
        raise CopyRefused(f"{source}: no such store file")
    lock = hold_store(source)  # StoreInUse while a daemon runs on it
    try:
        src = _open_source(source)
        try:
            return await _copy(src, source, target_url, password)
        finally:
            src.close()
    finally:
        lock.release()


def _open_source(source: Path) -> sqlite3.Connection:
    src = sqlite3.connect(source, isolation_level=None)
    try:
        app_id = src.execute("PRAGMA application_id").fetchone()[0]
        version = src.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        src.close()
        raise NotASmsgwDatabase(f"{source} is not a smsgw database ({exc})") from None
    if app_id != APPLICATION_ID:
        src.close()
        raise NotASmsgwDatabase(f"{source} is not a smsgw database")
    if version != SCHEMA_VERSION:
        src.close()
        msg = (
            f"{source} has schema version {version}, this smsgw writes {SCHEMA_VERSION}: "
            "run any smsgw command on it first (it migrates the file), then copy"
        )
        raise CopyRefused(msg)
    tables = {
        r[0]
        for r in src.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    }
    if tables != set(TABLES):
        src.close()
        msg = f"{source}: its tables ({', '.join(sorted(tables ^ set(TABLES)))}) are not smsgw's"
        raise NotASmsgwDatabase(msg)
    src.execute("BEGIN")  # one read transaction: the copy sees one moment of the file
    return src


async def _copy(
    src: sqlite3.Connection, source: Path, target_url: str, password: Secret | None
) -> CopyReport:
    pool, where = await open_pool(target_url, password=password, min_size=1, max_size=1)
    try:
        return await _copy_into(src, pool, where)
    except asyncpg.PostgresError as exc:
        raise StoreError(f"copy into {where} failed, nothing was copied: {exc}") from None
    finally:
        await pool.close()


async def _copy_into(src: sqlite3.Connection, pool: Any, where: str) -> CopyReport:
    async with pool.acquire() as conn:
        await _refuse_non_empty(conn, where)
        counts: dict[str, int] = {}
        async with conn.transaction():
            for table in TABLES:
                counts[table] = await _copy_table(src, conn, table)
            for table in IDENTITY_TABLES:
                await conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608 - constant names
                    f"coalesce(max(id), 0) + 1, false) FROM {table}"
                )
            await _check(src, conn, counts, where)
    return CopyReport(target=where, counts=counts)


async def _refuse_non_empty(conn: Any, where: str) -> None:
    for table in TABLES:
        if await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {table})"):  # noqa: S608 - constant names
            msg = (
                f"{where} already holds data ({table} has rows): "
                "copy into an empty database (a copy never merges)"
            )
            raise CopyRefused(msg)


async def _copy_table(src: sqlite3.Connection, conn: Any, table: str) -> int:
    types = {
        r["column_name"]: r["data_type"]
        for r in await conn.fetch(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = $1",
            table,
        )
    }
    cursor = src.execute(f"SELECT * FROM {table}")  # noqa: S608 - constant names
    columns = [d[0] for d in cursor.description]
    missing = [c for c in columns if c not in types]
    if missing:
        raise StoreError(f"{table}: column(s) {', '.join(missing)} have no place in PostgreSQL")
    converters = [_convert(types[c]) for c in columns]
    copied = 0
    while rows := cursor.fetchmany(CHUNK):
        records = [_record(row, converters) for row in rows]
        await conn.copy_records_to_table(table, records=records, columns=columns)
        copied += len(records)
    return copied


def _record(row: Sequence[Any], converters: Sequence[Callable[[Any], Any]]) -> tuple[Any, ...]:
    return tuple(None if v is None else f(v) for v, f in zip(row, converters, strict=True))


async def _check(src: sqlite3.Connection, conn: Any, counts: dict[str, int], where: str) -> None:
    for table, copied in counts.items():
        source_rows = src.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
        target_rows = await conn.fetchval(f"SELECT count(*) FROM {table}")  # noqa: S608
        if not source_rows == copied == target_rows:
            msg = (
                f"{table}: {source_rows} rows in the source, {copied} copied, "
                f"{target_rows} in {where}: nothing was copied"
            )
            raise StoreError(msg)
    source_balances = {r[0]: (int(r[1]), int(r[2])) for r in src.execute(BALANCES)}
    target_balances = {r[0]: (int(r[1]), int(r[2])) for r in await conn.fetch(BALANCES)}
    if source_balances != target_balances:
        raise StoreError(f"the balances differ after the copy into {where}: nothing was copied")

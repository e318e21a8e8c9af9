"""ESME credentials and submitted messages for the tests of receipts and replies to ESMEs.

Credentials are the SMPP server's (Store.create_esme_credential); where the store
has no such operation, :func:`add_credential` writes the two columns replies read.
"""

from __future__ import annotations

import contextlib
import sqlite3

import asyncpg

from gateway.model.esme import EsmeOrigin
from gateway.model.records import Enqueued, Message, NewMessage
from gateway.store.base import Store
from gateway.store.sqlite.store import SqliteStore
from tests.gateway.store.support import new_message

_INSERT = "INSERT INTO esme_credentials (account, system_id) VALUES ({0}, {1})"


async def add_credential(
    store: Store, account: str, system_id: str, *, postgres_url: str | None = None
) -> None:
    """An ESME credential ``system_id`` of ``account`` (its password is no matter here).

    Through the store's own operation where it has one (the SMPP server's
    ``create_esme_credential``); else the two columns read for replies, with SQL
    (SQLite: the store's file; PostgreSQL: ``postgres_url``)."""
    create = getattr(store, "create_esme_credential", None)
    if create is not None:
        await create(account, system_id)
    elif isinstance(store, SqliteStore):
        with contextlib.closing(sqlite3.connect(store.path, timeout=10)) as conn:
            conn.execute(_INSERT.format("?", "?"), (account, system_id))
            conn.commit()
    else:
        assert postgres_url is not None
        pg = await asyncpg.connect(postgres_url)
        try:
            await pg.execute(_INSERT.format("$1", "$2"), account, system_id)
        finally:
            await pg.close()


def from_esme(
    destination: str = "+33612345678",
    *,
    system_id: str = "esme1",
    registered_delivery: int = 0x01,
    segments: int = 1,
) -> NewMessage:
    nm = new_message(destination, segments=segments)
    origin = EsmeOrigin(system_id=system_id, registered_delivery=registered_delivery)
    return NewMessage(
        account=nm.account,
        sender=nm.sender,
        sender_kind=nm.sender_kind,
        destination=nm.destination,
        text=nm.text,
        encoding=nm.encoding,
        segments=nm.segments,
        price=nm.price,
        origin=origin,
    )


async def claimed(store: Store, now: float, *messages: NewMessage) -> list[Message]:
    """Enqueue ``messages`` and claim them (worker "w"); in the order given."""
    results = (await store.enqueue(list(messages))).results
    ids = [r.message.id for r in results if isinstance(r, Enqueued)]
    assert len(ids) == len(messages)
    got = {m.id: m for m in await store.claim_due("w", now=now, limit=len(ids), lease_seconds=60)}
    return [got[i] for i in ids]


async def refuse_deliveries(store: Store, *, postgres_url: str | None = None) -> None:
    """From now on, every row written to esme_deliveries fails its transaction."""
    if isinstance(store, SqliteStore):
        with contextlib.closing(sqlite3.connect(store.path, timeout=10)) as conn:
            conn.execute(
                "CREATE TRIGGER refuse_deliveries BEFORE INSERT ON esme_deliveries "
                "BEGIN SELECT RAISE(ABORT, 'deliveries refused'); END"
            )
            conn.commit()
        return
    assert postgres_url is not None
    pg = await asyncpg.connect(postgres_url)
    try:
        await pg.execute(
            "CREATE FUNCTION refuse_deliveries() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'deliveries refused'; END $$"
        )
        await pg.execute(
            "CREATE TRIGGER refuse_deliveries BEFORE INSERT ON esme_deliveries "
            "FOR EACH ROW EXECUTE FUNCTION refuse_deliveries()"
        )
    finally:
        await pg.close()


async def delivery_rows(store: Store, *, postgres_url: str | None = None) -> int:
    """Rows in esme_deliveries, delivered ones too (the Store hands out only the others)."""
    if isinstance(store, SqliteStore):
        with contextlib.closing(sqlite3.connect(store.path, timeout=10)) as conn:
            return int(conn.execute("SELECT count(*) FROM esme_deliveries").fetchone()[0])
    assert postgres_url is not None
    pg = await asyncpg.connect(postgres_url)
    try:
        return int(await pg.fetchval("SELECT count(*) FROM esme_deliveries"))
    finally:
        await pg.close()

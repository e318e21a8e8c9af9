"""ESME credentials and submitted messages for the tests of receipts and replies to ESMEs.

The credentials table belongs to the SMPP server; these tests add the rows they
need (account, system_id) with SQL, on either backend.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg

from gateway.model.esme import EsmeOrigin
from gateway.model.records import Enqueued, Message, NewMessage
from gateway.store.base import Store
from tests.gateway.store.support import new_message

AddCredential = Callable[[str, str], Awaitable[None]]

_INSERT = "INSERT INTO esme_credentials (account, system_id) VALUES ({0}, {1})"


def sqlite_credentials(path: str | Path) -> AddCredential:
    """For the SQLite store file at ``path``."""

    async def add(account: str, system_id: str) -> None:
        with contextlib.closing(sqlite3.connect(path, timeout=10)) as conn:
            conn.execute(_INSERT.format("?", "?"), (account, system_id))
            conn.commit()

    return add


def postgres_credentials(url: str) -> AddCredential:
    async def add(account: str, system_id: str) -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(_INSERT.format("$1", "$2"), account, system_id)
        finally:
            await conn.close()

    return add


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

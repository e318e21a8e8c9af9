"""Helpers for store, ledger and enqueue tests: stores, accounts, messages."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from gateway.model.message import SenderKind, SenderStatus
from gateway.model.records import NewMessage
from gateway.store import open_store
from gateway.store.base import Store
from gateway.store.sqlite.store import SqliteStore
from tests.clock import FakeClock


async def open_sqlite(path: Path, **options: Any) -> SqliteStore:
    """``open_store`` on the SQLite file ``path``, typed as the SQLite backend."""
    store = await open_store(f"sqlite:///{path}", **options)
    assert isinstance(store, SqliteStore)
    return store


async def fresh_store(tmp_path: Path, clock: FakeClock) -> SqliteStore:
    return await open_sqlite(tmp_path / "gw.db", clock=clock)


async def make_account(
    store: Store, name: str = "acme", *, credit: int = 1000, price: int = 1
) -> None:
    """An account with ``credit``, an approved sender "ACME" and a default price."""
    await store.create_account(name)
    if credit:
        await store.topup(name, credit, reference=f"init-{name}")
    await store.add_sender(name, "ACME", SenderKind.ALPHA)
    await store.set_sender_status(name, "ACME", SenderStatus.APPROVED)
    await store.set_price("+", price)


def new_message(
    destination: str = "+33612345678",
    *,
    account: str = "acme",
    segments: int = 1,
    price: int = 1,
    priority: int = 0,
    send_at: float | None = None,
    client_ref: str | None = None,
    body_hash: str | None = None,
) -> NewMessage:
    return NewMessage(
        account=account,
        sender="ACME",
        sender_kind=SenderKind.ALPHA,
        destination=destination,
        text="hello",
        encoding="gsm7",
        segments=segments,
        price=price,
        priority=priority,
        send_at=send_at,
        client_ref=client_ref,
        body_hash=body_hash,
    )


class PendingEvent(NamedTuple):
    """One event of the MQTT outbox, with the batch (outbox row) holding it."""

    batch: int
    batch_size: int
    kind: str
    account: str
    payload: bytes


async def pending_events(store: Store, limit: int = 1000) -> list[PendingEvent]:
    """The outbox's events one by one (``Store.pending_mqtt_events`` gives batches)."""
    return [
        PendingEvent(b.id, len(b.events), kind, account, payload)
        for b in await store.pending_mqtt_events(limit=limit)
        for kind, account, payload in b.events
    ]

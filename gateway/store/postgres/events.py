"""The event outbox on PostgreSQL: status, inbound and rejected events.

As on SQLite (gateway/store/sqlite/events.py): events are written by the
operation that makes the change, in its transaction; ``outbox`` holds one row
per transaction's events (their JSON and the row's body:
:mod:`gateway.store.payloads`), deleted once the broker acknowledged every
event of it; ``webhooks`` the same status payloads for messages with a
``callback_url`` (:mod:`gateway.store.postgres.webhooks`).

Reading the outbox takes no lock: a row stays until it is acknowledged, and
a lock would end with the read's transaction, long before the publisher's
acknowledgement. Two daemons publishing from one database may therefore
both publish a row (at least once, as after a reconnect); one publisher per
database, or a claim on the rows, would prevent it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gateway.model.records import InboundMessage, OutboxBatch
from gateway.store.payloads import (
    StatusEvents,
    check_kind,
    encode,
    inbound_payload,
    pack_event,
    unpack_events,
)
from gateway.store.postgres.esme_deliveries import add_replies, write_deliveries
from gateway.store.postgres.rows import row_count
from gateway.store.postgres.webhooks import insert_webhooks

INSERT_OUTBOX = "INSERT INTO outbox (events, body, created_at) VALUES ($1, $2, $3) RETURNING id"


async def add_outbox(conn: Any, events: Sequence[bytes], now: float) -> int:
    """One outbox row holding ``events`` (:func:`pack_event`); its id."""
    return int(await conn.fetchval(INSERT_OUTBOX, len(events), b"".join(events), now))


async def write_status(conn: Any, events: StatusEvents) -> None:
    """The status events of a transaction: one outbox row, and their webhook rows."""
    if events.events:
        await add_outbox(conn, events.events, events.now)
    if events.hooks:
        await insert_webhooks(conn, events.hooks)
    await write_deliveries(conn, events.deliveries)


async def add_inbound(conn: Any, m: InboundMessage, *, outbox: bool = True) -> None:
    """Store a reply; a reply with an account gets its ``inbound`` event (once per id)
    when the MQTT outbox is in use (``outbox``), and a delivery per ESME credential
    of the account."""
    status = await conn.execute(
        "INSERT INTO inbound (id, account, link, source, destination, text, received_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
        m.id,
        m.account,
        m.link,
        m.source,
        m.destination,
        m.text,
        m.received_at,
    )
    if row_count(status) != 1 or m.account is None:
        return  # already stored (and reported), or nobody to report it to
    await add_replies(conn, m, m.received_at)
    if not outbox:
        return
    await add_outbox(conn, [pack_event("inbound", m.account, inbound_payload(m))], m.received_at)


async def add_event(
    conn: Any, account: str, kind: str, payload: Mapping[str, Any], now: float
) -> int:
    check_kind(kind)
    return await add_outbox(conn, [pack_event(kind, account, encode(payload))], now)


async def pending_mqtt_events(conn: Any, limit: int) -> list[OutboxBatch]:
    """The oldest outbox batches, up to about ``limit`` events (at least one batch)."""
    out: list[OutboxBatch] = []
    count = 0
    for row in await conn.fetch("SELECT id, events, body FROM outbox ORDER BY id LIMIT $1", limit):
        out.append(OutboxBatch(id=row["id"], events=tuple(unpack_events(bytes(row["body"])))))
        count += row["events"]
        if count >= limit:
            break
    return out


async def ack_mqtt_events(conn: Any, batches: Sequence[int]) -> None:
    """Delete outbox rows whose every event was published."""
    await conn.execute("DELETE FROM outbox WHERE id = ANY($1::bigint[])", list(batches))

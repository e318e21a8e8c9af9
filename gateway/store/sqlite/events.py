"""The event outbox on SQLite: status, inbound and rejected events.

Events are written by the operation that makes the change, in its
transaction (:mod:`gateway.store.sqlite.queue`, :mod:`gateway.store.sqlite.dispatch`,
:func:`add_inbound`): a change and its event are committed together or not
at all. ``outbox`` is the MQTT outbox, one row per transaction's events
(their JSON and the row's body: :mod:`gateway.store.payloads`), deleted once
the broker acknowledged every event of it; a row published in part (the
broker went away) is published again whole, so consumers may see an event
twice, never miss one. ``webhooks`` holds the same status payloads for
messages with a ``callback_url``, one row each with its delivery attempts
(:mod:`gateway.store.sqlite.webhooks`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from gateway.model.records import InboundMessage, OutboxBatch
from gateway.store.payloads import (
    StatusEvents,
    check_kind,
    encode,
    id_runs,
    inbound_payload,
    pack_event,
    unpack_events,
)
from gateway.store.sqlite.esme_deliveries import add_replies, write_deliveries
from gateway.store.sqlite.webhooks import INSERT_WEBHOOK

INSERT_OUTBOX = "INSERT INTO outbox (events, body, created_at) VALUES (?, ?, ?)"


def add_outbox(conn: sqlite3.Connection, events: Sequence[bytes], now: float) -> int:
    """One outbox row holding ``events`` (:func:`pack_event`); its id."""
    cur = conn.execute(INSERT_OUTBOX, (len(events), b"".join(events), now))
    return int(cur.lastrowid or 0)


class StatusRows(StatusEvents):
    """:class:`~gateway.store.payloads.StatusEvents` written to SQLite: one outbox
    row and an ``executemany`` for the webhooks."""

    __slots__ = ()

    def write(self, conn: sqlite3.Connection) -> None:
        if self.events:
            add_outbox(conn, self.events, self.now)
        if self.hooks:
            conn.executemany(INSERT_WEBHOOK, self.hooks)
        write_deliveries(conn, self.deliveries)


def add_inbound(conn: sqlite3.Connection, m: InboundMessage, *, outbox: bool = True) -> None:
    """Store a reply; a reply with an account gets its ``inbound`` event (once per id)
    when the MQTT outbox is in use (``outbox``), and a delivery per ESME credential
    of the account."""
    cur = conn.execute(
        "INSERT OR IGNORE INTO inbound (id, account, link, source, destination, text, "
        "received_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (m.id, m.account, m.link, m.source, m.destination, m.text, m.received_at),
    )
    if cur.rowcount != 1 or m.account is None:
        return  # already stored (and reported), or nobody to report it to
    add_replies(conn, m, m.received_at)
    if not outbox:
        return
    add_outbox(conn, [pack_event("inbound", m.account, inbound_payload(m))], m.received_at)


def add_event(
    conn: sqlite3.Connection, account: str, kind: str, payload: Mapping[str, Any], now: float
) -> int:
    check_kind(kind)
    return add_outbox(conn, [pack_event(kind, account, encode(payload))], now)


def pending_mqtt_events(conn: sqlite3.Connection, limit: int) -> list[OutboxBatch]:
    """The oldest outbox batches, up to about ``limit`` events (at least one batch)."""
    out: list[OutboxBatch] = []
    count = 0
    for batch, events, body in conn.execute(
        "SELECT id, events, body FROM outbox ORDER BY id LIMIT ?", (limit,)
    ):
        out.append(OutboxBatch(id=batch, events=tuple(unpack_events(bytes(body)))))
        count += events
        if count >= limit:
            break
    return out


def ack_mqtt_events(conn: sqlite3.Connection, batches: Sequence[int]) -> None:
    """Delete outbox rows whose every event was published: one range statement per
    run of consecutive ids."""
    conn.executemany("DELETE FROM outbox WHERE id BETWEEN ? AND ?", id_runs(batches))


def pending_event_count(conn: sqlite3.Connection) -> int:
    """Events waiting in the outbox."""
    return int(conn.execute("SELECT coalesce(sum(events), 0) FROM outbox").fetchone()[0])
